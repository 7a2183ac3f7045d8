#!/usr/bin/env bats
# Managed API keys, rate limits and the admin API (issue 13): keys made,
# changed and revoked at run time and seen by every replica; per-key
# rate limits with their headers, shared by replicas over Redis; caps on
# executions at once; throttling of failed authentications; admin routes
# for the admin key alone.
# shellcheck disable=SC2154 # status, output: set by run
# shellcheck disable=SC2034 # SRV, AS_KEY: read by serve_helpers' api

load serve_helpers

bats_require_minimum_version 1.5.0

ADMIN=sk-admin-190-keys-abcdefgh

setup_file() {
	# with a default limit for keys without their own
	start_server main KCR_ADMIN_KEY="$ADMIN" KCR_RATE_LIMIT_PER_DAY=100000 KCR_POOL_PY=1
}

teardown() {
	serve_teardown
	if [ -f "$BATS_TEST_TMPDIR/redis/pid" ]; then
		kill -TERM "$(cat "$BATS_TEST_TMPDIR/redis/pid")" 2>/dev/null || true
	fi
}

admin() { AS_KEY=$ADMIN api "$@" -H 'Content-Type: application/json'; }

# create_key JSON: a managed key through the admin API, into KEY and KEY_ID
create_key() {
	admin POST /admin/keys --data-binary "$1"
	assert_status 201
	KEY=$(jget 'j["key"]')
	KEY_ID=$(jget 'j["id"]')
}

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# seconds to the end of the current hour, and a wait when it is too near:
# a test that counts requests in an hour window must not straddle two
hour_room() {
	local left=$((3600 - $(date +%s) % 3600))
	[ "$left" -gt 60 ] || sleep "$((left + 1))"
}

@test "keys: created through the admin API, shown once, hashed, usable at once, tenant key:<sha256>" {
	create_key '{"name":"ci runner"}'
	[[ $KEY =~ ^sk-[A-Za-z0-9]{43}$ ]] || fail "key '$KEY' is not sk- and 43 base62 characters"
	assert_equal "$KEY_ID" "$(sha256 "$KEY")"
	assert_json 'j["name"] == "ci runner" and j["enabled"] is True and j["status"] == "active"'
	# stored hashed: the key is nowhere in the state dir, nor in the listing
	run grep -rlF -- "$KEY" "$(srv_dir main)/state"
	[ "$status" -ne 0 ] || fail "the key itself is stored: $output"
	admin GET /admin/keys
	assert_status 200
	assert_json "any(k['id'] == '$KEY_ID' for k in j['keys'])"
	grep -qF -- "$KEY" "$BODY_FILE" && fail "GET /admin/keys shows the key"
	# works at once, and its sessions are its tenant's, as a configured key's are
	AS_KEY=$KEY exec_code py 'open("/mnt/data/o.txt", "w").write("x"); print(6 * 7)'
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
	local sid
	sid=$(jget 'j["session_id"]')
	admin GET "/admin/sessions/$sid"
	assert_status 200
	assert_json_eq 'j["tenant"]' "key:$KEY_ID"
	# another key does not reach that session
	api GET "/files/$sid"
	assert_json 'j == []'
	AS_KEY=$KEY api GET "/files/$sid"
	assert_json '[f["filename"] for f in j] == ["o.txt"]'
}

@test "keys: disabled, expired and revoked keys get 401 with the reason; a prefix of the id names the key" {
	create_key '{"name":"short-lived"}'
	admin PATCH "/admin/keys/${KEY_ID:0:12}" --data-binary '{"enabled":false}'
	assert_status 200
	assert_json 'j["status"] == "disabled"'
	AS_KEY=$KEY api GET /pool
	assert_error_reply 401 'API key disabled'
	admin PATCH "/admin/keys/$KEY_ID" --data-binary '{"enabled":true,"expires":1}'
	assert_json 'j["status"] == "expired"'
	AS_KEY=$KEY api GET /pool
	assert_error_reply 401 'API key expired'
	admin PATCH "/admin/keys/$KEY_ID" --data-binary '{"expires":0}'
	AS_KEY=$KEY api GET /pool
	assert_status 200
	admin DELETE "/admin/keys/$KEY_ID"
	assert_status 200
	assert_json 'j["deleted"] is True'
	AS_KEY=$KEY api GET /pool
	assert_error_reply 401 'Invalid API key'
	admin GET "/admin/keys/$KEY_ID"
	assert_status 404
	admin PATCH "/admin/keys/abc" --data-binary '{}'
	assert_status 400
	admin POST /admin/keys --data-binary '{"rate_limits":{"per_minute":-3}}'
	assert_error_reply 400 'per_minute'
}

@test "rate limits: the key's own per hour, with exact headers, then 429 with Retry-After" {
	hour_room
	create_key '{"name":"limited","rate_limits":{"per_hour":3,"per_day":50}}'
	local reset=$((($(date +%s) / 3600 + 1) * 3600)) i
	for i in 1 2 3; do
		AS_KEY=$KEY api GET /pool
		assert_status 200
		# the hour is the tightest window: 3 - i left of it, 50 - i of the day
		assert_equal "$(header X-RateLimit-Limit)" 3
		assert_equal "$(header X-RateLimit-Remaining)" $((3 - i))
		assert_equal "$(header X-RateLimit-Reset)" "$reset"
	done
	local retry before after
	before=$(date +%s)
	AS_KEY=$KEY api GET /pool
	after=$(date +%s)
	assert_error_reply 429 'rate limit exceeded: 3 requests per hour'
	assert_json_eq 'j["error_type"]' rate_limited
	assert_equal "$(header X-RateLimit-Limit)" 3
	assert_equal "$(header X-RateLimit-Remaining)" 0
	assert_equal "$(header X-RateLimit-Reset)" "$reset"
	# Retry-After is the rest of the hour, as of the request
	retry=$(header Retry-After)
	[ "$retry" -ge $((reset - after)) ] && [ "$retry" -le $((reset - before + 1)) ] ||
		fail "Retry-After $retry, the hour ended $((reset - after))..$((reset - before)) s after the request"
	# a raised limit applies at once on this replica (its cache is dropped)
	admin PATCH "/admin/keys/$KEY_ID" --data-binary '{"rate_limits":{"per_hour":10}}'
	AS_KEY=$KEY api GET /pool
	assert_status 200
	assert_equal "$(header X-RateLimit-Limit)" 10
	assert_equal "$(header X-RateLimit-Remaining)" 5 # the refused request counted too
}

@test "rate limits: keys without their own get server.rate_limit.*; the admin key has none" {
	api GET /pool
	assert_status 200
	assert_equal "$(header X-RateLimit-Limit)" 100000
	[ -n "$(header X-RateLimit-Remaining)" ]
	AS_KEY=$ADMIN api GET /pool
	assert_status 200
	assert_equal "$(header X-RateLimit-Limit)" ""
}

@test "concurrency: a key's executions at once are capped (429), the slot comes back when one ends" {
	create_key '{"name":"one at a time","max_concurrent":1}'
	# in the background, with a body file of its own
	curl -sS -o "$BATS_TEST_TMPDIR/slow.json" -H "X-API-Key: $KEY" \
		-H 'Content-Type: application/json' "$(srv_url)/exec" \
		--data-binary '{"lang":"py","code":"import time; time.sleep(4); print(\"slow\")"}' &
	local bg=$! i running=0
	for i in $(seq 1 200); do
		api GET /health
		running=$(jget 'j["executions_running"]')
		[ "$running" -ge 1 ] && break
		sleep 0.05
	done
	[ "$running" -ge 1 ] || fail "the slow execution never started"
	AS_KEY=$KEY exec_code py 'print(2)'
	assert_error_reply 429 'too many executions at once for this key \(at most 1\)'
	assert_equal "$(header Retry-After)" 1
	# another key is not held up
	exec_code py 'print(3)'
	assert_status 200
	wait "$bg"
	grep -q '"stdout":"slow\\n"' "$BATS_TEST_TMPDIR/slow.json" ||
		fail "the slow execution: $(cat "$BATS_TEST_TMPDIR/slow.json")"
	AS_KEY=$KEY exec_code py 'print(4)'
	assert_status 200
	assert_json 'j["stdout"] == "4\n"'
}

@test "failed authentications: after server.auth_fail_limit from one address, 429 before the key is checked" {
	# a client address per request through X-Forwarded-For, from a
	# trusted proxy on loopback
	start_server throttled KCR_AUTH_FAIL_LIMIT=3 KCR_TRUSTED_PROXIES=127.0.0.1/32
	SRV=throttled
	local i xff=(-H 'X-Forwarded-For: 203.0.113.7')
	for i in 1 2 3; do
		AS_KEY=sk-wrong-$i api GET /pool "${xff[@]}"
		assert_error_reply 401 'Invalid API key'
	done
	# even the right key, from there
	api GET /pool "${xff[@]}"
	assert_error_reply 429 'too many failed authentications from 203.0.113.7'
	[ "$(header Retry-After)" -ge 1 ] && [ "$(header Retry-After)" -le 3600 ]
	# another address is not held up
	api GET /pool -H 'X-Forwarded-For: 203.0.113.8'
	assert_status 200
}

@test "admin routes: 401 without a key, 403 with a configured or managed key" {
	create_key '{"name":"ordinary"}'
	local route
	for route in "GET /admin/keys" "POST /admin/keys" "GET /admin/config" "GET /admin/usage" \
		"GET /admin/pool" "POST /admin/pool/drain" "DELETE /admin/keys/$KEY_ID"; do
		api --no-key "${route% *}" "${route#* }"
		assert_status 401
		api "${route% *}" "${route#* }"
		assert_status 403
		AS_KEY=$KEY api "${route% *}" "${route#* }"
		assert_status 403
	done
	assert_error_reply 403 'needs the admin key'
	AS_KEY=$ADMIN api GET /admin/keys
	assert_status 200
}

@test "admin: configuration with secrets masked; usage per key and language; sessions; pool" {
	admin GET /admin/config
	assert_status 200
	assert_json 'j["settings"]["server.admin_key"] == {"value": "********", "source": "env"}'
	assert_json 'j["settings"]["server.api_keys"]["value"] == "********"'
	assert_json 'j["settings"]["server.rate_limit.per_day"]["value"] == "100000"'
	assert_json 'j["settings"]["server.key_cache_ms"] == {"value": "2000", "source": "default"}'
	grep -qF -- "$ADMIN" "$BODY_FILE" && fail "the admin key is in /admin/config"
	grep -qF -- "$(srv_key)" "$BODY_FILE" && fail "the API key is in /admin/config"
	# usage: two runs, one failing
	create_key '{"name":"metered"}'
	AS_KEY=$KEY exec_code py 'print("abc")'
	assert_status 200
	local sid
	sid=$(jget 'j["session_id"]')
	AS_KEY=$KEY exec_code py 'raise SystemExit(3)'
	assert_status 200
	admin GET "/admin/keys/$KEY_ID/usage"
	assert_status 200
	assert_json 'j["languages"]["py"]["executions"] == 2 and j["languages"]["py"]["errors"] == 1'
	assert_json 'j["languages"]["py"]["bytes"] >= 4 and j["total"]["executions"] == 2'
	admin GET /admin/usage
	assert_json "[k['source'] for k in j['keys'] if k['id'] == '$KEY_ID'] == ['managed']"
	assert_json "[k['source'] for k in j['keys'] if k['id'] == '$(sha256 "$(srv_key)")'] == ['config']"
	# sessions of any tenant: inspect, delete
	AS_KEY=$KEY exec_code py 'open("/mnt/data/k.txt", "w").write("k")' "\"session_id\":\"$sid\""
	assert_status 200
	admin GET "/admin/sessions/$sid"
	assert_json_eq '[f["name"] for f in j["files"]]' '["k.txt"]'
	admin GET "/admin/sessions?key=$KEY_ID"
	assert_status 200
	assert_json "'$sid' in [x['id'] for x in j['sessions']]"
	assert_json "all(x['tenant'] == 'key:$KEY_ID' for x in j['sessions'])"
	admin GET "/admin/sessions?limit=1"
	assert_json 'len(j["sessions"]) == 1 and j["truncated"] is True'
	admin DELETE "/admin/sessions/$sid"
	assert_status 200
	admin GET "/admin/sessions/$sid"
	assert_status 404
	AS_KEY=$KEY api GET "/files/$sid"
	assert_equal "$BODY" "[]"
	# pool: status, resize, drain
	admin POST /admin/pool/warmup --data-binary '{"languages":["py"],"size":2,"timeout_ms":0}'
	assert_status 200
	assert_json '[p["target"] for p in j["pools"] if p["language"] == "py"] == [2]'
	admin POST /admin/pool/drain --data-binary '{"languages":["py"]}'
	assert_status 200
	admin GET /admin/pool
	assert_json '[p["target"] for p in j["pools"] if p["language"] == "py"] == [0]'
}

@test "redis: two replicas share keys and rate limits; a revoke reaches the other within server.key_cache_ms" {
	command -v redis-server >/dev/null || skip "redis-server is not installed"
	local d=$BATS_TEST_TMPDIR/redis i
	mkdir -p "$d"
	redis-server --port 0 --unixsocket "$d/sock" --unixsocketperm 700 --save '' \
		--appendonly no --dir "$d" --daemonize yes --pidfile "$d/pid" --logfile "$d/log"
	for i in $(seq 100); do
		redis-cli -s "$d/sock" ping 2>/dev/null | grep -q PONG && break
		sleep 0.05
	done
	local shared=(KCR_SESSION_STORE=redis "KCR_REDIS_URL=unix://$d/sock"
		KCR_STATE_DIR="$BATS_TEST_TMPDIR/shared" KCR_ADMIN_KEY="$ADMIN" KCR_KEY_CACHE_MS=500
		KCR_POOL_PY=0)
	mkdir -p "$BATS_TEST_TMPDIR/shared"
	start_server ra "${shared[@]}"
	start_server rb "${shared[@]}"
	if grep -q 'built without the redis' "$(srv_dir ra)/stderr"; then
		skip "kcr was built without the redis session store"
	fi
	hour_room
	SRV=ra create_key '{"name":"shared","rate_limits":{"per_hour":4}}'
	# made on ra, known to rb at once; the counts are one across both
	local n=3 s
	for s in ra rb ra rb; do
		SRV=$s AS_KEY=$KEY api GET /pool
		assert_status 200
		assert_equal "$(header X-RateLimit-Remaining)" "$n"
		n=$((n - 1))
	done
	SRV=rb AS_KEY=$KEY api GET /pool
	assert_error_reply 429 'per hour'
	SRV=ra AS_KEY=$KEY api GET /pool
	assert_status 429
	# in Redis: the key's record, never the key
	run redis-cli -s "$d/sock" --scan
	[[ $output == *"$KEY_ID"* ]] || fail "no record of $KEY_ID in Redis: $output"
	[[ $output != *"$KEY"* ]] || fail "the key itself is in Redis"
	# raised on ra, revoked on ra: rb follows within its cache time
	SRV=ra admin PATCH "/admin/keys/$KEY_ID" --data-binary '{"rate_limits":{"per_hour":1000}}'
	SRV=rb AS_KEY=$KEY api GET /pool
	for i in $(seq 1 100); do
		[ "$HTTP_STATUS" = 200 ] && break
		sleep 0.1
		SRV=rb AS_KEY=$KEY api GET /pool
	done
	assert_status 200
	SRV=ra admin DELETE "/admin/keys/$KEY_ID"
	assert_status 200
	for i in $(seq 1 100); do
		SRV=rb AS_KEY=$KEY api GET /pool
		[ "$HTTP_STATUS" = 401 ] && break
		sleep 0.1
	done
	assert_error_reply 401 'Invalid API key'
	# usage counted on rb reaches ra's report through Redis (each replica
	# writes what it added up every second)
	SRV=ra create_key '{"name":"metered"}'
	SRV=rb AS_KEY=$KEY exec_code bash 'echo hi'
	assert_status 200
	for i in $(seq 1 50); do
		SRV=ra admin GET "/admin/keys/$KEY_ID/usage"
		[ "$(jget 'j["total"]["executions"]')" = 1 ] && break
		sleep 0.1
	done
	assert_json 'j["languages"]["bash"]["executions"] == 1 and j["languages"]["bash"]["bytes"] == 3'
}

@test "kcr keys: create, ls, set and rm through the server's admin API; an ordinary key gets 403" {
	local key id
	run --separate-stderr env KCR_ADMIN_KEY="$ADMIN" "$KCR" keys create --server "$(srv_url)" \
		--name cli --per-hour 500 --max-concurrent 2 --expires-in 30d
	assert_success
	key=$output
	[[ $key =~ ^sk-[A-Za-z0-9]{43}$ ]] || fail "kcr keys create printed '$key'"
	id=$(sha256 "$key")
	[[ $stderr == *"created key $id"* ]] || fail "stderr: $stderr"
	AS_KEY=$key api GET /pool
	assert_status 200
	assert_equal "$(header X-RateLimit-Limit)" 500
	run env KCR_ADMIN_KEY="$ADMIN" "$KCR" keys ls --server "$(srv_url)"
	assert_success
	assert_line --regexp "^${id:0:16} +cli +active +500/h +2  20[0-9-]+T"
	run env KCR_ADMIN_KEY="$ADMIN" "$KCR" keys set --server "$(srv_url)" --disable --json "${id:0:10}"
	assert_success
	[[ $output =~ \"status\":[[:space:]]*\"disabled\" ]] || fail "$output"
	AS_KEY=$key api GET /pool
	assert_error_reply 401 'API key disabled'
	run env KCR_ADMIN_KEY="$ADMIN" "$KCR" keys set --server "$(srv_url)" --enable "${id:0:10}"
	assert_success
	AS_KEY=$key api GET /pool
	assert_status 200
	run env KCR_ADMIN_KEY="$ADMIN" "$KCR" keys rm --server "$(srv_url)" "${id:0:10}"
	assert_success
	AS_KEY=$key api GET /pool
	assert_error_reply 401 'Invalid API key'
	# not with an ordinary key
	run env KCR_ADMIN_KEY="$(srv_key)" "$KCR" keys ls --server "$(srv_url)"
	assert_equal "$status" 125
	assert_output --partial 'admin key'
}

@test "kcr keys: without a server, on the store itself; the server takes the key at once and drops it on rm" {
	local key id i
	run --separate-stderr env KCR_STATE_DIR="$(srv_dir main)/state" "$KCR" keys create \
		--name local --per-minute 1000
	assert_success
	key=$output
	id=$(sha256 "$key")
	AS_KEY=$key exec_code py 'print("local key")'
	assert_status 200
	run env KCR_STATE_DIR="$(srv_dir main)/state" "$KCR" keys ls --json
	assert_success
	[[ $output =~ \"id\":[[:space:]]*\"$id\" ]] || fail "$output"
	run env KCR_STATE_DIR="$(srv_dir main)/state" "$KCR" keys rm "$id"
	assert_success
	# the server read it from the store: it learns of the revoke within
	# server.key_cache_ms (2 s)
	for i in $(seq 1 100); do
		AS_KEY=$key api GET /pool
		[ "$HTTP_STATUS" = 401 ] && break
		sleep 0.1
	done
	assert_error_reply 401 'Invalid API key'
	run env KCR_STATE_DIR="$(srv_dir main)/state" "$KCR" keys rm "$id"
	assert_equal "$status" 125
	assert_output --partial 'no key with id'
	run "$KCR" keys set --per-minute x 12345678
	assert_equal "$status" 2
}

@test "kcr keys: completion offers the subcommands and their options" {
	run "$KCR" __complete keys ''
	assert_output "$(printf 'create\nls\nrm\nset')"
	run "$KCR" __complete keys set --per
	[[ $'\n'$output$'\n' == *$'\n--per-minute\n'* && $output == *--per-day* ]] || fail "$output"
	run "$KCR" __complete keys create --dis
	[ "$output" = --disabled ] || fail "$output"
}

@test "usage: CPU time apart from wall time (a busy program, a sleeping one)" {
	create_key '{"name":"cpu"}'
	# 0.4 s of CPU, however loaded the machine is
	AS_KEY=$KEY exec_code py $'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass'
	assert_status 200
	admin GET "/admin/keys/$KEY_ID/usage"
	assert_json 'j["languages"]["py"]["cpu_ms"] >= 400'
	local busy
	busy=$(jget 'j["languages"]["py"]["cpu_ms"]')
	# a program that sleeps 1 s runs 1 s and costs far less CPU than that
	AS_KEY=$KEY exec_code bash 'sleep 1'
	assert_status 200
	admin GET "/admin/keys/$KEY_ID/usage"
	assert_json 'j["languages"]["bash"]["run_ms"] >= 1000 and j["languages"]["bash"]["cpu_ms"] < 500'
	assert_json "j['total']['cpu_ms'] == $busy + j['languages']['bash']['cpu_ms']"
}
