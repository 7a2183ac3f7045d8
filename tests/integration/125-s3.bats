#!/usr/bin/env bats
# kcr serve with store.files: s3, against an s3rver of its own: uploads,
# outputs and downloads go through the bucket (byte for byte, a large
# file streamed both ways), deleting a file deletes its object, and an S3
# that stops answering is a 503 naming the file store (never a missing
# file) until it is back.
# shellcheck disable=SC2154 # status: set by run

load serve_helpers

bats_require_minimum_version 1.5.0

S3RVER=/usr/bin/s3rver

start_s3rver() { # [PORT]
	local d=$BATS_FILE_TMPDIR/s3rver i
	mkdir -p "$d/data"
	: >"$d/log"
	node "$S3RVER" -s -d "$d/data" -a 127.0.0.1 -p "${1:-0}" >"$d/log" 2>&1 3>&- </dev/null &
	echo $! >"$d/pid"
	for i in $(seq 1 200); do
		if grep -q 'S3rver listening on' "$d/log"; then
			sed -n 's/.*S3rver listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$d/log" >"$d/port"
			return 0
		fi
		sleep 0.05
	done
	cat "$d/log" >&2
	return 1
}

stop_s3rver() {
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/s3rver/pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

setup_file() {
	[ -e "$S3RVER" ] || skip "s3rver is not installed (scripts/install-deps.sh)"
	start_s3rver
	start_server main KCR_FILE_STORE=s3 \
		"KCR_S3_ENDPOINT=http://127.0.0.1:$(cat "$BATS_FILE_TMPDIR/s3rver/port")" \
		KCR_S3_ACCESS_KEY=S3RVER KCR_S3_SECRET_KEY=S3RVER KCR_S3_BUCKET=kcr-e2e \
		KCR_S3_CREATE_BUCKET=true KCR_S3_PREFIX=files/ KCR_S3_TIMEOUT_MS=1000 KCR_S3_RETRIES=1
}

teardown_file() {
	serve_teardown_file
	stop_s3rver
}

objects() {
	find "$BATS_FILE_TMPDIR/s3rver/data/kcr-e2e" -type f -name '*._S3rver_object' 2>/dev/null | wc -l
}

@test "s3: an upload is stored in the bucket and downloads byte for byte; deleting it deletes the object" {
	local sid fid n
	head -c 3000000 /dev/urandom >big.bin
	n=$(objects)
	upload_file big.bin big.bin
	assert_status 200
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	[ "$(objects)" -eq $((n + 1)) ] || fail "no object in the bucket"
	api GET "/download/$sid/$fid"
	assert_status 200
	cmp big.bin "$BODY_FILE" || fail "the download differs from the upload"
	api DELETE "/files/$sid/$fid"
	[ "$(objects)" -eq "$n" ] || fail "the object is still in the bucket"
	api GET "/download/$sid/$fid"
	assert_status 404
}

@test "s3: a program's output file goes to the bucket and downloads" {
	local sid fid
	exec_code bash 'head -c 100000 /dev/zero | tr "\0" x >out.txt'
	assert_status 200
	sid=$(jget 'j["session_id"]')
	fid=$(jget '[f["id"] for f in j["files"] if f["name"] == "out.txt"][0]')
	api GET "/download/$sid/$fid"
	assert_status 200
	[ "$(wc -c <"$BODY_FILE")" -eq 100000 ] || fail "wrong size"
}

@test "s3: S3 down is 503 naming the file store, not a missing file; back, it works again" {
	local sid fid port
	echo hello >f.txt
	upload_file f.txt f.txt
	assert_status 200
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	port=$(cat "$BATS_FILE_TMPDIR/s3rver/port")
	stop_s3rver
	api GET "/download/$sid/$fid"
	assert_error_reply 503 '^file store s3: '
	api --no-key GET /ready
	assert_status 503
	assert_json_eq 'j["store"]' files
	assert_json '"://" not in j["error"]'
	start_s3rver "$port"
	api --no-key GET /ready
	assert_status 200
	api GET "/download/$sid/$fid"
	assert_status 200
	[ "$(cat "$BODY_FILE")" = hello ] || fail "wrong bytes"
}
