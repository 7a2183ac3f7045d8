#!/usr/bin/env bats
# The LibreChat flow end to end (spec librechat-api.md §4-§6, §10):
# upload -> freshness check -> exec with files[] -> outputs -> download ->
# the next run takes the outputs as inputs.

load serve_helpers

setup_file() {
	start_server main
}

# upload_lc FILE NAME [ENTITY]: what LibreChat's uploadCodeEnvFile sends
upload_lc() {
	local args=()
	[ -n "${3:-}" ] && args+=(-F "entity_id=$3")
	api POST /upload -H 'User-Agent: LibreChat/1.0' -H 'User-Id: 6650c7e1f1a2b3c4d5e6f708' \
		"${args[@]}" -F "file=@$1;filename=$2"
	assert_status 200
	assert_json_eq 'j["message"]' 'success'
	UP_SID=$(jget 'j["session_id"]')
	UP_FID=$(jget 'j["files"][0]["fileId"]')
}

# exec_lc LANG CODE FILES-JSON [EXTRA]: what the agents' CodeExecutor sends
exec_lc() {
	exec_json "{\"lang\":$(jstr "$1"),\"code\":$(jstr "$2"),\"user_id\":\"6650c7e1f1a2b3c4d5e6f708\",\"files\":$3${4:+,$4}}"
}

@test "upload data.csv with entity_id -> exec reads it, writes out.csv -> download -> fresh in the summary" {
	printf 'name,qty\napple,3\npear,4\nplum,5\n' >data.csv
	upload_lc data.csv data.csv agent_flow_1
	local in_sid=$UP_SID in_fid=$UP_FID
	# LibreChat's freshness check before the run (with the stored ?entity_id)
	api GET "/files/$in_sid?detail=summary&entity_id=agent_flow_1"
	assert_status 200
	assert_json "any(f['name'].startswith('$in_sid/$in_fid') for f in j)"
	assert_fresh_iso "[f for f in j if f['name'].startswith('$in_sid/$in_fid')][0]['lastModified']" 60

	exec_lc py "$(
		cat <<'EOF'
import csv
rows = list(csv.DictReader(open("/mnt/data/data.csv")))
total = sum(int(r["qty"]) for r in rows)
print(len(rows), total)
with open("/mnt/data/out.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["name", "double"])
    for r in rows:
        w.writerow([r["name"], 2 * int(r["qty"])])
EOF
	)" "[{\"id\":\"$in_fid\",\"session_id\":\"$in_sid\",\"name\":\"data.csv\"}]"
	assert_status 200
	assert_json 'j["stdout"] == "3 12\n"'
	# the csv writer stays behind as a global, and can't be kept in the
	# session's Python state (070-state.bats); the file f closed, so it goes
	assert_json 'j["stderr"] == "" and j["state_note"] == "not saved (cannot be pickled): w"'
	local sid out_id
	sid=$(jget 'j["session_id"]')
	[[ $sid =~ $ID_RE ]] || fail "session_id '$sid'"
	# out.csv comes back; the unchanged input is not echoed
	assert_json '[f["name"] for f in j["files"]] == ["out.csv"]'
	assert_json 'j["files"][0]["session_id"] == j["session_id"] == j["files"][0]["storage_session_id"]'
	assert_json '"modified_from" not in j["files"][0]'
	out_id=$(jget 'j["files"][0]["id"]')
	[[ $out_id =~ $ID_RE ]] || fail "file id '$out_id'"

	api GET "/download/$sid/$out_id"
	assert_status 200
	printf 'name,double\r\napple,6\r\npear,8\r\nplum,10\r\n' >want.csv
	cmp want.csv "$BODY_FILE" || fail "out.csv differs: $(od -c "$BODY_FILE" | head)"
	[[ $(header Content-Disposition) == *'filename="out.csv"'* ]] || fail "Content-Disposition: $(header Content-Disposition)"

	api GET "/files/$sid?detail=summary"
	assert_status 200
	assert_json "'$sid/$out_id' in [f['name'] for f in j]"
	assert_fresh_iso "[f for f in j if f['name'] == '$sid/$out_id'][0]['lastModified']" 60
	# the session holds the input it ran with, too (consolidation)
	api GET "/files/$sid?detail=simple"
	assert_json 'sorted(f["name"] for f in j) == ["data.csv", "out.csv"]'
}

@test "the next run gets the previous output back as an input (agents inject it)" {
	exec_lc py 'open("/mnt/data/step1.txt", "w").write("from run 1\n")' '[]'
	assert_status 200
	local s1 f1
	s1=$(jget 'j["session_id"]')
	f1=$(jget '[f["id"] for f in j["files"] if f["name"] == "step1.txt"][0]')
	exec_lc py 'print(open("/mnt/data/step1.txt").read(), end="")' \
		"[{\"id\":\"$f1\",\"session_id\":\"$s1\",\"name\":\"step1.txt\"}]" "\"session_id\":\"$s1\""
	assert_status 200
	assert_json 'j["stdout"] == "from run 1\n"'
	assert_json "j['session_id'] == '$s1'"
	assert_json 'j["files"] == []'
}

@test "an output named with spaces and parentheses re-appears under the name (and path) reported for it" {
	exec_lc py 'open("/mnt/data/my report (v2).csv", "w").write("a,b\n")' '[]'
	assert_status 200
	local s1 f1 name path
	s1=$(jget 'j["session_id"]')
	assert_json 'len(j["files"]) == 1'
	f1=$(jget 'j["files"][0]["id"]')
	name=$(jget 'j["files"][0]["name"]')
	path=$(jget 'j["files"][0].get("path", "/mnt/data/" + j["files"][0]["name"])')
	# the model was told "/mnt/data/<name>"; the agents inject {id, session_id, name}
	exec_lc py "import sys; sys.stdout.write(open($(jstr "$path")).read())" \
		"[{\"id\":\"$f1\",\"session_id\":\"$s1\",\"name\":$(jstr "$name")}]"
	assert_status 200
	assert_json 'j["stdout"] == "a,b\n"'
	assert_json 'j["stderr"] == ""'
}

@test "an input file the program edits comes back with modified_from pointing at the input" {
	printf 'line 1\n' >notes.txt
	upload_lc notes.txt notes.txt
	local in_sid=$UP_SID in_fid=$UP_FID
	exec_lc py 'open("/mnt/data/notes.txt", "a").write("line 2\n")' \
		"[{\"id\":\"$in_fid\",\"session_id\":\"$in_sid\",\"name\":\"notes.txt\"}]"
	assert_status 200
	local sid new_id
	sid=$(jget 'j["session_id"]')
	assert_json '[f["name"] for f in j["files"]] == ["notes.txt"]'
	assert_json "j['files'][0]['modified_from'] == {'id': '$in_fid', 'storage_session_id': '$in_sid'}"
	new_id=$(jget 'j["files"][0]["id"]')
	[ "$new_id" != "$in_fid" ] || fail "the edited file reuses the input's id"
	api GET "/download/$sid/$new_id"
	assert_status 200
	printf 'line 1\nline 2\n' >want.txt
	cmp want.txt "$BODY_FILE"
	# the input it points at is still there, unchanged
	api GET "/download/$in_sid/$in_fid"
	assert_status 200
	cmp notes.txt "$BODY_FILE"
}

@test "an input edited in a different session: modified_from points at an existing file" {
	printf 'v1\n' >doc.txt
	upload_lc doc.txt doc.txt
	local in_sid=$UP_SID in_fid=$UP_FID
	# run in a session of its own (body session_id of another, existing session)
	exec_lc py 'print(1)' '[]'
	local other
	other=$(jget 'j["session_id"]')
	exec_lc py 'open("/mnt/data/doc.txt", "w").write("v2\n")' \
		"[{\"id\":\"$in_fid\",\"session_id\":\"$in_sid\",\"name\":\"doc.txt\"}]" "\"session_id\":\"$other\""
	assert_status 200
	assert_json "j['session_id'] == '$other'"
	assert_json '[f["name"] for f in j["files"]] == ["doc.txt"]'
	local mid msid
	mid=$(jget 'j["files"][0]["modified_from"]["id"]')
	msid=$(jget 'j["files"][0]["modified_from"]["storage_session_id"]')
	api GET "/download/$msid/$mid"
	assert_status 200
	cmp doc.txt "$BODY_FILE" || fail "modified_from does not point at the original input"
}

@test "entity_id: two uploads land in one session; exec with entity_id and no session uses it" {
	echo a >a.txt
	echo b >b.txt
	upload_lc a.txt a.txt agent_reuse_1
	local s1=$UP_SID fa=$UP_FID
	upload_lc b.txt b.txt agent_reuse_1
	assert_equal "$UP_SID" "$s1"
	local fb=$UP_FID
	api GET "/files/$s1?detail=summary&entity_id=agent_reuse_1"
	assert_json "sorted(f['name'] for f in j) == sorted(['$s1/$fa', '$s1/$fb'])"
	# another entity gets another session
	upload_lc a.txt a.txt agent_reuse_2
	[ "$UP_SID" != "$s1" ] || fail "two entities share session $s1"

	# LibreChat sends the user's id in the body, the same as User-Id above
	exec_json '{"lang":"py","code":"open(\"made.txt\", \"w\").write(\"m\")","entity_id":"agent_reuse_1","user_id":"6650c7e1f1a2b3c4d5e6f708"}'
	assert_status 200
	assert_json "j['session_id'] == '$s1'"
	api GET "/files/$s1?detail=simple"
	assert_json 'sorted(f["name"] for f in j) == ["a.txt", "b.txt", "made.txt"]'
	# another user of the same agent works in a session of their own
	exec_json '{"lang":"py","code":"print(1)","entity_id":"agent_reuse_1","user_id":"other-user"}'
	assert_status 200
	assert_json "j['session_id'] != '$s1'"
}

@test "files[] with storage_session_id instead of session_id (newer agents) works" {
	printf 'newer client\n' >n.txt
	upload_lc n.txt n.txt
	exec_lc py 'print(open("/mnt/data/n.txt").read(), end="")' \
		"[{\"id\":\"$UP_FID\",\"storage_session_id\":\"$UP_SID\",\"name\":\"n.txt\",\"resource_id\":\"r1\",\"kind\":\"user\",\"version\":1}]"
	assert_status 200
	assert_json 'j["stdout"] == "newer client\n"'
}

@test "a file from ANOTHER session is copied into the exec session" {
	printf 'from s1\n' >one.txt
	printf 'from s2\n' >two.txt
	upload_lc one.txt one.txt
	local s1=$UP_SID f1=$UP_FID
	upload_lc two.txt two.txt
	local s2=$UP_SID f2=$UP_FID
	[ "$s1" != "$s2" ] || fail "two uploads without entity_id shared a session"
	exec_lc py 'print(open("/mnt/data/one.txt").read() + open("/mnt/data/two.txt").read(), end="")' \
		"[{\"id\":\"$f1\",\"session_id\":\"$s1\",\"name\":\"one.txt\"},{\"id\":\"$f2\",\"session_id\":\"$s2\",\"name\":\"two.txt\"}]" \
		"\"session_id\":\"$s2\""
	assert_status 200
	assert_json 'j["stdout"] == "from s1\nfrom s2\n"'
	assert_json "j['session_id'] == '$s2'"
	assert_json 'j["files"] == []'
	api GET "/files/$s2?detail=simple"
	assert_json 'sorted(f["name"] for f in j) == ["one.txt", "two.txt"]'
	local copy
	copy=$(jget '[f["id"] for f in j if f["name"] == "one.txt"][0]')
	api GET "/download/$s2/$copy"
	assert_status 200
	cmp one.txt "$BODY_FILE"
	# the original stays where it was
	api GET "/download/$s1/$f1"
	assert_status 200
	cmp one.txt "$BODY_FILE"
}

@test "files[].name is where the file appears in /mnt/data" {
	printf 'x\n' >orig.txt
	upload_lc orig.txt orig.txt
	exec_lc bash 'ls /mnt/data; cat /mnt/data/renamed.txt' \
		"[{\"id\":\"$UP_FID\",\"session_id\":\"$UP_SID\",\"name\":\"renamed.txt\"}]"
	assert_status 200
	assert_json 'j["stdout"] == "renamed.txt\nx\n"'
}

@test "unknown fields are ignored (newer clients add more)" {
	exec_json '{"lang":"py","code":"import sys; print(sys.argv[1:])","args":["a","b"],"user_id":"u1","runtime_session_hint":"h","something_new":{"x":[1,2]},"timeout":30000}'
	assert_status 200
	assert_json 'j["stdout"] == "[\x27a\x27, \x27b\x27]\n"'
	# args of another type (KubeCodeRun accepts any) are not a 422
	exec_json '{"lang":"py","code":"print(1)","args":{"k":"v"}}'
	assert_status 200
	assert_json 'j["stdout"] == "1\n"'
}

@test "generated images download byte-exact (LibreChat fetches them at once)" {
	exec_code py "$(
		cat <<'EOF'
import struct, zlib
def chunk(t, d):
    c = t + d
    return struct.pack(">I", len(d)) + c + struct.pack(">I", zlib.crc32(c) & 0xffffffff)
raw = b"".join(b"\0" + bytes([x % 256, y % 256, 128]) * 1 for y in range(8) for x in range(1))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 8, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open("plot.png", "wb").write(png)
import hashlib; print(hashlib.sha256(png).hexdigest())
EOF
	)"
	assert_status 200
	local sid fid want
	sid=$(jget 'j["session_id"]')
	want=$(jget 'j["stdout"].strip()')
	fid=$(jget '[f["id"] for f in j["files"] if f["name"] == "plot.png"][0]')
	api GET "/download/$sid/$fid"
	assert_status 200
	assert_equal "$(sha256sum <"$BODY_FILE" | cut -d' ' -f1)" "$want"
	assert_equal "$(header Content-Type)" 'image/png'
}
