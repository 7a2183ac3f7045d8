#!/usr/bin/env bats
# GET /openapi.json (issue 13): the document is written from the route
# table (lib/server/api.c), so every route is in it and nothing else; it is
# valid OpenAPI 3.0.3 (kin-openapi, tests/openapi/validate.go); every
# operation, sent real requests with real ids, answers as documented; the
# LibreChat routes carry the fields of spec/librechat-api.md; it needs no
# key; its servers entry is the base path.
# shellcheck disable=SC2154 # status, output: set by run
# shellcheck disable=SC2034 # SRV: read by serve_helpers' api
# shellcheck disable=SC2016 # Python in single quotes

load serve_helpers

bats_require_minimum_version 1.5.0

ADMIN=sk-admin-210-openapi-abcdefgh
SRC=${KCR_SRCDIR:-$BATS_TEST_DIRNAME/../..}

setup_file() {
	local cache=${GOCACHE:-${HOME:+$HOME/.cache/go-build}}
	export VALIDATE=$BATS_FILE_TMPDIR/validate
	# Debian's kin-openapi, offline; Go's build cache where it keeps it
	GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=${cache:-$BATS_FILE_TMPDIR/.gocache} \
		go build -o "$VALIDATE" "$BATS_TEST_DIRNAME/../openapi/validate.go"
	start_server main KCR_ADMIN_KEY="$ADMIN" KCR_POOL_PY=1
}

# the document as served, into $BATS_TEST_TMPDIR/doc.json
get_doc() {
	api --no-key GET /openapi.json
	assert_status 200
	cp "$BODY_FILE" "$BATS_TEST_TMPDIR/doc.json"
}

# assert_doc EXPR: EXPR true over the document (d), with op(method, path),
# schema(name) (a component, its $ref and allOf resolved one level) bound
assert_doc() {
	run "$HOST_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
def deref(x):
    while "$ref" in x:
        p = d
        for t in x["$ref"][2:].split("/"):
            p = p[t]
        x = p
    return x
def schema(name):
    s = deref({"$ref": "#/components/schemas/" + name})
    if "allOf" in s:
        m = {"properties": {}, "required": []}
        for part in map(deref, s["allOf"]):
            m["properties"].update(part.get("properties", {}))
            m["required"] += part.get("required", [])
        return m
    return s
def op(method, path):
    return d["paths"][path][method.lower()]
def params(o, where):
    return {p["name"]: p for p in map(deref, o.get("parameters", [])) if p["in"] == where}
def body(o, media="application/json"):
    return deref(o["requestBody"]["content"][media]["schema"])
def reply(o, status, media="application/json"):
    return deref(deref(o["responses"][str(status)])["content"][media]["schema"])
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print("not true: " + sys.argv[2]); sys.exit(1)' "$BATS_TEST_TMPDIR/doc.json" "$1"
	assert_success
}

@test "openapi: GET /openapi.json needs no key and is valid OpenAPI 3.0.3" {
	get_doc
	[[ $(header Content-Type) == application/json* ]] || fail "Content-Type: $(header Content-Type)"
	assert_doc 'd["openapi"] == "3.0.3" and d["info"]["title"] and d["info"]["version"]'
	run "$VALIDATE" -doc "$BATS_TEST_TMPDIR/doc.json"
	assert_success
	assert_output --partial "ok the document is valid OpenAPI 3.0.3"
}

@test "openapi: every route of the route table is in the document, and nothing else" {
	get_doc
	# the rows of lib/server/api.c's table: { "METHOD", "/pattern", ...
	run "$HOST_PYTHON" -c '
import json, re, sys
table = set(re.findall(r"\{ \"([A-Z]+)\", \"(/[^\"]*)\"", open(sys.argv[2]).read()))
doc = set((m.upper(), p) for p, item in json.load(open(sys.argv[1]))["paths"].items()
          for m in item)
print("table only:", sorted(table - doc)); print("document only:", sorted(doc - table))
sys.exit(0 if table == doc and len(table) > 20 else 1)' "$BATS_TEST_TMPDIR/doc.json" "$SRC/lib/server/api.c"
	assert_success
	# named captures, as the document names its path parameters
	assert_doc '"/download/{session_id}/{file_id}" in d["paths"] and "/admin/keys/{key_id}" in d["paths"]'
	assert_doc 'all(o["operationId"] for item in d["paths"].values() for o in item.values())'
}

@test "openapi: every operation, sent real requests, answers as documented (requests and replies validated)" {
	run "$VALIDATE" -url "$(srv_url)" -key "$(srv_key)" -admin-key "$ADMIN"
	echo "$output" | grep -v '^ok' || true
	assert_success
	refute_output --partial FAIL
	# each operation succeeded once, with its real ids
	local ops
	ops=$("$HOST_PYTHON" -c 'import json, sys; print(sum(len(i) for i in json.load(sys.stdin)["paths"].values()))' \
		< <(curl -s "$(srv_url)/openapi.json"))
	assert_equal "$(grep -c '(success): ' <<<"$output")" "$ops"
	assert_output --partial "ok POST /exec (success): 200"
	assert_output --partial "ok GET /download/{session_id}/{file_id} (success): 200"
	assert_output --partial "ok DELETE /admin/keys/{key_id} (an ordinary key): 403"
}

@test "openapi: a documented path answers 405 to a method it does not document" {
	api PUT /exec
	assert_error_reply 405
	api DELETE /health
	assert_error_reply 405
	api POST "/files/$(printf 'a%.0s' {1..21})"
	assert_error_reply 405
}

@test "openapi: the validator is not vacuous: a reply that breaks the document, or a route that is not served, fails it" {
	get_doc
	"$HOST_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
d["components"]["schemas"]["ExecResponse"]["required"].append("no_such_member")
d["paths"]["/nowhere"] = {"get": {"operationId": "nowhere", "responses": {"200": {"description": "x"}}}}
json.dump(d, open(sys.argv[2], "w"))' "$BATS_TEST_TMPDIR/doc.json" "$BATS_TEST_TMPDIR/bad.json"
	run "$VALIDATE" -doc "$BATS_TEST_TMPDIR/bad.json" -url "$(srv_url)" -key "$(srv_key)" \
		-admin-key "$ADMIN"
	assert_failure
	assert_output --regexp 'FAIL POST /exec \(success\): the reply does not match the document: .*no_such_member'
	assert_output --partial 'FAIL GET /nowhere (success): not served (the route is missing)'
}

@test "openapi: the LibreChat routes have the wire contract's fields (spec/librechat-api.md §4)" {
	get_doc
	# POST /exec
	assert_doc '{"lang", "code"} <= set(body(op("POST", "/exec"))["required"])'
	assert_doc '{"lang", "code", "args", "user_id", "files", "session_id", "entity_id", "timeout"} <= set(body(op("POST", "/exec"))["properties"])'
	assert_doc '{"id", "session_id", "storage_session_id", "name"} <= set(body(op("POST", "/exec"))["properties"]["files"]["items"]["properties"])'
	assert_doc '{"session_id", "stdout", "stderr", "files"} <= set(reply(op("POST", "/exec"), 200)["required"])'
	assert_doc '{"id", "name", "session_id", "storage_session_id", "modified_from"} <= set(deref(reply(op("POST", "/exec"), 200)["properties"]["files"]["items"])["properties"])'
	# POST /upload: multipart part "file" (+ entity_id) -> message "success", session_id, files[].fileId
	assert_doc '{"file", "entity_id"} <= set(body(op("POST", "/upload"), "multipart/form-data")["properties"])'
	assert_doc 'reply(op("POST", "/upload"), 200)["properties"]["message"]["enum"] == ["success"]'
	assert_doc '{"message", "session_id", "files"} <= set(reply(op("POST", "/upload"), 200)["required"])'
	assert_doc '{"fileId", "filename"} <= set(reply(op("POST", "/upload"), 200)["properties"]["files"]["items"]["required"])'
	assert_doc '"storage_session_id" in reply(op("POST", "/upload"), 200)["properties"]'
	# GET /files/{session_id}?detail=summary -> [{name, lastModified}]
	assert_doc 'params(op("GET", "/files/{session_id}"), "path")["session_id"]["required"] is True'
	assert_doc '"summary" in params(op("GET", "/files/{session_id}"), "query")["detail"]["schema"]["enum"]'
	assert_doc '{"entity_id", "kind"} <= set(params(op("GET", "/files/{session_id}"), "query"))'
	assert_doc '{"name", "lastModified", "id", "metadata"} <= set(reply(op("GET", "/files/{session_id}"), 200)["items"]["properties"])'
	# GET /download/{session_id}/{file_id}: bytes, 404 when unknown
	assert_doc 'set(params(op("GET", "/download/{session_id}/{file_id}"), "path")) == {"session_id", "file_id"}'
	assert_doc 'reply(op("GET", "/download/{session_id}/{file_id}"), 200, "*/*")["format"] == "binary"'
	assert_doc '"404" in op("GET", "/download/{session_id}/{file_id}")["responses"]'
	# DELETE /files/{session_id}/{file_id}: 200 empty, 404 when unknown
	assert_doc '{"200", "404"} <= set(op("DELETE", "/files/{session_id}/{file_id}")["responses"])'
	# the key: X-API-Key (or Bearer); the shared error shape
	assert_doc 'd["components"]["securitySchemes"]["ApiKey"] == {**d["components"]["securitySchemes"]["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}'
	assert_doc 'd["components"]["securitySchemes"]["Bearer"]["scheme"] == "bearer"'
	assert_doc 'op("POST", "/exec")["security"] == [{"ApiKey": []}, {"Bearer": []}]'
	assert_doc 'set(schema("Error")["required"]) == {"error", "error_type", "details", "request_id", "timestamp"}'
	assert_doc 'reply(op("POST", "/exec"), 401) == schema("Error") and reply(op("POST", "/exec"), 429) == schema("Error")'
}

@test "openapi: public routes need no key (security: []), admin routes the admin key (403)" {
	get_doc
	assert_doc 'all(op("GET", p)["security"] == [] for p in ("/health", "/ready", "/openapi.json"))'
	assert_doc 'op("OPTIONS", "/download/{session_id}/{file_id}")["security"] == []'
	assert_doc 'all(o["security"] and "403" in o["responses"] and "admin key" in o["description"]
		for p, item in d["paths"].items() if p.startswith("/admin/") for o in item.values())'
	assert_doc 'all("403" not in o["responses"] for p, item in d["paths"].items()
		if p.split("/")[1] in ("exec", "upload", "files", "download", "state") for o in item.values())'
	# a public route answers without a key, as documented
	for p in /health /ready /openapi.json; do
		api --no-key GET "$p"
		assert_status 200
	done
}

@test "openapi: with server.base_path=/v1 the servers entry says /v1, and every operation answers under it" {
	SRV=v1
	start_server v1 KCR_ADMIN_KEY="$ADMIN" KCR_POOL_PY=1 -- --base-path /v1
	api --no-key GET /v1/openapi.json
	assert_status 200
	assert_json 'j["servers"][0]["url"] == "/v1"'
	run "$VALIDATE" -url "$(srv_url)/v1" -key "$(srv_key)" -admin-key "$ADMIN"
	echo "$output" | grep -v '^ok' || true
	assert_success
	# without one, the root
	SRV=main
	api --no-key GET /openapi.json
	assert_json '[s["url"] for s in j["servers"]] == ["/"]'
}
