#!/usr/bin/env bats
# kcr exec: how code, input, arguments and files get in and how output,
# files and the exit code come out.

load helpers

setup() {
	kcr_setup
	require_sandbox
}

@test "exec: the language comes from the file's extension" {
	echo 'print("from a .py file")' >prog.py
	run_kcr exec prog.py
	assert_stdout_is $'from a .py file\n'

	echo 'echo "from a .sh file: $((6 * 7))"' >prog.sh
	run_kcr exec prog.sh
	assert_stdout_is $'from a .sh file: 42\n'

	# -l wins over the extension
	echo 'echo "bash, not python"' >really-bash.py
	run_kcr exec -l bash really-bash.py
	assert_stdout_is $'bash, not python\n'
}

@test "exec: options may follow FILE, as in 'kcr exec --help' examples" {
	# kcr exec plot.py -f data.csv -o out/
	printf '1,2\n' >data.csv
	cat >plot.py <<'EOF'
print(open("data.csv").read(), end="")
open("plot.txt", "w").write("plotted\n")
EOF
	run_kcr exec plot.py -f data.csv -o out/
	assert_stdout_is $'1,2\n'
	assert_equal "$(cat out/plot.txt)" "plotted"

	# kcr exec -l c prog.c --stdin input.txt -- arg1 arg2 (here in Python)
	printf 'from stdin\n' >input.txt
	echo 'import sys; print(sys.stdin.read().strip(), sys.argv[1:])' >prog.py
	run_kcr exec -l py prog.py --stdin input.txt -- arg1 arg2
	assert_stdout_is $'from stdin [\'arg1\', \'arg2\']\n'
}

@test "exec -c CODE runs the code given on the command line" {
	run_kcr exec -l py -c 'print(6 * 7)'
	assert_stdout_is $'42\n'
	assert_equal "$stderr" ""
	# language aliases work too
	run_kcr exec -l python3 -c 'import sys; print(sys.version_info[0])'
	assert_stdout_is $'3\n'
}

@test "exec - reads the code from stdin" {
	run_kcr exec -l py - < <(printf 'import sys\nprint("code from a pipe", len(sys.argv))\n')
	assert_stdout_is $'code from a pipe 1\n'
}

@test "exec -f: input files are in /mnt/data, the program's cwd" {
	printf 'a,b\n1,2\n' >data.csv
	mkdir sub
	printf 'second\n' >sub/notes.txt
	run_kcr exec -l py -f data.csv -f sub/notes.txt -o out -c '
import os
print(os.getcwd())
print(open("data.csv").read(), end="")
print(open("/mnt/data/notes.txt").read(), end="")
print(sorted(os.listdir(".")))'
	assert_stdout_is $'/mnt/data\na,b\n1,2\nsecond\n[\'data.csv\', \'notes.txt\']\n'
	# inputs the program did not change are not written back
	assert_equal "$stderr" ""
	[ ! -e out ] || assert_equal "$(list_files out)" ""
}

@test "exec: a file the program creates lands in the output dir" {
	run_kcr exec -l py -o results -c 'open("report.txt", "w").write("line 1\nline 2\n")'
	assert_equal "$(cat results/report.txt)" $'line 1\nline 2'
	assert_equal "$(stat -c %s results/report.txt)" 14
	assert_equal "$stderr" "kcr: wrote results/report.txt (14 bytes)"
	assert_equal "$output" ""

	# the default output dir is the current directory
	run_kcr exec -l py -c 'open("here.txt", "w").write("here\n")'
	assert_equal "$(cat here.txt)" "here"
	assert_stderr_regex '^kcr: wrote (\./)?here\.txt \(5 bytes\)$'
}

@test "exec: a modified input comes back as NAME.1 unless --force" {
	printf 'original\n' >in.txt
	local prog='open("in.txt", "a").write("appended\n")'

	# output dir = the input's dir: the original is kept, the new one is in.txt.1
	run_kcr exec -l py -f in.txt -c "$prog"
	assert_equal "$(cat in.txt)" "original"
	assert_equal "$(cat in.txt.1)" $'original\nappended'
	assert_stderr_regex '^kcr: wrote (\./)?in\.txt\.1 \(18 bytes'
	assert_stderr_regex 'in\.txt exists'

	# again: in.txt.1 is taken too, so in.txt.2
	run_kcr exec -l py -f in.txt -c "$prog"
	assert_equal "$(cat in.txt)" "original"
	assert_equal "$(cat in.txt.2)" $'original\nappended'
	assert_stderr_regex '^kcr: wrote (\./)?in\.txt\.2 \(18 bytes'

	# --force overwrites
	run_kcr exec -l py -f in.txt --force -c "$prog"
	assert_equal "$(cat in.txt)" $'original\nappended'
	assert_stderr_regex '^kcr: wrote (\./)?in\.txt \(18 bytes\)$'
	assert_equal "$(list_files .)" $'./in.txt\n./in.txt.1\n./in.txt.2'
}

@test "exec: an existing file in -o DIR is never overwritten without --force" {
	mkdir out
	printf 'keep me\n' >out/result.txt
	run_kcr exec -l py -o out -c 'open("result.txt", "w").write("new\n")'
	assert_equal "$(cat out/result.txt)" "keep me"
	assert_equal "$(cat out/result.txt.1)" "new"
	assert_stderr_regex '^kcr: wrote out/result\.txt\.1 \(4 bytes'

	run_kcr exec -l py -o out --force -c 'open("result.txt", "w").write("newer\n")'
	assert_equal "$(cat out/result.txt)" "newer"
	assert_equal "$stderr" "kcr: wrote out/result.txt (6 bytes)"
}

@test "exec: kcr exits with the program's exit code" {
	run_kcr 3 exec -l py -c 'import sys; print("bye"); sys.exit(3)'
	assert_stdout_is $'bye\n'
	run_kcr 42 exec -l bash -c 'exit 42'
	run_kcr 1 exec -l py -c 'raise ValueError("boom")'
	assert_stderr_regex 'ValueError: boom'
	# killed by a signal: 128 + N
	run_kcr 143 exec -l bash -c 'kill -TERM $$'
}

@test "exec: the program's stdout and stderr stay separate" {
	run_kcr exec -l py -c '
import sys
print("to stdout")
print("to stderr", file=sys.stderr)
print("more stdout")'
	assert_stdout_is $'to stdout\nmore stdout\n'
	assert_equal "$stderr" "to stderr"
}

@test "exec: binary stdout, stdin and files survive byte for byte" {
	"$HOST_PYTHON" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)' >want.bin

	# stdout
	timeout 120 "$KCR" exec -l py -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)' \
		>got.bin 2>err.txt
	cmp want.bin got.bin
	assert_equal "$(cat err.txt)" ""

	# stdin -> stdout
	timeout 120 "$KCR" exec -l bash --stdin want.bin -c 'cat' >echo.bin
	cmp want.bin echo.bin

	# an input file -> an output file
	run_kcr exec -l py -f want.bin -o out -c '
data = open("want.bin", "rb").read()
open("copy.bin", "wb").write(data)'
	cmp want.bin out/copy.bin
}

@test "exec --json: exit code, output, flags, timings and files" {
	run_kcr 5 exec -l py --json -o out -c '
import sys
print("hello")
print("warn", file=sys.stderr)
open("f.txt", "w").write("abc")
sys.exit(5)'
	# --json replaces the program's output (stdout is only the JSON); kcr
	# still exits with the program's exit code
	assert_valid_json
	assert_equal "$stderr" ""
	run json_eval '[j["exit_code"], j["timed_out"], j["oom_killed"], j["stdout"], j["stderr"]]'
	assert_output '[5, false, false, "hello\n", "warn\n"]'
	run json_eval '[(f["name"], f["size"]) for f in j["files"]]'
	assert_output '[["f.txt", 3]]'
	run json_eval 'all(isinstance(j[k], (int, float)) and j[k] >= 0 for k in ("duration_ms", "setup_ms", "total_ms"))'
	assert_output true
	assert_equal "$(cat out/f.txt)" "abc"
}

@test "exec --timeout 1: 'while True: pass' exits 124 within 3 s, 'timed out'" {
	run_kcr 124 exec -l py --timeout 1 -c 'while True: pass'
	[ "$KCR_ELAPSED_MS" -lt 3000 ] || fail "took ${KCR_ELAPSED_MS} ms"
	assert_stderr_regex 'timed out'

	# --json says so too
	run_kcr '?' exec -l py --timeout 1 --json -c 'while True: pass'
	run json_eval '[j["timed_out"], j["exit_code"]]'
	assert_output '[true, 124]'
}

@test "exec: the timeout from KCR_TIMEOUT applies when there is no --timeout" {
	KCR_TIMEOUT=1 run_kcr 124 exec -l bash -c 'sleep 30'
	[ "$KCR_ELAPSED_MS" -lt 3000 ] || fail "took ${KCR_ELAPSED_MS} ms"
	assert_stderr_regex 'timed out'
}

@test "exec: arguments after -- arrive as given, spaces and all" {
	run_kcr exec -l py -c 'import sys; print(repr(sys.argv[1:]))' -- 'a b' c '' '--not-an-option' "it's"
	assert_stdout_is $'[\'a b\', \'c\', \'\', \'--not-an-option\', "it\'s"]\n'
	run_kcr exec -l bash -c 'printf "<%s>\n" "$@"' -- '  two  spaces  ' '*'
	assert_stdout_is $'<  two  spaces  >\n<*>\n'
}

@test "exec: the environment is clean (no host variables, the sandbox's PATH)" {
	export KCR_TEST_LEAK=should-not-leak
	export AWS_SECRET_ACCESS_KEY=hunter2
	run_kcr exec -l py -c '
import os
for k in sorted(os.environ):
    print(k + "=" + os.environ[k])'
	refute_output --partial KCR_TEST_LEAK
	refute_output --partial should-not-leak
	refute_output --partial hunter2
	refute_output --partial BATS_
	refute_line --regexp '^HOME=/root$'
	refute_line "HOME=$HOME"
	assert_line 'PATH=/usr/local/bin:/usr/bin:/bin'
	# the language's own settings are there
	assert_line 'PYTHONUNBUFFERED=1'
	# and only a handful of variables in all
	[ "${#lines[@]}" -le 20 ] || fail "${#lines[@]} variables inside the sandbox"
}

@test "exec removes what a dead kcr left in the run directory, and never knocks on a live kcr's runners" {
	require_sandbox
	local run=$BATS_TEST_TMPDIR/run log=$BATS_TEST_TMPDIR/knocks owner dead
	mkdir -m 0700 "$run"
	sleep 300 &
	owner=$!
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	# a live kcr's warm sandbox (its runner listens), and two leftovers:
	# a dead kcr's and an old-style id's, both without a listener
	"$HOST_PYTHON" -c '
import os, socket, sys
run, owner, dead, log = sys.argv[1:]
live = socket.socket(socket.AF_UNIX)
live.bind(run + "/sb-%s-AAAAAAAAAAAA.sock" % owner)
live.listen(8)
for name in ("sb-%s-BBBBBBBBBBBB.sock" % dead, "sb-CCCCCCCCCCCCCCCCCCCCC.sock"):
    s = socket.socket(socket.AF_UNIX)
    s.bind(run + "/" + name)
    s.close()
for name in os.listdir(run):
    os.utime(run + "/" + name, (0, 0), follow_symlinks=False)
open(log, "w").close()
while True:
    c, _ = live.accept()
    open(log, "a").write("knock\n")
    c.close()
' "$run" "$owner" "$dead" "$log" &
	local listener=$!
	for _ in $(seq 50); do
		[ -e "$log" ] && break
		sleep 0.1
	done
	KCR_RUN_DIR=$run run_kcr exec -l bash -c 'echo hi'
	assert_output hi
	run ls "$run"
	kill "$owner" "$listener" 2>/dev/null || true
	assert_output "sb-$owner-AAAAAAAAAAAA.sock"
	[ ! -s "$log" ] || fail "kcr connected to a live kcr's runner: $(cat "$log")"
}

@test "a one-shot exec loads none of the libraries only a server or a remote client needs" {
	require_sandbox
	# libcurl, libmicrohttpd and libcrypto cost milliseconds to map and
	# relocate at each start: kcr loads them when first called
	"$KCR" exec -l bash -c 'sleep 3' >/dev/null &
	local pid=$! maps=
	for _ in $(seq 50); do
		pgrep -P "$pid" >/dev/null && break
		sleep 0.05
	done
	maps=$(cat "/proc/$pid/maps")
	wait "$pid"
	[[ $maps == *libcjson* ]] || fail "no maps read: $maps"
	! grep -E 'libcurl|libmicrohttpd|libcrypto|libssl' <<<"$maps" || fail "loaded at start"
}
