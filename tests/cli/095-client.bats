#!/usr/bin/env bats
# The CLI as a client: kcr exec --server/--session/--entity, kcr upload,
# kcr download and kcr files ls|rm, against a real `kcr serve` on loopback
# (started once for the file) and locally (lib/engine/service.c on a state dir),
# with the same session semantics and the same output either way.

load helpers
# shellcheck disable=SC2154 # status, output, lines, stderr: set by run_kcr

bats_require_minimum_version 1.5.0

ID_RE='[A-Za-z0-9_-]{21}'
KEY=sk-test-095

# Every KCR_* setting from the caller's environment is dropped: a user's
# KCR_SERVER or KCR_API_KEY must not redirect these tests.
_client_clean_env() {
	local v
	for v in $(compgen -e); do
		case $v in
		KCR | KCR_RUNNER | KCR_SRCDIR) ;;
		KCR_*) unset "$v" ;;
		esac
	done
	unset API_KEY API_KEYS AUTH_TRUSTED_NETWORKS
}

setup_file() {
	local i port=
	_client_clean_env
	export XDG_CONFIG_HOME="$BATS_FILE_TMPDIR/.no-xdg-config"
	mkdir -p "$BATS_FILE_TMPDIR/server" "$BATS_FILE_TMPDIR/local"
	# port 0: the kernel picks a free one; kcr serve says which
	KCR_STATE_DIR="$BATS_FILE_TMPDIR/server" KCR_API_KEYS=$KEY \
		"$KCR" serve --listen 127.0.0.1:0 >"$BATS_FILE_TMPDIR/serve.log" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/serve.pid"
	for i in $(seq 100); do
		port=$(sed -n 's/^kcr: serving on .*(port \([0-9]*\)).*/\1/p' "$BATS_FILE_TMPDIR/serve.log")
		[ -n "$port" ] && break
		kill -0 "$(cat "$BATS_FILE_TMPDIR/serve.pid")" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		sed 's/^/# serve: /' "$BATS_FILE_TMPDIR/serve.log" >&3
		return 1
	fi
	echo "http://127.0.0.1:$port" >"$BATS_FILE_TMPDIR/url"
}

teardown_file() {
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/serve.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

setup() {
	kcr_setup
	_client_clean_env
	SERVER_URL=$(cat "$BATS_FILE_TMPDIR/url")
	# local mode: a state dir of the file's own, never the user's
	export KCR_STATE_DIR="$BATS_FILE_TMPDIR/local"
}

# Runs kcr against the test server (MODE=server) or locally (MODE=local).
# Usage: kc [RC] ARGS...
kc() {
	local rc=0
	case "${1:-}" in
	'?' | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
		rc=$1
		shift
		;;
	esac
	if [ "$MODE" = server ]; then
		KCR_SERVER=$SERVER_URL KCR_API_KEY=$KEY run_kcr "$rc" "$@"
	else
		run_kcr "$rc" "$@"
	fi
}

# The session and file ids of 'kcr upload' output: "session SID", then
# "FID  NAME" per file.
upload_session() { sed -n 's/^session //p' "$KCR_STDOUT_FILE"; }
upload_fid() { awk -v n="$1" '$2 == n { print $1 }' "$KCR_STDOUT_FILE"; }
stderr_session() { sed -n 's/^kcr: session \([A-Za-z0-9_-]*\)$/\1/p' "$KCR_STDERR_FILE"; }
# The id of the newest file named NAME in a 'kcr files ls' table.
ls_fid() { awk -v n="$1" 'NR > 1 && $2 == n { id = $1 } END { print id }' "$KCR_STDOUT_FILE"; }

# upload -> exec using the file -> output downloaded -> ls -> download -> rm
client_flow() {
	printf 'a,b\n1,2\n' >data.csv
	kc upload data.csv
	assert_line --index 0 --regexp "^session $ID_RE\$"
	assert_line --index 1 --regexp "^$ID_RE  data\\.csv\$"
	local sid fid out
	sid=$(upload_session)
	fid=$(upload_fid data.csv)

	# the session's files are in /mnt/data; outputs come back to -o
	kc exec --session "$sid" -l bash -o out -c 'cat data.csv; echo made >made.txt'
	assert_stdout_is $'a,b\n1,2\n'
	assert_stderr_line "kcr: session $sid"
	assert_stderr_line "kcr: wrote out/made.txt (5 bytes)"
	assert_equal "$(cat out/made.txt)" made

	# ls: a table of both files
	kc files ls "$sid"
	assert_line --index 0 --regexp '^ID +NAME +SIZE +MODIFIED$'
	assert_line --regexp "^$fid  data\\.csv +8  [0-9-]{10}T[0-9:]{8}Z\$"
	assert_line --regexp "^$ID_RE  made\\.txt +5  "
	assert_equal "${#lines[@]}" 3
	out=$(ls_fid made.txt)

	kc files ls --json "$sid"
	assert_valid_json
	assert_equal "$(json_eval 'sorted(f["name"] for f in j)')" '["data.csv", "made.txt"]'
	assert_equal "$(json_eval "[f['size'] for f in j if f['id'] == '$out']")" '[5]'

	# download by id, under the stored name; never over an existing file
	kc download -o dl "$sid" "$out"
	assert_equal "$(cat dl/made.txt)" made
	kc 125 download -o dl "$sid" "$out"
	assert_kcr_error "'dl/made.txt' exists; --force overwrites"
	kc download --output - "$sid" "$fid"
	assert_stdout_is $'a,b\n1,2\n'

	# rm: gone from the list, gone for download
	kc files rm "$sid" "$out"
	[ -z "$output" ] || fail "files rm printed '$output'"
	kc files ls "$sid"
	refute_line --partial made.txt
	assert_line --partial data.csv
	kc 125 download -o dl2 "$sid" "$out"
	assert_kcr_error "file '$out' not found in session '$sid'"
	[ ! -e dl2 ] || fail "a failed download created dl2"
}

@test "client: upload, exec --session with the file, ls, download, rm (server)" {
	require_sandbox
	MODE=server client_flow
}

@test "client: upload, exec --session with the file, ls, download, rm (local)" {
	require_sandbox
	MODE=local client_flow
}

# exec -f: inputs are uploaded, a changed input comes back as NAME.1.
# Locally a run goes through a session only with --session or --entity.
edited_input_flow() {
	local first=()
	[ "$MODE" = server ] || first=(--entity "edit-$MODE")
	printf '1\n' >nums.txt
	cat >edit.py <<'EOF'
with open("nums.txt", "a") as f:
    f.write("2\n")
print(open("nums.txt").read(), end="")
EOF
	kc exec "${first[@]}" edit.py -f nums.txt
	assert_stdout_is $'1\n2\n'
	assert_stderr_line "kcr: wrote ./nums.txt.1 (4 bytes; ./nums.txt exists, --force overwrites)"
	assert_equal "$(cat nums.txt)" 1
	assert_equal "$(cat nums.txt.1)" $'1\n2'
	local sid
	sid=$(stderr_session)
	[[ $sid =~ ^$ID_RE$ ]] || fail "no 'kcr: session ID' line"

	# the session keeps the input and the changed copy; --session reuses it
	kc exec --session "$sid" -l bash -c 'cat nums.txt'
	assert_stdout_is $'1\n2\n'
	assert_stderr_line "kcr: session $sid"

	kc exec --session "$sid" -l bash --force -c 'echo 3 >>nums.txt'
	assert_equal "$(cat nums.txt)" $'1\n2\n3'
}

@test "client: exec --server uploads -f inputs and brings changed ones back" {
	require_sandbox
	MODE=server edited_input_flow
}

@test "client: exec --session locally keeps inputs and outputs in the session" {
	require_sandbox
	printf 'x\n' >in.txt
	run_kcr exec --entity agent-095 -l bash -f in.txt -c 'cat in.txt >copy.txt'
	local sid
	sid=$(stderr_session)
	[[ $sid =~ ^$ID_RE$ ]] || fail "no 'kcr: session ID' line"
	MODE=local edited_input_flow
	# the entity's session holds the input and the output
	run_kcr files ls "$sid"
	assert_line --partial in.txt
	assert_line --partial copy.txt
}

@test "client: exec --server passes stdout, stderr, the exit code and timeouts" {
	require_sandbox
	MODE=server
	kc 3 exec -l py -c 'import sys; print("out"); print("err", file=sys.stderr); sys.exit(3)'
	assert_stdout_is $'out\n'
	assert_stderr_regex '^err'
	kc 124 exec -l py --timeout 1 -c 'import time; time.sleep(10)'
	kc exec -l py --json -c 'print(42)' -- a b
	assert_valid_json
	assert_equal "$(json_eval 'j["stdout"]')" 42
	assert_equal "$(json_eval 'j["exit_code"]')" 0
	[[ $(json_eval 'j["session_id"]') =~ ^$ID_RE$ ]] || fail "no session_id in --json"
	kc exec -l py -c 'import sys; print(sys.argv[1:])' -- a 'b c'
	assert_stdout_is $'[\'a\', \'b c\']\n'
}

@test "client: --server and local print the same for upload, ls and rm" {
	local m sid fid
	printf 'hello\n' >same.txt
	for m in server local; do
		MODE=$m kc upload same.txt
		sid=$(upload_session)
		fid=$(upload_fid same.txt)
		sed "s/$sid/SID/; s/$fid/FID/" "$KCR_STDOUT_FILE" >"upload.$m"
		MODE=$m kc files ls "$sid"
		sed -E "s/$fid/FID/; s/[0-9-]{10}T[0-9:]{8}Z/TIME/" "$KCR_STDOUT_FILE" >"ls.$m"
		MODE=$m kc files ls --json "$sid"
		json_eval '[{k: v for k, v in f.items() if k not in ("id", "session_id", "modified")} for f in j]' >"json.$m"
		MODE=$m kc files rm "$sid" "$fid"
		cp "$KCR_STDOUT_FILE" "rm.$m"
	done
	for m in upload ls json rm; do
		diff -u "$m.server" "$m.local" || fail "'$m' prints differently against a server"
	done
}

@test "client: upload --entity reuses the entity's session; --json is the API's reply" {
	local m s1 s2
	echo 1 >one.txt
	echo 2 >two.txt
	for m in server local; do
		MODE=$m kc upload --entity "ent-$m" one.txt
		s1=$(upload_session)
		MODE=$m kc upload --entity "ent-$m" --json two.txt
		assert_valid_json
		assert_equal "$(json_eval 'j["message"]')" success
		s2=$(json_eval 'j["session_id"]')
		assert_equal "$s2" "$s1"
		assert_equal "$(json_eval 'j["files"][0]["filename"]')" two.txt
		[[ $(json_eval 'j["files"][0]["fileId"]') =~ ^$ID_RE$ ]] || fail "no fileId"
	done
}

@test "client: upload --session adds to an existing session, or uploads nothing" {
	local m sid
	echo 1 >one.txt
	echo 2 >two.txt
	for m in server local; do
		MODE=$m kc upload one.txt
		sid=$(upload_session)
		MODE=$m kc '?' upload --session "$sid" two.txt
		if [ "$status" -eq 0 ]; then
			assert_line --index 0 "session $sid"
		else
			# the server ignores session_id on /upload (see the report
			# on lib/server/api.c); then nothing may stay behind
			assert_equal "$m" server
			assert_equal "$status" 125
			assert_kcr_error "cannot upload into an existing session"
		fi
		MODE=$m kc files ls "$sid"
		assert_line --partial one.txt
		MODE=$m kc 125 upload --session AAAAAAAAAAAAAAAAAAAAA one.txt
	done
	# locally an unknown session is named
	MODE=local kc 125 upload --session AAAAAAAAAAAAAAAAAAAAA one.txt
	assert_kcr_error "session 'AAAAAAAAAAAAAAAAAAAAA' not found"
}

@test "client: bad ids, unknown files and bad input fail with one line and change nothing" {
	local m sid fid
	echo x >x.txt
	for m in server local; do
		MODE=$m kc upload x.txt
		sid=$(upload_session)
		fid=$(upload_fid x.txt)
		MODE=$m kc 2 files ls not-an-id
		assert_kcr_error "invalid session id 'not-an-id'"
		MODE=$m kc 2 download "$sid" nope
		assert_kcr_error "invalid file id 'nope'"
		MODE=$m kc 2 upload --entity 'bad/entity' x.txt
		assert_kcr_error "invalid entity id"
		MODE=$m kc 2 download "$sid"
		assert_kcr_error "no file id given"
		MODE=$m kc 2 download --output a --output-dir b "$sid" "$fid"
		assert_kcr_error "not both"
		MODE=$m kc 2 files rm "$sid"
		assert_kcr_error "no file id given"
		MODE=$m kc 125 upload x.txt no-such-file.txt
		assert_kcr_error "no-such-file.txt"
		# rm with one unknown id removes none
		MODE=$m kc 125 files rm "$sid" "$fid" AAAAAAAAAAAAAAAAAAAAA
		assert_kcr_error "file 'AAAAAAAAAAAAAAAAAAAAA' not found in session '$sid'"
		MODE=$m kc files ls "$sid"
		assert_line --partial "$fid"
		MODE=$m kc 125 download -o d "$sid" "$fid" AAAAAAAAAAAAAAAAAAAAA
		assert_kcr_error "file 'AAAAAAAAAAAAAAAAAAAAA' not found"
		[ ! -e d ] || fail "a failed download wrote d/"
	done
	# an unknown session has no files (the API cannot tell it from an empty one)
	MODE=server kc files ls AAAAAAAAAAAAAAAAAAAAA
	assert_output --regexp '^ID +NAME +SIZE +MODIFIED$'
}

@test "client: --stdin and --memory are refused with --server" {
	echo in >in.txt
	MODE=server kc 2 exec --stdin in.txt -l py -c 'print(1)'
	assert_kcr_error "--stdin is not part of the kcr API"
	MODE=server kc 2 exec --memory 64 -l py -c 'print(1)'
	assert_kcr_error "--memory"
	MODE=server kc 2 exec --timeout 0.5 -l py -c 'print(1)'
	assert_kcr_error "1 to 300 seconds"
	run_kcr 2 exec --server "$SERVER_URL" --session bad -l py -c 'print(1)'
	assert_kcr_error "invalid session id 'bad'"
}

@test "client: auth and connection errors say what is wrong" {
	echo x >x.txt
	KCR_SERVER=$SERVER_URL KCR_API_KEY=wrong run_kcr 125 upload x.txt
	assert_kcr_error 'Invalid API key'
	KCR_SERVER=$SERVER_URL run_kcr 125 files ls AAAAAAAAAAAAAAAAAAAAA
	assert_kcr_error 'Missing API key.*KCR_API_KEY'
	# --server wins over KCR_SERVER; the key still comes from KCR_API_KEY
	KCR_SERVER=http://127.0.0.1:1 KCR_API_KEY=$KEY run_kcr files ls --server "$SERVER_URL" AAAAAAAAAAAAAAAAAAAAA
	KCR_API_KEY=$KEY run_kcr 125 files ls --server http://127.0.0.1:1 AAAAAAAAAAAAAAAAAAAAA
	assert_kcr_error '^kcr: cannot reach kcr server at http://127.0.0.1:1: '
	run_kcr 2 files ls --server ftp://example.org AAAAAAAAAAAAAAAAAAAAA
	assert_kcr_error "server URL 'ftp://example.org'"
	# a wrong path prefix is the server's 404
	KCR_API_KEY=$KEY run_kcr 125 files ls --server "$SERVER_URL/v9" AAAAAAAAAAAAAAAAAAAAA
	assert_kcr_error 'no route'
	run_kcr config show
	assert_line --regexp '^client.api_key +# default$'
	KCR_API_KEY=sk-hush-4711 run_kcr config show
	assert_line --regexp '^client.api_key +\*+ +# env KCR_API_KEY$'
	refute_output --partial sk-hush-4711
}

@test "client: plain kcr exec stores nothing" {
	require_sandbox
	export KCR_STATE_DIR=$BATS_TEST_TMPDIR/state-plain
	run_kcr exec -l bash -c 'echo hi >f.txt'
	refute_stderr_regex 'kcr: session'
	[ ! -e "$KCR_STATE_DIR/sessions" ] || [ -z "$(ls -A "$KCR_STATE_DIR/sessions")" ] ||
		fail "a one-shot exec stored a session"
}
