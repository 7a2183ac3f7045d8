#!/usr/bin/env bats
# GET /metrics: the Prometheus text exposition format (0.0.4) on a real
# `kcr serve`, after a few executions of each outcome; the text must pass
# a strict parser, and the counts must be the ones the calls made.

load serve_helpers

setup_file() {
	start_server main KCR_METRICS_PUBLIC=true
}

# A strict reader of the exposition format, then a check. The metrics text
# is $BODY_FILE; EXPR sees v(name, **labels) (the value of the sample with
# exactly those labels, None if absent), samples [(name, labels, value)],
# types {family: type} and text.
PARSER='
import math, re, sys
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:[+-]?Inf|NaN|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
LVAL = r"\"(?:[^\"\\\n]|\\[\\\"n])*\""
SAMPLE = re.compile(r"(%s)(?:\{((?:%s=%s(?:,%s=%s)*)?)\})? (%s)" % (NAME, LABEL, LVAL, LABEL, LVAL, VALUE))
PAIR = re.compile(r"(%s)=(%s)" % (LABEL, LVAL))

def bad(n, line, why):
    print("# line %d: %s: %r" % (n, why, line)); sys.exit(1)

def unescape(s):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), s[1:-1])

text = open(sys.argv[1], encoding="utf-8").read()
if not text.endswith("\n"):
    print("# the text does not end with a newline"); sys.exit(1)
helps, types, samples, seen, families, cur = {}, {}, [], set(), set(), None
for n, line in enumerate(text[:-1].split("\n"), 1):
    if line.startswith("#"):
        m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % NAME, line)
        if not m:
            bad(n, line, "a comment that is neither HELP nor TYPE")
        kind, fam, rest = m.groups()
        if fam != cur:
            if fam in families: bad(n, line, "metric family split in two")
            families.add(fam)
            cur = fam
        if kind == "HELP":
            if fam in helps: bad(n, line, "second HELP")
            if fam in types: bad(n, line, "HELP after TYPE")
            if not re.fullmatch(r"(?:[^\\\n]|\\[\\n])*", rest): bad(n, line, "bad escape in HELP")
            helps[fam] = rest
        else:
            if fam in types: bad(n, line, "second TYPE")
            if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                bad(n, line, "unknown type")
            types[fam] = rest
        continue
    m = SAMPLE.fullmatch(line)
    if not m:
        bad(n, line, "not a sample line \"name{labels} value\"")
    name, labels, value = m.group(1), m.group(2) or "", m.group(3)
    fam = name
    if cur is not None and types.get(cur) == "histogram" and name in (cur + "_bucket", cur + "_sum", cur + "_count"):
        fam = cur
    if fam != cur or fam not in helps or fam not in types:
        bad(n, line, "sample without HELP and TYPE of its own family just before")
    pairs = PAIR.findall(labels)
    ls = {k: unescape(v) for k, v in pairs}
    if len(ls) != len(pairs): bad(n, line, "a label twice")
    key = (name, tuple(sorted(ls.items())))
    if key in seen: bad(n, line, "the same series twice")
    seen.add(key)
    val = float(value.replace("Inf", "inf"))
    if types[fam] == "counter" and not val >= 0: bad(n, line, "a counter below 0")
    if types[fam] == "histogram" and (name.endswith("_bucket")) != ("le" in ls):
        bad(n, line, "le on a sample that is not a bucket, or a bucket without le")
    samples.append((name, ls, val))

# histograms: cumulative buckets, increasing le, +Inf last and equal to _count
for fam, t in types.items():
    if t != "histogram": continue
    series = {}
    for name, ls, val in samples:
        if name.startswith(fam + "_"):
            k = tuple(sorted((a, b) for a, b in ls.items() if a != "le"))
            series.setdefault(k, {"b": []})
            if name == fam + "_bucket": series[k]["b"].append((float(ls["le"].replace("Inf", "inf")), val))
            else: series[k][name[len(fam) + 1:]] = val
    for k, s in series.items():
        b = s["b"]
        if not b or b[-1][0] != math.inf: print("# %s%s: no +Inf bucket last" % (fam, k)); sys.exit(1)
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            print("# %s%s: buckets not increasing and cumulative: %r" % (fam, k, b)); sys.exit(1)
        if "sum" not in s or s.get("count") != b[-1][1]:
            print("# %s%s: _count %r is not the +Inf bucket %r, or no _sum" % (fam, k, s.get("count"), b[-1][1])); sys.exit(1)

def v(name, **labels):
    for n, ls, val in samples:
        if n == name and ls == labels: return val
    return None

ok = eval(sys.argv[2])
if not ok:
    print("# check failed: " + sys.argv[2])
sys.exit(0 if ok else 1)
'

# assert_metrics EXPR: GET /metrics (with no key), parse it strictly, check EXPR.
assert_metrics() {
	api --no-key GET /metrics
	assert_status 200 || return 1
	if ! "$HOST_PYTHON" -c "$PARSER" "$BODY_FILE" "$1"; then
		echo "# --- /metrics ---"
		grep -v '^#' "$BODY_FILE" | grep -v '_bucket' | sed 's/^/#   /'
		fail "metrics check failed: $1"
		return 1
	fi
}

@test "executions of every outcome, and a 400" {
	exec_code py 'print(1)'
	assert_status 200
	assert_json 'j["exit_code"] == 0'
	exec_code py 'import sys; sys.exit(3)'
	assert_status 200
	assert_json 'j["exit_code"] == 3'
	exec_code py 'while True: pass' '"timeout":1000'
	assert_status 200
	assert_json 'j["timed_out"] is True'
	exec_code cobol 'DISPLAY "HI".'
	assert_status 400
}

@test "GET /metrics: the Prometheus content type, no key needed when public, a strict parse" {
	api --no-key GET /metrics
	assert_status 200
	[ "$(header Content-Type)" = 'text/plain; version=0.0.4; charset=utf-8' ] ||
		fail "Content-Type: $(header Content-Type)"
	assert_metrics 'len(samples) > 20'
	for fam in kcr_executions_total kcr_execution_duration_seconds \
		kcr_sandbox_setup_duration_seconds kcr_http_requests_total \
		kcr_http_request_duration_seconds kcr_executions_running kcr_executions_waiting \
		kcr_process_resident_memory_bytes kcr_process_open_fds kcr_build_info; do
		grep -q "^# TYPE $fam " "$BODY_FILE" || fail "no metric $fam"
	done
}

@test "executions by language and outcome" {
	assert_metrics 'v("kcr_executions_total", language="py", outcome="ok") == 1'
	assert_metrics 'v("kcr_executions_total", language="py", outcome="error") == 1'
	assert_metrics 'v("kcr_executions_total", language="py", outcome="timeout") == 1'
	# nothing else: the unknown language never reached the engine
	assert_metrics 'sorted((ls["language"], ls["outcome"]) for n, ls, x in samples if n == "kcr_executions_total") == [("py", "error"), ("py", "ok"), ("py", "timeout")]'
}

@test "the execution and set-up histograms count each execution" {
	assert_metrics 'v("kcr_execution_duration_seconds_count", language="py") == 3'
	assert_metrics 'v("kcr_execution_duration_seconds_bucket", language="py", le="+Inf") == 3'
	# the timed-out one took at least its second
	assert_metrics 'v("kcr_execution_duration_seconds_sum", language="py") >= 1.0'
	assert_metrics 'v("kcr_execution_duration_seconds_bucket", language="py", le="0.5") <= 2'
	assert_metrics 'v("kcr_execution_duration_seconds_bucket", language="py", le="60") == 3'
	assert_metrics 'v("kcr_sandbox_setup_duration_seconds_count", language="py") == 3'
	assert_metrics 'v("kcr_sandbox_setup_duration_seconds_sum", language="py") >= 0'
}

@test "HTTP requests by route and status class, and their durations" {
	assert_metrics 'v("kcr_http_requests_total", route="exec", status="2xx") == 3'
	assert_metrics 'v("kcr_http_requests_total", route="exec", status="4xx") == 1'
	assert_metrics 'v("kcr_http_requests_total", route="health", status="2xx") >= 1'
	assert_metrics 'v("kcr_http_request_duration_seconds_count", route="exec") == 4'
	api GET /no/such/route
	assert_status 404
	# a path no route matches counts as route "none", never as the path
	assert_metrics 'v("kcr_http_requests_total", route="none", status="4xx") == 1'
	assert_metrics 'not any("/no/such" in str(ls) for n, ls, x in samples)'
	# the scrapes themselves are counted once answered
	assert_metrics 'v("kcr_http_requests_total", route="metrics", status="2xx") >= 3'
}

@test "gauges: load, resident memory, open fds, build info" {
	api GET /health
	local version
	version=$(jget 'j["version"]')
	assert_metrics 'v("kcr_executions_running") == 0 and v("kcr_executions_waiting") == 0'
	assert_metrics 'v("kcr_process_resident_memory_bytes") > 1 << 20'
	assert_metrics 'v("kcr_process_open_fds") >= 3'
	assert_metrics "v('kcr_build_info', version='$version') == 1"
}

@test "by default GET /metrics needs the API key (server.metrics_public)" {
	start_server private
	SRV=private
	api --no-key GET /metrics
	assert_error_reply 401
	api --no-key GET /metrics -H 'X-API-Key: sk-wrong'
	assert_status 401
	api GET /metrics
	assert_status 200
	[ "$(header Content-Type)" = 'text/plain; version=0.0.4; charset=utf-8' ]
	grep -q '^# TYPE kcr_executions_total counter$' "$BODY_FILE"
}

@test "store operations by store, backend and result" {
	api GET /download/NoSuchSessionIdXXXXXX/NoSuchFileIdXXXXXXXXX
	assert_status 404
	# the backend label is the store's name, whichever store is configured
	assert_metrics 'sum(x for n, ls, x in samples if n == "kcr_store_operations_total" and ls["store"] == "sessions" and ls["result"] == "ok") > 0'
	assert_metrics 'sum(x for n, ls, x in samples if n == "kcr_store_operations_total" and ls["result"] == "notfound") >= 1'
	assert_metrics 'not any(n == "kcr_store_operations_total" and ls["result"] == "error" for n, ls, x in samples)'
	assert_metrics 'all(ls["backend"] in ("fs", "redis", "s3") for n, ls, x in samples if n == "kcr_store_operations_total")'
}
