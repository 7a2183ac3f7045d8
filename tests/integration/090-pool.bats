#!/usr/bin/env bats
# Warm sandbox pools: kcr serve keeps pool.<lang> sandboxes ready, refills
# after executions and after a sandbox dies, serves bursts larger than the
# pool (counting the misses), and `kcr pool warmup|status` drive it. A warm
# sandbox still serves exactly one execution.

load serve_helpers

setup_file() {
	ADMIN_KEY=$(random_key)
	export ADMIN_KEY
	# targets as set: the adaptive ones are 091-pool-adaptive.bats's
	start_server main KCR_POOL_PY=2 $(pools_only py) KCR_POOL_HEALTH_INTERVAL=1 \
		KCR_POOL_ADAPTIVE=false KCR_ADMIN_KEY="$ADMIN_KEY"
	start_server off KCR_POOL_ENABLED=false KCR_ADMIN_KEY="$ADMIN_KEY"
}

# wait_ready LANG N: until N sandboxes of LANG are ready (10 s at most)
wait_ready() {
	for _ in $(seq 100); do
		[ "$(pool_field "$1" ready)" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "pool $1: $(pool_field "$1" ready) ready, wanted $2"
}

@test "GET /pool shows each language's target and the warm sandboxes" {
	wait_ready py 2
	api GET /pool
	assert_status 200
	assert_json 'j["enabled"] is True and len(j["pools"]) == 13'
	assert_json 'next(p for p in j["pools"] if p["language"] == "py")["target"] == 2'
	assert_json 'next(p for p in j["pools"] if p["language"] == "js")["ready"] == 0'
	# one sandbox holds the zygote; each warm Python is a cell of it
	[ "$(runner_pids | wc -l)" -eq 1 ]
	[ "$(cell_pids | wc -l)" -eq 2 ]
}

@test "the pool refills after executions, and each one used a new sandbox" {
	wait_ready py 2
	created=$(pool_field py created)
	hits=$(pool_field py hits)
	for i in 1 2 3; do
		exec_code py "print($i)"
		assert_status 200
		assert_json_eq 'j["stdout"]' "$i"
	done
	wait_ready py 2
	[ "$(pool_field py hits)" -ge $((hits + 1)) ]
	# three executions, three sandboxes gone and made again: none reused
	[ "$(pool_field py created)" -ge $((created + 3)) ]
	[ "$(cell_pids | wc -l)" -eq 2 ]
}

@test "a killed warm sandbox is replaced by the health check" {
	wait_ready py 2
	replaced=$(pool_field py replaced)
	victim=$(cell_pids | head -1)
	[ -n "$victim" ]
	kill -9 "$victim"
	for _ in $(seq 50); do
		[ "$(pool_field py replaced)" -gt "$replaced" ] && break
		sleep 0.1
	done
	[ "$(pool_field py replaced)" -gt "$replaced" ]
	wait_ready py 2
	exec_code py 'print("after")'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'after'
}

@test "a burst larger than the pool is served; those beyond it wait or miss, counted" {
	wait_ready py 2
	misses=$(pool_field py misses)
	hits=$(pool_field py hits)
	waits=$(pool_field py waits)
	dir=$BATS_TEST_TMPDIR/burst
	mkdir -p "$dir"
	for i in $(seq 8); do
		printf 'url = "%s/exec"\nheader = "X-API-Key: %s"\n' "$(srv_url)" "$(srv_key)"
		printf 'data = "{\\"lang\\":\\"py\\",\\"code\\":\\"import time; time.sleep(0.5); print(1)\\"}"\n'
		printf 'output = "%s/%d"\nwrite-out = "%%{http_code}\\n"\n' "$dir" "$i"
	done >"$dir/cfg"
	curl -sS --parallel --parallel-immediate --parallel-max 8 -K "$dir/cfg" >"$dir/codes"
	[ "$(grep -c '^200$' "$dir/codes")" -eq 8 ]
	for i in $(seq 8); do
		grep -q '"stdout":"1\\n"' "$dir/$i"
	done
	# eight arrived at once; two found a warm sandbox at once, or a few
	# more as the replenisher caught up: the rest waited in turn for one
	# being made (a hit that waited), or made their own (a miss)
	[ $(($(pool_field py hits) + $(pool_field py misses) - hits - misses)) -eq 8 ]
	[ $(($(pool_field py waits) + $(pool_field py misses) - waits - misses)) -ge 3 ]
}

@test "two warm executions in a row can't see each other" {
	wait_ready py 2
	exec_code py 'import os, subprocess
open("/tmp/secret", "w").write("1")
open("leak.txt", "w").write("1")
os.environ["KCR_LEAK"] = "1"
subprocess.Popen(["sleep", "30"])
big = bytearray(b"x" * 10_000_000)
print(os.getpid())'
	assert_status 200
	exec_code py 'import os
seen = [p for p in os.listdir("/proc") if p.isdigit()]
print(os.path.exists("/tmp/secret"), os.path.exists("leak.txt"),
      os.environ.get("KCR_LEAK"), len(seen))'
	assert_status 200
	# only this program is there: pid 1 of a namespace of its own
	assert_json_eq 'j["stdout"]' 'False False None 1'
}

@test "a killed cells host or zygote: executions go on, and a new host takes over" {
	start_server host KCR_POOL_PY=2 $(pools_only py) KCR_POOL_HEALTH_INTERVAL=1
	SRV=host wait_ready py 2
	host=$(runner_pids host)
	[ "$(echo "$host" | wc -l)" -eq 1 ]
	# the zygote: the host runner's child that is not a cell
	zygote=$(pgrep -P "$host" | grep -vxF "$(cell_pids host)" | head -1)
	[ -n "$zygote" ]
	kill -9 "$zygote"
	SRV=host exec_code py 'print("still")'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'still'
	kill -9 "$host"
	for i in 1 2 3; do
		SRV=host exec_code py "print($i)"
		assert_status 200
		assert_json_eq 'j["stdout"]' "$i"
	done
	for _ in $(seq 100); do
		[ "$(cell_pids host | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	[ "$(cell_pids host | wc -l)" -ge 2 ]
	! kill -0 "$host" 2>/dev/null
	stop_server host
}

@test "a warm sandbox whose runner was killed is skipped, not handed to a request" {
	# no health check comes before the requests: taking one notices it
	start_server gone KCR_POOL_PY=2 KCR_POOL_BASH=1 $(pools_only py bash) \
		KCR_POOL_HEALTH_INTERVAL=3600
	SRV=gone wait_ready py 2
	SRV=gone wait_ready bash 1
	host=$(cell_pids gone | head -1 | xargs ps -o ppid= -p | tr -d ' ')
	bash_runner=$(runner_pids gone | grep -vxF "$host")
	[ -n "$host" ] && [ -n "$bash_runner" ]
	kill -9 "$host" "$bash_runner"
	for i in 1 2; do
		SRV=gone exec_code py "print($i)"
		assert_status 200
		assert_json_eq 'j["stdout"]' "$i"
	done
	SRV=gone exec_code bash 'echo fine'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'fine'
	grep -q 'is gone: its cells host exited' "$(srv_dir gone)/stderr"
	grep -q 'is gone: its runner exited' "$(srv_dir gone)/stderr"
	stop_server gone
}

@test "with pool.fork_server=false each warm Python is a sandbox of its own" {
	start_server nofs KCR_POOL_PY=2 $(pools_only py) KCR_POOL_FORK_SERVER=false
	SRV=nofs wait_ready py 2
	[ "$(runner_pids nofs | wc -l)" -eq 2 ]
	[ "$(cell_pids nofs | wc -l)" -eq 0 ]
	SRV=nofs exec_code py 'import os; print(os.getpid() > 1)'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'True'
	stop_server nofs
}

# The cgroup directories of the sandboxes kcr pid $1 made (kcr-<pid>-*).
sandbox_cgroups() {
	find /sys/fs/cgroup -maxdepth 8 -type d -name "kcr-$1-*" 2>/dev/null || true
}

@test "a kcr serve killed with SIGKILL: the next one cleans up what it left behind" {
	local run=$BATS_TEST_TMPDIR/run pid cgroups
	start_server dead KCR_RUN_DIR="$run" KCR_POOL_PY=1 KCR_POOL_JS=1
	SRV=dead wait_ready py 1
	SRV=dead wait_ready js 1
	pid=$(srv_pid dead)
	# its sandboxes are named after it: sockets, and cgroups where there are any
	ls "$run" | grep -q "^sb-$pid-" || fail "no socket of pid $pid in $run: $(ls "$run")"
	cgroups=$(sandbox_cgroups "$pid")
	kill -KILL "$pid"
	touch "$(srv_dir dead)/stopped" # killed on purpose, not a crash
	for _ in $(seq 100); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	! pid_alive "$pid"
	ls "$run" | grep -q "^sb-$pid-" # nothing removed them yet

	start_server next KCR_RUN_DIR="$run" KCR_POOL_PY=0 KCR_POOL_JS=0 KCR_LOG_LEVEL=info
	grep -E 'pool: cleaned up [0-9]+ sandboxe?s? left behind by a kcr that died' \
		"$(srv_dir next)/stderr" || fail "no clean-up logged: $(cat "$(srv_dir next)/stderr")"
	run ls "$run"
	refute_output --partial "sb-$pid-"
	[ -z "$(sandbox_cgroups "$pid")" ] || fail "left: $(sandbox_cgroups "$pid") (before: $cgroups)"
	SRV=next exec_code bash 'echo after'
	assert_json_eq 'j["stdout"]' 'after'
	stop_server next
}

@test "kcr pool warmup fills a pool to a new size and kcr pool status shows it" {
	# resizing is the admin's: an API key is refused, saying which key it needs
	run --separate-stderr env KCR_SERVER="$(srv_url)" KCR_API_KEY="$(srv_key)" \
		"$KCR" pool warmup -q -n 3 py
	assert_failure 125
	[[ $stderr == *"needs the admin key"*"client.admin_key or KCR_ADMIN_KEY"* ]] ||
		fail "stderr: $stderr"
	run_kcr_client() { KCR_SERVER=$(srv_url) KCR_ADMIN_KEY=$ADMIN_KEY "$KCR" "$@"; }
	run run_kcr_client pool warmup -q -n 3 py
	assert_success
	assert_line --regexp '^py +3 +3 '
	# the target stays 3; ready is 3 again soon after a health check
	# replaced one (on a loaded machine a check can time out)
	local i
	for i in $(seq 60); do
		run run_kcr_client pool status --json
		assert_success
		echo "$output" | "$HOST_PYTHON" -c '
import json, sys
j = json.load(sys.stdin)
py = next(p for p in j["pools"] if p["language"] == "py")
assert py["target"] == 3, py
sys.exit(py["ready"] != 3)' && break
		[ $? = 1 ] || fail "pool status: $output"
		sleep 0.5
	done
	[ "$i" -lt 60 ] || fail "the py pool did not hold 3 ready: $output"
	run run_kcr_client pool warmup -q -n 2 py
	assert_success
}

@test "kcr pool warmup: bad input is a usage error" {
	run "$KCR" pool warmup --server "$(srv_url)" cobol
	assert_failure 2
	assert_output --partial "unsupported language 'cobol'"
	run "$KCR" pool warmup --server "$(srv_url)" -n 5000 py
	assert_failure 2
	run "$KCR" pool frobnicate
	assert_failure 2
}

@test "with pool.enabled=false every execution makes its sandbox" {
	SRV=off api GET /pool
	assert_status 200
	assert_json 'j["enabled"] is False and j["pools"] == []'
	SRV=off exec_code py 'print(7)'
	assert_status 200
	assert_json_eq 'j["stdout"]' '7'
	SRV=off api POST /pool/warmup -d '{}'
	assert_error_reply 403 'admin key'
	SRV=off AS_KEY=$ADMIN_KEY api POST /pool/warmup -d '{}'
	assert_status 409
}

@test "a pre-warmed Python runs a program exactly as a cold one would" {
	wait_ready py 2
	exec_code py 'import sys, atexit
atexit.register(lambda: print("atexit ran"))
print(__name__, sys.argv[1:], sys.path[0])
def f():
    raise ValueError("boom")
f()' '"args":["a b","c"]'
	assert_status 200
	assert_json 'j["stdout"] == "__main__ " + repr(["a b", "c"]) + " /tmp/.kcr\natexit ran\n"'
	# the traceback names the program's own file and line, no bootstrap frames
	assert_json '"code.py\", line 6, in <module>" in j["stderr"] and "line 5, in f" in j["stderr"]'
	assert_json '"ValueError: boom" in j["stderr"] and "_kcr" not in j["stderr"]'
	assert_json 'j["exit_code"] == 1'
	exec_code py 'import sys; sys.exit(7)'
	assert_json 'j["exit_code"] == 7'
	exec_code py 'import sys; sys.exit("bye")'
	assert_json 'j["exit_code"] == 1 and j["stderr"] == "bye\n"'
	exec_code py 'import threading, time
def w():
    time.sleep(0.3); print("thread done")
threading.Thread(target=w).start()
print("main done")'
	assert_json 'j["stdout"] == "main done\nthread done\n"'
}

@test "pool.py_preload: a warm sandbox has the modules imported before code arrives" {
	start_server pre KCR_POOL_PY=1 KCR_POOL_JS=0 KCR_POOL_PY_PRELOAD=json,csv
	SRV=pre wait_ready py 1
	sleep 0.5
	# a program that imports one of them gets an interpreter that has them
	SRV=pre exec_code py 'import sys
before = "csv" in sys.modules
import csv
print(before, "decimal" in sys.modules)'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'True False'
	# one that imports none gets a bare one, cheaper to clone
	SRV=pre exec_code py 'import sys; print("csv" in sys.modules)'
	assert_json_eq 'j["stdout"]' 'False'
}

@test "a pre-warmed JavaScript runs the file as its main module, with args and stdin" {
	start_server jsw KCR_POOL_PY=0 KCR_POOL_JS=1
	SRV=jsw wait_ready js 1
	SRV=jsw exec_code js 'console.log(process.argv.slice(2).join("|"), require.main === module);
process.exitCode = 5;' '"args":["a b","c"]'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'a b|c true'
	assert_json 'j["exit_code"] == 5'
	SRV=jsw exec_code js 'function f() { throw new Error("boom"); }
f();'
	assert_json 'j["exit_code"] == 1 and "Error: boom" in j["stderr"] and "code.js:1" in j["stderr"]'
	[ "$(SRV=jsw pool_field js hits)" -ge 1 ]
}

@test "a pre-warmed Bash runs the script as bash code.sh would, and nothing of its start is left" {
	local sh
	start_server shw $(pools_only bash) KCR_POOL_BASH=1 KCR_POOL_ADAPTIVE=false
	SRV=shw wait_ready bash 1
	# bash was started before any code came, its script not there yet
	sh=$(waiting_in shw bash)
	[ -n "$sh" ] || fail "no bash waiting in the Bash sandbox"
	tr '\0' ' ' < "/proc/$sh/cmdline" | grep -qx '/bin/bash /tmp/.kcr/code.sh '
	SRV=shw exec_code bash 'echo "$$ $0 $#:$1:$2 ${BASH_SOURCE[0]} ${FUNCNAME[*]}-"
(return 0 2>/dev/null) && echo sourced || echo executed
ls -A /tmp/.kcr; env | grep -c BASH_ENV; compgen -v | grep -c __kcr
no_such_command
exit 4' '"args":["a b","c"]'
	assert_status 200
	assert_json_eq 'j["stdout"]' "2 /tmp/.kcr/code.sh 2:a b:c /tmp/.kcr/code.sh -
executed
code.sh
0
0"
	assert_json '"code.sh: line 4: no_such_command: command not found" in j["stderr"]'
	assert_json 'j["exit_code"] == 4'
	[ "$(SRV=shw pool_field bash hits)" -ge 1 ]
}

@test "a pre-warmed TypeScript: Node waits while esbuild compiles, then runs code.js as its main module" {
	local node
	start_server tsw $(pools_only ts) KCR_POOL_TS=1 KCR_POOL_ADAPTIVE=false
	SRV=tsw wait_ready ts 1
	# Node was started before any code came, and the compile leaves it be
	node=$(waiting_in tsw node)
	[ -n "$node" ] || fail "no Node waiting in the TypeScript sandbox"
	SRV=tsw exec_code ts 'const n: number = 5;
console.log(process.argv.slice(2).join("|"), require.main === module, __filename);
process.exitCode = n;' '"args":["a b","c"]'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'a b|c true /tmp/.kcr/code.js'
	assert_json 'j["exit_code"] == 5'
	[ "$(SRV=tsw pool_field ts hits)" -ge 1 ]
	# a compile error is esbuild's, and nothing runs
	SRV=tsw wait_ready ts 1
	SRV=tsw exec_code ts 'let x: = 1; console.log("ran")'
	assert_json 'j["exit_code"] == 1 and "Unexpected" in j["stderr"] and j["stdout"] == ""'
	# a throw shows the compiled file's line, as `node code.js` does
	SRV=tsw wait_ready ts 1
	SRV=tsw exec_code ts 'function f(): void { throw new Error("boom"); }
f();'
	assert_json 'j["exit_code"] == 1 and "Error: boom" in j["stderr"] and "code.js:" in j["stderr"]'
}
