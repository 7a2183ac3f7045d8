#!/bin/bash
# The kubernetes provider against the API server simulator
# (tests/k8s/kube-sim.py), whose pods run kcr-runner on this machine:
#   - claim-to-result latency of /exec on a warm pool pod and on a Job
#     (each measured with the pool full before the request);
#   - pool refill rate: pods made Ready per second after a burst drained it;
#   - API calls per execution, from the simulator's audit log (watches,
#     which serve every execution at once, counted apart);
#   - the bare runtime in the same run: python3 -c 'print(1)'.
# Usage: bench/kubernetes.sh [BUILD_DIR] [N]   (N requests per row, default 20)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
n=${2:-20}
kcr=$build/bin/kcr
runner=$build/runner/kcr-runner
py=/usr/bin/python3
work=$(mktemp -d /tmp/kcr-bench-k8s.XXXXXX)
sim=$work/sim
pool=4

cleanup() {
	[ -n "${srv_pid:-}" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	$py "$top/tests/k8s/kube-sim.py" --dir "$sim" --stop >/dev/null 2>&1
	[ -n "${sim_pid:-}" ] && wait "$sim_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$sim"
$py "$top/tests/k8s/kube-sim.py" --dir "$sim" --runner "$runner" --namespaces kcr \
	--probe-period-ms 100 >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$sim/port" ] && break; sleep 0.1; done

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key=bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
KCR_STATE_DIR=$work/state KCR_API_KEYS=$key KCR_SANDBOX_PROVIDER=kubernetes \
	KCR_KUBECONFIG=$sim/kubeconfig KCR_K8S_NAMESPACE=kcr KCR_K8S_RUNNER_ACCESS=${ACCESS:-direct} \
	KCR_POOL_PY=$pool KCR_POOL_JS=0 KCR_LOG_LEVEL=error \
	"$kcr" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
srv_pid=$!
url=http://127.0.0.1:$port

ready_pods() { # what this replica's pool holds (GET /pool): no call to the API server
	curl -s -H "X-API-Key: $key" "$url/pool" | $py -c '
import json, sys
print(sum(p["ready"] for p in json.load(sys.stdin)["pools"] if p["language"] == "py"))'
}
wait_full() {
	for _ in $(seq 1200); do [ "$(ready_pods)" -ge "$pool" ] && return 0; sleep 0.05; done
	echo "pool did not fill" >&2
	return 1
}
api_calls() { grep -vc '"verb": *"watch"' "$sim/audit.jsonl" || true; }
exec_ms() { # LANG CODE: prints the request's time in ms
	curl -s -o "$work/reply" -w '%{time_total}\n' -H "X-API-Key: $key" \
		-H 'Content-Type: application/json' \
		-d "{\"lang\":\"$1\",\"code\":\"$2\"}" "$url/exec" | awk '{ printf "%.1f\n", $1 * 1000 }'
	grep -q '"stdout"' "$work/reply" || { cat "$work/reply" >&2; return 1; }
}
stats() { # label, file of ms: p50 p90 max
	sort -n "$2" | awk -v l="$1" '{ a[NR] = $1 } END {
		printf "%-34s p50 %7.1f ms  p90 %7.1f ms  max %7.1f ms  (n=%d)\n", l,
			a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)], a[NR], NR }'
}

for _ in $(seq 200); do curl -fs "$url/health" >/dev/null && break; sleep 0.05; done
wait_full

echo "# $("$kcr" --version | head -1), simulator pods on this host, access ${ACCESS:-direct}"
: >"$work/bare"
for _ in $(seq "$n"); do
	t0=$(date +%s%N)
	$py -c 'print(1)' >/dev/null
	echo "$(( ($(date +%s%N) - t0) / 100000 ))" | awk '{ printf "%.1f\n", $1 / 10 }' >>"$work/bare"
done
stats "bare python3 -c 'print(1)'" "$work/bare"

: >"$work/warm"
c0=$(api_calls)
for _ in $(seq "$n"); do
	wait_full
	exec_ms py 'print(1)' >>"$work/warm"
done
c1=$(api_calls)
stats "/exec py on a warm pool pod" "$work/warm"

: >"$work/job"
for _ in $(seq "$n"); do
	exec_ms bash 'echo 1' >>"$work/job"
done
c2=$(api_calls)
stats "/exec bash as a Job (pool size 0)" "$work/job"
wait_full
printf 'API calls per execution (not counting watches): warm %.1f (claim, delete, the refill'"'"'s create), Job %.1f\n' \
	"$(echo "($c1 - $c0) / $n" | bc -l)" "$(echo "($c2 - $c1) / $n" | bc -l)"

# refill: drain the pool with a burst of $pool, time until it is full again
burst=()
for _ in $(seq "$pool"); do
	exec_ms py 'print(1)' >/dev/null &
	burst+=($!)
done
wait "${burst[@]}"
t1=$(date +%s.%N)
wait_full
t2=$(date +%s.%N)
printf 'pool refill: %d pods Ready %.2f s after the burst ended (%.1f pods/s)\n' "$pool" \
	"$(echo "$t2 - $t1" | bc -l)" "$(echo "$pool / ($t2 - $t1)" | bc -l)"
