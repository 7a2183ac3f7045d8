#!/usr/bin/env bats
# Many clients at once: executions run in parallel (server.max_concurrent,
# default 16) behind a bounded queue, /health stays fast throughout, and
# a full queue answers 503 with Retry-After (not a hang or a crash).

load serve_helpers

setup_file() {
	start_server main
	start_server tiny KCR_MAX_CONCURRENT=1 KCR_QUEUE_SIZE=1 KCR_QUEUE_TIMEOUT=1 \
		KCR_POOL_PY=0 KCR_POOL_JS=0
}

# post_exec_bg DIR I BODY: POST /exec in the background; DIR/I.{body,hdr,code}
post_exec_bg() {
	curl -sS --max-time 120 -o "$1/$2.body" -D "$1/$2.hdr" -w '%{http_code} %{time_total}\n' \
		-H "X-API-Key: $(srv_key)" -H 'Content-Type: application/json' \
		--data-binary "$3" "$(srv_url)/exec" >"$1/$2.code" 2>"$1/$2.err" &
}

# Checks DIR/1..N.body: each a 200 (per DIR/codes) with stdout "ok\n" and
# a session of its own.
check_batch() {
	"$HOST_PYTHON" -c '
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
codes = {}
for line in open(f"{d}/codes"):
    c, _, f = line.strip().partition(" ")
    codes[os.path.basename(f)] = c
bad, sids = [], set()
for i in range(1, n + 1):
    code = codes.get(f"{i}.body")
    try:
        body = open(f"{d}/{i}.body", "rb").read()
        j = json.loads(body)
    except Exception:
        body, j = b"", None
    if code != "200" or not j or j.get("stdout") != "ok\n":
        bad.append((i, code, body[:300]))
        continue
    sids.add(j["session_id"])
for b in bad[:10]:
    print("# request", b)
if bad:
    print(f"# {len(bad)} of {n} failed")
    print("# curl:", open(f"{d}/curl.err").read()[:500])
    sys.exit(1)
if len(sids) != n:
    print(f"# only {len(sids)} distinct session ids for {n} requests")
    sys.exit(1)
' "$1" "$2"
}

# health_verdict BUSY.log CONTROL.log: "ok ..." when every /health of the
# busy server answered 200, its 90th percentile was under 50 ms or under 4
# times the idle control's (polled beside it, so the machine's own load
# counts for both), and its slowest under 1 s or 4 times the control's
# slowest: a lock held across an execution (1 s each) shows as seconds.
health_verdict() {
	"$HOST_PYTHON" -c '
import sys
def read(p):
    rows = [l.split() for l in open(p) if l.strip()]
    return [r[0] for r in rows], sorted(float(r[1]) for r in rows)
codes, busy = read(sys.argv[1])
_, ctl = read(sys.argv[2])
p90 = lambda v: v[min(len(v) - 1, int(len(v) * 0.9))] if v else 0.0
bad = [c for c in codes if c != "200"]
b90, c90, bmax, cmax = p90(busy), p90(ctl), busy[-1], ctl[-1] if ctl else 0.0
ok = not bad and (b90 < 0.050 or b90 < 4 * c90) and (bmax < 1.0 or bmax < 4 * cmax)
print("%s p90 %.1f ms (control %.1f), max %.1f ms (control %.1f), non-200: %d" %
      ("ok" if ok else "SLOW", b90 * 1e3, c90 * 1e3, bmax * 1e3, cmax * 1e3, len(bad)))
' "$1" "$2"
}

# The 64 requests go out from ONE curl process (--parallel), and the health
# poller runs at a higher CPU priority when we may raise it: on a small
# machine 64 client processes and a starved poller would otherwise measure
# the test's own scheduling delays, not the server's.
@test "64 concurrent /exec (sleep 1) all succeed, well under 64 s, /health stays fast throughout" {
	wait_pools_full
	local n=64 d=$BATS_TEST_TMPDIR/req i t0 t1 elapsed nice=()
	mkdir -p "$d"
	nice -n -15 true 2>/dev/null && nice=(nice -n -15)
	# a background poller: every 20 ms one GET /health of the busy server,
	# then one of the idle "tiny" server, the control: on a slow or loaded
	# machine both are slow, and only the busy one's own delays count
	(
		while [ ! -e "$d/stop" ]; do
			"${nice[@]}" curl -sS -o /dev/null --max-time 5 -w '%{http_code} %{time_total}\n' \
				"$(srv_url)/health" >>"$d/health.log" 2>>"$d/health.err" || echo "ERR 99" >>"$d/health.log"
			"${nice[@]}" curl -sS -o /dev/null --max-time 5 -w '%{http_code} %{time_total}\n' \
				"$(srv_url tiny)/health" >>"$d/control.log" 2>>"$d/health.err" || echo "ERR 99" >>"$d/control.log"
			sleep 0.02
		done
	) 3>&- &
	local poller=$!
	sleep 0.2
	: >"$d/urls"
	for i in $(seq 1 $n); do
		printf 'url = "%s/exec"\noutput = "%s/%s.body"\n' "$(srv_url)" "$d" "$i" >>"$d/urls"
	done
	t0=$(date +%s%N)
	curl -sS --parallel --parallel-immediate --parallel-max $n --max-time 120 \
		-H "X-API-Key: $(srv_key)" -H 'Content-Type: application/json' \
		--data-binary '{"lang":"bash","code":"sleep 1; echo ok"}' \
		-w '%{http_code} %{filename_effective}\n' -K "$d/urls" >"$d/codes" 2>"$d/curl.err" || true
	t1=$(date +%s%N)
	sleep 0.2
	touch "$d/stop"
	wait "$poller" || true
	elapsed=$(((t1 - t0) / 1000000))

	check_batch "$d" "$n" || fail "some /exec requests failed (see above)"
	local polls max_ms verdict
	polls=$(wc -l <"$d/health.log")
	max_ms=$(awk '{ ms = $2 * 1000; if (ms > m) m = ms } END { printf "%.1f", m }' "$d/health.log")
	verdict=$(health_verdict "$d/health.log" "$d/control.log")
	note "64 x (sleep 1), max_concurrent=16: batch ${elapsed} ms; /health polled ${polls} times, max ${max_ms} ms; $verdict"
	echo "# batch: ${elapsed} ms; health polls: ${polls}, max ${max_ms} ms; $verdict"
	[ "$elapsed" -lt 20000 ] || fail "64 concurrent 1 s executions took ${elapsed} ms (want < 20000)"
	# 16 at a time: at least 4 rounds of 1 s
	[ "$elapsed" -ge 4000 ] || fail "64 x 1 s finished in ${elapsed} ms: more than max_concurrent=16 ran at once?"
	[ "$polls" -ge 20 ] || fail "the health poller only got $polls answers"
	case $verdict in ok*) ;; *) fail "/health was slow while busy: $verdict" ;; esac
}

@test "/health reports running and waiting executions while busy" {
	local d=$BATS_TEST_TMPDIR/req i
	mkdir -p "$d"
	for i in $(seq 1 20); do
		post_exec_bg "$d" "$i" '{"lang":"bash","code":"sleep 5; echo ok"}'
	done
	# all 20 arrive within the first 5 s however loaded the machine is;
	# poll for them rather than guess when that is
	local until=$((SECONDS + 30))
	while [ $SECONDS -lt $until ]; do
		api --no-key GET /health
		[ "$(jget 'j["executions_running"] + j["executions_waiting"]')" = 20 ] && break
		sleep 0.1
	done
	assert_status 200
	assert_json 'j["executions_running"] == 16 and j["executions_waiting"] == 4'
	wait
	api --no-key GET /health
	assert_json 'j["executions_running"] == 0 and j["executions_waiting"] == 0'
}

@test "max_concurrent=1, queue_size=1, queue_timeout=1: excess requests get 503 + Retry-After + JSON reason" {
	SRV=tiny
	local d=$BATS_TEST_TMPDIR/req i
	mkdir -p "$d"
	for i in 1 2 3 4; do
		post_exec_bg "$d" "$i" '{"lang":"bash","code":"sleep 2; echo ok"}'
	done
	wait
	local ok=0 busy=0 code t
	for i in 1 2 3 4; do
		read -r code t <"$d/$i.code"
		echo "# request $i: HTTP $code in ${t}s: $(head -c 300 "$d/$i.body")"
		case $code in
		200)
			ok=$((ok + 1))
			"$HOST_PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(j["stdout"] != "ok\n")' "$d/$i.body" ||
				fail "request $i: 200 without stdout ok"
			;;
		503)
			busy=$((busy + 1))
			# the one that waited gives up after queue_timeout (1 s), the
			# others at once: none waits for the 2 s execution
			awk -v t="$t" 'BEGIN { exit !(t < 1.9) }' || fail "request $i: 503 only after ${t}s"
			grep -qi '^Retry-After: *[0-9]' "$d/$i.hdr" || {
				cat "$d/$i.hdr"
				fail "request $i: 503 without a Retry-After header"
			}
			BODY_FILE=$d/$i.body BODY=$(cat "$d/$i.body") HDR_FILE=$d/$i.hdr HTTP_STATUS=503 \
				assert_error_reply 503 'busy|slot|queue|capacity'
			BODY_FILE=$d/$i.body assert_json 'j["error_type"] == "service_unavailable"'
			;;
		*) fail "request $i: unexpected HTTP $code" ;;
		esac
	done
	assert_equal "$ok" 1
	assert_equal "$busy" 3
	# and it recovers
	exec_code bash 'echo again'
	assert_status 200
	assert_json 'j["stdout"] == "again\n"'
}

@test "a queued request runs when a slot frees up within queue_timeout" {
	SRV=tiny
	local d=$BATS_TEST_TMPDIR/req
	mkdir -p "$d"
	post_exec_bg "$d" 1 '{"lang":"bash","code":"sleep 0.5; echo first"}'
	sleep 0.2
	post_exec_bg "$d" 2 '{"lang":"bash","code":"echo second"}'
	wait
	local c1 c2
	read -r c1 _ <"$d/1.code"
	read -r c2 _ <"$d/2.code"
	assert_equal "$c1" 200
	assert_equal "$c2" 200
	grep -q '"stdout":"second\\n"' "$d/2.body" || fail "queued request: $(cat "$d/2.body")"
}
