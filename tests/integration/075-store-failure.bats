#!/usr/bin/env bats
# A session store that fails (lib/store/store.h, "Errors"): requests answer
# 503 service_unavailable naming the store, never a new session in place
# of the one the store could not read; /ready says which store failed
# while /health still answers; the CLI exits 125; and once the store is
# repaired the same sessions carry on.
# shellcheck disable=SC2154 # status, stderr: set by run

load serve_helpers

bats_require_minimum_version 1.5.0

setup_file() {
	start_server main
}

# The fs session store's directory replaced by a regular file: that fails
# even for root, whom chmod 000 would not stop.
break_sessions() {
	local st
	st=$(srv_dir)/state
	mv "$st/sessions" "$st/sessions.off"
	echo broken >"$st/sessions"
}

repair_sessions() {
	local st
	st=$(srv_dir)/state
	rm "$st/sessions"
	mv "$st/sessions.off" "$st/sessions"
}

count_sessions() {
	find "$(srv_dir)/state/sessions" -mindepth 1 -maxdepth 1 -type d | wc -l
}

teardown() {
	# a failed test must not leave the store broken for the next one
	[ -e "$(srv_dir)/state/sessions.off" ] && repair_sessions
	serve_teardown
}

@test "store failure: /exec answers 503 naming the store, /ready 503; repaired, the same session goes on" {
	local sid esid n
	exec_code bash 'echo one'
	assert_status 200
	sid=$(jget 'j["session_id"]')
	exec_code bash 'echo one' '"entity_id":"asst_store075"'
	assert_status 200
	esid=$(jget 'j["session_id"]')
	n=$(count_sessions)

	break_sessions
	# an explicit session, an entity's session, and a new one: none is
	# taken for missing, none is created
	exec_code bash 'echo two' "\"session_id\":\"$sid\""
	assert_error_reply 503 '^session store fs: '
	assert_json_eq 'j["error_type"]' service_unavailable
	note "503: $(jget 'j["error"]')"
	exec_code bash 'echo two' '"entity_id":"asst_store075"'
	assert_error_reply 503 '^session store fs: '
	exec_code bash 'echo two'
	assert_error_reply 503 '^session store fs: '
	api GET "/files/$sid"
	assert_error_reply 503 '^session store fs: '

	api --no-key GET /ready
	assert_status 503
	assert_json_eq 'j["status"]' unavailable
	assert_json_eq 'j["store"]' sessions
	assert_json 'j["error"].startswith("session store fs: ")'
	# no key needed, so nothing of the server's file system in it
	assert_json '"/" not in j["error"]'
	assert_json 'j["stores"]["sessions"]["ok"] is False and j["stores"]["files"]["ok"] is True'
	api --no-key GET /health
	assert_status 200

	repair_sessions
	api --no-key GET /ready
	assert_status 200
	assert_json_eq 'j["status"]' ready
	exec_code bash 'echo three' "\"session_id\":\"$sid\""
	assert_status 200
	assert_json_eq 'j["session_id"]' "$sid"
	assert_json 'j["stdout"] == "three\n"'
	exec_code bash 'echo three' '"entity_id":"asst_store075"'
	assert_status 200
	assert_json_eq 'j["session_id"]' "$esid"
	[ "$(count_sessions)" = "$n" ] || fail "sessions: $(count_sessions), want $n: one was created while the store failed"
}

@test "store failure: the CLI exits 125 naming the store, against the server and locally" {
	local sid
	exec_code bash 'echo one'
	assert_status 200
	sid=$(jget 'j["session_id"]')
	break_sessions

	KCR_API_KEY=$(srv_key) run --separate-stderr "$KCR" files ls --server "$(srv_url)" "$sid"
	[ "$status" -eq 125 ] && [[ $stderr == *"session store fs: "* ]] ||
		fail "--server: exit $status: $stderr"
	KCR_STATE_DIR=$(srv_dir)/state run --separate-stderr "$KCR" files ls "$sid"
	[ "$status" -eq 125 ] && [[ $stderr == "kcr: session store fs: "* ]] ||
		fail "local: exit $status: $stderr"

	repair_sessions
	KCR_STATE_DIR=$(srv_dir)/state run --separate-stderr "$KCR" files ls "$sid"
	[ "$status" -eq 0 ] || fail "local, repaired: exit $status: $stderr"
}
