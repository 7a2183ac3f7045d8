# Shared helpers for the kcr bats suites (bats 1.8.2). Each suite starts
# with 'load helpers'.
#
#   run_kcr [EXPECTED_RC|'?'] ARGS...
#       runs "$KCR ARGS..." under 'timeout 120', logs the command and its
#       output, and FAILS unless the exit code is EXPECTED_RC (default 0;
#       '?' accepts any). Sets:
#         status          the exit code
#         output, lines   the program's stdout (lines keeps empty lines)
#         stderr, stderr_lines
#         KCR_STDOUT_FILE, KCR_STDERR_FILE   the raw bytes
#         KCR_ELAPSED_MS  wall-clock time of the call
#       Redirect its stdin as usual: run_kcr exec -l py - < prog.py
#
#   require_sandbox   skips when user namespaces are unavailable; with
#                     CI=true that is a failure instead of a skip.
#
# Every test runs in its own empty directory, $BATS_TEST_TMPDIR, which is
# also kcr's default output dir, so "nothing was written" is checkable.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

KCR=${KCR:-$BATS_TEST_DIRNAME/../../bin/kcr}

# The build tree keeps kcr-runner in runner/, not next to kcr: do what
# 'make check' does (Makefile.am exports KCR_RUNNER) when it is not set.
if [ -z "${KCR_RUNNER:-}" ] && [ -x "$(dirname "$KCR")/../runner/kcr-runner" ]; then
	KCR_RUNNER=$(cd "$(dirname "$KCR")/../runner" && pwd)/kcr-runner
	export KCR_RUNNER
fi

# Settings that would change kcr's behaviour behind the tests' back.
_KCR_ENV_SETTINGS=(
	KCR_CONFIG KCR_TIMEOUT MAX_EXECUTION_TIME KCR_MEMORY_MB MAX_MEMORY_MB
	KCR_CPUS MAX_CPUS KCR_PIDS MAX_PIDS KCR_OUTPUT_BYTES MAX_OUTPUT_SIZE
	KCR_FILE_SIZE_MB MAX_FILE_SIZE_MB KCR_MAX_OUTPUT_FILES MAX_OUTPUT_FILES
	KCR_NOFILE MAX_OPEN_FILES KCR_TMP_SIZE_MB KCR_DATA_SIZE_MB
	KCR_LOG_LEVEL LOG_LEVEL KCR_LOG_FORMAT LOG_FORMAT KCR_SECCOMP
	KCR_SANDBOX_PROVIDER KCR_SERVER KCR_API_KEY KCR_API_KEYS API_KEY API_KEYS
)

# Host python for parsing JSON and the like (never the sandbox's).
HOST_PYTHON=/usr/bin/python3
[ -x "$HOST_PYTHON" ] || HOST_PYTHON=python3

kcr_setup() {
	unset "${_KCR_ENV_SETTINGS[@]}"
	# no user config file either: a user's ~/.config/kcr/kcr.yaml must not
	# leak into the tests
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/.no-such-xdg-dir"
	_KCR_BG_PIDS=()
	_KCR_PATHS=()
	_KCR_CAPTURE=$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/kcr-capture.XXXXXX")
	KCR_STDOUT_FILE=$_KCR_CAPTURE/stdout
	KCR_STDERR_FILE=$_KCR_CAPTURE/stderr
	cd "$BATS_TEST_TMPDIR" || return 1
	if [ ! -x "$KCR" ]; then
		echo "# kcr binary not found: $KCR (set KCR=/path/to/kcr)" >&2
		return 1
	fi
}

kcr_teardown() {
	local pid
	for pid in "${_KCR_BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${_KCR_BG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	_KCR_BG_PIDS=()
	for pid in "${_KCR_PATHS[@]}"; do
		rm -rf "$pid"
	done
	_KCR_PATHS=()
	[ -n "${_KCR_CAPTURE:-}" ] && rm -rf "$_KCR_CAPTURE"
	return 0
}

setup() {
	kcr_setup
}

teardown() {
	kcr_teardown
}

# Remembers a background process of the test so teardown stops it.
kcr_track_pid() {
	_KCR_BG_PIDS+=("$1")
}

# Remembers a file or directory outside the test's dir for teardown to remove.
kcr_track_path() {
	_KCR_PATHS+=("$1")
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

_kcr_show() { # label file
	local size
	size=$(stat -c %s "$2" 2>/dev/null || echo 0)
	[ "$size" -gt 0 ] || return 0
	echo "#  $1 ($size bytes):"
	head -c 4000 "$2" | tr -d '\0' | sed 's/^/#    /'
	echo
	[ "$size" -le 4000 ] || echo "#    ... (truncated)"
}

run_kcr() {
	local expected_rc=0 start
	case "${1:-}" in
	'?' | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
		expected_rc=$1
		shift
		;;
	esac
	printf '# $ kcr'
	printf ' %q' "$@"
	printf '\n'
	start=$(now_ms)
	status=0
	timeout -k 5 120 "$KCR" "$@" >"$KCR_STDOUT_FILE" 2>"$KCR_STDERR_FILE" || status=$?
	KCR_ELAPSED_MS=$(($(now_ms) - start))
	output=$(tr -d '\0' <"$KCR_STDOUT_FILE")
	stderr=$(tr -d '\0' <"$KCR_STDERR_FILE")
	mapfile -t lines <<<"$output"
	mapfile -t stderr_lines <<<"$stderr"
	[ -n "$output" ] || lines=()
	[ -n "$stderr" ] || stderr_lines=()
	_kcr_show stdout "$KCR_STDOUT_FILE"
	_kcr_show stderr "$KCR_STDERR_FILE"
	echo "#  [exit $status, ${KCR_ELAPSED_MS} ms]"
	if [ "$expected_rc" != '?' ] && [ "$status" -ne "$expected_rc" ]; then
		if [ "$status" -eq 124 ] && [ "$KCR_ELAPSED_MS" -ge 119000 ]; then
			fail "kcr hung: killed by the test's 120 s timeout"
			return 1
		fi
		fail "kcr exited $status, expected $expected_rc"
		return 1
	fi
	return 0
}

# The program's stdout, byte for byte (trailing newlines count).
assert_stdout_is() {
	local want
	want=$(printf '%s' "$1" | od -An -c)
	local got
	got=$(od -An -c <"$KCR_STDOUT_FILE")
	if [ "$want" != "$got" ]; then
		batslib_print_kv_single_or_multi 8 expected "$(printf '%s' "$1" | od -c)" \
			actual "$(od -c <"$KCR_STDOUT_FILE")" |
			batslib_decorate 'stdout differs' | fail
		return 1
	fi
}

assert_stderr_regex() {
	if ! [[ "$stderr" =~ $1 ]]; then
		batslib_print_kv_single_or_multi 8 regex "$1" stderr "$stderr" |
			batslib_decorate 'stderr does not match' | fail
		return 1
	fi
}

# One of stderr's lines is exactly LINE.
assert_stderr_line() {
	local l
	for l in "${stderr_lines[@]}"; do
		[ "$l" = "$1" ] && return 0
	done
	batslib_print_kv_single_or_multi 8 line "$1" stderr "$stderr" |
		batslib_decorate 'no such line on stderr' | fail
	return 1
}

refute_stderr_regex() {
	if [[ "$stderr" =~ $1 ]]; then
		batslib_print_kv_single_or_multi 8 regex "$1" stderr "$stderr" |
			batslib_decorate 'stderr should not match' | fail
		return 1
	fi
}

# kcr's own error: exactly one line 'kcr: ...' on stderr matching REGEX,
# nothing on stdout.
assert_kcr_error() {
	if [ "${#stderr_lines[@]}" -ne 1 ] || ! [[ "${stderr_lines[0]}" =~ ^kcr:\  ]]; then
		batslib_print_kv_single_or_multi 8 stderr "$stderr" |
			batslib_decorate "expected exactly one 'kcr: ...' line on stderr" | fail
		return 1
	fi
	assert_stderr_regex "$1"
	if [ -s "$KCR_STDOUT_FILE" ]; then
		batslib_print_kv_single_or_multi 8 stdout "$output" |
			batslib_decorate 'expected no stdout from a kcr error' | fail
		return 1
	fi
}

# The sorted list of files under DIR (relative), for before/after checks.
list_files() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort)
}

# Skips (fails in CI) when this machine cannot make user namespaces.
require_sandbox() {
	if unshare -U true 2>/dev/null; then
		return 0
	fi
	if [ "${CI:-}" = true ]; then
		fail "user namespaces are unavailable here ('unshare -U true' failed); CI=true makes this a failure, not a skip"
		return 1
	fi
	skip "user namespaces are unavailable ('unshare -U true' failed)"
}

# Validates JSON on stdin with the host's python; prints nothing.
assert_valid_json() {
	"$HOST_PYTHON" -c 'import json, sys; json.load(sys.stdin)' <"${1:-$KCR_STDOUT_FILE}" ||
		fail "not valid JSON"
}

# Runs a python expression over the JSON in kcr's stdout, bound to 'j';
# prints its value.
json_eval() {
	"$HOST_PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); v = eval(sys.argv[2]); print(json.dumps(v) if not isinstance(v, str) else v)' \
		"$KCR_STDOUT_FILE" "$1"
}

LANG_IDS=(py js ts go java c cpp php rs r f90 d bash)
