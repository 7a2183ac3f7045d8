#!/bin/bash
# What HTTPS costs in kcr serve: two servers of the same build, one HTTP
# and one HTTPS (a P-256 certificate from a CA made here), measured in
# turns, ROUNDS times:
#   handshake  a new connection's TLS handshake (curl's time_appconnect
#              minus time_connect), median of N connections, GET /health;
#   health     a whole GET /health on a new connection, median of N;
#   exec       POST /exec of Python print(1) on a kept-alive connection:
#              kcr bench --server, 1 client, p50 and p99.
# Usage: bench/tls.sh [N] [SECONDS] [ROUNDS]    (needs openssl, curl)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
KCR=${KCR:-$top/bin/kcr}
n=${1:-200}
secs=${2:-5}
rounds=${3:-3}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
KEY=sk-bench-tls-0123456789

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pki() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
		-out "$work/ca.pem" -days 1 -subj /CN=bench-ca 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/srv.key" \
		-out "$work/srv.csr" -subj /CN=bench 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$work/ext"
	openssl x509 -req -in "$work/srv.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
		-CAcreateserial -days 1 -extfile "$work/ext" -out "$work/srv.pem" 2>/dev/null
}

start() { # name scheme env...: starts kcr serve, sets url
	local name=$1 scheme=$2 port
	shift 2
	port=$(free_port)
	url=$scheme://127.0.0.1:$port
	mkdir -p "$work/$name"
	env -u SSL_CERT_FILE KCR_STATE_DIR="$work/$name/state" KCR_API_KEYS=$KEY KCR_POOL_PY=2 \
		KCR_POOL_JS=0 KCR_LOG_LEVEL=warn "$@" "$KCR" serve --listen "127.0.0.1:$port" \
		>"$work/$name/out" 2>"$work/$name/log" </dev/null &
	pids+=($!)
	for _ in $(seq 100); do
		curl -sf --cacert "$work/ca.pem" "$url/health" >/dev/null && return 0
		sleep 0.1
	done
	echo "kcr serve ($name) did not start: $(tail -3 "$work/$name/log")" >&2
	exit 1
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# new connections: prints "handshake_ms total_ms" medians
connections() {
	local i
	for i in $(seq "$n"); do
		curl -s -o /dev/null --cacert "$work/ca.pem" \
			-w '%{time_connect} %{time_appconnect} %{time_total}\n' "$1/health"
	done >"$work/times"
	printf '%s %s\n' \
		"$(awk '{ d = $2 - $1; if (d < 0) d = 0; print d * 1000 }' "$work/times" | median)" \
		"$(awk '{ print $3 * 1000 }' "$work/times" | median)"
}

exec_p50() {
	KCR_SERVER=$1 KCR_API_KEY=$KEY KCR_CA_FILE="$work/ca.pem" \
		"$KCR" bench --server "$1" -d "$secs" -c 1 --json py |
		/usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["kcr"]
print("%.2f %.2f" % (s["p50_ms"], s["p99_ms"]))'
}

pki
declare -A url_of
start http http
url_of[http]=$url
start https https KCR_TLS_ENABLED=true KCR_TLS_CERT_FILE="$work/srv.pem" \
	KCR_TLS_KEY_FILE="$work/srv.key"
url_of[https]=$url

declare -A hs tot ex
for r in $(seq "$rounds"); do
	for s in http https; do
		read -r h t < <(connections "${url_of[$s]}")
		read -r p50 p99 < <(exec_p50 "${url_of[$s]}")
		hs[$s]+="$h "
		tot[$s]+="$t "
		ex[$s]+="$p50/$p99 "
	done
done
med() { tr ' ' '\n' | grep -v '^$' | median; }
printf '%-6s %14s %16s %22s\n' "" "handshake ms" "new conn GET ms" "/exec p50/p99 ms"
for s in http https; do
	printf '%-6s %14s %16s %22s   (rounds: %s)\n' "$s" "$(med <<<"${hs[$s]}")" \
		"$(med <<<"${tot[$s]}")" \
		"$(tr ' ' '\n' <<<"${ex[$s]}" | grep -v '^$' | sort -t/ -n | median)" "${ex[$s]}"
done
