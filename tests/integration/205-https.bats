#!/usr/bin/env bats
# HTTPS in kcr serve (issue 13): libmicrohttpd's TLS with a test CA, the
# minimum TLS version, a certificate swapped by SIGHUP while a request is
# in flight, a bad certificate refused at start and at reload, KubeCodeRun's
# ENABLE_HTTPS/SSL_CERT_FILE/SSL_KEY_FILE, and the HTTP→HTTPS redirect.
# shellcheck disable=SC2154 # status, output: set by run
# shellcheck disable=SC2034 # SRV: read by serve_helpers' api

load serve_helpers

bats_require_minimum_version 1.5.0

# A CA and two server certificates it signs (CN server-a, server-b), for
# 127.0.0.1 and localhost.
make_pki() {
	local dir=$1 n
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 -subj /CN=kcr-test-ca 2>/dev/null
	for n in a b; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/$n.key" -out "$dir/$n.csr" -subj "/CN=server-$n" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/ext"
		openssl x509 -req -in "$dir/$n.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
			-CAcreateserial -days 1 -extfile "$dir/ext" -out "$dir/$n.pem" 2>/dev/null
	done
	[ -s "$dir/a.pem" ] && [ -s "$dir/b.pem" ]
}

setup_file() {
	PKI=$BATS_FILE_TMPDIR/pki
	export PKI
	make_pki "$PKI"
	# the files the server is configured with; tests swap their contents
	cp "$PKI/a.pem" "$PKI/cur.pem"
	cp "$PKI/a.key" "$PKI/cur.key"
	start_server main --ca "$PKI/ca.pem" KCR_TLS_ENABLED=true KCR_LOG_LEVEL=info \
		KCR_TLS_CERT_FILE="$PKI/cur.pem" KCR_TLS_KEY_FILE="$PKI/cur.key"
}

# The CN of the certificate a new connection to the server gets.
served_cn() {
	openssl s_client -connect "127.0.0.1:$(srv_port "${1:-main}")" -servername localhost \
		-CAfile "$PKI/ca.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}

@test "HTTPS: /health and /exec over TLS with the test CA, HSTS on every reply" {
	api --no-key GET /health
	assert_status 200
	[[ $(header Strict-Transport-Security) == max-age=31536000 ]]
	exec_code py 'print(6 * 7)'
	assert_status 200
	assert_json_eq 'j["stdout"]' 42
	[[ $(header Strict-Transport-Security) == max-age=31536000 ]]
	[ "$(served_cn)" = server-a ]
}

@test "HTTPS: an untrusted client refuses it, and plain HTTP to the port gets no reply" {
	run curl -sS --max-time 10 "$(srv_url)/health"
	[ "$status" -ne 0 ]
	[[ $output == *certificate* ]]
	run curl -sS --max-time 10 "http://127.0.0.1:$(srv_port)/health"
	[ "$status" -ne 0 ]
	# and the server still serves
	api --no-key GET /health
	assert_status 200
}

@test "HTTPS: TLS 1.2 by default; server.tls.min_version=1.3 refuses a 1.2-only client" {
	run curl -sS --max-time 10 --cacert "$PKI/ca.pem" --tls-max 1.2 \
		-o /dev/null -w '%{http_code}' "$(srv_url)/health"
	[ "$status" -eq 0 ] && [ "$output" = 200 ]
	start_server v13 --ca "$PKI/ca.pem" KCR_TLS_ENABLED=true KCR_TLS_MIN_VERSION=1.3 \
		KCR_TLS_CERT_FILE="$PKI/a.pem" KCR_TLS_KEY_FILE="$PKI/a.key"
	run curl -sS --max-time 10 --cacert "$PKI/ca.pem" --tls-max 1.2 "$(srv_url v13)/health"
	[ "$status" -ne 0 ]
	run curl -sS --max-time 10 --cacert "$PKI/ca.pem" --tlsv1.3 \
		-o /dev/null -w '%{http_code}' "$(srv_url v13)/health"
	[ "$status" -eq 0 ] && [ "$output" = 200 ]
}

@test "HTTPS: KubeCodeRun's ENABLE_HTTPS, SSL_CERT_FILE and SSL_KEY_FILE" {
	start_server kcrnames --ca "$PKI/ca.pem" ENABLE_HTTPS=true \
		SSL_CERT_FILE="$PKI/b.pem" SSL_KEY_FILE="$PKI/b.key"
	SRV=kcrnames
	api --no-key GET /health
	assert_status 200
	[ "$(served_cn kcrnames)" = server-b ]
}

@test "HTTPS: SIGHUP swaps the certificate; a request in flight finishes on the old one" {
	local out=$BATS_TEST_TMPDIR/inflight pid cn i
	pid=$(srv_pid)
	[ "$(served_cn)" = server-a ]
	# an execution of 3 s, started on a connection made with certificate a
	curl -sS --max-time 60 --cacert "$PKI/ca.pem" -H "X-API-Key: $(srv_key)" \
		-H 'Content-Type: application/json' -o "$out.body" -w '%{http_code}' \
		-d '{"lang":"bash","code":"sleep 3.01; echo done"}' "$(srv_url)/exec" >"$out.code" &
	local client=$!
	for i in $(seq 1 100); do # until the execution runs
		pgrep -f '^sleep 3.01$' >/dev/null && break
		sleep 0.05
	done
	cp "$PKI/b.pem" "$PKI/cur.pem"
	cp "$PKI/b.key" "$PKI/cur.key"
	kill -HUP "$pid"
	for i in $(seq 1 100); do
		cn=$(served_cn)
		[ "$cn" = server-b ] && break
		sleep 0.05
	done
	[ "$cn" = server-b ]
	wait "$client"
	[ "$(cat "$out.code")" = 200 ]
	grep -q '"stdout":"done\\n"' "$out.body"
	grep -q 'HTTPS certificate reloaded: .*CN *= *server-b' "$(srv_dir)/stderr"
	# and the next requests are served as ever
	exec_code py 'print(1)'
	assert_status 200
}

@test "HTTPS: a bad certificate at reload is refused, naming it; the old one stays" {
	local pid
	pid=$(srv_pid)
	cp "$PKI/a.pem" "$PKI/cur.pem"
	cp "$PKI/a.key" "$PKI/cur.key"
	kill -HUP "$pid"
	for i in $(seq 1 100); do
		[ "$(served_cn)" = server-a ] && break
		sleep 0.05
	done
	[ "$(served_cn)" = server-a ]
	# a key that is not the certificate's
	cp "$PKI/b.key" "$PKI/cur.key"
	kill -HUP "$pid"
	for i in $(seq 1 100); do
		grep -q 'not reloaded' "$(srv_dir)/stderr" && break
		sleep 0.05
	done
	grep -q "HTTPS certificate not reloaded, keeping the old one: server.tls.key_file $PKI/cur.key is not the key of the certificate" "$(srv_dir)/stderr"
	[ "$(served_cn)" = server-a ]
	api --no-key GET /health
	assert_status 200
	cp "$PKI/a.key" "$PKI/cur.key"
}

@test "HTTPS: a server with a bad TLS setting does not start, and says why in one line" {
	local st=$BATS_TEST_TMPDIR/st
	mkdir -p "$st"
	serve() { env -u SSL_CERT_FILE KCR_STATE_DIR="$st" KCR_POOL_ENABLED=false "$KCR" "$@" serve --listen 127.0.0.1:0; }
	run -2 serve --set server.tls.enabled=true
	[ "$output" = "kcr: server.tls.enabled needs server.tls.cert_file (SSL_CERT_FILE)" ]
	run -2 serve --set server.tls.enabled=true --set server.tls.cert_file="$PKI/a.pem" \
		--set server.tls.key_file="$PKI/b.key"
	[ "$output" = "kcr: server.tls.key_file $PKI/b.key is not the key of the certificate in $PKI/a.pem" ]
	run -2 serve --set server.tls.enabled=true --set server.tls.cert_file="$PKI/a.key" \
		--set server.tls.key_file="$PKI/a.key"
	[[ $output == "kcr: server.tls.cert_file $PKI/a.key: not a PEM certificate"* ]]
	run -2 serve --set server.tls.enabled=true --set server.tls.cert_file="$PKI/a.pem" \
		--set server.tls.key_file="$PKI/a.key" --set server.tls.min_version=1.1
	[ "$output" = "kcr: server.tls.min_version '1.1': expected 1.2 or 1.3" ]
	run -125 serve --set server.tls.enabled=true --set server.tls.cert_file=/nonexistent.pem \
		--set server.tls.key_file="$PKI/a.key"
	[[ $output == "kcr: server.tls.cert_file: cannot open '/nonexistent.pem'"* ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "HTTPS: server.tls.redirect_listen sends plain HTTP to HTTPS (308), path and query kept" {
	local rport
	rport=$(free_port)
	start_server redir --ca "$PKI/ca.pem" KCR_TLS_ENABLED=true \
		KCR_TLS_CERT_FILE="$PKI/a.pem" KCR_TLS_KEY_FILE="$PKI/a.key" \
		KCR_TLS_REDIRECT_LISTEN="127.0.0.1:$rport"
	run curl -sS -o /dev/null -D - "http://127.0.0.1:$rport/files/abc?detail=full"
	[ "$status" -eq 0 ]
	[[ $output == *"HTTP/1.1 308"* ]]
	[[ $output == *"Location: https://127.0.0.1:$(srv_port redir)/files/abc?detail=full"* ]]
	run curl -sS -o /dev/null -D - -H 'Host: localhost:80' "http://127.0.0.1:$rport/health"
	[[ $output == *"Location: https://localhost:$(srv_port redir)/health"* ]]
	# a client following it: a POST stays a POST, with its body
	run curl -sS -L --cacert "$PKI/ca.pem" -H "X-API-Key: $(srv_key redir)" \
		-H 'Content-Type: application/json' -d '{"lang":"py","code":"print(7)"}' \
		"http://localhost:$rport/exec"
	[ "$status" -eq 0 ]
	[[ $output == *'"stdout":"7\n"'* ]]
	# a Host made to point elsewhere, and a proxy's absolute target: 400
	run curl -sS -o /dev/null -w '%{http_code}' -H 'Host: user@evil.example' \
		"http://127.0.0.1:$rport/health"
	[ "$output" = 400 ]
	run curl -sS -o /dev/null -w '%{http_code}' --request-target 'http://evil.example/x' \
		"http://127.0.0.1:$rport/"
	[ "$output" = 400 ]
}

@test "HTTPS: the kcr CLI talks to it with client.ca_file, and refuses it without" {
	cp "$PKI/a.pem" "$PKI/cur.pem"
	cp "$PKI/a.key" "$PKI/cur.key"
	run --separate-stderr env KCR_SERVER="$(srv_url)" KCR_API_KEY="$(srv_key)" \
		KCR_CA_FILE="$PKI/ca.pem" "$KCR" exec -l py -c 'print(40 + 2)'
	[ "$status" -eq 0 ]
	[ "$output" = 42 ]
	run -125 --separate-stderr env KCR_SERVER="$(srv_url)" KCR_API_KEY="$(srv_key)" \
		"$KCR" exec -l py -c 'print(1)'
	[ "$output" = '' ]
	[[ $stderr == "kcr: cannot reach kcr server at $(srv_url): SSL certificate problem"* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
}
