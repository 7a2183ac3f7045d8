#!/usr/bin/env bats
# Bad input: every case is a 4xx with the contract's error body (error,
# error_type, request_id, timestamp; spec §4.7), nothing is stored, and
# the server keeps serving.

load serve_helpers

setup_file() {
	start_server main
	start_server limits KCR_CODE_BYTES=1024 KCR_FILES_PER_UPLOAD=2 KCR_FILE_SIZE_MB=1
	start_server smallbody KCR_MAX_BODY_MB=1
}

A21=AAAAAAAAAAAAAAAAAAAAA
B21=BBBBBBBBBBBBBBBBBBBBB

bad_exec() { # BODY STATUS|4xx [ERROR-REGEX]
	exec_json "$1"
	assert_error_reply "$2" "${3:-}"
	assert_json 'j["error_type"] == "validation"'
}

# a real uploaded file, so a test can break exactly one thing about a reference
real_file() {
	echo 'hello' >in.txt
	upload_file in.txt in.txt
	assert_status 200
	SID=$(jget 'j["session_id"]')
	FID=$(jget 'j["files"][0]["fileId"]')
}

# ---- /exec bodies ----------------------------------------------------------

@test "malformed JSON: 400" {
	bad_exec '{"lang": "py", "code": "print(1)"' 400
}

@test "a JSON array as the body: 4xx" {
	bad_exec '[{"lang": "py", "code": "print(1)"}]' 4xx
}

@test "lang missing: 4xx" {
	bad_exec '{"code": "print(1)"}' 4xx 'lang'
}

@test "lang is a number: 4xx" {
	bad_exec '{"lang": 3, "code": "print(1)"}' 4xx 'lang'
}

@test "code missing: 4xx" {
	bad_exec '{"lang": "py"}' 4xx 'code'
}

@test "code is a number: 4xx" {
	bad_exec '{"lang": "py", "code": 42}' 4xx 'code'
}

@test "unknown lang: 400 naming it" {
	bad_exec '{"lang": "cobol", "code": "DISPLAY 1"}' 400 'cobol'
	assert_json 'any(d.get("field", "").endswith("lang") for d in j.get("details", []))'
}

@test "empty code: 400" {
	bad_exec '{"lang": "py", "code": ""}' 400
}

@test "whitespace-only code: 400" {
	bad_exec '{"lang": "py", "code": "  \n\t \n"}' 400
}

@test "files is not an array: 4xx" {
	bad_exec '{"lang": "py", "code": "print(1)", "files": "data.csv"}' 4xx 'files'
	bad_exec '{"lang": "py", "code": "print(1)", "files": {"id": "x"}}' 4xx 'files'
}

@test "a file reference without id: 4xx" {
	real_file
	bad_exec "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"session_id\": \"$SID\", \"name\": \"in.txt\"}]}" 4xx
}

@test "a bad session id in files[]: 400" {
	real_file
	bad_exec "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"id\": \"$FID\", \"session_id\": \"../../etc\", \"name\": \"in.txt\"}]}" 400
	bad_exec "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"id\": \"$FID\", \"session_id\": \"${SID}x\", \"name\": \"in.txt\"}]}" 400
	bad_exec "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"id\": \"$FID\", \"session_id\": \"${SID:0:20}.\", \"name\": \"in.txt\"}]}" 400
}

@test "a bad session_id in the body: 400" {
	bad_exec '{"lang": "py", "code": "print(1)", "session_id": "short"}' 400
	bad_exec '{"lang": "py", "code": "print(1)", "session_id": "../../../../etc/passwd"}' 400
	bad_exec '{"lang": "py", "code": "print(1)", "session_id": "AAAAAAAAAA/AAAAAAAAAA"}' 400
}

@test "a referenced file that does not exist: 404" {
	exec_json "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"id\": \"$B21\", \"session_id\": \"$A21\", \"name\": \"x.txt\"}]}"
	assert_error_reply 404
}

@test "NUL in files[].name (JSON \\u0000): 400" {
	real_file
	bad_exec "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"id\": \"$FID\", \"session_id\": \"$SID\", \"name\": \"a\\u0000b\"}]}" 400
}

@test "a 300-character files[].name: 400" {
	real_file
	local long
	long=$(printf 'n%.0s' $(seq 1 296)).txt
	bad_exec "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"id\": \"$FID\", \"session_id\": \"$SID\", \"name\": \"$long\"}]}" 400
}

@test "files[].name that is a path: 400" {
	real_file
	bad_exec "{\"lang\": \"py\", \"code\": \"print(1)\", \"files\": [{\"id\": \"$FID\", \"session_id\": \"$SID\", \"name\": \"../../x\"}]}" 400
}

@test "a body over server.max_body_mb (1 MiB): 413" {
	SRV=smallbody
	"$HOST_PYTHON" -c 'import json, sys; open(sys.argv[1], "w").write(json.dumps({"lang": "py", "code": "#" + "x" * (2 << 20) + "\nprint(1)"}))' big.json
	api POST /exec -H 'Content-Type: application/json' --data-binary @big.json
	assert_error_reply 413
	# an upload that big is refused the same way and stores nothing
	head -c $((2 << 20)) /dev/zero >big.bin
	api POST /upload -F "file=@big.bin;filename=big.bin"
	assert_error_reply 413
	assert_equal "$(count_stored smallbody)" 0
}

@test "code over limits.code_bytes: 413" {
	SRV=limits
	local code
	code="print(1)$(printf '#%.0s' $(seq 1 2000))"
	exec_code py "$code"
	assert_error_reply 413
	# just under the limit is fine
	exec_code py "print(1)$(printf '#%.0s' $(seq 1 900))"
	assert_status 200
	assert_json 'j["stdout"] == "1\n"'
}

# ---- paths and ids ------------------------------------------------------------

@test "path traversal in /download ids: 4xx, no host file served" {
	real_file
	local p
	for p in /download/../../etc/passwd /download/%2e%2e/%2e%2e/etc/passwd \
		/download/%2e%2e/passwd "/download/$SID/..%2f..%2f..%2fetc%2fpasswd" \
		"/download/$SID/%2e%2e" "/download/..%2F..%2Fetc/passwd" \
		"/download/$SID/$FID%2f..%2f..%2f..%2fetc%2fpasswd"; do
		api GET "$p"
		[[ $HTTP_STATUS =~ ^4 ]] || {
			_show_reply
			fail "GET $p: expected 4xx, got $HTTP_STATUS"
		}
		[[ $BODY != *root:* ]] || fail "GET $p served /etc/passwd"
		assert_json 'isinstance(j, dict) and "error" in j'
	done
}

@test "path traversal in DELETE /files ids: 4xx, nothing deleted" {
	real_file
	local p before
	before=$(count_stored)
	for p in "/files/%2e%2e/%2e%2e" "/files/$SID/%2e%2e" "/files/%2e%2e/$FID" \
		"/files/$SID/..%2f$FID" "/files/../sessions/$SID" "/files/..%2f..%2fsessions/$SID"; do
		api DELETE "$p"
		[[ $HTTP_STATUS =~ ^4 ]] || {
			_show_reply
			fail "DELETE $p: expected 4xx, got $HTTP_STATUS"
		}
	done
	assert_equal "$(count_stored)" "$before"
	api GET "/download/$SID/$FID"
	assert_status 200
	cmp in.txt "$BODY_FILE"
}

@test "path traversal in GET /files: 4xx or an empty list" {
	for p in '/files/%2e%2e?detail=full' '/files/..%2f..%2fetc?detail=simple'; do
		api GET "$p"
		if [ "$HTTP_STATUS" = 200 ]; then
			assert_json 'j == []'
		else
			[[ $HTTP_STATUS =~ ^4 ]] || fail "GET $p: got $HTTP_STATUS"
			assert_json '"error" in j'
		fi
	done
}

@test "ids of the wrong length in download/delete: 4xx with the error body" {
	real_file
	local p
	for p in "/download/${SID:0:20}/$FID" "/download/${SID}A/$FID" "/download/$SID/${FID:0:20}" \
		"/download/$SID/${FID}A" "/download/$SID/$(printf 'A%.0s' $(seq 1 300))"; do
		api GET "$p"
		assert_error_reply 4xx
		[[ $HTTP_STATUS =~ ^40[04]$ ]] || fail "GET $p: expected 400 or 404, got $HTTP_STATUS"
	done
	api DELETE "/files/${SID:0:20}/$FID"
	assert_error_reply 4xx
	api DELETE "/files/$SID/${FID}AA"
	assert_error_reply 4xx
	api GET "/download/$SID/$FID"
	assert_status 200
}

@test "unknown session or file in /download: 404" {
	real_file
	api GET "/download/$A21/$B21"
	assert_error_reply 404
	api GET "/download/$SID/$B21"
	assert_error_reply 404
	# a file id is only valid in its own session
	api GET "/download/$A21/$FID"
	assert_error_reply 404
}

# ---- uploads ---------------------------------------------------------------

@test "upload without a file part (only entity_id): 422, nothing stored" {
	local before
	before=$(count_stored)
	api POST /upload -F entity_id=agent_nofile
	assert_error_reply 422
	api POST /upload/batch -F entity_id=agent_nofile
	assert_error_reply 422
	assert_equal "$(count_stored)" "$before"
}

@test "upload with NUL in the file name: 400" {
	local before
	before=$(count_stored)
	echo x >f
	# curl cannot put a NUL in filename=: write the multipart body by hand
	"$HOST_PYTHON" -c '
import sys
b = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x00b.txt\"\r\nContent-Type: text/plain\r\n\r\nx\n\r\n--XyZ--\r\n"
open(sys.argv[1], "wb").write(b)' body.bin
	api POST /upload -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary @body.bin
	assert_error_reply 4xx
	assert_equal "$(count_stored)" "$before"
}

@test "upload with a 300-character file name: 4xx, nothing stored" {
	local before long
	before=$(count_stored)
	long=$(printf 'n%.0s' $(seq 1 296)).txt
	echo x >f
	api POST /upload -F "file=@f;filename=$long" -F entity_id=agent_longname
	assert_error_reply 4xx
	assert_equal "$(count_stored)" "$before"
}

@test "more files than limits.files_per_upload: 413 and NOTHING stored" {
	SRV=limits
	echo one >f1
	echo two >f2
	echo three >f3
	# the entity's session exists, with one file
	api POST /upload -F entity_id=agent_many -F "file=@f1;filename=first.txt"
	assert_status 200
	local sid before
	sid=$(jget 'j["session_id"]')
	before=$(count_stored limits)
	api POST /upload -F entity_id=agent_many -F "file=@f1;filename=a.txt" \
		-F "file=@f2;filename=b.txt" -F "file=@f3;filename=c.txt"
	assert_error_reply 413
	api POST /upload/batch -F entity_id=agent_many -F "file=@f1;filename=a.txt" \
		-F "file=@f2;filename=b.txt" -F "file=@f3;filename=c.txt"
	assert_error_reply 413
	assert_equal "$(count_stored limits)" "$before"
	api GET "/files/$sid?detail=simple"
	assert_status 200
	assert_json '[f["name"] for f in j] == ["first.txt"]'
	# exactly the limit is fine
	api POST /upload -F "file=@f1;filename=a.txt" -F "file=@f2;filename=b.txt"
	assert_status 200
	assert_json 'len(j["files"]) == 2'
}

@test "a file over limits.file_size_mb (1 MiB): 413 and nothing stored" {
	SRV=limits
	local before
	echo small >small.txt
	head -c $((3 << 19)) /dev/urandom >big.bin # 1.5 MiB
	before=$(count_stored limits)
	api POST /upload -F entity_id=agent_big -F "file=@big.bin;filename=big.bin"
	assert_error_reply 413
	# all or nothing: the small file next to it is not stored either
	api POST /upload -F "file=@small.txt;filename=small.txt" -F "file=@big.bin;filename=big.bin"
	assert_error_reply 413
	api POST /upload/batch -F "file=@small.txt;filename=small.txt" -F "file=@big.bin;filename=big.bin"
	assert_error_reply 413
	assert_equal "$(count_stored limits)" "$before"
	# the entity got no session out of it
	api POST /upload -F entity_id=agent_big -F "file=@small.txt;filename=small.txt"
	assert_status 200
	local sid
	sid=$(jget 'j["session_id"]')
	api GET "/files/$sid?detail=simple"
	assert_json '[f["name"] for f in j] == ["small.txt"]'
}

@test "a program writing a file over limits.file_size_mb: 200, and no output over the limit is kept" {
	SRV=limits
	exec_code py $'with open("huge.bin", "wb") as f:\n    f.write(b"x" * (2 << 20))'
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget '([f["id"] for f in j["files"] if f["name"] == "huge.bin"] + [""])[0]')
	if [ -n "$fid" ]; then
		api GET "/download/$sid/$fid"
		assert_status 200
		[ "$(stat -c %s "$BODY_FILE")" -le $((1 << 20)) ] || fail "a 2 MiB output was stored past the 1 MiB limit"
	fi
}

@test "a program's hostile output file name (quote, CR LF) cannot inject download headers" {
	exec_code py $'open("a\\"\\r\\nX-Evil: 1\\r\\n.txt", "w").write("a")'
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["id"]')
	api GET "/download/$sid/$fid"
	assert_status 200
	[ -z "$(header X-Evil)" ] || fail "the file name injected a header: $(cat "$HDR_FILE")"
	[[ $(header Content-Disposition) == 'attachment; filename="'*'"; filename*=UTF-8'"''"* ]] ||
		fail "Content-Disposition: $(header Content-Disposition)"
	assert_equal "$(cat "$BODY_FILE")" a
}

# ---- after all that ------------------------------------------------------

@test "after the bad input every server still answers /health and a good /exec" {
	for SRV in main limits smallbody; do
		api --no-key GET /health
		assert_status 200
		exec_code py 'print(6 * 7)'
		assert_status 200
		assert_json 'j["stdout"] == "42\n"'
	done
}
