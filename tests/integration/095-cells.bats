#!/usr/bin/env bats
# Warm Python cells (pool.fork_server): each execution is a clone of a
# zygote that imported the usual libraries, in namespaces, cgroups and an
# identity of its own. Untrusted code in one cell must not reach another,
# the host, the network, or past its limits.

load serve_helpers

setup_file() {
	start_server main KCR_POOL_PY=3 KCR_POOL_JS=0 KCR_MEMORY_MB=200 KCR_PIDS=32 KCR_TIMEOUT=3
}

# wait_cells N: until N warm Python cells are ready
wait_cells() {
	for _ in $(seq 200); do
		api GET /pool
		"$HOST_PYTHON" -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(next(p["ready"] for p in j["pools"] if p["language"] == "py") < int(sys.argv[2]))' \
			"$BODY_FILE" "$1" && return 0
		sleep 0.05
	done
	fail "fewer than $1 warm cells"
}

@test "a cell: pid 1 of fresh namespaces, uid 1000 in a user namespace of its own, no capabilities, seccomp" {
	wait_cells 1
	exec_code py 'import os, socket
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
f = lambda k: st[k].strip()
print(os.getpid(), os.getuid(), os.getgid(), f("CapEff"), f("CapBnd"), f("CapPrm"))
print(f("NoNewPrivs"), f("Seccomp"), open("/proc/self/uid_map").read().split())
print(socket.gethostname(), sorted(p for p in os.listdir("/proc") if p.isdigit()))
print(sorted(l.split()[4] for l in open("/proc/self/mountinfo") if l.split()[4] in ("/mnt/data", "/tmp")))
print(os.getcwd(), os.access("/usr/bin", os.W_OK), os.access("/mnt/data", os.W_OK))'
	assert_status 200
	assert_json_eq 'j["stdout"]' "1 1000 1000 0000000000000000 0000000000000000 0000000000000000
1 2 ['1000', '1000', '1']
sandbox ['1']
['/mnt/data', '/mnt/data', '/tmp', '/tmp']
/mnt/data False True"
}

@test "two cells running at once can't see each other's files, sockets or processes" {
	wait_cells 2
	out=$BATS_TEST_TMPDIR/a.json
	curl -sS -H "X-API-Key: $(srv_key)" -H 'Content-Type: application/json' \
		-d '{"lang":"py","code":"import os, socket, time\nfor p in (\"/tmp/a\", \"/mnt/data/a\", \"/dev/shm/a\"):\n    open(p, \"w\").write(\"secret\")\ns = socket.socket(socket.AF_UNIX)\ns.bind(\"\\0kcr-cell-test\")\ns.listen()\nprint(\"ready\", flush=True)\ntime.sleep(2)\n"}' \
		"$(srv_url)/exec" >"$out" &
	bg=$!
	sleep 0.7
	exec_code py 'import os, signal, socket
print([os.path.exists(p) for p in ("/tmp/a", "/mnt/data/a", "/dev/shm/a")])
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0kcr-cell-test"); print("connected")
except OSError as e:
    print("refused")
alive = 0
for pid in range(2, 200):
    try:
        os.kill(pid, 0); alive += 1
    except OSError:
        pass
print(alive, sorted(p for p in os.listdir("/proc") if p.isdigit()))'
	assert_status 200
	assert_json_eq 'j["stdout"]' "[False, False, False]
refused
0 ['1']"
	wait "$bg"
	grep -q '"stdout":"ready\\n"' "$out"
	# its file came back as its own output, and only to it
	grep -q '"name":"a"' "$out"
	assert_json 'j["files"] == []'
}

@test "a cell sees none of the host: no shadow, no kcr state, a read-only system, no other process" {
	wait_cells 1
	exec_code py "import os
paths = ['/etc/shadow', '/root', '/home', '$(srv_dir)', '/var/lib/kcr']
print([p for p in paths if os.path.exists(p)])
for p in ('/usr/bin/x', '/etc/x', '/x'):
    try:
        open(p, 'w'); print('wrote', p)
    except OSError as e:
        print(e.errno in (13, 30))
print([p for p in os.listdir('/proc') if p.isdigit()])"
	assert_status 200
	assert_json_eq 'j["stdout"]' "[]
True
True
True
['1']"
}

@test "a cell has no network: loopback is down and kcr's port unreachable" {
	wait_cells 1
	exec_code py "import socket
for fam, addr in ((socket.AF_INET, ('127.0.0.1', $(srv_port))), (socket.AF_INET, ('1.1.1.1', 53))):
    s = socket.socket(fam)
    s.settimeout(1)
    try:
        s.connect(addr); print('connected')
    except OSError as e:
        print(type(e).__name__)
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('raw')
except OSError as e:
    print('no raw')"
	assert_status 200
	assert_json 'j["stdout"].splitlines()[2] == "no raw" and "connected" not in j["stdout"]'
}

@test "memory: a cell over its limit is killed and told so; the cell next to it is not" {
	wait_cells 2
	exec_code py 'b = bytearray(400 * 1024 * 1024)
print("survived")'
	assert_status 200
	assert_json '"survived" not in j["stdout"] and j["exit_code"] != 0'
	assert_json '"out of memory" in j["stderr"]'
	exec_code py 'b = bytearray(100 * 1024 * 1024); print(len(b) // 2**20)'
	assert_json_eq 'j["stdout"]' '100'
}

@test "processes: a fork bomb stops at the cell's pids limit" {
	wait_cells 1
	exec_code py 'import os, time
n = 0
try:
    while n < 1000:
        if os.fork() == 0:
            time.sleep(5); os._exit(0)
        n += 1
except OSError as e:
    print("stopped", n < 32, e.errno)'
	assert_status 200
	assert_json 'j["stdout"].startswith("stopped True")'
}

@test "timeout: a busy cell and everything it started are killed" {
	wait_cells 1
	exec_code py 'import subprocess
subprocess.Popen(["sleep", "123.5"])
print("started", flush=True)
while True:
    pass'
	assert_status 200
	assert_json 'j["timed_out"] is True and j["stdout"] == "started\n"'
	for _ in $(seq 40); do
		pgrep -f 'sleep 123.5' >/dev/null || break
		sleep 0.05
	done
	! pgrep -f 'sleep 123.5'
}

@test "each cell draws its own random numbers and starts with no program state" {
	wait_cells 2
	code='import random, sys
r = [random.random()]
if "numpy" in sys.modules:
    import numpy; r.append(float(numpy.random.rand()))
print(repr(r), [k for k in globals() if not k.startswith("_")])'
	exec_code py "$code"
	first=$(jget 'j["stdout"]')
	exec_code py "$code"
	second=$(jget 'j["stdout"]')
	[ "$first" != "$second" ]
	assert_json '"random" in j["stdout"] and "[\x27random\x27, \x27sys\x27, \x27r\x27" in j["stdout"]'
}

@test "the zygote imported pool.py_preload: pandas is there before the program imports it" {
	wait_cells 1
	exec_code py 'import sys
print("pandas" in sys.modules, "matplotlib.pyplot" in sys.modules)
import matplotlib
print(matplotlib.get_backend().lower())'
	assert_status 200
	assert_json_eq 'j["stdout"]' 'True True
agg'
}

@test "a preloaded cell was warmed while it waited: its first DataFrame copies few pages, and the warm-up left the program nothing" {
	wait_cells 1
	exec_code py 'import os, resource, sys
import pandas as pd, matplotlib.pyplot as plt
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
pd.DataFrame({"a": [1, 2]}).a.sum()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
print(faults < 200, plt.get_fignums(), sorted(os.listdir("/tmp")), sorted(os.listdir(".")))
# text drawn with the fonts the warm-up used: a font the zygote had
# opened was read through a descriptor the cell had closed, and crashed
import io
plt.plot([1, 2]); plt.title("fonts"); plt.savefig(io.BytesIO(), format="png"); plt.close("all")
print(sorted(k for k in globals() if not k.startswith("__")))'
	assert_status 200
	# unwarmed, that op copied ~600 pages shared with the zygote
	assert_json_eq 'j["stdout"]' "True [] ['.kcr'] []
['f0', 'faults', 'io', 'os', 'pd', 'plt', 'resource', 'sys']"
	assert_json_eq 'j["stderr"]' ''
}

@test "a preloaded cell runs the program as python3 would, saves its DataFrame and no state for imports alone" {
	wait_cells 1
	# the cell rehearsed this path while it waited (a __main__, the state's
	# hook, a DataFrame pickled): none of that rehearsal may show
	exec_code py 'import os, sys, pandas as pd
df = pd.DataFrame({"a": [1, 2]})
print(sys.argv == [__file__], sys.path[0] == os.path.dirname(__file__), __name__,
      sys.modules["__main__"].__dict__ is globals(), "KCR_PYSTATE" in os.environ)'
	assert_status 200
	assert_json_eq 'j["stdout"]' "True True __main__ True False"
	assert_json 'j["has_state"] is True'
	sid=$(jget 'j["session_id"]')
	exec_code py 'import os; print(int(df.a.sum()), os.getpid())' "\"session_id\":\"$sid\""
	assert_status 200
	assert_json_eq 'j["stdout"]' "3 1"
	# modules are not state: an import alone leaves none to save
	exec_code py 'import pandas as pd, numpy'
	assert_status 200
	assert_json 'j["has_state"] is False'
}

@test "a program that breaks the cell's stdio or exits hard still gets an answer" {
	wait_cells 1
	exec_code py 'import os, sys
print("out"); sys.stdout.flush()
os.close(1)
os._exit(9)'
	assert_status 200
	assert_json 'j["exit_code"] == 9 and j["stdout"] == "out\n"'
	exec_code py 'print(1'
	assert_status 200
	assert_json 'j["exit_code"] == 1 and "SyntaxError" in j["stderr"] and "zygote" not in j["stderr"]'
}

@test "hundreds of executions, eight at once: every one gets its own cell and its answer" {
	wait_cells 3
	dir=$BATS_TEST_TMPDIR/load
	mkdir -p "$dir"
	for i in $(seq 300); do
		printf 'url = "%s/exec"\nheader = "X-API-Key: %s"\n' "$(srv_url)" "$(srv_key)"
		printf 'header = "Content-Type: application/json"\n'
		printf 'data = "{\\"lang\\":\\"py\\",\\"code\\":\\"import os; print(%d, os.getpid())\\"}"\n' "$i"
		printf 'output = "%s/%d"\nwrite-out = "%%{http_code}\\n"\n' "$dir" "$i"
		[ "$i" -lt 300 ] && echo next
	done >"$dir/cfg"
	curl -sS --parallel --parallel-max 8 -K "$dir/cfg" >"$dir/codes"
	[ "$(grep -c '^200$' "$dir/codes")" -eq 300 ]
	# pid 1: a cell; 2 a sandbox of its own (its runner is pid 1), which
	# kcr falls back to while its cells host is replaced
	local fresh=0
	for i in $(seq 300); do
		if ! grep -q "\"stdout\":\"$i 1\\\\n\"" "$dir/$i"; then
			grep -q "\"stdout\":\"$i 2\\\\n\"" "$dir/$i" || fail "execution $i: $(cat "$dir/$i")"
			fresh=$((fresh + 1))
		fi
	done
	[ "$fresh" -eq 0 ] || fail "$fresh of 300 executions ran outside a cell"$'\n'"$(tail -n 20 "$(srv_dir)/stderr")"
	# the cells' host survived it
	! grep -q 'no HTTP response\|Connection reset' "$(srv_dir)/stderr"
}

@test "a program cannot forge its exit status on the cell's report pipe" {
	wait_cells 1
	# "X0" to every descriptor it has, then exit 3
	exec_code py 'import os, sys
for fd in range(3, 1024):
    try:
        os.write(fd, b"X0\n")
    except OSError:
        pass
sys.exit(3)'
	assert_status 200
	assert_json 'j["exit_code"] == 3'
	# a forged "done" does not end the run early either: it runs on to its end
	wait_cells 1
	exec_code py 'import os, sys, time
for fd in range(3, 1024):
    try:
        os.write(fd, b"X0\n")
    except OSError:
        pass
time.sleep(0.5)
print("still here")
sys.exit(5)'
	assert_json 'j["exit_code"] == 5 and j["stdout"] == "still here\n"'
}

@test "programs see only their documented environment: no KCR_* variable, cold or warm" {
	wait_cells 1
	exec_code py 'import os; print(sorted(k for k in os.environ if k.startswith("KCR")))'
	assert_json_eq 'j["stdout"]' '[]'
	exec_code bash 'env | grep -c ^KCR || true'
	assert_json_eq 'j["stdout"]' '0'
	start_server jsw KCR_POOL_PY=0 KCR_POOL_JS=1
	SRV=jsw
	local i
	for i in $(seq 1 200); do
		api GET /pool
		[ "$(jget '[p["ready"] for p in j["pools"] if p["language"] == "js"][0]')" -ge 1 ] && break
		sleep 0.05
	done
	exec_code js 'console.log(JSON.stringify(Object.keys(process.env).filter(k => k.startsWith("KCR"))))'
	assert_json_eq 'j["stdout"]' '[]'
	exec_code py 'import os; print(sorted(k for k in os.environ if k.startswith("KCR")))'
	assert_json_eq 'j["stdout"]' '[]'
}

# the host runners ("hosts N") and their zygotes, by kind: "bare PID..."
# and "loaded PID..."
zygotes() {
	"$HOST_PYTHON" - "$(srv_pid)" <<'PY'
import os, sys
def pidns(pid):
    try:
        return os.readlink("/proc/%s/ns/pid" % pid)
    except OSError:  # a cell that just exited
        return None
def kids(pid):
    out = []
    for t in os.listdir("/proc/%s/task" % pid):
        out += open("/proc/%s/task/%s/children" % (pid, t)).read().split()
    return out
kinds = {"bare": [], "loaded": []}
def cmdline(pid):
    try:
        return open("/proc/%s/cmdline" % pid, "rb").read()
    except OSError:  # exited meanwhile
        return b""
# one host, never replaced while these tests run: a zygote the kernel
# killed (the host held to an execution's memory limit) made kcr replace it
hosts = [r for r in kids(sys.argv[1]) if b"--zygote=" in cmdline(r)]
print("hosts", len(hosts))
for r in hosts:
    # cells are the runner's children too, in pid namespaces of their own
    for z in (z for z in kids(r) if pidns(z) == pidns(r)):
        try:
            env = open("/proc/%s/environ" % z, "rb").read().split(b"\0")
        except (ProcessLookupError, FileNotFoundError):
            continue  # a child that exited meanwhile: not a zygote
        if any(e.startswith(b"KCR_ZYGOTE=") for e in env):
            kinds["loaded" if b"KCR_PRELOAD=" not in env else "bare"].append(z)
for k in ("bare", "loaded"):
    print(k, *sorted(kinds[k], key=int))
PY
}

# voluntary context switches of a process: it woke up to serve a request
switches() {
	awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$1/status"
}

@test "pool.py_zygotes: the host runs two zygotes of each kind, and every one of them clones cells" {
	wait_cells 1
	run zygotes
	assert_success
	bare=($(sed -n 's/^bare //p' <<<"$output"))
	loaded=($(sed -n 's/^loaded //p' <<<"$output"))
	grep -qx 'hosts 1' <<<"$output" || fail "not one host: $output"
	[ "${#bare[@]}" -eq 2 ] || fail "bare zygotes: $output"
	[ "${#loaded[@]}" -eq 2 ] || fail "loaded zygotes: $output"
	local z before=()
	for z in "${bare[@]}" "${loaded[@]}"; do
		before+=("$(switches "$z")")
	done
	for _ in $(seq 6); do
		exec_code py 'print(1)'
		assert_json 'j["stdout"] == "1\n"'
		exec_code py 'import pandas; print(2)'
		assert_json 'j["stdout"] == "2\n"'
	done
	local i=0
	for z in "${bare[@]}" "${loaded[@]}"; do
		[ "$(switches "$z")" -gt "${before[$i]}" ] || fail "zygote $z cloned no cell"
		i=$((i + 1))
	done
}

@test "an execution's memory limit below what the zygotes take: cells still come from the same host" {
	# two zygotes with pool.py_preload imported take ~180 MiB; the host
	# runs kcr's code only, and each cell joins its own cgroups first
	start_server lowmem KCR_POOL_PY=2 KCR_POOL_JS=0 KCR_MEMORY_MB=96
	SRV=lowmem
	wait_cells 2
	local i before
	for i in 1 2 3; do
		exec_code py 'import os; print(os.getpid())'
		assert_json_eq 'j["stdout"]' 1
		exec_code py 'import os, pandas; print(os.getpid(), len(pandas.DataFrame({"a": [1, 2]})))'
		assert_json_eq 'j["stdout"]' '1 2'
		run zygotes
		assert_success
		[ -z "${before:-}" ] || [ "$output" = "$before" ] || fail "zygotes were $before, now $output"
		before=$output
	done
	[ "$(grep -c '^loaded [0-9]* [0-9]*$' <<<"$before")" = 1 ] || fail "zygotes: $before"
	grep -qx 'hosts 1' <<<"$before" || fail "not one host: $before"
}

@test "nothing of one execution reaches the next: files, environment, processes, interpreter state" {
	wait_cells 2
	# each kind of cell (bare and with the imports) leaves what it can
	leave='import builtins, json, os, subprocess, sys
for p in ("/tmp/leak", "/mnt/data/leak", "/dev/shm/leak"):
    open(p, "w").write("x")
os.environ["KCR_TEST_LEAK"] = "1"
os.putenv("KCR_TEST_LEAK2", "1")
builtins.kcr_test_leak = 1
json.kcr_test_leak = 1
sys.modules["kcr_test_leak"] = json
sys.path.append("/tmp/leak-path")
subprocess.Popen(["sleep", "30"], start_new_session=True)
print("left")'
	look='import builtins, json, os, sys
print([os.path.exists(p) for p in ("/tmp/leak", "/mnt/data/leak", "/dev/shm/leak")],
      "KCR_TEST_LEAK" in os.environ, "KCR_TEST_LEAK2" in os.environ,
      hasattr(builtins, "kcr_test_leak"), hasattr(json, "kcr_test_leak"),
      "kcr_test_leak" in sys.modules, "/tmp/leak-path" in sys.path,
      [p for p in os.listdir("/proc") if p.isdigit()])'
	exec_code py "$leave"
	assert_json_eq 'j["stdout"]' 'left'
	exec_code py "import pandas
$leave"
	assert_json_eq 'j["stdout"]' 'left'
	# the next cells of both kinds, from every zygote
	for _ in $(seq 4); do
		exec_code py "$look"
		assert_json_eq 'j["stdout"]' "[False, False, False] False False False False False False ['1']"
		exec_code py "import pandas
$look"
		assert_json_eq 'j["stdout"]' "[False, False, False] False False False False False False ['1']"
	done
}

@test "a cell holds no descriptor of the zygote's; its set-up code is mapped from the runner's memfd" {
	wait_cells 1
	exec_code py 'import os
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
print(fds[:4], len(fds))
print(sorted({l.split(None, 5)[5].strip() for l in open("/proc/self/maps") if "kcr-cell" in l}))'
	assert_status 200
	# 0-2, the report pipe (3), and the listing's own descriptor
	assert_json_eq 'j["stdout"]' "[0, 1, 2, 3] 5
['/memfd:kcr-cell.so (deleted)']"
}

@test "a bare cell has, while it waits, copied the interpreter's pages a program's run writes (the zygote's probe learned them)" {
	local c kib
	start_server bare $(pools_only py) KCR_POOL_PY=2 KCR_POOL_PY_PRELOAD= KCR_POOL_ADAPTIVE=false
	SRV=bare until_field py ready -ge 2
	for c in $(cell_pids bare); do
		# private pages of python3.11's data segment: ~116 KiB copied by
		# the cell's own set-up, ~330 with those a program then writes
		kib=$(awk '$6 ~ /python3\.11$/ { d = ($2 == "rw-p") } d && /^Private_Dirty:/ { s += $2 }
			END { print s + 0 }' "/proc/$c/smaps")
		[ "$kib" -ge 240 ] || fail "cell $c: $kib KiB of python3.11's data its own"
	done
	# and a program runs in it as before
	SRV=bare exec_code py 'print(sum(range(10)))'
	assert_json_eq 'j["stdout"]' '45'
}
