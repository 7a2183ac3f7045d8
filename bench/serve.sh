#!/bin/bash
# /exec latency of `kcr serve` for Python hello world at 1 and 8 clients,
# with bare `python3 -c` measured in the same run, and the server's idle
# RSS. Usage: bench/serve.sh [SECONDS]        (needs wrk and hyperfine)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
KCR=${KCR:-$top/bin/kcr}
secs=${1:-10}
work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KCR_STATE_DIR=$work/state KCR_API_KEYS=sk-bench "$KCR" serve --listen 127.0.0.1:$port 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
printf 'idle RSS: %s KiB\n' "$(ps -o rss= -p $pid | tr -d ' ')"
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"lang":"py","code":"print(1)"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "sk-bench"
done = function(summary, latency, requests)
	io.write(string.format("p50 %.1f ms  p99 %.1f ms  %.1f exec/s  errors %d\n",
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		summary.requests / (summary.duration / 1e6),
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
LUA
for c in 1 8; do
	printf '/exec py print(1), %d client(s), %ss: ' $c "$secs"
	wrk -t$((c < 2 ? 1 : 2)) -c$c -d${secs}s --timeout 30s -s "$work/post.lua" \
		"http://127.0.0.1:$port/exec" | tail -1
done
printf 'RSS after load: %s KiB\n' "$(ps -o rss= -p $pid | tr -d ' ')"
printf 'bare python3 -c print(1): '
hyperfine -N -w 3 -r 30 --export-json "$work/h.json" "/usr/bin/python3 -c 'print(1)'" >/dev/null
/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('median %.1f ms' % (r['median']*1000))" "$work/h.json"
