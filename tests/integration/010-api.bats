#!/usr/bin/env bats
# Every route of the LibreChat Code Interpreter API on a real `kcr serve`:
# the reply shapes LibreChat reads (spec librechat-api.md §4, §7, §10).

load serve_helpers

setup_file() {
	start_server main
}

# ---- POST /exec ------------------------------------------------------------

@test "POST /exec: stdout, session_id and the generated file's reference" {
	exec_code py $'print(6 * 7)\nwith open("out.txt", "w") as f:\n    f.write("hello\\n")'
	assert_status 200
	[[ $(header Content-Type) == application/json* ]] || fail "Content-Type: $(header Content-Type)"
	assert_json_eq 'j["stdout"]' '42'
	assert_json 'j["stdout"] == "42\n"'
	assert_json 'j["stderr"] == ""'
	assert_json 're.fullmatch(r"[A-Za-z0-9_-]{21}", j["session_id"])'
	assert_json 'isinstance(j["files"], list) and len(j["files"]) == 1'
	assert_json_eq 'j["files"][0]["name"]' 'out.txt'
	assert_json 're.fullmatch(r"[A-Za-z0-9_-]{21}", j["files"][0]["id"])'
	assert_json 'j["files"][0]["session_id"] == j["session_id"]'
	assert_json 'j["files"][0]["storage_session_id"] == j["session_id"]'
	# the runner's own source file is never reported
	assert_json 'not any(f["name"].startswith("code.") for f in j["files"])'
}

@test "POST /exec: the generated file downloads with the bytes the program wrote" {
	exec_code py $'with open("bytes.bin", "wb") as f:\n    f.write(bytes(range(256)) * 4)'
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget '[f["id"] for f in j["files"] if f["name"] == "bytes.bin"][0]')
	"$HOST_PYTHON" -c 'import sys; open(sys.argv[1], "wb").write(bytes(range(256)) * 4)' want.bin
	api GET "/download/$sid/$fid"
	assert_status 200
	cmp want.bin "$BODY_FILE" || fail "downloaded bytes differ from what the program wrote"
}

@test "POST /exec: a failing program is still HTTP 200 with its diagnostics in stderr" {
	exec_code py 'import sys; print("before"); sys.exit(3)'
	assert_status 200
	assert_json 'j["stdout"] == "before\n"'
	exec_code py 'def broken(:'
	assert_status 200
	assert_json '"SyntaxError" in j["stderr"]'
}

# ---- POST /upload ----------------------------------------------------------

# LibreChat's sanitizeFilename (and KubeCodeRun's): every character outside
# [A-Za-z0-9.-] becomes '_', one for one; "my file (1).csv" has three such
# characters in a row (" ", "(") and one more (")").
@test "POST /upload: message success, ids, and LibreChat's filename sanitising" {
	printf 'a,b\n1,2\n' >in.csv
	upload_file in.csv 'my file (1).csv'
	assert_status 200
	assert_json_eq 'j["message"]' 'success'
	assert_json 're.fullmatch(r"[A-Za-z0-9_-]{21}", j["session_id"])'
	assert_json 'j["storage_session_id"] == j["session_id"]'
	assert_json 'len(j["files"]) == 1'
	assert_json 're.fullmatch(r"[A-Za-z0-9_-]{21}", j["files"][0]["fileId"])'
	assert_json_eq 'j["files"][0]["filename"]' 'my_file__1_.csv'
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	# stored under the sanitised name, with the uploaded bytes
	api GET "/files/$sid?detail=simple"
	assert_status 200
	assert_json "j == [{'id': '$fid', 'name': 'my_file__1_.csv', 'path': '/mnt/data/my_file__1_.csv'}]"
	api GET "/download/$sid/$fid"
	assert_status 200
	cmp in.csv "$BODY_FILE"
}

@test "POST /upload: a leading dot gets a '_' prefix" {
	echo x >f
	upload_file f '.hidden'
	assert_status 200
	assert_json_eq 'j["files"][0]["filename"]' '_.hidden'
}

@test "POST /upload: a non-ASCII character becomes one '_', like LibreChat's sanitiser" {
	echo x >f
	# 'é' is one character (two UTF-8 bytes): LibreChat's
	# name.replace(/[^a-zA-Z0-9.-]/g, '_') makes it one '_'
	upload_file f 'résumé v2.txt'
	assert_status 200
	assert_json_eq 'j["files"][0]["filename"]' 'r_sum__v2.txt'
}

@test "POST /upload without entity_id: every upload gets a new session" {
	echo one >f
	upload_file f a.txt
	assert_status 200
	local s1
	s1=$(jget 'j["session_id"]')
	upload_file f b.txt
	assert_status 200
	assert_json "j['session_id'] != '$s1'"
}

@test "POST /upload/batch: several files, one session, per-file status" {
	printf 'one\n' >one.txt
	printf 'two\n' >two.txt
	api POST /upload/batch -F "file=@one.txt;filename=one.txt" -F "file=@two.txt;filename=two words.txt"
	assert_status 200
	assert_json_eq 'j["message"]' 'success'
	assert_json 'j["succeeded"] == 2 and j["failed"] == 0'
	assert_json 're.fullmatch(r"[A-Za-z0-9_-]{21}", j["session_id"]) and j["storage_session_id"] == j["session_id"]'
	assert_json 'len(j["files"]) == 2 and all(f["status"] == "success" for f in j["files"])'
	assert_json 'all(re.fullmatch(r"[A-Za-z0-9_-]{21}", f["fileId"]) for f in j["files"])'
	assert_json '[f["filename"] for f in j["files"]] == ["one.txt", "two_words.txt"]'
	local sid f1 f2
	sid=$(jget 'j["session_id"]')
	f1=$(jget 'j["files"][0]["fileId"]')
	f2=$(jget 'j["files"][1]["fileId"]')
	api GET "/files/$sid?detail=simple"
	assert_json "sorted((f['id'], f['name']) for f in j) == sorted([('$f1', 'one.txt'), ('$f2', 'two_words.txt')])"
	api GET "/download/$sid/$f2"
	cmp two.txt "$BODY_FILE"
}

# ---- GET /files ------------------------------------------------------------

upload_two() {
	printf 'x,y\n3,4\n' >data.csv
	api POST /upload -F "file=@data.csv;filename=data.csv" -F "file=@data.csv;filename=copy.csv"
	assert_status 200
	SID=$(jget 'j["session_id"]')
	F1=$(jget 'j["files"][0]["fileId"]')
	F2=$(jget 'j["files"][1]["fileId"]')
}

@test "GET /files/{sid}?detail=summary: name 'sid/fid' and a fresh ISO-8601 lastModified" {
	upload_two
	api GET "/files/$SID?detail=summary"
	assert_status 200
	assert_json 'isinstance(j, list) and len(j) == 2'
	assert_json "sorted(f['name'] for f in j) == sorted(['$SID/$F1', '$SID/$F2'])"
	assert_json 'all(set(f) >= {"name", "lastModified"} for f in j)'
	assert_fresh_iso 'j[0]["lastModified"]' 60
	assert_fresh_iso 'j[1]["lastModified"]' 60
	# LibreChat passes the entity_id it stored along: still the same answer
	api GET "/files/$SID?detail=summary&entity_id=agent_123"
	assert_status 200
	assert_json 'len(j) == 2'
}

@test "GET /files/{sid}?detail=simple: id, name, path" {
	upload_two
	api GET "/files/$SID?detail=simple"
	assert_status 200
	assert_json "sorted(j, key=lambda f: f['name']) == [{'id': '$F2', 'name': 'copy.csv', 'path': '/mnt/data/copy.csv'}, {'id': '$F1', 'name': 'data.csv', 'path': '/mnt/data/data.csv'}]"
}

@test "GET /files/{sid}?detail=full (and no detail): the full records" {
	upload_two
	local size
	size=$(stat -c %s data.csv)
	for q in '?detail=full' ''; do
		api GET "/files/$SID$q"
		assert_status 200
		assert_json 'isinstance(j, list) and len(j) == 2'
		assert_json "all(f['session_id'] == '$SID' for f in j)"
		assert_json "sorted(f['id'] for f in j) == sorted(['$F1', '$F2'])"
		assert_json "all(f['size'] == $size for f in j)"
		# the classic agents fallback derives the id from name 'sid/fid[.ext]'
		# and the display name from metadata.original-filename
		assert_json "all(f['name'].split('/', 1)[0] == '$SID' and f['name'].split('/', 1)[1].split('.')[0] == f['id'] for f in j)"
		assert_json "sorted(f['metadata']['original-filename'] for f in j) == ['copy.csv', 'data.csv']"
		assert_json "all(f['metadata']['content-type'] == 'text/csv' for f in j)"
		assert_json 'all("lastModified" in f for f in j)'
		assert_fresh_iso 'j[0]["lastModified"]' 120
	done
}

@test "GET /files of an unknown session: 200 []" {
	for d in summary simple full; do
		api GET "/files/AAAAAAAAAAAAAAAAAAAAA?detail=$d"
		assert_status 200
		assert_json 'j == []'
	done
}

# ---- GET /download, OPTIONS /download ----------------------------------------

@test "GET /download/{sid}/{fid}: the exact bytes of a binary file, with headers" {
	"$HOST_PYTHON" -c 'import os, sys; open(sys.argv[1], "wb").write(bytes(range(256)) + b"\0\r\n\x1a" + os.urandom(300000))' blob.bin
	upload_file blob.bin 'blob.bin'
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	api GET "/download/$sid/$fid"
	assert_status 200
	cmp blob.bin "$BODY_FILE" || fail "downloaded bytes differ from the upload"
	assert_equal "$(header Content-Disposition)" "attachment; filename=\"blob.bin\"; filename*=UTF-8''blob.bin"
	assert_equal "$(header Cache-Control)" 'private, max-age=3600'
	# no CORS unless server.cors_origins says so
	api GET "/download/$sid/$fid" -H 'Origin: https://evil.example'
	assert_status 200
	assert_equal "$(header Access-Control-Allow-Origin)" ''
}

@test "GET /download: a non-ASCII name is percent-encoded in filename*" {
	echo x >f
	upload_file f 'données.txt'
	assert_status 200
	local sid fid name
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	name=$(jget 'j["files"][0]["filename"]')
	api GET "/download/$sid/$fid"
	assert_status 200
	[[ $(header Content-Disposition) == "attachment; filename=\"$name\"; filename*=UTF-8''"* ]] ||
		fail "Content-Disposition: $(header Content-Disposition)"
}

@test "OPTIONS /download/{sid}/{fid}: 204, no key needed; CORS headers only for configured origins" {
	api --no-key OPTIONS /download/AAAAAAAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBBBBBBB \
		-H 'Origin: https://chat.example' -H 'Access-Control-Request-Method: GET'
	assert_status 204
	assert_equal "$(header Access-Control-Allow-Origin)" ''
	assert_equal "$BODY" ''

	start_server cors KCR_POOL_ENABLED=false KCR_CORS_ORIGINS=https://chat.example
	SRV=cors
	# a preflight from the allowed origin, on any route, with no key
	api --no-key OPTIONS /exec -H 'Origin: https://chat.example' \
		-H 'Access-Control-Request-Method: POST'
	assert_status 204
	assert_equal "$(header Access-Control-Allow-Origin)" 'https://chat.example'
	[[ $(header Access-Control-Allow-Headers) == *X-API-Key* ]]
	# the replies carry it too, errors included
	exec_code py 'print(1)' >/dev/null
	api GET /files/AAAAAAAAAAAAAAAAAAAAA -H 'Origin: https://chat.example'
	assert_equal "$(header Access-Control-Allow-Origin)" 'https://chat.example'
	api --no-key GET /files/AAAAAAAAAAAAAAAAAAAAA -H 'Origin: https://chat.example'
	assert_status 401
	assert_equal "$(header Access-Control-Allow-Origin)" 'https://chat.example'
	# another origin gets none, and no preflight
	api GET /files/AAAAAAAAAAAAAAAAAAAAA -H 'Origin: https://evil.example'
	assert_equal "$(header Access-Control-Allow-Origin)" ''
	api --no-key OPTIONS /exec -H 'Origin: https://evil.example' \
		-H 'Access-Control-Request-Method: POST'
	assert_status 405
}

# ---- DELETE /files/{sid}/{fid} ---------------------------------------------

@test "DELETE /files/{sid}/{fid}: 200, then 404, and gone from listings and downloads" {
	upload_two
	api DELETE "/files/$SID/$F1"
	assert_status 200
	api DELETE "/files/$SID/$F1"
	assert_error_reply 404
	api GET "/download/$SID/$F1"
	assert_error_reply 404
	api GET "/files/$SID?detail=summary"
	assert_json "[f['name'] for f in j] == ['$SID/$F2']"
	api GET "/files/$SID?detail=simple"
	assert_json "[f['id'] for f in j] == ['$F2']"
	# the other file of the session is untouched
	api GET "/download/$SID/$F2"
	assert_status 200
	cmp data.csv "$BODY_FILE"
}

# ---- health and readiness --------------------------------------------------

@test "GET /health and /ready need no key" {
	api --no-key GET /health
	assert_status 200
	assert_json 'j["status"] == "healthy"'
	assert_json 'isinstance(j.get("version"), str) and j["version"] != ""'
	api --no-key GET /ready
	assert_status 200
	assert_json 'j["status"] == "ready"'
	# each store with its backend and the latency of its ping
	assert_json 'set(j["stores"]) == {"sessions", "files"}'
	assert_json 'all(s["ok"] is True and s["backend"] in ("fs", "redis", "s3") and s["latency_ms"] >= 0 for s in j["stores"].values())'
}

@test "unknown route: 404 JSON; wrong method: 405 JSON" {
	api GET /nope
	assert_error_reply 404
	api GET /exec
	assert_error_reply 405
}

# ---- --base-path ---------------------------------------------------------------

@test "--base-path /v1: /v1/health, /v1/exec, /v1/upload, /v1/files and /v1/download" {
	start_server v1 -- --base-path /v1
	SRV=v1
	api --no-key GET /v1/health
	assert_status 200
	assert_json 'j["status"] == "healthy"'
	api POST /v1/exec -H 'Content-Type: application/json' --data-binary '{"lang":"py","code":"print(42)"}'
	assert_status 200
	assert_json 'j["stdout"] == "42\n"'
	echo hi >f
	api POST /v1/upload -F "file=@f;filename=f.txt"
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	api GET "/v1/files/$sid?detail=summary"
	assert_json "[f['name'] for f in j] == ['$sid/$fid']"
	api GET "/v1/download/$sid/$fid"
	assert_status 200
	cmp f "$BODY_FILE"
	# the prefix is a whole path segment
	api --no-key GET /v1x/health
	assert_status 404
}
