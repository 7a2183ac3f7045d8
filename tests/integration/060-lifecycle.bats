#!/usr/bin/env bats
# The server's life: graceful SIGTERM, SIGHUP reloading the keys from the
# config file, and sessions expiring after session.ttl_hours.

load serve_helpers

# Each test starts the servers it needs: they are children of the test's
# shell, so the test can 'wait' for their exit status.

@test "SIGTERM with a slow /exec in flight: the request completes (200), exit 0, then connection refused" {
	start_server term
	SRV=term
	local d=$BATS_TEST_TMPDIR pid port i
	pid=$(srv_pid term)
	port=$(srv_port term)
	curl -sS --max-time 60 -o "$d/slow.body" -w '%{http_code}\n' \
		-H "X-API-Key: $(srv_key)" -H 'Content-Type: application/json' \
		--data-binary '{"lang":"bash","code":"sleep 3; echo done"}' \
		"$(srv_url)/exec" >"$d/slow.code" 2>"$d/slow.err" &
	local client=$! until=$((SECONDS + 60))
	# wait until the execution is really running (its sandbox may take a
	# while on a loaded machine; the 3 s it then runs are plenty to see it)
	while [ $SECONDS -lt $until ]; do
		api --no-key GET /health
		[ "$(jget 'j.get("executions_running", 0)' 2>/dev/null)" = 1 ] && break
		pid_alive "$client" || fail "the /exec ended before it was seen running: $(cat "$d/slow.code" "$d/slow.body")"
		sleep 0.05
	done
	assert_json 'j["executions_running"] == 1'
	kill -TERM "$pid"
	touch "$(srv_dir term)/stopped" # this test stops it, not teardown
	wait "$client" || true
	assert_equal "$(cat "$d/slow.code")" 200
	grep -q '"stdout":"done\\n"' "$d/slow.body" || fail "in-flight request: $(cat "$d/slow.body") $(cat "$d/slow.err")"
	local rc=0
	for i in $(seq 1 200); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	pid_alive "$pid" && fail "the server did not exit within 10 s of SIGTERM"
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	# nothing listens any more
	rc=0
	curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null || rc=$?
	assert_equal "$rc" 7 # curl: couldn't connect (refused)
}

@test "SIGTERM: while the in-flight request drains, a new connection is refused at once (not left hanging)" {
	start_server drain
	SRV=drain
	local d=$BATS_TEST_TMPDIR pid port i rc secs
	pid=$(srv_pid drain)
	port=$(srv_port drain)
	curl -sS --max-time 60 -o "$d/slow.body" -w '%{http_code}\n' \
		-H "X-API-Key: $(srv_key)" -H 'Content-Type: application/json' \
		--data-binary '{"lang":"bash","code":"sleep 3; echo done"}' \
		"$(srv_url)/exec" >"$d/slow.code" 2>"$d/slow.err" &
	local client=$! until=$((SECONDS + 60))
	while [ $SECONDS -lt $until ]; do
		api --no-key GET /health
		[ "$(jget 'j.get("executions_running", 0)' 2>/dev/null)" = 1 ] && break
		pid_alive "$client" || fail "the /exec ended before it was seen running"
		sleep 0.05
	done
	assert_json 'j["executions_running"] == 1'
	kill -TERM "$pid"
	touch "$(srv_dir drain)/stopped"
	sleep 0.3
	rc=0
	# curl's own clock, from its first connect: a loaded machine's slow
	# process start is not the server's doing
	curl -sS --max-time 5 -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/health" \
		>"$d/new.time" 2>"$d/new.err" || rc=$?
	secs=$(cat "$d/new.time")
	wait "$client" || true
	wait "$pid" || true
	echo "# new connection during the drain: curl exit $rc after $secs s: $(cat "$d/new.err")"
	assert_equal "$(cat "$d/slow.code")" 200
	[ "$rc" = 7 ] && awk -v s="$secs" 'BEGIN { exit !(s < 1) }' ||
		fail "a connection made while draining got curl exit $rc after $secs s (want: refused at once, exit 7)"
}

@test "SIGTERM on an idle server: prompt exit 0" {
	start_server idle
	local pid t0 rc=0
	pid=$(srv_pid idle)
	t0=$(date +%s%N)
	kill -TERM "$pid"
	touch "$(srv_dir idle)/stopped"
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	[ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ] || fail "an idle server took over 3 s to stop"
}

@test "SIGHUP re-reads --config: the new key works, the old one gets 401" {
	local cfg=$BATS_TEST_TMPDIR/kcr.yaml old new
	old=$(random_key)
	new=$(random_key)
	printf 'server:\n  api_keys: [%s]\n' "$old" >"$cfg"
	# the keys come from the file only (no KCR_API_KEYS in the environment)
	start_server hup --no-default-key "--config=$cfg"
	SRV=hup
	api --no-key POST /exec -H "X-API-Key: $old" -H 'Content-Type: application/json' --data-binary '{"lang":"py","code":"print(1)"}'
	assert_status 200
	api --no-key POST /exec -H "X-API-Key: $new" -H 'Content-Type: application/json' --data-binary '{"lang":"py","code":"print(1)"}'
	assert_status 401
	! grep -qi 'generated' "$(srv_dir hup)/stderr" || fail "the server generated a key although the config file has one"

	printf 'server:\n  api_keys:\n    - %s\n' "$new" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg"
	kill -HUP "$(srv_pid hup)"
	local i
	for i in $(seq 1 100); do
		api --no-key POST /exec -H "X-API-Key: $new" -H 'Content-Type: application/json' --data-binary '{"lang":"py","code":"print(2)"}'
		[ "$HTTP_STATUS" = 200 ] && break
		sleep 0.05
	done
	assert_status 200
	assert_json 'j["stdout"] == "2\n"'
	api --no-key POST /exec -H "X-API-Key: $old" -H 'Content-Type: application/json' --data-binary '{"lang":"py","code":"print(1)"}'
	assert_status 401
	# still the same process, still serving
	server_alive hup || fail "the server died on SIGHUP"
	api --no-key GET /health
	assert_status 200
}

@test "SIGHUP with a broken config file keeps the old keys" {
	local cfg=$BATS_TEST_TMPDIR/kcr.yaml key
	key=$(random_key)
	printf 'server:\n  api_keys: [%s]\n' "$key" >"$cfg"
	start_server hup2 --no-default-key "--config=$cfg"
	SRV=hup2
	printf 'server: [unclosed\n' >"$cfg"
	kill -HUP "$(srv_pid hup2)"
	sleep 0.5
	server_alive hup2 || fail "a broken config file on SIGHUP killed the server"
	api --no-key POST /exec -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary '{"lang":"py","code":"print(1)"}'
	assert_status 200
}

@test "session TTL (~18 s) with cleanup every 1 s: the session's files are gone soon after" {
	# 18 s: long enough for the checks before expiry on a loaded machine
	# (5 s was not: an upload and a run took longer at a load of 14)
	start_server ttl KCR_SESSION_TTL_HOURS=0.005 KCR_CLEANUP_INTERVAL=1
	SRV=ttl
	echo 'short-lived' >f.txt
	upload_file f.txt f.txt
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	api GET "/files/$sid?detail=summary"
	assert_json "[f['name'] for f in j] == ['$sid/$fid']"
	api GET "/download/$sid/$fid"
	assert_status 200
	exec_code py 'open("gen.txt", "w").write("g")'
	assert_status 200
	local sid2 fid2
	sid2=$(jget 'j["session_id"]')
	fid2=$(jget 'j["files"][0]["id"]')
	[ "$(count_stored ttl)" -ge 2 ] || fail "expected the files on disk before expiry"

	# expired after 18 s, swept within a second or two: wait for it, bounded
	local waited=0
	while [ "$(count_stored ttl)" -gt 0 ] && [ $waited -lt 120 ]; do
		sleep 0.5
		waited=$((waited + 1))
	done
	api GET "/files/$sid?detail=summary"
	assert_status 200
	assert_json 'j == []'
	api GET "/download/$sid/$fid"
	assert_error_reply 404
	api GET "/download/$sid2/$fid2"
	assert_error_reply 404
	# the sweep removed the bytes, not just hid them
	assert_equal "$(count_stored ttl)" 0
	# a new upload with the same entity starts a new session
	upload_file f.txt f.txt
	assert_status 200
	assert_json "j['session_id'] != '$sid'"
}

@test "session TTL counts from the last use: a session used again lives on" {
	start_server ttl2 KCR_SESSION_TTL_HOURS=0.003 KCR_CLEANUP_INTERVAL=1
	SRV=ttl2
	echo 'kept' >f.txt
	upload_file f.txt f.txt -F entity_id=agent_ttl
	assert_status 200
	local sid fid i
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	# use it every 4 s for 16 s: longer than its TTL (~11 s) in all, with
	# room between two uses for a slow, loaded machine
	for i in 1 2 3 4; do
		sleep 4
		exec_json "{\"lang\":\"py\",\"code\":\"print(open('/mnt/data/f.txt').read(), end='')\",\"files\":[{\"id\":\"$fid\",\"session_id\":\"$sid\",\"name\":\"f.txt\"}]}"
		assert_status 200
		assert_json 'j["stdout"] == "kept\n"'
	done
	api GET "/download/$sid/$fid"
	assert_status 200
}

@test "SIGHUP keeps what --set gave at start" {
	local cfg=$BATS_TEST_TMPDIR/kcr.yaml
	printf 'limits:\n  code_bytes: 100000\n' >"$cfg"
	start_server sethup "--config=$cfg" --set=limits.code_bytes=40
	SRV=sethup
	exec_code py 'print("a string long enough to pass forty bytes")'
	assert_status 413
	printf 'limits:\n  code_bytes: 200000\n' >"$cfg"
	kill -HUP "$(srv_pid sethup)"
	sleep 0.5
	server_alive sethup || fail "the server died on SIGHUP"
	exec_code py 'print("a string long enough to pass forty bytes")'
	assert_status 413
	exec_code py 'print(1)'
	assert_status 200
}

@test "two replicas on one state dir sweep once per period, not once each" {
	local shared="$BATS_TEST_TMPDIR/shared-state"
	mkdir -p "$shared"
	# one store for both: the state dir, or (make check-stores) one prefix
	local one=(KCR_STATE_DIR="$shared" KCR_REDIS_PREFIX=sweep060: KCR_S3_PREFIX=sweep060/
		KCR_CLEANUP_INTERVAL=1 KCR_LOG_LEVEL=debug KCR_LOG_FORMAT=json)
	start_server r1 "${one[@]}"
	start_server r2 "${one[@]}"
	local t0 t1 swept refused
	t0=$(date +%s.%N)
	sleep 6
	t1=$(date +%s.%N)
	# only the sweeps logged between t0 and t1, by the logs' own clock: on a
	# loaded machine r1 sweeps alone for a while before r2 answers
	count_in_window() { # MESSAGE
		cat "$(srv_dir r1)/stderr" "$(srv_dir r2)/stderr" | "$HOST_PYTHON" -c '
import json, sys
msg, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
n = 0
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    n += msg in e.get("msg", "") and t0 <= e.get("ts", 0) <= t1
print(n)' "$1" "$t0" "$t1"
	}
	swept=$(count_in_window 'cleanup: this replica sweeps')
	refused=$(count_in_window 'another replica sweeps')
	echo "# $swept sweeps, $refused turns left to the other replica, in $(echo "$t1 - $t0" | bc) s"
	# each sweep holds the lease for 0.9 of the 1 s period: at most one
	# sweep per 0.9 s between both (two each second without the lease)
	[ "$swept" -ge 1 ] || fail "no sweep ran"
	[ "$refused" -ge 1 ] || fail "neither replica left a period to the other"
	[ "$(echo "$swept <= ($t1 - $t0) / 0.9 + 2" | bc)" = 1 ] || fail "$swept sweeps: both replicas swept"
}
