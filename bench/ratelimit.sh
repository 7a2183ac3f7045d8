#!/bin/bash
# What managed keys and rate limits cost per request, on the fs session
# store and on Redis (a redis-server of its own, on a unix socket): GET
# /pool (a route that does almost nothing else) with wrk, for
#   config    a configured key, no limits (the path before managed keys);
#   managed   a managed key without limits (a key cache hit);
#   1 window  a managed key with a per-minute limit (one counter_add);
#   4 windows a managed key with all four limits (four counter_adds).
# The limits are too high to be reached. The cases are run in turns,
# ROUNDS times, and the median of each is printed: this machine is
# shared, and a turn of each evens out what the others do meanwhile.
# Usage: bench/ratelimit.sh [SECONDS] [ROUNDS]    (needs wrk, redis-server)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
KCR=${KCR:-$top/bin/kcr}
secs=${1:-4}
rounds=${2:-3}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -f "$work/redis/pid" ]; then
		local rp
		rp=$(cat "$work/redis/pid")
		kill "$rp" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$rp" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT
ADMIN=sk-bench-admin-0123456789

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() { # name, env...: starts kcr serve, sets port (no subshell: the pids stay ours)
	local name=$1
	shift
	port=$(free_port)
	mkdir -p "$work/$name"
	env KCR_STATE_DIR="$work/$name/state" KCR_API_KEYS=sk-bench KCR_ADMIN_KEY=$ADMIN \
		KCR_POOL_PY=0 KCR_POOL_JS=0 KCR_LOG_LEVEL=warn "$@" "$KCR" serve \
		--listen "127.0.0.1:$port" >"$work/$name/out" 2>"$work/$name/log" </dev/null &
	pids+=($!)
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
		sleep 0.1
	done
	echo "kcr serve ($name) did not start: $(tail -3 "$work/$name/log")" >&2
	exit 1
}

key() { # port, JSON: a managed key
	curl -sf -H "X-API-Key: $ADMIN" "http://127.0.0.1:$1/admin/keys" -d "$2" |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}

cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
	io.write(string.format("%.1f %.1f %.0f %d\n", latency:percentile(50),
		latency:percentile(99), summary.requests / (summary.duration / 1e6),
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
LUA

mkdir -p "$work/redis"
redis-server --port 0 --unixsocket "$work/redis/sock" --unixsocketperm 700 --save '' \
	--appendonly no --dir "$work/redis" --daemonize yes --pidfile "$work/redis/pid" \
	--logfile "$work/redis/log"
for _ in $(seq 100); do
	redis-cli -s "$work/redis/sock" ping 2>/dev/null | grep -q PONG && break
	sleep 0.05
done

declare -A url k
for store in fs redis; do
	if [ $store = redis ]; then
		start $store KCR_SESSION_STORE=redis "KCR_REDIS_URL=unix://$work/redis/sock"
	else
		start $store
	fi
	url[$store]="http://127.0.0.1:$port/pool"
	k[$store,config]=sk-bench
	k[$store,managed]=$(key "$port" '{"name":"none"}')
	k[$store,1window]=$(key "$port" '{"rate_limits":{"per_minute":4000000000}}')
	k[$store,4windows]=$(key "$port" '{"rate_limits":{"per_second":4000000000,
		"per_minute":4000000000,"per_hour":4000000000,"per_day":4000000000}}')
done

cases=(config managed 1window 4windows)
for ((r = 0; r < rounds; r++)); do
	for store in fs redis; do
		for c in "${cases[@]}"; do
			wrk -t1 -c2 -d"${secs}s" -s "$work/report.lua" \
				-H "X-API-Key: ${k[$store,$c]}" "${url[$store]}" |
				tail -1 >>"$work/$store.$c"
		done
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-6s %-9s %9s %9s %9s %7s  (median of %d runs of %ss, 2 connections)\n' \
	store case p50_us p99_us req/s errors "$rounds" "$secs"
for store in fs redis; do
	for c in "${cases[@]}"; do
		f=$work/$store.$c
		printf '%-6s %-9s %9s %9s %9s %7s\n' "$store" "$c" \
			"$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
			"$(cut -d' ' -f3 "$f" | median)" "$(cut -d' ' -f4 "$f" | sort -n | tail -1)"
	done
done
