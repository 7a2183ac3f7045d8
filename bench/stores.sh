#!/bin/bash
# The stores under load, measured in one run: `kcr serve` on the embedded
# fs stores and on redis+s3 (a real redis-server and s3rver from
# tests/servers.sh), each for
#   /exec of Python print(1) (1 and 8 clients), POST /upload of 1 MiB,
#   GET /download of 1 MiB: p50, p99 and requests/s (wrk);
#   a 1 GiB file uploaded and downloaded through it: the time, and kcr
#   serve's peak RSS (VmHWM) before and after.
# Usage: bench/stores.sh [SECONDS]      (needs wrk, redis-server, s3rver)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
KCR=${KCR:-$top/bin/kcr}
secs=${1:-10}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$top/tests/servers.sh" stop "$work/servers" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
"$top/tests/servers.sh" start "$work/servers"
# shellcheck disable=SC1091
. "$work/servers/env"

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() { # name, env...: starts kcr serve, sets port (no subshell: the pids stay ours)
	local name=$1
	shift
	port=$(free_port)
	mkdir -p "$work/$name"
	env KCR_STATE_DIR="$work/$name/state" KCR_API_KEYS=sk-bench KCR_FILE_SIZE_MB=1100 \
		KCR_MAX_BODY_MB=1200 "$@" "$KCR" serve --listen "127.0.0.1:$port" \
		>"$work/$name/out" 2>"$work/$name/log" </dev/null &
	pids+=($!)
	echo $! >"$work/$name/pid"
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
		sleep 0.1
	done
	echo "kcr serve ($name) did not start: $(tail -3 "$work/$name/log")" >&2
	exit 1
}

hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$(cat "$work/$1/pid")/status"; }

cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
	io.write(string.format("p50 %7.2f ms  p99 %7.2f ms  %8.1f req/s  errors %d\n",
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		summary.requests / (summary.duration / 1e6),
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
LUA
{
	cat "$work/report.lua"
	cat <<'LUA'
wrk.method = "POST"
wrk.body = '{"lang":"py","code":"print(1)"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "sk-bench"
LUA
} >"$work/exec.lua"
{
	cat "$work/report.lua"
	cat <<'LUA'
local b = "kcrbenchboundary"
wrk.method = "POST"
wrk.body = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"one.bin\"\r\n" ..
	"Content-Type: application/octet-stream\r\n\r\n" .. string.rep("x", 1048576) ..
	"\r\n--" .. b .. "--\r\n"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. b
wrk.headers["X-API-Key"] = "sk-bench"
LUA
} >"$work/upload.lua"
{
	cat "$work/report.lua"
	echo 'wrk.headers["X-API-Key"] = "sk-bench"'
} >"$work/download.lua"

head -c $((1 << 20)) /dev/urandom >"$work/one.bin"
big_mb=${BENCH_BIG_MB:-1024} # the large file, MiB (1 GiB unless told)
head -c $((big_mb << 20)) /dev/urandom >"$work/big.bin"
big_sha=$(sha256sum <"$work/big.bin" | cut -d' ' -f1)

run() { # name, env...
	local name=$1 port url sid fid t0 t1 h0 h1 h2 got
	shift
	start "$name" "$@"
	url="http://127.0.0.1:$port"
	echo "== $name"
	for c in 1 8; do
		printf '  /exec py print(1), %d client(s):  ' "$c"
		wrk -t$((c < 2 ? 1 : 2)) -c$c -d"${secs}s" --timeout 30s -s "$work/exec.lua" "$url/exec" | tail -1
	done
	printf '  POST /upload 1 MiB, 4 clients:     '
	wrk -t2 -c4 -d"${secs}s" --timeout 30s -s "$work/upload.lua" "$url/upload" | tail -1
	read -r sid fid < <(curl -sf -H 'X-API-Key: sk-bench' -F "file=@$work/one.bin;filename=one.bin" \
		"$url/upload" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["session_id"], j["files"][0]["fileId"])')
	printf '  GET /download 1 MiB, 4 clients:    '
	wrk -t2 -c4 -d"${secs}s" --timeout 30s -s "$work/download.lua" "$url/download/$sid/$fid" | tail -1
	h0=$(hwm "$name")
	t0=$(date +%s.%N)
	read -r sid fid < <(curl -sf -H 'X-API-Key: sk-bench' -F "file=@$work/big.bin;filename=big.bin" \
		"$url/upload" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["session_id"], j["files"][0]["fileId"])')
	t1=$(date +%s.%N)
	h1=$(hwm "$name")
	printf '  %d MiB upload:   %5.1f s  (%4.0f MiB/s)  peak RSS %d -> %d MiB\n' \
		"$big_mb" "$(echo "$t1 - $t0" | bc)" "$(echo "$big_mb / ($t1 - $t0)" | bc -l)" $((h0 / 1024)) $((h1 / 1024))
	t0=$(date +%s.%N)
	got=$(curl -sf -H 'X-API-Key: sk-bench' "$url/download/$sid/$fid" | sha256sum | cut -d' ' -f1)
	t1=$(date +%s.%N)
	h2=$(hwm "$name")
	printf '  %d MiB download: %5.1f s  (%4.0f MiB/s)  peak RSS %d -> %d MiB  %s\n' \
		"$big_mb" "$(echo "$t1 - $t0" | bc)" "$(echo "$big_mb / ($t1 - $t0)" | bc -l)" $((h1 / 1024)) $((h2 / 1024)) \
		"$([ "$got" = "$big_sha" ] && echo "sha256 matches" || echo "SHA256 DIFFERS")"
}

run fs
run redis+s3 KCR_SESSION_STORE=redis KCR_REDIS_URL="$TEST_REDIS_URL" KCR_FILE_STORE=s3 \
	KCR_S3_ENDPOINT="$TEST_S3_ENDPOINT" KCR_S3_BUCKET="$TEST_S3_BUCKET" \
	KCR_S3_ACCESS_KEY=S3RVER KCR_S3_SECRET_KEY=S3RVER
printf 'bare python3 -c print(1): '
hyperfine -N -w 3 -r 30 --export-json "$work/h.json" "/usr/bin/python3 -c 'print(1)'" >/dev/null
/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('median %.1f ms' % (r['median']*1000))" "$work/h.json"
