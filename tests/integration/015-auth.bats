#!/usr/bin/env bats
# Authentication (spec librechat-api.md §2): X-API-Key, Authorization
# Bearer/ApiKey, the LIBRECHAT_CODE_API_KEY body field that newer agents
# send instead of a header, a generated key, trusted networks.

load serve_helpers

setup_file() {
	start_server main
}

PY42='{"lang":"py","code":"print(42)"}'

exec_with() { # CURL-ARGS... : POST /exec without the default key header
	api --no-key POST /exec -H 'Content-Type: application/json' "$@"
}

@test "no key: 401 with a JSON error" {
	exec_with --data-binary "$PY42"
	assert_status 401
	[[ $(header Content-Type) == application/json* ]] || fail "Content-Type: $(header Content-Type)"
	assert_json 'isinstance(j["error"], str) and "key" in j["error"].lower()'
	assert_json 'isinstance(j["timestamp"], (int, float))'
}

@test "wrong key: 401, in every place a key can be" {
	exec_with -H 'X-API-Key: sk-wrong' --data-binary "$PY42"
	assert_status 401
	assert_json 'isinstance(j["error"], str) and j["error"] != ""'
	exec_with -H 'Authorization: Bearer sk-wrong' --data-binary "$PY42"
	assert_status 401
	exec_with -H 'Authorization: ApiKey sk-wrong' --data-binary "$PY42"
	assert_status 401
	exec_with --data-binary '{"lang":"py","code":"print(42)","LIBRECHAT_CODE_API_KEY":"sk-wrong"}'
	assert_status 401
	# a prefix or an extension of the real key is not the key
	exec_with -H "X-API-Key: $(srv_key)x" --data-binary "$PY42"
	assert_status 401
	exec_with -H "X-API-Key: $(srv_key | cut -c1-10)" --data-binary "$PY42"
	assert_status 401
}

@test "X-API-Key header (any case) is accepted" {
	exec_with -H "X-API-Key: $(srv_key)" --data-binary "$PY42"
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
	exec_with -H "x-api-key: $(srv_key)" --data-binary "$PY42"
	assert_status 200
}

@test "Authorization: Bearer <key> is accepted" {
	exec_with -H "Authorization: Bearer $(srv_key)" --data-binary "$PY42"
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
}

@test "Authorization: ApiKey <key> is accepted" {
	exec_with -H "Authorization: ApiKey $(srv_key)" --data-binary "$PY42"
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
}

@test "body LIBRECHAT_CODE_API_KEY without any header: 200 (agents >= 3.1.68)" {
	local body
	body="{\"lang\":\"py\",\"code\":\"print(42)\",\"user_id\":\"6650c7e1f1a2b3c4d5e6f708\",\"LIBRECHAT_CODE_API_KEY\":\"$(srv_key)\"}"
	exec_with -H 'User-Agent: LibreChat/1.0' --data-binary "$body"
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
	# the key is data to ignore, not something the program sees
	assert_json '"LIBRECHAT_CODE_API_KEY" not in j'
}

@test "every keyed route answers 401 without a key" {
	echo x >f
	api --no-key POST /upload -F "file=@f;filename=f.txt"
	assert_status 401
	api --no-key POST /upload/batch -F "file=@f;filename=f.txt"
	assert_status 401
	api --no-key GET '/files/AAAAAAAAAAAAAAAAAAAAA?detail=summary'
	assert_status 401
	api --no-key GET /download/AAAAAAAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBBBBBBB
	assert_status 401
	api --no-key DELETE /files/AAAAAAAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBBBBBBB
	assert_status 401
}

@test "a refused upload stores nothing" {
	echo x >f
	api --no-key POST /upload -F "file=@f;filename=f.txt"
	assert_status 401
	assert_equal "$(count_stored)" 0
}

@test "/health and /ready need no key" {
	api --no-key GET /health
	assert_status 200
	api --no-key GET /ready
	assert_status 200
}

@test "no key configured: one is generated, printed once on stderr, and it works" {
	start_server gen --no-default-key
	SRV=gen
	local err key
	err=$(srv_dir gen)/stderr
	key=$(grep -A1 -i 'generated' "$err" | tail -n 1 | tr -d '[:space:]')
	[ -n "$key" ] || {
		cat "$err"
		fail "no generated key on stderr"
	}
	[[ $key =~ ^[A-Za-z0-9_-]{16,}$ ]] || fail "generated key looks odd: '$key'"
	api --no-key POST /exec -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary "$PY42"
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
	api --no-key POST /exec -H 'X-API-Key: sk-guess' -H 'Content-Type: application/json' --data-binary "$PY42"
	assert_status 401
	# printed once: not repeated, e.g. in request logs
	assert_equal "$(grep -o -F -- "$key" "$err" | wc -l)" 1
}

@test "trusted network 127.0.0.0/8: no key needed" {
	start_server trusted KCR_TRUSTED_NETWORKS=127.0.0.0/8
	SRV=trusted
	exec_with --data-binary "$PY42"
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
	echo x >f
	api --no-key POST /upload -F "file=@f;filename=f.txt"
	assert_status 200
}

@test "trusted network that does not contain the client: the key is still required" {
	start_server untrusted KCR_TRUSTED_NETWORKS=10.0.0.0/8,192.168.0.0/16
	SRV=untrusted
	exec_with --data-binary "$PY42"
	assert_status 401
}
