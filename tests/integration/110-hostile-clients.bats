#!/usr/bin/env bats
# Hostile clients (DESIGN.md §5, kcr-serve(1) "AUTHENTICATION" and
# "LIMITS"): a request is authenticated from its headers before its body is
# read; an unauthenticated body is read only up to server.preauth_body_kb
# (for the key LibreChat's agents put in it), so a huge one costs kcr
# nothing; connections are capped per peer; headers and bodies have
# deadlines, so a client trickling bytes cannot hold a connection.

load serve_helpers

setup_file() {
	start_server main KCR_POOL_ENABLED=false
	# a 120 MiB JSON array, the body of the report
	BIG=$BATS_FILE_TMPDIR/big.json
	export BIG
	"$HOST_PYTHON" -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write("[")
    chunk = "1," * (1 << 20)
    for _ in range(60):
        f.write(chunk)
    f.write("1]")' "$BIG"
}

# hwm NAME: the server's peak resident memory so far, in KiB
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$(srv_pid "${1:-main}")/status"; }

# a request kcr must refuse without holding the body; the peak RSS may grow
# by less than 64 MiB over it
assert_refused_cheaply() {
	local before after
	before=$(hwm)
	"$@"
	assert_error_reply 401 'API key'
	after=$(hwm)
	note "peak RSS $((before / 1024)) MiB before, $((after / 1024)) MiB after"
	[ $((after - before)) -lt $((64 * 1024)) ] ||
		fail "kcr serve grew from $before to $after KiB over the request"
}

@test "an unauthenticated 120 MiB JSON body is refused without being kept" {
	assert_refused_cheaply api --no-key POST /exec -H 'Content-Type: application/json' \
		--data-binary "@$BIG"
	# the same sent chunked (no Content-Length): read up to the bound only
	assert_refused_cheaply api --no-key POST /exec -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$BIG"
	# a wrong key in the headers: 401 before the body too
	assert_refused_cheaply api --no-key POST /exec -H 'X-API-Key: sk-wrong' \
		-H 'Content-Type: application/json' --data-binary "@$BIG"
	# and the server still serves
	exec_code py 'print(6 * 7)'
	assert_json_eq 'j["stdout"]' 42
}

@test "a key in a small JSON body works; in a large one it is refused, saying why" {
	local body
	body=$("$HOST_PYTHON" -c 'import json, sys
print(json.dumps({"lang": "py", "code": "print(1)", "LIBRECHAT_CODE_API_KEY": sys.argv[1]}))' "$(srv_key)")
	api --no-key POST /exec -H 'Content-Type: application/json' --data-binary "$body"
	assert_status 200
	assert_json_eq 'j["stdout"]' 1
	"$HOST_PYTHON" -c 'import json, sys
print(json.dumps({"lang": "py", "code": "print(2)", "padding": "#" * (2 << 20),
                  "LIBRECHAT_CODE_API_KEY": sys.argv[1]}))' "$(srv_key)" >large.json
	api --no-key POST /exec -H 'Content-Type: application/json' --data-binary @large.json
	assert_error_reply 401 'at most 1048576 bytes'
	# with the key in a header the same body runs
	api POST /exec -H 'Content-Type: application/json' --data-binary @large.json
	assert_status 200
}

@test "an unauthenticated upload is refused before its parts are read" {
	head -c $((20 << 20)) /dev/zero >z.bin
	assert_refused_cheaply api --no-key POST /upload -F 'file=@z.bin;filename=z.bin'
}

@test "a multipart body of too many tiny parts is a 400, not a million records" {
	"$HOST_PYTHON" -c '
import sys
b = "XyZzY"
with open(sys.argv[1], "w") as f:
    for i in range(5000):
        f.write("--%s\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n" % (b, i))
    f.write("--%s--\r\n" % b)' parts.txt
	api POST /upload -H 'Content-Type: multipart/form-data; boundary=XyZzY' \
		--data-binary @parts.txt
	assert_error_reply 400 'more than 1000 parts'
}

# trickle HEAD BODY: a client that sends HEAD at once, then BODY a byte at a
# time; prints
# how many seconds passed before the server closed the connection (or 99)
trickle() {
	"$HOST_PYTHON" - "$(srv_port)" "$1" "$2" <<'EOF'
import socket, sys, time
port, head, body = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(0.2)
t0 = time.monotonic()
s.sendall(head.replace("\\r\\n", "\r\n").encode())
data = body.replace("\\r\\n", "\r\n").encode()
for i in range(len(data)):
    if time.monotonic() - t0 > 40:
        break
    try:
        s.send(data[i:i + 1])
        if s.recv(1, socket.MSG_PEEK) == b"":
            print("%.1f" % (time.monotonic() - t0)); sys.exit(0)
    except socket.timeout:
        pass
    except OSError:
        print("%.1f" % (time.monotonic() - t0)); sys.exit(0)
    time.sleep(0.3)
print(99)
EOF
}

@test "slowloris: trickled headers and bodies are cut at their deadlines" {
	start_server slow KCR_POOL_ENABLED=false KCR_HEADER_TIMEOUT=2 KCR_BODY_TIMEOUT=3
	SRV=slow
	local t
	# headers a byte every 0.3 s, never finished: cut after ~2 s (the
	# idle timeout of 60 s would never fire)
	t=$(trickle '' 'GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')
	note "headers cut after $t s"
	awk -v t="$t" 'BEGIN { exit !(t >= 1.5 && t < 15) }' || fail "headers cut after $t s"
	# a body announced as 1000 bytes, trickled: cut after ~3 s
	t=$(trickle "POST /exec HTTP/1.1\\r\\nHost: x\\r\\nX-API-Key: $(srv_key)\\r\\nContent-Type: application/json\\r\\nContent-Length: 1000\\r\\n\\r\\n" "$(printf '%0999d' 0)")
	note "body cut after $t s"
	awk -v t="$t" 'BEGIN { exit !(t >= 2.5 && t < 20) }' || fail "body cut after $t s"
	api GET /health
	assert_status 200
}

@test "10,000 idle connections from one peer: capped, and others are served as before" {
	start_server idle KCR_POOL_ENABLED=false KCR_MAX_CONNECTIONS_PER_PEER=64
	SRV=idle
	local line
	line=$("$HOST_PYTHON" - "$(srv_port)" "$(srv_pid idle)" <<'EOF'
import resource, socket, statistics, subprocess, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))

def health_ms():
    t = []
    for _ in range(15):
        t0 = time.monotonic()
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "--max-time", "10",
                        "http://127.0.0.1:%d/health" % port], check=True)
        t.append((time.monotonic() - t0) * 1000)
    return statistics.median(t)

before = health_ms()
idle = []
for i in range(10000):
    s = socket.socket()
    s.setblocking(False)
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    idle.append(s)
time.sleep(1)
during = health_ms()
fds = len(__import__("os").listdir("/proc/%s/fd" % pid))
print("/health median %.1f ms before, %.1f ms with 10000 idle connections; kcr has %d fds"
      % (before, during, fds))
assert during < before * 5 + 200, (before, during)
assert fds < 64 + 200, fds   # the peer's 64, not 10,000
EOF
) || fail "$line"
	note "$line"
}

@test "forwarded headers count only from server.trusted_proxies" {
	start_server fwd KCR_POOL_ENABLED=false KCR_TRUSTED_NETWORKS=10.0.0.0/8
	SRV=fwd
	api --no-key GET /files/AAAAAAAAAAAAAAAAAAAAA -H 'X-Forwarded-For: 10.1.2.3'
	assert_error_reply 401
	start_server prox KCR_POOL_ENABLED=false KCR_TRUSTED_NETWORKS=10.0.0.0/8 \
		KCR_TRUSTED_PROXIES=127.0.0.1/32,192.168.0.0/16
	SRV=prox
	api --no-key GET /files/AAAAAAAAAAAAAAAAAAAAA -H 'X-Forwarded-For: 10.1.2.3'
	assert_status 200
	# through two proxies
	api --no-key GET /files/AAAAAAAAAAAAAAAAAAAAA -H 'X-Forwarded-For: 10.1.2.3, 192.168.1.1'
	assert_status 200
	# a client that claims a trusted address before its own is not believed
	api --no-key GET /files/AAAAAAAAAAAAAAAAAAAAA -H 'X-Forwarded-For: 10.1.2.3, 8.8.8.8'
	assert_error_reply 401
}

@test "a batch upload sent chunked, split at every offset, stores each file once" {
	"$HOST_PYTHON" - "$(srv_port)" "$(srv_key)" <<'EOF'
import json, socket, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
b = "XyZ"
parts = [("a.txt", "aaa\n"), ("b.txt", "bbbb\n"), ("c.txt", "ccccc\n")]
body = "".join('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
               'Content-Type: text/plain\r\n\r\n%s\r\n' % (b, n, d) for n, d in parts)
body = (body + "--%s--\r\n" % b).encode()
want = [(n, len(d)) for n, d in parts]
bad = []
for k in range(1, len(body)):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("POST /upload/batch HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
               "Transfer-Encoding: chunked\r\nConnection: close\r\n"
               "Content-Type: multipart/form-data; boundary=%s\r\n\r\n" % (key, b)).encode())
    for piece in (body[:k], body[k:]):  # each chunk read on its own
        s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        time.sleep(0.003)
    s.sendall(b"0\r\n\r\n")
    resp = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        resp += d
    s.close()
    j = json.loads(resp.split(b"\r\n\r\n", 1)[1])
    got = [(f.get("filename"), f.get("size")) for f in j["files"]]
    if got != want or j["succeeded"] != 3:
        bad.append((k, got))
assert not bad, "%d of %d splits stored %s" % (len(bad), len(body) - 1, bad[:3])
EOF
}
