#!/usr/bin/env bats
# kcr serve clones its sandboxes' runners from one started kcr-runner
# (sandbox.runner_template, lib/runner/template.c, lib/sandbox/
# local_template.c) instead of executing kcr-runner for each. Each clone
# is kcr's child in namespaces of its own. Best effort: a template that
# dies leaves sandboxes executing kcr-runner, said once in the log.

load serve_helpers

setup_file() {
	start_server main $(pools_only bash) KCR_POOL_BASH=2 KCR_POOL_ADAPTIVE=false
	start_server off $(pools_only bash) KCR_POOL_BASH=2 KCR_POOL_ADAPTIVE=false \
		KCR_SANDBOX_RUNNER_TEMPLATE=false
}

templates() { pgrep -P "$(srv_pid "$1")" -fx 'kcr-runner --template' || true; }
runners() { pgrep -P "$(srv_pid "$1")" -f '^kcr-runner --sandbox' || true; }

# wait_runners SERVER N: until N sandboxes' runners run (10 s at most)
wait_runners() {
	for _ in $(seq 100); do
		[ "$(runners "$1" | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "server $1: $(runners "$1" | wc -l) runners, wanted $2"
}

@test "kcr serve's runners are clones of one template, each kcr's child in namespaces of its own" {
	local t r ns seen=" "
	[ "$(templates main | wc -l)" -eq 1 ]
	t=$(templates main)
	wait_runners main 2
	for r in $(runners main); do
		# pid 1 of its own pid namespace, in user, mount and net ones
		# that are neither the template's nor another runner's
		awk '/^NSpid:/ { exit !(NF == 3 && $3 == 1) }' "/proc/$r/status"
		# ps shows the runner's own arguments, not the template's line
		tr '\0' ' ' <"/proc/$r/cmdline" | grep -q -- '^kcr-runner --sandbox --listen-fd=3 --error-fd=4 '
		for ns in pid user mnt net ipc uts; do
			[ "$(readlink "/proc/$r/ns/$ns")" != "$(readlink "/proc/$t/ns/$ns")" ]
			[[ $seen != *" $(readlink "/proc/$r/ns/$ns") "* ]]
			seen+="$(readlink "/proc/$r/ns/$ns") "
		done
	done
	SRV=main exec_code bash 'echo "hi from $(id -un)"; grep ^Seccomp: /proc/self/status'
	[ "$HTTP_STATUS" = 200 ]
	[[ $BODY == *'"stdout":"hi from sandbox\nSeccomp:\t2\n"'* ]]
	# the template binds every symbol at its start (LD_BIND_NOW); neither
	# its runners nor their programs get its environment
	grep -qz '^LD_BIND_NOW=1$' "/proc/$t/environ"
	SRV=main exec_code bash 'env | sort | tr "\n" " "'
	[[ $BODY == *'"stdout":"HOME=/tmp LANG=C.UTF-8 LOGNAME=sandbox PATH='* ]]
	[[ $BODY != *LD_BIND_NOW* ]]
}

# cpu_of PID: "quota period burst" of the CPU cgroup PID is in (v1 or v2)
cpu_of() {
	local path m
	path=$(sed -En 's/^[0-9]+:([^:]*,)?cpu(,[^:]*)?:(.*)$/\3/p' "/proc/$1/cgroup")
	if [ -n "$path" ]; then
		for m in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct; do
			[ -f "$m$path/cpu.cfs_quota_us" ] && break
		done
		echo "$(cat "$m$path/cpu.cfs_quota_us") $(cat "$m$path/cpu.cfs_period_us")" \
			"$(cat "$m$path/cpu.cfs_burst_us")"
	else
		path=$(sed -n 's/^0:://p' "/proc/$1/cgroup")
		echo "$(cat "/sys/fs/cgroup$path/cpu.max") $(cat "/sys/fs/cgroup$path/cpu.max.burst")"
	fi
}

@test "a sandbox's CPU quota is limits.cpus, and one period's quota of burst" {
	local r
	wait_runners main 1
	for r in $(runners main); do
		run cpu_of "$r"
		assert_output '100000 100000 100000'
	done
}

@test "with sandbox.runner_template false no template runs, and sandboxes execute kcr-runner" {
	[ "$(templates off | wc -l)" -eq 0 ]
	wait_runners off 2
	SRV=off exec_code bash 'echo hi'
	[ "$HTTP_STATUS" = 200 ]
	[[ $BODY == *'"stdout":"hi\n"'* ]]
}

@test "a template that dies costs only speed: executions go on, and the log says so once" {
	start_server victim $(pools_only bash) KCR_POOL_BASH=1 KCR_POOL_ADAPTIVE=false
	wait_runners victim 1
	kill -KILL "$(templates victim)"
	for i in 1 2 3 4; do
		SRV=victim exec_code bash "echo run $i"
		[ "$HTTP_STATUS" = 200 ]
		[[ $BODY == *"\"stdout\":\"run $i\\n\""* ]]
	done
	run grep -c 'kcr-runner --template: .*each sandbox now executes kcr-runner' \
		"$(srv_dir victim)/stderr"
	assert_output 1
}

@test "the template answers a request it cannot read with EBADMSG, and exits 0 when kcr closes its socket" {
	run "$HOST_PYTHON" - "$KCR_RUNNER" <<'PY'
import errno, os, socket, struct, subprocess, sys
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
# fd 3 is the template's socket; Python's own descriptors close on exec
p = subprocess.Popen([sys.argv[1], '--template'], stdin=subprocess.DEVNULL, close_fds=False,
                     preexec_fn=lambda: os.dup2(theirs.fileno(), 3))
theirs.close()
ours.send(b'not a request')
pid, in_cg = struct.unpack('=qI4x', ours.recv(64))
print('pid', pid, '-EBADMSG' if pid == -errno.EBADMSG else '')
ours.close()
print('exit', p.wait(timeout=10))
PY
	assert_success
	assert_line --regexp '^pid -[0-9]+ -EBADMSG$'
	assert_line 'exit 0'
}
