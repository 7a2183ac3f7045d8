#!/usr/bin/env bats
# CORS from configuration on every route, preflights answered from the
# route table, and the security headers of every reply (issue 13).
# shellcheck disable=SC2154 # status, output: set by run
# shellcheck disable=SC2034 # SRV: read by serve_helpers' api

load serve_helpers

bats_require_minimum_version 1.5.0

ORIGIN=https://chat.example
ADMIN=sk-admin-207-cors-abcdefgh

setup_file() {
	start_server main KCR_POOL_ENABLED=false KCR_ADMIN_KEY="$ADMIN" KCR_MAX_BODY_MB=1 \
		KCR_CORS_ORIGINS="$ORIGIN,https://other.example"
}

preflight() { # PATH METHOD [HEADERS]
	local extra=()
	[ -n "${3:-}" ] && extra=(-H "Access-Control-Request-Headers: $3")
	api --no-key OPTIONS "$1" -H "Origin: ${PF_ORIGIN:-$ORIGIN}" \
		-H "Access-Control-Request-Method: $2" "${extra[@]}"
}

@test "CORS: a preflight allows the methods the path serves, the configured headers, for 600 s" {
	preflight /exec POST 'content-type, x-api-key'
	assert_status 204
	assert_equal "$(header Access-Control-Allow-Origin)" "$ORIGIN"
	assert_equal "$(header Access-Control-Allow-Methods)" 'POST'
	assert_equal "$(header Access-Control-Allow-Headers)" \
		'Content-Type, X-API-Key, Authorization, User-Id, If-None-Match'
	assert_equal "$(header Access-Control-Max-Age)" 600
	assert_equal "$(header Vary)" Origin
	assert_equal "$BODY" ''
	preflight /files/AAAAAAAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBBBBBBB DELETE
	assert_status 204
	assert_equal "$(header Access-Control-Allow-Methods)" 'DELETE'
	preflight /admin/keys/abc PATCH
	assert_status 204
	assert_equal "$(header Access-Control-Allow-Methods)" 'GET, PATCH, DELETE'
}

@test "CORS: a preflight for a method or header not allowed is 403 naming it; an unknown path 404" {
	preflight /exec DELETE
	assert_error_reply 403 'method DELETE is not allowed on /exec \(allowed: POST\)'
	preflight /exec POST 'X-API-Key, X-Evil'
	assert_error_reply 403 'request header X-Evil is not allowed'
	preflight /nowhere GET
	assert_error_reply 404
	# an origin not configured gets no preflight at all
	PF_ORIGIN=https://evil.example preflight /exec POST
	assert_status 405
	assert_equal "$(header Access-Control-Allow-Origin)" ''
}

@test "CORS: every route's replies carry it for an allowed origin (errors too), none for others" {
	local path
	for path in /health /ready /pool /files/AAAAAAAAAAAAAAAAAAAAA /nowhere; do
		api GET "$path" -H "Origin: https://other.example"
		assert_equal "$(header Access-Control-Allow-Origin)" https://other.example
		[[ $(header Access-Control-Expose-Headers) == *X-RateLimit-Remaining* ]]
		api GET "$path" -H "Origin: https://evil.example"
		assert_equal "$(header Access-Control-Allow-Origin)" ''
	done
	AS_KEY=$ADMIN api GET /admin/keys -H "Origin: $ORIGIN"
	assert_status 200
	assert_equal "$(header Access-Control-Allow-Origin)" "$ORIGIN"
}

@test "CORS: server.cors_methods, cors_headers and cors_max_age narrow it; '*' allows any origin" {
	start_server narrow KCR_POOL_ENABLED=false KCR_CORS_ORIGINS='*' KCR_CORS_METHODS=GET,POST \
		KCR_CORS_HEADERS=X-API-Key KCR_CORS_MAX_AGE=30
	SRV=narrow
	PF_ORIGIN=https://anything.example preflight /admin/keys/abc GET X-API-Key
	assert_status 204
	assert_equal "$(header Access-Control-Allow-Origin)" https://anything.example
	assert_equal "$(header Access-Control-Allow-Methods)" GET
	assert_equal "$(header Access-Control-Allow-Headers)" X-API-Key
	assert_equal "$(header Access-Control-Max-Age)" 30
	PF_ORIGIN=https://anything.example preflight /admin/keys/abc DELETE
	assert_error_reply 403 'method DELETE is not allowed'
	PF_ORIGIN=https://anything.example preflight /exec POST Content-Type
	assert_error_reply 403 'request header Content-Type is not allowed'
}

@test "CORS: none by default, whatever the Origin" {
	start_server plain KCR_POOL_ENABLED=false
	SRV=plain
	preflight /exec POST
	assert_status 405
	assert_equal "$(header Access-Control-Allow-Origin)" ''
	api GET /health -H "Origin: $ORIGIN"
	assert_equal "$(header Access-Control-Allow-Origin)" ''
}

# the headers every reply must have, whatever its status
assert_security_headers() {
	assert_equal "$(header X-Content-Type-Options)" nosniff
	assert_equal "$(header X-Frame-Options)" DENY
	assert_equal "$(header Referrer-Policy)" no-referrer
	assert_equal "$(header Content-Security-Policy)" "default-src 'none'; frame-ancestors 'none'"
	assert_equal "$(header Cross-Origin-Resource-Policy)" same-origin
	[ -n "$(header X-Request-Id)" ]
}

@test "security headers on every reply: 200, 401, 404, 405, 413; no HSTS over HTTP" {
	api --no-key GET /health
	assert_status 200
	assert_security_headers
	assert_equal "$(header Cache-Control)" no-store
	assert_equal "$(header Strict-Transport-Security)" ''
	api --no-key GET /files/AAAAAAAAAAAAAAAAAAAAA
	assert_status 401
	assert_security_headers
	api GET /nowhere
	assert_status 404
	assert_security_headers
	api PUT /exec
	assert_status 405
	assert_security_headers
	head -c 2000000 /dev/zero >big
	api POST /exec -H 'Content-Type: application/json' --data-binary @big
	assert_status 413
	assert_security_headers
	# a route with a caching policy of its own keeps it
	exec_code py 'open("/mnt/data/o.txt", "w").write("x")'
	assert_status 200
	api GET "/download/$(jget 'j["session_id"]')/$(jget 'j["files"][0]["id"]')"
	assert_status 200
	assert_equal "$(header Cache-Control)" 'private, max-age=3600'
	assert_security_headers
}
