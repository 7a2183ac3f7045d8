#!/usr/bin/env bats
# Tenancy (DESIGN.md §5, kcr-serve(1) "TENANTS"): a session belongs to the
# tenant whose key (or trusted network) made it, and another tenant gets
# what an unknown id gets on every route; within a tenant the working
# session of an execution (its outputs, its Python state) is per
# (entity_id, user_id); an agent's uploads stay readable through files[]
# by every user of the tenant. Two keys, A and B, on one real kcr serve.

load serve_helpers

# The server "main": key A (srv_key) and key B, and an admin key.
setup_file() {
	local a
	a=$(random_key)
	KEY_B=$(random_key)
	ADMIN_KEY=$(random_key)
	export KEY_B ADMIN_KEY
	start_server main --key "$a" KCR_API_KEYS="$a,$KEY_B" KCR_ADMIN_KEY="$ADMIN_KEY" \
		KCR_POOL_PY=1 KCR_POOL_JS=0
}

as_b() { AS_KEY=$KEY_B "$@"; }

# py_exec JSON-MEMBERS CODE: a Python run with those members (session,
# entity, user) as the current key
py_exec() {
	exec_code py "$2" "$1"
	assert_status 200
}

# A's session with an uploaded file, an output and Python state.
make_victim() {
	printf 'secret of A\n' >secret.txt
	upload_file secret.txt secret.txt
	assert_status 200
	V_UP_SID=$(jget 'j["session_id"]')
	V_UP_FID=$(jget 'j["files"][0]["fileId"]')
	py_exec '"user_id":"alice"' $'treasure = "gold"\nopen("out.txt", "w").write("A out")'
	V_SID=$(jget 'j["session_id"]')
	V_OUT=$(jget 'j["files"][0]["id"]')
	assert_json 'j["has_state"] is True'
}

@test "another key's session, files and state answer exactly as unknown ones do" {
	make_victim
	local nobody=AAAAAAAAAAAAAAAAAAAAA

	# GET /files: an empty list, as for an unknown session
	as_b api GET "/files/$V_SID"
	assert_status 200
	assert_json 'j == []'
	as_b api GET "/files/$V_UP_SID?detail=summary"
	assert_json 'j == []'
	# download and delete: 404 as for an unknown id
	for sid_fid in "$V_SID/$V_OUT" "$V_UP_SID/$V_UP_FID"; do
		as_b api GET "/download/$sid_fid"
		assert_error_reply 404
		local theirs=$(jget 'j["error_type"]')
		as_b api GET "/download/$nobody/${sid_fid#*/}"
		assert_error_reply 404
		assert_json_eq 'j["error_type"]' "$theirs"
		as_b api DELETE "/files/$sid_fid"
		assert_error_reply 404
	done
	# the state: not found, not writable, not deletable
	as_b api GET "/state/$V_SID"
	assert_status 404
	assert_json_eq 'j["error"]' state_not_found
	as_b api GET "/state/$V_SID/info"
	assert_status 200
	assert_json 'j["exists"] is False'
	printf '\x02junk' >evil.bin
	as_b api POST "/state/$V_SID" -H 'Content-Type: application/octet-stream' \
		--data-binary @evil.bin
	assert_status 404
	assert_json_eq 'j["error"]' session_not_found
	as_b api DELETE "/state/$V_SID"
	assert_status 204
	# an upload into A's session
	as_b upload_file secret.txt evil.txt -F "session_id=$V_SID"
	assert_error_reply 404
	# /exec naming A's session runs elsewhere, without A's globals
	as_b py_exec "\"session_id\":\"$V_SID\"" 'print("treasure" in globals())'
	assert_json_eq 'j["stdout"]' 'False'
	assert_json "j['session_id'] != '$V_SID'"
	# /exec with A's file: 404, as for a file that does not exist
	as_b exec_code py 'print(open("secret.txt").read())' \
		"\"files\":[{\"id\":\"$V_UP_FID\",\"session_id\":\"$V_UP_SID\",\"name\":\"secret.txt\"}]"
	assert_error_reply 404

	# A lost nothing and sees it all
	api GET "/download/$V_UP_SID/$V_UP_FID"
	assert_status 200
	[ "$BODY" = "secret of A" ]
	api GET "/download/$V_SID/$V_OUT"
	assert_status 200
	py_exec "\"session_id\":\"$V_SID\",\"user_id\":\"alice\"" 'print(treasure)'
	assert_json_eq 'j["stdout"]' 'gold'
}

@test "two users of one agent never share globals or a working session" {
	py_exec '"entity_id":"agent-1","user_id":"alice"' 'x = "alice"'
	local s_alice=$(jget 'j["session_id"]')
	py_exec '"entity_id":"agent-1","user_id":"bob"' 'print(globals().get("x"))'
	assert_json_eq 'j["stdout"]' 'None'
	local s_bob=$(jget 'j["session_id"]')
	[ "$s_alice" != "$s_bob" ] || fail "alice and bob share $s_alice"
	py_exec '"entity_id":"agent-1","user_id":"alice"' 'print(x)'
	assert_json_eq 'j["stdout"]' 'alice'
	assert_json_eq 'j["session_id"]' "$s_alice"
	# bob naming alice's session still works in his own
	py_exec "\"session_id\":\"$s_alice\",\"entity_id\":\"agent-1\",\"user_id\":\"bob\"" \
		'print(globals().get("x"))'
	assert_json_eq 'j["stdout"]' 'None'
	assert_json "j['session_id'] != '$s_alice'"
	# the same agent id under another key is another tenant's
	as_b py_exec '"entity_id":"agent-1","user_id":"alice"' 'print(globals().get("x"))'
	assert_json_eq 'j["stdout"]' 'None'
	assert_json "j['session_id'] != '$s_alice'"
}

@test "an agent's upload is read by every user of the tenant, copied, never worked in" {
	printf 'agent data\n' >data.txt
	upload_file data.txt data.txt -F entity_id=agent-2
	assert_status 200
	local up=$(jget 'j["session_id"]') fid=$(jget 'j["files"][0]["fileId"]')
	local ref="\"files\":[{\"id\":\"$fid\",\"session_id\":\"$up\",\"name\":\"data.txt\"}]"
	for user in carol dave; do
		exec_code py $'print(open("data.txt").read(), end="")\nmine = 1\nopen("o.txt","w").write("x")' \
			"$ref,\"entity_id\":\"agent-2\",\"user_id\":\"$user\""
		assert_status 200
		assert_json_eq 'j["stdout"]' 'agent data'
		assert_json "j['session_id'] != '$up'"
	done
	# the upload session has only the upload: no outputs, no state
	api GET "/files/$up?detail=simple"
	assert_json 'sorted(f["name"] for f in j) == ["data.txt"]'
	api GET "/state/$up"
	assert_status 404
	# another tenant cannot read it
	as_b exec_code py 'print(1)' "$ref"
	assert_error_reply 404
}

@test "a trusted network is a tenant of its own" {
	local a
	a=$(random_key)
	start_server trust --key "$a" KCR_TRUSTED_NETWORKS=127.0.0.0/8 KCR_POOL_ENABLED=false
	SRV=trust
	printf 'net file\n' >n.txt
	api --no-key POST /upload -F 'file=@n.txt;filename=n.txt'
	assert_status 200
	local sid=$(jget 'j["session_id"]') fid=$(jget 'j["files"][0]["fileId"]')
	api --no-key GET "/download/$sid/$fid"
	assert_status 200
	# a key is another tenant, even from the trusted network
	api GET "/download/$sid/$fid"
	assert_error_reply 404
	api GET "/files/$sid"
	assert_json 'j == []'
}

@test "pool resizing needs the admin key; an API key gets 403" {
	api POST /pool/warmup -H 'Content-Type: application/json' -d '{"languages":["py"],"size":1024}'
	assert_error_reply 403 'admin key'
	as_b api POST /pool/warmup -H 'Content-Type: application/json' -d '{"languages":["py"],"size":1024}'
	assert_error_reply 403
	api GET /pool
	assert_status 200
	assert_json 'all(p["target"] < 1024 for p in j["pools"])'
	AS_KEY=$ADMIN_KEY api POST /pool/warmup -H 'Content-Type: application/json' \
		-d '{"languages":["py"],"size":1}'
	[[ $HTTP_STATUS == 20[02] ]] || fail "admin warmup: $HTTP_STATUS $BODY"
	# no admin key configured: nobody resizes
	start_server noadmin KCR_POOL_ENABLED=false
	SRV=noadmin api POST /pool/warmup -d '{}'
	assert_error_reply 403
}

@test "unknown ids are not malformed: /files gives [], /download 404; bad characters 400" {
	api GET /files/short-id
	assert_status 200
	assert_json 'j == []'
	api GET /files/AAAAAAAAAAAAAAAAAAAAA
	assert_status 200
	assert_json 'j == []'
	api GET '/files/bad%21id'
	assert_error_reply 400
	api GET /download/abc/def
	assert_error_reply 404
	api GET /download/AAAAAAAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBBBBBBB
	assert_error_reply 404
	api GET '/download/abc/d%27ef'
	assert_error_reply 400
	api DELETE /files/abc/def
	assert_error_reply 404
}

@test "the CLI with another key sees none of A's session" {
	make_victim
	run --separate-stderr env KCR_SERVER="$(srv_url)" KCR_API_KEY="$KEY_B" \
		"$KCR" files ls "$V_SID"
	assert_success
	[[ $output != *out.txt* && $output != *"$V_OUT"* ]] || fail "B listed: $output"
	run --separate-stderr env KCR_SERVER="$(srv_url)" KCR_API_KEY="$KEY_B" \
		"$KCR" download --output got.txt "$V_SID" "$V_OUT"
	assert_failure 125
	[ ! -e got.txt ]
	run --separate-stderr env KCR_SERVER="$(srv_url)" KCR_API_KEY="$KEY_B" \
		"$KCR" exec --session "$V_SID" -l py -c 'print(treasure)'
	assert_failure 1
	[[ $stderr == *NameError* ]] || fail "stderr: $stderr"
	run --separate-stderr env KCR_SERVER="$(srv_url)" KCR_API_KEY="$(srv_key)" \
		"$KCR" exec --session "$V_SID" -l py -c 'print(treasure)'
	assert_success
	assert_output gold
}

@test "GET /health/detailed: each dependency with its latency, with a key only" {
	api --no-key GET /health/detailed
	assert_error_reply 401
	api GET /health/detailed
	assert_status 200
	assert_json_eq 'j["status"]' healthy
	assert_json 'j["checks"]["sandbox"]["backend"] == "local" and j["checks"]["sandbox"]["status"] == "healthy"'
	assert_json "j['checks']['session_store']['backend'] == '$SESSION_BACKEND' and j['checks']['file_store']['backend'] == '$FILE_BACKEND'"
	assert_json 'all(j["checks"][c]["latency_ms"] >= 0 for c in ("sandbox", "session_store", "file_store"))'
	assert_json 'j["checks"]["pool"]["enabled"] is True'
}
