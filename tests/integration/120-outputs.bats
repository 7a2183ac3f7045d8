#!/usr/bin/env bats
# What a run returns is bounded by what its sandbox holds (DESIGN.md §5):
# files count by the blocks they occupy, so sparse files and hard links
# cannot multiply /mnt/data into gigabytes of outputs; FIFOs, devices and
# symlinks are never read; names that are not UTF-8 never break the JSON;
# limits.output_total_mb caps the whole. Through a real kcr serve, whose
# peak memory is measured around each run.

load serve_helpers

setup_file() {
	start_server main KCR_POOL_PY=1 KCR_POOL_JS=0 KCR_DATA_SIZE_MB=256
}

hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$(srv_pid "${1:-main}")/status"; }

# run_cheaply CODE: /exec of a Python program; kcr serve's peak RSS may
# grow by less than 64 MiB over it
run_cheaply() {
	local before after
	before=$(hwm)
	exec_code py "$1"
	after=$(hwm)
	assert_status 200
	note "peak RSS $((before / 1024)) MiB before, $((after / 1024)) MiB after"
	[ $((after - before)) -lt $((64 * 1024)) ] || fail "kcr serve grew from $before to $after KiB"
}

@test "64 sparse files of 100 MiB in a 256 MiB /mnt/data come back as nothing, cheaply" {
	run_cheaply 'for i in range(64):
    with open("sparse%02d.bin" % i, "wb") as f:
        f.truncate(100 << 20)
open("ok.txt", "w").write("fine")
print("made")'
	assert_json 'j["exit_code"] == 0 and j["stdout"] == "made\n"'
	assert_json '[f["name"] for f in j["files"]] == ["ok.txt"]'
	assert_json '"output '"'"'sparse00.bin'"'"' not returned: sparse (104857600 bytes, 0 of them stored)" in j["stderr"]'
	assert_json '"[kcr: 54 more outputs not returned]" in j["stderr"]'
}

@test "63 hard links to one 50 MiB file come back as nothing, cheaply" {
	run_cheaply 'import os
with open("big.bin", "wb") as f:
    f.write(os.urandom(1 << 20) * 50)
for i in range(63):
    os.link("big.bin", "link%02d.bin" % i)
open("ok.txt", "w").write("fine")'
	assert_json '[f["name"] for f in j["files"]] == ["ok.txt"]'
	assert_json '"output '"'"'big.bin'"'"' not returned: it has 64 hard links" in j["stderr"]'
}

@test "FIFOs, sockets and symlinks (to host files) are not returned, with a note" {
	exec_code py 'import os, socket
os.mkfifo("fifo")
os.symlink("/etc/shadow", "shadow")
os.symlink("/proc/1/environ", "environ")
socket.socket(socket.AF_UNIX).bind("sock")
open("ok.txt", "w").write("fine")'
	assert_status 200
	assert_json '[f["name"] for f in j["files"]] == ["ok.txt"]'
	assert_json '"output '"'"'fifo'"'"' not returned: a FIFO" in j["stderr"]'
	assert_json '"output '"'"'shadow'"'"' not returned: a symbolic link" in j["stderr"]'
	assert_json '"output '"'"'sock'"'"' not returned: a socket" in j["stderr"]'
}

@test "a file name that is not UTF-8 never breaks the reply" {
	exec_code py 'open(b"bad-\xff.txt", "w").write("x")
open("good-é.txt", "w").write("y")'
	assert_status 200
	# the body is valid UTF-8 JSON (jget parses it), the good file is there
	assert_json '[f["name"] for f in j["files"]] == ["good-é.txt"]'
	assert_json '"bad-\\xff.txt" in j["stderr"] and "not valid UTF-8" in j["stderr"]'
	"$HOST_PYTHON" -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$BODY_FILE"
}

@test "limits.output_total_mb caps what one run returns in all" {
	start_server cap KCR_POOL_ENABLED=false KCR_OUTPUT_TOTAL_MB=2
	SRV=cap
	exec_code py 'for n in ("a", "b", "c"):
    open(n + ".bin", "wb").write(b"x" * (900 << 10))'
	assert_status 200
	assert_json '[f["name"] for f in j["files"]] == ["a.bin", "b.bin"]'
	assert_json '"output '"'"'c.bin'"'"' not returned: over the 2097152 bytes a run may return" in j["stderr"]'
}

@test "a 90 MiB output streams to the file store: kcr serve never holds it, the download is whole" {
	local sid fid got want
	run_cheaply 'import hashlib
block, h = bytes(range(256)) * 4096, hashlib.sha256()
with open("big.bin", "wb") as f:
    for i in range(90):
        f.write(block)
        h.update(block)
print(h.hexdigest())'
	assert_json '[f["name"] for f in j["files"]] == ["big.bin"]'
	want=$(jget 'j["stdout"].strip()')
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["id"]')
	got=$(curl -sS --max-time 120 -H "X-API-Key: $(srv_key)" "$(srv_url)/download/$sid/$fid" |
		sha256sum | cut -d' ' -f1)
	assert_equal "$got" "$want"
	# the spool is anonymous: nothing is left behind
	assert_equal "$(ls -A "$(srv_dir)/state/spool")" ""
}

@test "a 90 MiB upload is spooled as it arrives: kcr serve never holds it, the download is whole" {
	local before after sid fid want got
	random_file up.bin $((90 << 20))
	want=$(sha256sum <up.bin | cut -d' ' -f1)
	before=$(hwm)
	upload_file up.bin up.bin
	after=$(hwm)
	assert_status 200
	note "peak RSS $((before / 1024)) MiB before, $((after / 1024)) MiB after"
	[ $((after - before)) -lt $((64 * 1024)) ] || fail "kcr serve grew from $before to $after KiB"
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	assert_json 'j["files"][0]["size"] == 90 << 20'
	got=$(curl -sS --max-time 120 -H "X-API-Key: $(srv_key)" "$(srv_url)/download/$sid/$fid" |
		sha256sum | cut -d' ' -f1)
	assert_equal "$got" "$want"
	assert_equal "$(ls -A "$(srv_dir)/state/spool")" ""
}
