#!/usr/bin/env bats
# The seccomp filter of every sandbox (lib/runner/seccomp.c): an allow-list
# after container engines' default profile. Each denied family answers
# EPERM (sockets of other families EAFNOSUPPORT), a syscall on no list
# ENOSYS, and another ABI (x32, i386's int 0x80) kills the process. The
# probe is a C program run in the sandbox (tests/cli/sandbox/seccomp_probe.c).

load helpers

setup() {
	kcr_setup
	require_sandbox
}

@test "every denied family of syscalls fails in the sandbox, other ABIs are killed" {
	run --separate-stderr "$KCR" exec -l c "$BATS_TEST_DIRNAME/sandbox/seccomp_probe.c"
	assert_success
	local name
	for name in mount umount2 ptrace unshare setns clone-newns bpf keyctl add_key \
		perf_event_open userfaultfd kexec_load init_module finit_module \
		open_by_handle_at pivot_root swapon reboot settimeofday io_uring_setup; do
		assert_line "$name errno=EPERM"
	done
	assert_line 'socket-netlink errno=EAFNOSUPPORT'
	assert_line 'socket-packet errno=EAFNOSUPPORT'
	assert_line 'personality-other errno=ENOSYS'
	# clone3 passes its flags where a filter cannot read them: ENOSYS, and
	# libc falls back to clone, which the filter can check
	assert_line 'clone3 errno=ENOSYS'
	assert_line 'unlisted-456 errno=ENOSYS'
	assert_line 'x32-getpid killed=SYS'
	# SIGSYS from the filter, or SIGSEGV where the kernel has no i386 ABI
	assert_line --regexp '^int80 killed=(SYS|SEGV)$'
	assert_line 'getpid ok'
}

@test "kcr doctor reports the allow-list and its size" {
	run "$KCR" doctor
	assert_line --regexp '^ok +seccomp +.*an allow-list of [0-9]{3} syscalls, other ABIs killed$'
}

# kcr compiles the filter once and hands each sandbox's runner the BPF in
# a sealed memfd (lib/sandbox/local_open.c); the runner closes it before
# any program starts, so the program holds none of kcr's descriptors.
@test "the filter kcr compiled once holds in every sandbox, and its memfd does not reach the program" {
	run --separate-stderr "$KCR" exec -l bash -c 'ls /proc/$$/fd | tr "\n" " "; echo; readlink /proc/$$/fd/*; grep ^Seccomp: /proc/self/status; unshare -U true 2>/dev/null || echo unshare-refused'
	assert_success
	assert_line 'Seccomp:	2'
	assert_line unshare-refused
	refute_output --partial memfd
	refute_output --partial kcr-seccomp
	assert_line --index 0 '0 1 2 255 ' # bash keeps its script at 255
}

@test "a runner handed a filter that is not BPF says so, and every program's start fails with that reason" {
	printf abc >bad.bpf
	mkdir data src
	"$KCR_RUNNER" --unix "$PWD/r.sock" --data-dir "$PWD/data" --src-dir "$PWD/src" \
		--seccomp-fd=9 9<bad.bpf 2>runner.err &
	local pid=$!
	for _ in $(seq 100); do [ -S r.sock ] && break; sleep 0.05; done
	run curl -sS --unix-socket r.sock -H 'content-type: application/json' \
		-d "{\"language\":\"bash\",\"code_b64\":\"$(printf 'echo hi' | base64)\",\"args\":[]}" \
		http://runner/execute
	kill "$pid"
	wait "$pid" || true
	assert_output '{"error":"the seccomp filter is 3 bytes: not 1 to 65535 BPF instructions of 8"}'
	run cat runner.err
	assert_line 'kcr-runner: the seccomp filter is 3 bytes: not 1 to 65535 BPF instructions of 8'
}
