#!/usr/bin/env bats
# Python state between the executions of a session (DESIGN.md §2 "Python
# state", kubecoderun-features.md §1 and §5): what carries over and what
# does not, has_state/state_size/state_hash in /exec, GET/POST/DELETE
# /state/{sid} and /state/{sid}/info, a restart, refused uploads that leave
# the old state alone, and `kcr state` against a server and locally.
# shellcheck disable=SC2154 # status, output, stderr: set by run

load serve_helpers

bats_require_minimum_version 1.5.0

setup_file() {
	start_server main
}

# py_run SID CODE: POST /exec in session SID ("" for a new one); 200 or fail.
py_run() {
	local extra=
	[ -n "$1" ] && extra="\"session_id\":\"$1\""
	exec_code py "$2" "$extra"
	assert_status 200
	SID=$(jget 'j["session_id"]')
}

# The state's hash and size as /exec reported them.
exec_state() {
	assert_json 'j["has_state"] is True'
	assert_json 'isinstance(j["state_size"], int) and j["state_size"] > 1'
	assert_json 're.fullmatch(r"[0-9a-f]{64}", j["state_hash"])'
	HASH=$(jget 'j["state_hash"]')
	SIZE=$(jget 'j["state_size"]')
}

state_hash_now() { # SID: the hash /state/SID/info gives
	api GET "/state/$1/info"
	assert_status 200
	jget 'j["hash"]'
}

sha256() { sha256sum "$1" | cut -c1-64; }

@test "globals, functions, classes and a DataFrame carry over; modules and unpicklable ones do not" {
	py_run "" "$(
		cat <<'EOF'
import math
import pandas as pd
x = 41
def twice(v):
    return 2 * v
class Point:
    def __init__(self, a, b):
        self.a, self.b = a, b
    def norm(self):
        return (self.a ** 2 + self.b ** 2) ** 0.5
p = Point(3, 4)
df = pd.DataFrame({"n": [1, 2, 3], "s": ["a", "b", "c"]})
gen = (i for i in range(3))
log = open("/tmp/log.txt", "w")
_private = 1
print("saved")
EOF
	)"
	assert_json 'j["stdout"] == "saved\n"'
	# the program's own stderr stays empty: what was not kept is told apart
	assert_json 'j["stderr"] == ""'
	assert_json 'j["state_note"] == "not saved (cannot be pickled): gen, log"'
	assert_json 'j["exit_code"] == 0'
	exec_state
	local sid=$SID

	py_run "$sid" "$(
		cat <<'EOF'
print(twice(x), p.norm(), type(p).__name__, int(df.n.sum()), list(df.s))
print(sorted(k for k in globals() if not k.startswith("__")))
try:
    math.pi
except NameError as e:
    print(e)
EOF
	)"
	assert_json 'j["stdout"] == "82 5.0 Point 6 [\x27a\x27, \x27b\x27, \x27c\x27]\n[\x27Point\x27, \x27df\x27, \x27p\x27, \x27twice\x27, \x27x\x27]\nname \x27math\x27 is not defined\n"'
	assert_json 'j["stderr"] == ""'
	[ "$(jget 'j["session_id"]')" = "$sid" ] || fail "ran in another session"

	# an import brings the module back; what the run changes is kept
	py_run "$sid" $'import math\nx = math.floor(x / 2)\ndf["n"] = df.n * 10\nprint(x)'
	assert_json 'j["stdout"] == "20\n"'
	py_run "$sid" 'print(x, list(df.n), "math" in globals())'
	assert_json 'j["stdout"] == "20 [10, 20, 30] False\n"'
}

@test "functions see the globals of the run they are called in" {
	py_run "" $'count = 0\ndef bump():\n    global count\n    count += 1\n    return count'
	py_run "$SID" $'bump(); bump()\nprint(count, bump())'
	assert_json 'j["stdout"] == "2 3\n"'
	py_run "$SID" 'print(count)'
	assert_json 'j["stdout"] == "3\n"'
}

@test "/exec's has_state, state_size and state_hash are GET /state's; a failed run keeps the state" {
	py_run "" 'print(1)'
	assert_json 'j["has_state"] is False'
	assert_json '"state_hash" not in j'
	py_run "$SID" 'y = [1, 2, 3]'
	exec_state
	local sid=$SID hash=$HASH size=$SIZE

	api GET "/state/$sid"
	assert_status 200
	[ "$(header Content-Type)" = application/octet-stream ] || fail "Content-Type: $(header Content-Type)"
	[ "$(header ETag)" = "\"$hash\"" ] || fail "ETag: $(header ETag), want \"$hash\""
	[ "$(sha256 "$BODY_FILE")" = "$hash" ] || fail "the bytes do not hash to state_hash"
	[ "$(stat -c %s "$BODY_FILE")" = "$size" ] || fail "the bytes are not state_size long"
	[ "$(head -c 1 "$BODY_FILE" | od -An -tu1 | tr -d ' ')" = 2 ] || fail "version byte is not 2"
	api GET "/state/$sid" -H "If-None-Match: \"$hash\""
	assert_status 304
	api GET "/state/$sid/info"
	assert_status 200
	assert_json "j['exists'] is True and j['session_id'] == '$sid' and j['size_bytes'] == $size and j['hash'] == '$hash'"
	assert_fresh_iso 'j["created_at"]' 120
	assert_json 'datetime.datetime.fromisoformat(j["expires_at"].replace("Z", "+00:00")).timestamp() - time.time() > 7000'

	# an uncaught exception, a non-zero exit: nothing saved, the old state reported
	py_run "$sid" $'y.append(4)\nz = 1\nraise ValueError("no")'
	assert_json 'j["exit_code"] == 1 and "ValueError: no" in j["stderr"]'
	assert_json "j['has_state'] is True and j['state_hash'] == '$hash'"
	py_run "$sid" $'y.append(5)\nimport sys\nsys.exit(3)'
	assert_json "j['exit_code'] == 3 and j['state_hash'] == '$hash'"
	py_run "$sid" 'print(y, "z" in globals())'
	assert_json 'j["stdout"] == "[1, 2, 3] False\n"'
	# another language in the session does not touch it
	exec_code bash 'echo hi' "\"session_id\":\"$sid\""
	assert_status 200
	[ "$(state_hash_now "$sid")" = "$hash" ] || fail "a bash run changed the state"
}

@test "the state survives a server restart" {
	local dir=$BATS_TEST_TMPDIR/restart-state key
	mkdir -p "$dir"
	key=$(random_key)
	SRV=st1
	# the same key: sessions belong to the tenant that made them
	start_server st1 --key "$key" KCR_STATE_DIR="$dir" KCR_POOL_ENABLED=false
	py_run "" $'z = {"k": 42}\ndef get(key):\n    return z[key]'
	exec_state
	local sid=$SID hash=$HASH
	stop_server st1
	start_server st1 --key "$key" KCR_STATE_DIR="$dir" KCR_POOL_ENABLED=false
	[ "$(state_hash_now "$sid")" = "$hash" ] || fail "the state changed over the restart"
	py_run "$sid" 'print(get("k"))'
	assert_json 'j["stdout"] == "42\n" and j["stderr"] == ""'
}

@test "GET the state of one session, POST it into another: the globals are there" {
	py_run "" $'msg = "hello"\ndef shout(s):\n    return s.upper() + "!"'
	exec_state
	local a=$SID hash=$HASH size=$SIZE
	api GET "/state/$a"
	assert_status 200
	cp "$BODY_FILE" a.state

	py_run "" 'print(0)'
	local b=$SID
	[ "$b" != "$a" ] || fail "the same session twice"
	api GET "/state/$b"
	assert_error_reply 404
	assert_json 'j["error"] == "state_not_found"'
	api POST "/state/$b" -H 'Content-Type: application/octet-stream' --data-binary @a.state
	assert_status 201
	assert_json "j == {'message': 'state_uploaded', 'size': $size}"
	[ "$(state_hash_now "$b")" = "$hash" ] || fail "the uploaded state has another hash"
	py_run "$b" 'print(shout(msg))'
	assert_json 'j["stdout"] == "HELLO!\n" and j["stderr"] == ""'

	# into a session that does not exist
	api POST /state/AAAAAAAAAAAAAAAAAAAAA --data-binary @a.state
	assert_error_reply 404
	assert_json 'j["error"] == "session_not_found"'
	api GET /state/not-an-id
	assert_error_reply 400
}

@test "a corrupt upload is 400 and a too large one 413; either leaves the old state" {
	SRV=small
	start_server small KCR_STATE_MAX_SIZE_MB=1 KCR_POOL_ENABLED=false
	py_run "" 'keep = 7'
	exec_state
	local sid=$SID hash=$HASH
	api GET "/state/$sid"
	cp "$BODY_FILE" good.state

	# random bytes behind version byte 2; a good payload behind version 3;
	# a frame cut short; one byte
	{ printf '\002'; head -c 5000 /dev/urandom; } >random.state
	{ printf '\003'; tail -c +2 good.state; } >version3.state
	head -c -3 good.state >short.state
	printf '\002' >onebyte.state
	for f in random version3 short onebyte; do
		api POST "/state/$sid" -H 'Content-Type: application/octet-stream' --data-binary "@$f.state"
		assert_error_reply 400
		assert_json 'j["error"] == "invalid_state"'
		[ "$(state_hash_now "$sid")" = "$hash" ] || fail "$f.state changed the state"
	done
	# 2 MiB with a limit of 1
	{ printf '\002'; head -c $((2 << 20)) /dev/urandom; } >big.state
	api POST "/state/$sid" -H 'Content-Type: application/octet-stream' --data-binary @big.state
	assert_error_reply 413
	assert_json 'j["error"] == "state_too_large"'
	[ "$(state_hash_now "$sid")" = "$hash" ] || fail "big.state changed the state"
	py_run "$sid" 'print(keep)'
	assert_json 'j["stdout"] == "7\n"'

	# a run whose globals pickle to more than the limit: said on stderr, old state kept
	py_run "$sid" $'big = bytes(2 << 20)\nkeep = 8'
	assert_json 'j["exit_code"] == 0'
	assert_json 'j["stderr"] == ""'
	assert_json 're.fullmatch(r"not saved: \d+ bytes pickled, over the limit of 1048576", j["state_note"])'
	assert_json "j['has_state'] is True and j['state_hash'] == '$hash'"
	py_run "$sid" 'print(keep, "big" in globals())'
	assert_json 'j["stdout"] == "7 False\n"'
}

@test "DELETE /state, then GET is 404 and the next run starts afresh" {
	py_run "" 'v = 1'
	local sid=$SID
	api DELETE "/state/$sid"
	assert_status 204
	api GET "/state/$sid"
	assert_error_reply 404
	assert_json 'j["error"] == "state_not_found"'
	api GET "/state/$sid/info"
	assert_status 200
	assert_json "j == {'exists': False, 'session_id': '$sid', 'size_bytes': None, 'hash': None, 'created_at': None, 'expires_at': None}"
	py_run "$sid" 'print("v" in globals())'
	assert_json 'j["stdout"] == "False\n"'
	assert_json 'j["has_state"] is False'
	api DELETE "/state/$sid"
	assert_status 204
}

@test "kcr state get, put, info and rm against the server" {
	export KCR_SERVER KCR_API_KEY
	KCR_SERVER=$(srv_url)
	KCR_API_KEY=$(srv_key)
	py_run "" 'n = 5'
	exec_state
	local a=$SID hash=$HASH size=$SIZE
	py_run "" 'print(0)'
	local b=$SID

	run --separate-stderr "$KCR" state info "$a"
	assert_success
	assert_line --index 0 "session  $a"
	assert_line --index 1 "size     $size"
	assert_line --index 2 "sha256   $hash"
	run --separate-stderr "$KCR" state info --json "$a"
	assert_success
	"$HOST_PYTHON" -c 'import json, sys; j = json.loads(sys.argv[1]); assert j["exists"] and j["hash"] == sys.argv[2] and j["size_bytes"] == int(sys.argv[3])' "$output" "$hash" "$size"

	run --separate-stderr "$KCR" state get -o a.state "$a"
	assert_success
	[ "$stderr" = "kcr: wrote a.state ($size bytes)" ] || fail "stderr: $stderr"
	[ "$(sha256 a.state)" = "$hash" ] || fail "a.state does not hash to state_hash"
	run --separate-stderr "$KCR" state get -o a.state "$a"
	[ "$status" -eq 2 ] && [[ $stderr == *"exists; --force overwrites"* ]] || fail "exit $status: $stderr"
	run --separate-stderr "$KCR" state get --force -o a.state "$a"
	assert_success

	run --separate-stderr "$KCR" state put "$b" a.state
	assert_success
	py_run "$b" 'print(n * 2)'
	assert_json 'j["stdout"] == "10\n"'
	# through a pipe, and a bad one refused
	py_run "$a" 'n = 6'
	"$KCR" state get "$a" | "$KCR" state put "$b" -
	py_run "$b" 'print(n)'
	assert_json 'j["stdout"] == "6\n"'
	printf '\003junk.' >bad.state
	run --separate-stderr "$KCR" state put "$b" bad.state
	[ "$status" -eq 2 ] && [[ $stderr == "kcr: invalid state: version 3"* ]] || fail "exit $status: $stderr"
	run --separate-stderr "$KCR" state put AAAAAAAAAAAAAAAAAAAAA a.state
	[ "$status" -eq 125 ] && [ "$stderr" = "kcr: session 'AAAAAAAAAAAAAAAAAAAAA' not found" ] ||
		fail "exit $status: $stderr"

	run --separate-stderr "$KCR" state rm "$b"
	assert_success
	run --separate-stderr "$KCR" state info "$b"
	[ "$status" -eq 125 ] && [ "$stderr" = "kcr: session '$b' has no state" ] || fail "exit $status: $stderr"
	run --separate-stderr "$KCR" state get -o b.state "$b"
	[ "$status" -eq 125 ] && [ ! -e b.state ] || fail "exit $status: $stderr"
}

@test "locally, kcr exec --session keeps the globals and kcr state reads the state dir" {
	export KCR_STATE_DIR=$BATS_TEST_TMPDIR/local
	run --separate-stderr "$KCR" exec --entity state-test -l py -c 'w = 3'
	assert_success
	local sid
	sid=$(sed -n 's/^kcr: session \([A-Za-z0-9_-]*\)$/\1/p' <<<"$stderr")
	[[ $sid =~ $ID_RE ]] || fail "no session in: $stderr"
	run --separate-stderr "$KCR" exec --session "$sid" -l py -c 'print(w * 2)'
	assert_success
	assert_output 6
	run --separate-stderr "$KCR" state info "$sid"
	assert_success
	assert_line --index 0 "session  $sid"
	run --separate-stderr "$KCR" state rm "$sid"
	assert_success
	run --separate-stderr "$KCR" exec --session "$sid" -l py -c 'print("w" in globals())'
	assert_output False
}

@test "kcr exec: what cannot be kept is kcr's own line after the program's stderr" {
	export KCR_STATE_DIR=$BATS_TEST_TMPDIR/local
	run --separate-stderr "$KCR" exec --entity note-test -l py -c $'import sys\nprint("err", file=sys.stderr)\ng = (i for i in ())\nk = 1'
	assert_success
	[[ $stderr == $'err\nkcr: state: not saved (cannot be pickled): g\nkcr: session '* ]] ||
		fail "stderr: $stderr"
}

wait_archived() { # SID: until /state/SID/info says source "archive" (30 s at most)
	local i
	for i in $(seq 1 60); do
		api GET "/state/$1/info"
		[ "$(jget 'j["source"]')" = archive ] && break
		sleep 0.5
	done
	assert_json_eq 'j["source"]' archive
}

@test "an idle state moves to the file store and comes back on first use, invisibly" {
	# 3 s: a restored state stays in the store for the checks that follow
	# it, even on a slow machine
	start_server arch KCR_STATE_ARCHIVE_AFTER_SECONDS=3 KCR_CLEANUP_INTERVAL=1
	SRV=arch
	py_run "" 'x = 41; words = ["a", "b"] * 1000'
	exec_state
	local sid=$SID hash=$HASH size=$SIZE
	# saved 3 s ago at the next sweep (every 1 s): wait for it, bounded
	wait_archived "$sid"
	# the client sees the same state: it exists, with its size and hash
	assert_json 'j["exists"] is True'
	assert_json_eq 'j["hash"]' "$hash"
	assert_json_eq 'j["size_bytes"]' "$size"
	# the bytes left the session store for the file store
	! state_bytes_stored arch "$sid" || fail "the state's bytes are still in the session store"
	stored_file arch "$sid" _python_state_archive || fail "no archive in the file store"
	# and no listing shows it as a file
	api GET "/files/$sid"
	assert_json 'all(f["id"] != "_python_state_archive" for f in j)'
	# first use: GET /state brings it back, the same bytes
	api GET "/state/$sid"
	assert_status 200
	[ "$(sha256sum <"$BODY_FILE" | cut -d' ' -f1)" = "$hash" ] || fail "other bytes came back"
	api GET "/state/$sid/info"
	assert_json_eq 'j["source"]' store
	state_bytes_stored arch "$sid" || fail "the state's bytes were not restored"
	# archived again, then a run in the session finds its globals
	wait_archived "$sid"
	py_run "$sid" 'print(x + 1, len(words))'
	assert_json 'j["stdout"] == "42 2000\n"'
	assert_json 'j["has_state"] is True'
}
