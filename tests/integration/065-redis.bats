#!/usr/bin/env bats
# Two replicas of kcr serve on one Redis (store.sessions: redis, with a
# file store they share): a session begun on one goes on on the other,
# Python state and files included; a Redis that stops answering is a 503
# naming it, never a new session; and the replicas recover by themselves
# when it answers again. The Redis is the test's own, on a unix socket.
# shellcheck disable=SC2154 # status, output: set by run
# shellcheck disable=SC2034 # SRV: read by serve_helpers' api

load serve_helpers

bats_require_minimum_version 1.5.0

redis_dir() { echo "$BATS_FILE_TMPDIR/redis"; }
redis_pid() { cat "$(redis_dir)/pid"; }

setup_file() {
	local d key
	if ! command -v redis-server >/dev/null; then
		echo "redis-server is not installed" >"$BATS_FILE_TMPDIR/skip"
		return 0
	fi
	# the store, opened locally, says whether this kcr has it
	if KCR_SESSION_STORE=redis KCR_REDIS_URL=unix:///nonexistent \
		KCR_STATE_DIR="$BATS_FILE_TMPDIR/probe" "$KCR" files ls AAAAAAAAAAAAAAAAAAAAA 2>&1 |
		grep -q 'built without the redis'; then
		echo "kcr was built without the redis session store" >"$BATS_FILE_TMPDIR/skip"
		return 0
	fi
	d=$(redis_dir)
	mkdir -p "$d" "$BATS_FILE_TMPDIR/shared"
	redis-server --port 0 --unixsocket "$d/sock" --unixsocketperm 700 --save '' \
		--appendonly no --dir "$d" --daemonize yes --pidfile "$d/pid" --logfile "$d/log"
	for _ in $(seq 100); do
		redis-cli -s "$d/sock" ping 2>/dev/null | grep -q PONG && break
		sleep 0.05
	done
	key=$(random_key)
	for r in a b; do
		start_server "$r" --key "$key" KCR_SESSION_STORE=redis \
			KCR_REDIS_URL="unix://$d/sock" KCR_REDIS_COMMAND_TIMEOUT_MS=1000 \
			KCR_STATE_DIR="$BATS_FILE_TMPDIR/shared"
	done
}

# skip in setup_file fails the whole file with this bats (1.8.2): each
# test skips instead
setup() {
	[ ! -f "$BATS_FILE_TMPDIR/skip" ] || skip "$(cat "$BATS_FILE_TMPDIR/skip")"
	cd "$BATS_TEST_TMPDIR" || return 1
	SRV=a
}

teardown_file() {
	local pid
	serve_teardown_file
	if [ -f "$(redis_dir)/pid" ]; then
		pid=$(cat "$(redis_dir)/pid")
		kill -CONT "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
	fi
}

@test "redis: a session begun on one replica goes on on the other, with its state and files" {
	local sid
	SRV=a
	exec_code py $'x = 41\nopen("/mnt/data/out.txt", "w").write("hi")' \
		'"entity_id":"asst_redis065","user_id":"u1"'
	assert_status 200
	sid=$(jget 'j["session_id"]')
	SRV=b
	exec_code py 'print(x + 1)' '"entity_id":"asst_redis065","user_id":"u1"'
	assert_status 200
	assert_json_eq 'j["session_id"]' "$sid"
	assert_json 'j["stdout"] == "42\n"'
	api GET "/files/$sid"
	assert_status 200
	assert_json '[f["filename"] for f in j] == ["out.txt"]'
	# what Redis holds: the session, its files, its state, its owner
	run redis-cli -s "$(redis_dir)/sock" --scan --pattern "kcr:*$sid"
	assert_line "kcr:session:$sid"
	assert_line "kcr:files:$sid"
	assert_line "kcr:state:$sid"
	run redis-cli -s "$(redis_dir)/sock" pttl "kcr:session:$sid"
	assert [ "$output" -gt 0 ]
}

@test "redis: a Redis that does not answer is a 503 naming it; both replicas recover" {
	local sid
	SRV=a
	exec_code bash 'echo one' '"entity_id":"asst_redis065b"'
	assert_status 200
	sid=$(jget 'j["session_id"]')
	kill -STOP "$(redis_pid)"
	exec_code bash 'echo two' '"entity_id":"asst_redis065b"'
	assert_error_reply 503 '^session store redis: redis at unix:'
	api --no-key GET /ready
	assert_status 503
	assert_json_eq 'j["store"]' sessions
	kill -CONT "$(redis_pid)"
	for SRV in a b; do
		api --no-key GET /ready
		assert_status 200
		exec_code bash 'echo three' '"entity_id":"asst_redis065b"'
		assert_status 200
		assert_json_eq 'j["session_id"]' "$sid"
	done
}
