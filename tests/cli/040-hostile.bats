#!/usr/bin/env bats
# The security promises of the local sandbox (DESIGN.md §5), one test each:
# hostile programs are contained, limited and cleaned up, and cannot reach
# the host, the network or other executions.

load helpers

bats_require_minimum_version 1.5.0

setup() {
	kcr_setup
	require_sandbox
}

# A marker unique to this test: put in a program's argv it shows up in the
# host's process list for as long as any process of that program lives.
new_marker() {
	echo "kcr-test-$$-$BATS_TEST_NUMBER-$RANDOM"
}

# Fails if any host process still carries MARKER, after GRACE_MS.
assert_no_process_left() {
	local marker=$1 grace=${2:-2000} deadline left
	deadline=$(($(now_ms) + grace))
	while :; do
		left=$(pgrep -af -- "$marker" | grep -v -e pgrep || true)
		[ -n "$left" ] || return 0
		[ "$(now_ms)" -lt "$deadline" ] || break
		sleep 0.2
	done
	fail "processes of the execution outlived it:"$'\n'"$left"
}

# The next execution works and the host can still start processes.
assert_still_fine() {
	local i
	for i in 1 2 3; do
		/bin/true || fail "the host cannot start processes any more"
	done
	run_kcr exec -l py -c 'print("still fine")'
	assert_stdout_is $'still fine\n'
}

@test "an infinite loop is killed at the timeout: 124 within timeout + 1 s" {
	run_kcr 124 exec -l py --timeout 2 -c 'while True: pass'
	[ "$KCR_ELAPSED_MS" -lt 3000 ] || fail "took ${KCR_ELAPSED_MS} ms for --timeout 2"
	[ "$KCR_ELAPSED_MS" -ge 1900 ] || fail "killed after ${KCR_ELAPSED_MS} ms, before the 2 s timeout"
	assert_stderr_regex 'timed out'
}

@test "a program ignoring SIGTERM is still killed at the timeout" {
	local marker
	marker=$(new_marker)
	printf '%s\n' "trap '' TERM INT HUP" 'while :; do :; done' >spin.sh
	run_kcr 124 exec --timeout 1 spin.sh -- "$marker"
	[ "$KCR_ELAPSED_MS" -lt 2000 ] || fail "took ${KCR_ELAPSED_MS} ms for --timeout 1"
	assert_stderr_regex 'timed out'
	assert_no_process_left "$marker" 500
}

@test "a bash fork bomb is contained; the host and the next execution are fine" {
	local marker
	marker=$(new_marker)
	echo ':(){ :|:& };:' >bomb.sh
	run_kcr '?' exec --timeout 3 bomb.sh -- "$marker"
	[ "$status" -ne 125 ] || fail "kcr failed instead of containing the bomb"
	[ "$KCR_ELAPSED_MS" -lt 6000 ] || fail "took ${KCR_ELAPSED_MS} ms for --timeout 3"
	assert_no_process_left "$marker"
	assert_still_fine
}

@test "a python fork loop is contained: 124 at the timeout, nothing left over" {
	local marker
	marker=$(new_marker)
	cat >forks.py <<'EOF'
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
EOF
	run_kcr 124 exec --timeout 3 forks.py -- "$marker"
	[ "$KCR_ELAPSED_MS" -lt 6000 ] || fail "took ${KCR_ELAPSED_MS} ms for --timeout 3"
	assert_stderr_regex 'timed out'
	assert_no_process_left "$marker"
	assert_still_fine
}

@test "a memory bomb (2 GB with --memory 128) is killed with 'out of memory'" {
	run_kcr '?' exec -l py --memory 128 -c '
data = b"x" * (2 * 1024 ** 3)
print("allocated", len(data))'
	[ "$status" -ne 0 ] || fail "allocating 2 GB under --memory 128 succeeded"
	[ "$status" -ne 124 ] && [ "$status" -ne 125 ] || fail "exit $status: not the program's"
	refute_output --partial allocated
	assert_stderr_regex '[Oo]ut of memory'
	[ "$KCR_ELAPSED_MS" -lt 20000 ] || fail "took ${KCR_ELAPSED_MS} ms"

	# --json says which limit it hit
	run_kcr '?' exec -l py --memory 128 --json -c 'data = b"x" * (2 * 1024 ** 3)'
	run json_eval '[j["oom_killed"], j["timed_out"]]'
	assert_output '[true, false]'

	assert_still_fine
}

@test "CPU: two busy processes get limits.cpus of CPU time, plus one period's burst at most" {
	# each spins for 2 s of wall time: at 0.5 cores that is 1 s of CPU, and
	# the burst (one period's quota) adds 0.05 s; without the quota, 4 s
	KCR_CPUS=0.5 run_kcr 0 exec -l py -c '
import os, time
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            pass
        os._exit(0)
    kids.append(pid)
for p in kids:
    os.waitpid(p, 0)
t = os.times()
print("%.2f" % (t.children_user + t.children_system))'
	awk -v c="$output" 'BEGIN { exit !(c > 0 && c <= 1.3) }' || fail "used $output s of CPU"
}

@test "filling /mnt/data: the program sees ENOSPC, the output dir gets no more than fits" {
	cat >fill.sh <<'EOF'
dd if=/dev/zero of=/mnt/data/fill bs=1M count=64 status=none
echo "dd exit $?"
EOF
	run_kcr '?' --set limits.data_size_mb=16 exec -o out fill.sh
	assert_stdout_is $'dd exit 1\n'
	assert_stderr_regex 'No space left on device'
	# whatever came back is bounded by the 16 MiB /mnt/data
	local total=0
	[ ! -d out ] || total=$(find out -type f -printf '%s\n' | awk '{ t += $1 } END { print t + 0 }')
	[ "$total" -le $((16 << 20)) ] || fail "$total bytes written to the output dir"
	assert_still_fine
}

@test "filling /tmp: the program sees ENOSPC, nothing from /tmp comes back" {
	cat >fill.sh <<'EOF'
dd if=/dev/zero of=/tmp/fill bs=1M count=64 status=none
echo "dd exit $?"
echo done >/mnt/data/after.txt
EOF
	run_kcr '?' --set limits.tmp_size_mb=16 exec -o out fill.sh
	assert_stdout_is $'dd exit 1\n'
	assert_stderr_regex 'No space left on device'
	assert_equal "$(list_files out)" "./after.txt"
	assert_equal "$(cat out/after.txt)" "done"
	assert_still_fine
}

@test "100 MB of output is truncated with a message; kcr stays small and quick" {
	echo 'yes kcr-output-flood | head -c 100000000' >flood.sh
	local start rc=0 elapsed
	start=$(now_ms)
	/usr/bin/time -f '%M' -o maxrss.txt timeout 120 "$KCR" exec flood.sh >out.txt 2>err.txt || rc=$?
	elapsed=$(($(now_ms) - start))
	echo "# exit $rc, ${elapsed} ms, max RSS $(cat maxrss.txt) KiB"
	sed 's/^/# stderr: /' err.txt
	[ "$rc" -ne 124 ] && [ "$rc" -ne 125 ] || fail "kcr exited $rc"
	[ "$elapsed" -lt 15000 ] || fail "took ${elapsed} ms"
	# the default limits.output_bytes is 1 MiB per stream
	local size
	size=$(stat -c %s out.txt)
	[ "$size" -le 1048576 ] || fail "$size bytes of stdout passed through"
	[ "$size" -ge 1000000 ] || fail "only $size bytes of stdout kept"
	# what was kept is the start of the output, intact
	cmp <(yes kcr-output-flood | head -c "$size") out.txt
	grep -q 'truncated' err.txt || fail "no message says stdout was truncated"
	# kcr did not hold 100 MB in memory
	[ "$(tail -n1 maxrss.txt)" -lt 65536 ] || fail "kcr's max RSS was $(tail -n1 maxrss.txt) KiB"
}

@test "no network: a listener on the host's 127.0.0.1 is unreachable" {
	cat >"$_KCR_CAPTURE/listen.py" <<'EOF'
import socket, sys

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    with open(sys.argv[2], "a") as log:
        log.write("connection\n")
    c.close()
EOF
	local portfile=$_KCR_CAPTURE/port log=$_KCR_CAPTURE/connections port i
	"$HOST_PYTHON" "$_KCR_CAPTURE/listen.py" "$portfile" "$log" </dev/null >/dev/null 2>&1 3>&- &
	kcr_track_pid $!
	for i in $(seq 50); do
		[ -s "$portfile" ] && break
		sleep 0.1
	done
	port=$(cat "$portfile")
	# the listener is there: the host can reach it
	"$HOST_PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()' "$port"

	cat >connect.py <<'EOF'
import socket, sys

try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()
    print("CONNECTED")
except OSError as e:
    print("blocked")
EOF
	run_kcr exec connect.py -- "$port"
	assert_stdout_is $'blocked\n'
	sleep 0.3
	assert_equal "$(cat "$log")" "connection"
}

@test "no network: 1.1.1.1:53 and DNS are unreachable, only lo exists" {
	cat >net.py <<'EOF'
import socket

for what, fn in [
    ("tcp 1.1.1.1:53", lambda: socket.create_connection(("1.1.1.1", 53), timeout=3).close()),
    ("udp 1.1.1.1:53", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("1.1.1.1", 53))),
    ("dns example.com", lambda: socket.getaddrinfo("example.com", 443)),
]:
    try:
        fn()
        print(what, "REACHED")
    except OSError:
        print(what, "blocked")
with open("/proc/net/dev") as f:
    print("interfaces:", " ".join(sorted(l.split(":")[0].strip() for l in f.readlines()[2:])))
EOF
	run_kcr exec net.py
	assert_stdout_is $'tcp 1.1.1.1:53 blocked\nudp 1.1.1.1:53 blocked\ndns example.com blocked\ninterfaces: lo\n'
	[ "$KCR_ELAPSED_MS" -lt 10000 ] || fail "took ${KCR_ELAPSED_MS} ms"
}

@test "host files: /root, \$HOME, kcr's state dir and /etc/shadow cannot be read" {
	local state secret_state secret_home
	run_kcr config show --json
	state=$(json_eval 'j["state_dir"]["value"]')
	mkdir -p "$state"
	secret_state=$(mktemp -d "$state/kcr-test.XXXXXX")
	kcr_track_path "$secret_state"
	echo "state-secret-$$" >"$secret_state/secret"
	secret_home=$(mktemp -d "$HOME/.kcr-test.XXXXXX")
	kcr_track_path "$secret_home"
	echo "home-secret-$$" >"$secret_home/secret"
	chmod 755 "$secret_state" "$secret_home"
	chmod 644 "$secret_state/secret" "$secret_home/secret"

	cat >peek.sh <<'EOF'
for f in "$@"; do
	if cat "$f" >/dev/null 2>&1; then echo "READ $f"; cat "$f"; else echo "denied $f"; fi
done
ls -A /root 2>/dev/null | sed 's/^/in-root: /'
EOF
	run_kcr exec peek.sh -- "$secret_state/secret" "$secret_home/secret" /etc/shadow /root/.bashrc /root/.profile
	assert_stdout_is "denied $secret_state/secret
denied $secret_home/secret
denied /etc/shadow
denied /root/.bashrc
denied /root/.profile
"
	refute_output --partial secret-$$
}

@test "host files: /etc/passwd is the sandbox's and id is uid 1000" {
	run_kcr exec -l bash -c 'id -u; id -g; cat /etc/passwd'
	assert_line --index 0 1000
	assert_line --index 1 1000
	assert_line --regexp '^[a-z_][a-z0-9_-]*:x:1000:1000:'
	# no host users: every name in the sandbox's passwd other than root and
	# nobody must be absent from the host's, or be the uid-1000 user
	local name
	for name in $(cut -d: -f1 /etc/passwd); do
		case $name in root | nobody) continue ;; esac
		refute_line --regexp "^${name}:x:[0-9]+:[0-9]+:.*" || fail "host user '$name' is in the sandbox's /etc/passwd"
	done
	[ "${#lines[@]}" -le 6 ] || fail "$((${#lines[@]} - 2)) users in the sandbox's /etc/passwd"
}

@test "host processes are invisible and cannot be signalled" {
	sleep 300 </dev/null >/dev/null 2>&1 3>&- &
	local host_pid=$!
	kcr_track_pid "$host_pid"
	cat >ps.sh <<'EOF'
echo "pids: $(ls /proc | grep -cE '^[0-9]+$')"
if kill -0 "$1" 2>/dev/null; then echo "sees $1"; else echo "no $1"; fi
if kill -9 "$1" 2>/dev/null; then echo "killed $1"; else echo "cannot kill $1"; fi
ps -e -o comm= | grep -c sleep || true
EOF
	run_kcr '?' exec ps.sh -- "$host_pid"
	assert_line "no $host_pid"
	assert_line "cannot kill $host_pid"
	# only the sandbox's handful of processes (bash, ls, grep, an init)
	local n=${lines[0]#pids: }
	[ "$n" -le 8 ] || fail "the sandbox sees $n processes"
	# no host 'sleep' in the sandbox's ps
	assert_line --index 3 0
	kill -0 "$host_pid" || fail "the host's sleep was killed from the sandbox"
}

@test "only /mnt/data and /tmp are writable, not /, /usr or /etc" {
	local marker
	marker=$(new_marker)
	cat >write.sh <<'EOF'
for d in / /usr /usr/bin /usr/local/bin /etc /bin /var /opt /root /mnt /mnt/data /tmp; do
	if (echo x >"$d/$1") 2>/dev/null; then echo "writable $d"; rm -f "$d/$1"; else echo "read-only $d"; fi
done
if (echo x >>/etc/passwd) 2>/dev/null; then echo "appended to /etc/passwd"; else echo "read-only /etc/passwd"; fi
EOF
	run_kcr exec -o out write.sh -- "$marker"
	assert_stdout_is 'read-only /
read-only /usr
read-only /usr/bin
read-only /usr/local/bin
read-only /etc
read-only /bin
read-only /var
read-only /opt
read-only /root
read-only /mnt
writable /mnt/data
writable /tmp
read-only /etc/passwd
'
	# and nothing reached the host's file system
	local d
	for d in / /usr /usr/bin /usr/local/bin /etc /bin /var /opt /root /mnt; do
		[ ! -e "$d/$marker" ] || fail "the sandbox wrote $d/$marker on the host"
	done
}

@test "the hostname is 'sandbox' and the host's is unchanged" {
	local before
	before=$(uname -n)
	run_kcr exec -l bash -c 'hostname; cat /proc/sys/kernel/hostname; hostname evil 2>/dev/null; uname -n'
	assert_stdout_is $'sandbox\nsandbox\nsandbox\n'
	assert_equal "$(uname -n)" "$before"
}

@test "no capabilities, no_new_privs and a seccomp filter" {
	run_kcr exec -l bash -c "awk '/^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs|Seccomp):/ { print \$1, \$2 }' /proc/self/status"
	assert_stdout_is 'CapInh: 0000000000000000
CapPrm: 0000000000000000
CapEff: 0000000000000000
CapAmb: 0000000000000000
NoNewPrivs: 1
Seccomp: 2
'
}

@test "ptrace, mount and unshare fail inside" {
	cat >escape.py <<'EOF'
import ctypes, os, time

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_ATTACH = 16
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000


def probe(name, call):
    # in a child, so that a seccomp kill counts as "failed" too
    pid = os.fork()
    if pid == 0:
        os._exit(0 if call() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    print(name, "SUCCEEDED" if status == 0 else "failed")


target = os.fork()
if target == 0:
    time.sleep(30)
    os._exit(0)
probe("ptrace", lambda: libc.ptrace(PTRACE_ATTACH, target, None, None))
os.kill(target, 9)
probe("mount", lambda: libc.mount(b"none", b"/mnt/data", b"tmpfs", 0, None))
probe("unshare-user", lambda: libc.unshare(CLONE_NEWUSER))
probe("unshare-mount", lambda: libc.unshare(CLONE_NEWNS))
probe("setuid-0", lambda: libc.setuid(0))
EOF
	run_kcr exec escape.py
	assert_stdout_is $'ptrace failed\nmount failed\nunshare-user failed\nunshare-mount failed\nsetuid-0 failed\n'

	run_kcr exec -l bash -c 'if unshare -r true 2>/dev/null; then echo "unshare -r worked"; else echo "unshare -r failed"; fi'
	assert_stdout_is $'unshare -r failed\n'
}

@test "a background process does not survive the execution" {
	local marker
	marker=$(new_marker)
	cat >bg.sh <<'EOF'
(sleep 2; echo leaked >/mnt/data/marker.txt; echo leaked-output) &
setsid -f bash -c 'sleep 2; echo leaked >/mnt/data/daemon.txt' "$1" </dev/null >/dev/null 2>&1
echo started
EOF
	run_kcr exec -o out bg.sh -- "$marker"
	assert_stdout_is $'started\n'
	# kcr did not wait for the background processes...
	[ "$KCR_ELAPSED_MS" -lt 1800 ] || fail "kcr took ${KCR_ELAPSED_MS} ms: it waited for the background"
	# ...and they are gone, not running on unseen
	assert_no_process_left "$marker" 500
	sleep 2.5
	[ ! -e out/marker.txt ] && [ ! -e out/daemon.txt ] || fail "a background process wrote its marker"
	assert_equal "$(list_files .)" "$(printf './bg.sh')"
}

@test "two executions cannot see each other's files or processes" {
	local marker
	marker=$(new_marker)
	cat >first.sh <<'EOF'
echo secret >/tmp/x
echo secret >/mnt/data/y
sleep 3
EOF
	cat >second.sh <<'EOF'
for f in /tmp/x /mnt/data/y; do
	if [ -e "$f" ]; then echo "sees $f"; else echo "no $f"; fi
done
if ps -e -o args= | grep -qx 'sleep 3'; then echo "sees the other's processes"; else echo "no other processes"; fi
EOF
	# the first one runs while the second looks
	timeout 60 "$KCR" exec -o out1 first.sh -- "$marker" >first.out 2>first.err 3>&- &
	local first=$!
	kcr_track_pid "$first"
	sleep 1
	run_kcr exec -o out2 second.sh -- "$marker"
	assert_stdout_is $'no /tmp/x\nno /mnt/data/y\nno other processes\n'
	wait "$first" || fail "the first execution failed: $(cat first.err)"
	assert_equal "$(cat out1/y)" "secret"
	[ ! -e out2 ] || assert_equal "$(list_files out2)" ""

	# and afterwards: a fresh sandbox has none of it
	run_kcr exec -o out3 second.sh -- "$marker"
	assert_stdout_is $'no /tmp/x\nno /mnt/data/y\nno other processes\n'
}

@test "a program cannot forge its exit status through its inherited descriptors" {
	run_kcr 3 exec -l py -c 'import os, sys
for fd in range(3, 1024):
    try:
        os.write(fd, b"X0\n")
    except OSError:
        pass
sys.exit(3)'
}

# in a mount namespace of its own where the memory controller is not mounted
without_memory_cgroup() {
	unshare -m sh -c 'umount -l /sys/fs/cgroup/memory 2>/dev/null || umount -l /sys/fs/cgroup
exec "$@"' sh "$@"
}

@test "limits fail closed: without a memory cgroup no sandbox runs, unless allowed" {
	[ "$(id -u)" = 0 ] || skip "needs root to unmount the cgroup"
	run --separate-stderr without_memory_cgroup "$KCR" exec -l bash -c 'echo ran'
	[ "$status" -eq 125 ] || fail "exit $status, output '$output', stderr: $stderr"
	[ -z "$output" ]
	[[ $stderr == *"no sandbox without its memory and process limits"*"limits.allow_unlimited"* ]] ||
		fail "stderr: $stderr"
	run --separate-stderr without_memory_cgroup "$KCR" doctor
	assert_failure 1
	assert_line --regexp '^FAIL +limits +not enforced: kcr refuses to create sandboxes'
	# the operator's explicit choice: it runs, and kcr says so
	KCR_ALLOW_UNLIMITED=true run --separate-stderr without_memory_cgroup "$KCR" exec -l bash -c 'echo ran'
	assert_success
	assert_output ran
	[[ $stderr == *"run without memory, process and cpu limits"* ]] || fail "stderr: $stderr"
}

# kcr as an unprivileged user (the sandbox a user namespace of its own):
# the program shares the runner's uid there, and must still not stop it.
@test "non-root: a program signalling its runner (TERM, INT, STOP, kill -9 -1) still gets its result" {
	local as=()
	if [ "$(id -u)" = 0 ]; then
		command -v setpriv >/dev/null || fail "setpriv is needed to run kcr as a user"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp)
	fi
	cd /tmp
	# no cgroup of its own: refused (limits fail closed) unless the user says
	run --separate-stderr timeout 60 "${as[@]}" "$KCR" exec -l bash -c 'echo ran'
	[ "$status" -eq 125 ] && [[ $stderr == *"limits.allow_unlimited"* ]] ||
		fail "exit $status: $stderr"
	as+=(KCR_ALLOW_UNLIMITED=true)
	run --separate-stderr timeout 60 "${as[@]}" "$KCR" exec -l bash --timeout 10 -c \
		'kill -TERM 1; kill -INT 1; kill -STOP 1; kill -9 -1; kill -HUP 1; sleep 0.3; echo after; exit 4'
	[ "$status" -eq 4 ] || fail "exit $status: $stderr"
	assert_output after
	run --separate-stderr timeout 60 "${as[@]}" "$KCR" exec -l py --timeout 10 -c 'import os, signal
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGSTOP, signal.SIGKILL):
    try:
        os.kill(os.getppid(), s)
    except OSError:
        pass
print(os.getuid(), "alive")'
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	assert_output '0 alive'
	# nor lower its runner's limits or starve it (the same uid here)
	run --separate-stderr timeout 60 "${as[@]}" "$KCR" exec -l py --timeout 10 -c 'import os, resource
for f in (lambda: resource.prlimit(1, resource.RLIMIT_NOFILE, (4, 4)),
          lambda: os.setpriority(os.PRIO_PROCESS, 1, 19),
          lambda: os.sched_setaffinity(1, {0})):
    try:
        f()
        print("changed")
    except OSError as e:
        print(e.errno == 1)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))  # its own: fine'
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	assert_output $'True\nTrue\nTrue'
}
