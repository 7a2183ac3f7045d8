#!/usr/bin/env bats
# Redis and S3 failing under a running kcr serve (a real redis-server and
# s3rver from tests/servers.sh, stopped, frozen, killed and flushed):
# 503 naming the backend, never a silently new session, never a file
# reported stored that is not; health keeps answering; and once the
# backend is back the server carries on by itself.

load serve_helpers

SERVERS_SH="$BATS_TEST_DIRNAME/../servers.sh"

setup_file() {
	local servers="$BATS_FILE_TMPDIR/servers"
	"$SERVERS_SH" start "$servers" || fail "tests/servers.sh could not start redis-server and s3rver"
	export TEST_STORES="$servers/env" SERVERS="$servers"
	start_server main KCR_REDIS_COMMAND_TIMEOUT_MS=1500 KCR_REDIS_CONNECT_TIMEOUT_MS=1500 \
		KCR_S3_TIMEOUT_MS=1500 KCR_S3_RETRIES=1
}

# shellcheck disable=SC1090 # the env file tests/servers.sh wrote
redis_url() { (. "$TEST_STORES" && echo "$TEST_REDIS_URL"); }

# Until /ready answers 200 (30 s at most): after a backend comes back, kcr
# tries it again within its backoff (at most 1 s for Redis), as an ingress
# waits for /ready before it sends traffic again.
wait_ready() {
	local i
	for i in $(seq 1 60); do
		api --no-key GET /ready
		[ "$HTTP_STATUS" = 200 ] && return 0
		sleep 0.5
	done
	fail "kcr did not get ready again within 30 s: $BODY"
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	SRV=main
	wait_ready
}

teardown() {
	# a failed test must not leave a backend down for the next one
	if ! redis-cli -u "$(redis_url)" ping >/dev/null 2>&1; then
		[ -f "$SERVERS/redis/frozen" ] && kill -CONT "$(cat "$SERVERS/redis/pid")"
		rm -f "$SERVERS/redis/frozen"
		redis-cli -u "$(redis_url)" ping >/dev/null 2>&1 ||
			"$SERVERS_SH" redis-start "$SERVERS"
	fi
	[ -f "$SERVERS/s3/pid" ] && kill -CONT "$(cat "$SERVERS/s3/pid")" 2>/dev/null
	[ -f "$SERVERS/s3/pid" ] || "$SERVERS_SH" s3-start "$SERVERS"
	serve_teardown
}

teardown_file() {
	serve_teardown_file
	"$SERVERS_SH" stop "$SERVERS"
}


@test "Redis stopped: 503 naming redis, no new session; /health answers, /ready names it; back, the session goes on" {
	exec_code py 'x = 5' '"entity_id":"asst_076"'
	assert_status 200
	local sid
	sid=$(jget 'j["session_id"]')

	"$SERVERS_SH" redis-stop "$SERVERS"
	exec_code py 'print(x)' "\"session_id\":\"$sid\""
	assert_error_reply 503 '^session store redis: '
	exec_code py 'print(1)' '"entity_id":"asst_076"'
	assert_error_reply 503 '^session store redis: '
	echo data >f.txt
	upload_file f.txt f.txt
	assert_error_reply 503 'redis'
	api GET "/files/$sid"
	assert_error_reply 503 'redis'
	api --no-key GET /health
	assert_status 200
	api --no-key GET /ready
	assert_status 503
	assert_json_eq 'j["store"]' sessions

	"$SERVERS_SH" redis-start "$SERVERS"
	# no restart of kcr: it reconnects by itself
	wait_ready
	exec_code py 'print(x + 1)' "\"session_id\":\"$sid\""
	assert_status 200
	assert_json 'j["stdout"] == "6\n"'
	api --no-key GET /ready
	assert_status 200
}

@test "Redis frozen (SIGSTOP): requests fail within the command timeout, and recover on SIGCONT" {
	exec_code bash 'echo one'
	assert_status 200
	local sid
	sid=$(jget 'j["session_id"]')
	touch "$SERVERS/redis/frozen"
	kill -STOP "$(cat "$SERVERS/redis/pid")"
	api GET "/files/$sid"
	assert_error_reply 503 'redis'
	# bounded by the 1.5 s timeout, not hung: well under a minute
	[ "${HTTP_TIME%.*}" -lt 30 ] || fail "took $HTTP_TIME s"
	kill -CONT "$(cat "$SERVERS/redis/pid")"
	rm -f "$SERVERS/redis/frozen"
	wait_ready
	api GET "/files/$sid"
	assert_status 200
}

@test "S3 stopped: an upload is 503 naming s3 and lists nowhere; back, uploads work and old files download" {
	echo before >a.txt
	upload_file a.txt a.txt
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')

	"$SERVERS_SH" s3-stop "$SERVERS"
	echo during >b.txt
	upload_file b.txt b.txt -F "session_id=$sid"
	assert_error_reply 503 'file store s3: '
	# never a file reported stored that is not
	api GET "/files/$sid"
	assert_status 200
	assert_json "[f['filename'] for f in j] == ['a.txt']"
	api GET "/download/$sid/$fid"
	assert_error_reply 503 's3'
	api --no-key GET /ready
	assert_status 503
	assert_json_eq 'j["store"]' files

	"$SERVERS_SH" s3-start "$SERVERS"
	wait_ready
	api GET "/download/$sid/$fid"
	assert_status 200
	[ "$BODY" = before ] || fail "a.txt: '$BODY'"
	upload_file b.txt b.txt
	assert_status 200
}

@test "S3 frozen in the middle of a 64 MiB upload, then killed: 503 in bounded time, nothing listed" {
	random_file big.bin $((64 << 20))
	echo small >m.txt
	upload_file m.txt m.txt
	assert_status 200
	local sid
	sid=$(jget 'j["session_id"]')
	# frozen: kcr's PUT is accepted by the kernel and then stalls
	kill -STOP "$(cat "$SERVERS/s3/pid")"
	upload_file big.bin big.bin -F "session_id=$sid"
	assert_error_reply 503 'file store s3: '
	[ "${HTTP_TIME%.*}" -lt 60 ] || fail "took $HTTP_TIME s"
	kill -KILL "$(cat "$SERVERS/s3/pid")"
	rm -f "$SERVERS/s3/pid"
	"$SERVERS_SH" s3-start "$SERVERS"
	wait_ready
	# never a record of the big file; the small one downloads whole
	api GET "/files/$sid"
	assert_status 200
	assert_json "[f['filename'] for f in j] == ['m.txt']"
	local fid
	fid=$(jget 'j[0]["id"]')
	api GET "/download/$sid/$fid"
	assert_status 200
	[ "$BODY" = small ] || fail "m.txt: '$BODY'"
}

@test "Redis flushed between requests: 404 for what is gone, never someone else's" {
	echo mine >m.txt
	upload_file m.txt m.txt
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	redis-cli -u "$(redis_url)" flushdb >/dev/null
	api GET "/download/$sid/$fid"
	assert_error_reply 404
	api GET "/files/$sid"
	assert_status 200
	assert_json 'j == []'
	# a run naming the lost session starts a new one (as for any unknown id)
	exec_code bash 'ls /mnt/data' "\"session_id\":\"$sid\""
	assert_status 200
	assert_json "j['session_id'] != '$sid' and j['stdout'] == ''"
	api GET "/state/$sid/info"
	assert_json 'j["exists"] is False'
}
