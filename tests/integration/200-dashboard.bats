#!/usr/bin/env bats
# The admin dashboard (issue 13): the page and its assets served from the
# binary with their Content-Security-Policy, GET /admin/activity for the
# admin key alone, and the page itself driven in a real browser (Debian's
# chromium, headless, over the DevTools protocol: tests/dashboard/drive.py):
# a wrong key and an ordinary key are refused, the admin key shows the
# pools, a chart of the executions this test ran, latency, the keys with
# their usage, and a key revoked through its button goes. Screenshots are
# kept under the build dir in tests/artifacts/.
# shellcheck disable=SC2154 # status, output: set by run
# shellcheck disable=SC2034 # AS_KEY: read by serve_helpers' api

load serve_helpers

bats_require_minimum_version 1.5.0

ADMIN=sk-admin-200-dashboard-abcdefgh
DRIVE=$BATS_TEST_DIRNAME/../dashboard/drive.py
# the window (and so every screenshot's size)
SIZE=1280x900
CSP="default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"

setup_file() {
	start_server main KCR_ADMIN_KEY="$ADMIN" KCR_POOL_PY=1 KCR_POOL_BASH=1 $(pools_only py bash) \
		KCR_POOL_ADAPTIVE=false
}

# Skips (fails in CI, where nothing may be skipped) without the browser.
require_browser() {
	local why=
	command -v chromium >/dev/null 2>&1 || why="needs chromium (scripts/install-deps.sh)"
	"$HOST_PYTHON" -c 'import websocket' 2>/dev/null ||
		why="${why:+$why; }needs python3-websocket (scripts/install-deps.sh)"
	[ -z "$why" ] && return 0
	[ "${CI:-}" = true ] && fail "$why; CI=true makes this a failure, not a skip"
	skip "$why"
}

admin() { AS_KEY=$ADMIN api "$@" -H 'Content-Type: application/json'; }

# Where the screenshots go: tests/artifacts of the build dir (beside bin/).
artifacts() {
	local d
	d=$(cd "$(dirname "$KCR")/.." && pwd)/tests/artifacts
	mkdir -p "$d"
	echo "$d"
}

# assert_png FILE WIDTH HEIGHT: a real PNG of that size (its IHDR chunk)
assert_png() {
	"$HOST_PYTHON" - "$@" <<'EOF' || fail "$1 is not a ${2}x$3 PNG"
import struct, sys
data = open(sys.argv[1], "rb").read()
ok = data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
w, h = struct.unpack(">II", data[16:24]) if ok else (0, 0)
print("#", sys.argv[1], len(data), "bytes", w, "x", h)
sys.exit(0 if ok and (w, h) == (int(sys.argv[2]), int(sys.argv[3])) and len(data) > 5000 else 1)
EOF
}

# The sum of language LANG's executions per minute in the last
# GET /admin/activity
activity_total() {
	jget "sum(j['executions'].get('$1', []))"
}

@test "dashboard: page and assets need no key, come from the binary with their CSP and no-store, load nothing from elsewhere" {
	local f
	api --no-key GET /dashboard
	assert_status 200
	assert_equal "$(header Content-Type)" 'text/html; charset=utf-8'
	assert_equal "$(header Content-Security-Policy)" "$CSP"
	assert_equal "$(header Cache-Control)" no-store
	assert_equal "$(header X-Frame-Options)" DENY
	# every URL of the page is relative (a base path keeps working) or data:,
	# and it has no inline script or style
	run grep -Eo '(src|href)="[^"]*"' "$BODY_FILE"
	assert_success
	[ "${#lines[@]}" -ge 3 ] || fail "the page loads too little: $output"
	for f in "${lines[@]}"; do
		[[ $f =~ ^(src|href)=\"(dashboard/[a-z]+\.(js|css)|data:,)\"$ ]] ||
			fail "not a relative URL of the dashboard: $f"
	done
	run grep -Ec '<script>|<script [^>]*>[^<]|style=|javascript:' "$BODY_FILE"
	assert_output 0
	cp "$BODY_FILE" page.html
	api --no-key GET /dashboard/app.js
	assert_status 200
	assert_equal "$(header Content-Type)" 'text/javascript; charset=utf-8'
	assert_equal "$(header Content-Security-Policy)" "$CSP"
	# the admin key: in memory, never stored in the browser
	run grep -Ec 'localStorage\.|sessionStorage\.|document\.cookie|https?://[^w]' "$BODY_FILE"
	assert_output 0
	api --no-key GET /dashboard/style.css
	assert_status 200
	assert_equal "$(header Content-Type)" 'text/css; charset=utf-8'
	api --no-key GET /dashboard/
	assert_status 308
	assert_equal "$(header Location)" ../dashboard
	# the same bytes as the source tree's: compiled in, not read at run time
	[ -n "${KCR_SRCDIR:-}" ] && cmp page.html "$KCR_SRCDIR/dashboard/index.html"
	api --no-key GET /dashboard/index.html
	assert_status 404
}

@test "dashboard: served under server.base_path, its relative URLs with it" {
	start_server based -- --base-path /v1
	SRV=based api --no-key GET /v1/dashboard
	assert_status 200
	SRV=based api --no-key GET /v1/dashboard/app.js
	assert_status 200
	SRV=based api --no-key GET /v1/dashboard/
	assert_status 308
	assert_equal "$(header Location)" ../dashboard
}

@test "admin activity: admin key only; counts executions per language, latency, errors without keys" {
	api --no-key GET /admin/activity
	assert_error_reply 401
	api GET /admin/activity
	assert_error_reply 403 'admin key'
	admin GET /admin/activity
	assert_status 200
	local py0 bash0
	py0=$(activity_total py)
	bash0=$(activity_total bash)
	exec_code py 'print(1)'
	assert_status 200
	exec_code bash 'exit 3'
	assert_status 200
	api GET /no-such-route
	admin GET '/admin/activity?latency_minutes=60'
	assert_status 200
	assert_equal "$(activity_total py)" $((py0 + 1))
	assert_equal "$(activity_total bash)" $((bash0 + 1))
	assert_json 'len(j["executions"]["py"]) == 60 and j["minutes"] == 60'
	assert_json 'j["errors"]["bash"][-1] >= 1'
	assert_json 'j["latency"]["window_minutes"] == 60'
	assert_json 'j["latency"]["languages"]["py"]["count"] >= 1'
	assert_json 'all(0 < l["p50_ms"] <= l["p95_ms"] <= l["p99_ms"] <= l["max_ms"] for l in j["latency"]["languages"].values())'
	# newest first: the 404, then the 403 of the ordinary key, with its id
	assert_json 'j["recent_errors"][0]["status"] == 404 and j["recent_errors"][0]["route"] == "/no-such-route"'
	local id
	id=$(printf '%s' "$(srv_key)" | sha256sum | cut -d' ' -f1)
	assert_json "any(e['status'] == 403 and e['route'] == 'admin_activity' and e['key_id'] == '$id' and e['key_name'] == 'configured key' and e['error_type'] == 'authorization' for e in j['recent_errors'])"
	# never a key itself
	grep -qF -- "$(srv_key)" "$BODY_FILE" && fail "the activity shows a key"
	grep -qF -- "$ADMIN" "$BODY_FILE" && fail "the activity shows the admin key"
	admin GET '/admin/activity?latency_minutes=61'
	assert_error_reply 400
}

@test "dashboard in chromium: keys refused, then pools, a chart of this test's executions, latency, keys with usage; revoke a key by its button" {
	require_browser
	local art alpha beta alpha_id beta_id i
	art=$(artifacts)
	rm -f "$art"/dashboard-*.png
	admin POST /admin/keys --data-binary '{"name":"dash-alpha","rate_limits":{"per_hour":500}}'
	assert_status 201
	alpha=$(jget 'j["key"]') alpha_id=$(jget 'j["id"]')
	admin POST /admin/keys --data-binary '{"name":"dash-beta","max_concurrent":2}'
	assert_status 201
	beta=$(jget 'j["key"]') beta_id=$(jget 'j["id"]')
	# 3 py and 2 bash executions with alpha, one bash failing
	for i in 1 2 3; do
		AS_KEY=$alpha exec_code py "print($i * 7)"
		assert_status 200
	done
	AS_KEY=$alpha exec_code bash 'echo hi'
	assert_json 'j["stdout"] == "hi\n"'
	AS_KEY=$alpha exec_code bash 'exit 2'
	assert_json 'j["exit_code"] == 2'
	admin GET /admin/activity
	local py_total bash_total
	py_total=$(activity_total py) bash_total=$(activity_total bash)
	[ "$py_total" -ge 3 ] && [ "$bash_total" -ge 2 ] || fail "activity: py $py_total, bash $bash_total"

	local q="document.querySelector" rows="document.querySelectorAll"
	local alpha_row="#keys-table tr[data-key-id=\"$alpha_id\"]"
	local beta_row="#keys-table tr[data-key-id=\"$beta_id\"]"
	local one_py="curl -sf -o /dev/null -H 'X-API-Key: $beta' -H 'Content-Type: application/json' $(srv_url)/exec -d '{\"lang\":\"py\",\"code\":\"print(0)\"}'"
	run --separate-stderr "$HOST_PYTHON" "$DRIVE" --size "$SIZE" --timeout 30 --shots "$art" \
		"$(srv_url)/dashboard" \
		wait "$q('#login-form') && document.body.dataset.state === 'login'" \
		shot dashboard-login \
		type '#key-input' sk-not-a-key-of-this-server click '#login-button' \
		wait "$q('#login-error').textContent.includes('(401)')" \
		print "$q('#login-error').textContent" \
		shot dashboard-login-refused \
		type '#key-input' "$(srv_key)" click '#login-button' \
		wait "$q('#login-error').textContent.includes('(403)')" \
		print "$q('#login-error').textContent" \
		print "$q('#key-input').value" \
		type '#key-input' "$ADMIN" click '#login-button' \
		wait "document.body.dataset.state === 'ready'" \
		wait "$q('#pools-table tr[data-lang=\"py\"]') && $q('#pools-table tr[data-lang=\"bash\"]')" \
		print "[...$rows('#pools-table tbody tr')].map(r => [r.dataset.lang, +r.dataset.target])" \
		wait "+$q('#exec-chart').getAttribute('data-total-py') >= $py_total && +$q('#exec-chart').getAttribute('data-total-bash') >= $bash_total" \
		print "[+$q('#exec-chart').getAttribute('data-total-py'), +$q('#exec-chart').getAttribute('data-total-bash'), [...$rows('#exec-chart rect[data-lang]')].reduce((s, r) => s + +r.dataset.count, 0), $rows('#exec-chart circle.err-mark').length]" \
		wait "$q('#latency-table tr[data-lang=\"py\"]') && $q('#latency-table tr[data-lang=\"bash\"]') && $q('#latency-table tr[data-lang=\"all\"]')" \
		print "[...$rows('#latency-table tbody tr')].map(r => [r.dataset.lang, +r.dataset.count, +r.dataset.p50 > 0])" \
		wait "$q('$alpha_row') && $q('$alpha_row').dataset.executions === '5' && $q('$beta_row')" \
		print "[...$rows('#keys-table tbody tr')].map(r => [r.dataset.name, +r.dataset.executions, r.cells[3].textContent])" \
		wait "[...$rows('#errors-table tbody tr')].some(r => r.dataset.status === '403')" \
		print "localStorage.length + sessionStorage.length + document.cookie.length" \
		shot dashboard-overview \
		scroll '#panel-latency' \
		shot dashboard-keys \
		run "$one_py" \
		wait "+$q('#exec-chart').getAttribute('data-total-py') >= $((py_total + 1)) && $q('$beta_row').dataset.executions === '1'" \
		click "button.revoke[data-key-id=\"$beta_id\"]" \
		wait "!$q('$beta_row') && !!$q('$alpha_row')" \
		print "$q('#notice').textContent" \
		scroll '#panel-latency' \
		shot dashboard-revoked \
		click '#logout' \
		wait "document.body.dataset.state === 'login' && $rows('#keys-table tbody tr').length === 0"
	echo "# drive.py: $stderr" | head -40
	assert_success
	echo "$output" | sed 's/^/# /'
	assert_line --index 0 '"The server refused the key (401): Invalid API key"'
	assert_line --index 1 --regexp '^"That key is not the admin key \(403\): .*admin key'
	assert_line --index 2 '""' # the input is emptied once the key is read
	# the pools of this server, as /admin/pool has them
	assert_line --index 3 --regexp '\["py", 1\].*\["bash", 1\]|\["bash", 1\].*\["py", 1\]'
	# the chart: its totals are the API's, and the bars add up to them
	"$HOST_PYTHON" - "${lines[4]}" "$py_total" "$bash_total" <<'EOF' || fail "chart ${lines[4]}"
import json, sys
py, bash, bars, marks = json.loads(sys.argv[1])
sys.exit(0 if py >= int(sys.argv[2]) and bash >= int(sys.argv[3]) and bars == py + bash and marks >= 1 else 1)
EOF
	"$HOST_PYTHON" - "${lines[5]}" <<'EOF' || fail "latency ${lines[5]}"
import json, sys
rows = {l: (n, p) for l, n, p in json.loads(sys.argv[1])}
sys.exit(0 if rows["py"][0] >= 3 and rows["bash"][0] >= 2 and rows["all"][0] == sum(n for l, (n, p) in rows.items() if l != "all") and all(p for n, p in rows.values()) else 1)
EOF
	assert_line --index 6 --regexp '\["dash-alpha", 5, "500/h"\]'
	assert_line --index 6 --regexp '\["dash-beta", 0, "2 at once"\]'
	assert_line --index 7 0 # nothing stored in the browser
	assert_line --index 8 '"revoked dash-beta"'
	# the API agrees: beta is gone and refused, alpha still works
	admin GET "/admin/keys/$beta_id"
	assert_status 404
	AS_KEY=$beta api GET /pool
	assert_error_reply 401 'Invalid API key'
	AS_KEY=$alpha api GET /pool
	assert_status 200
	for i in login login-refused overview keys revoked; do
		assert_png "$art/dashboard-$i.png" "${SIZE%x*}" "${SIZE#*x}"
	done
	[ ! -e "$art/failure.png" ] || fail "drive.py left a failure.png"
}

@test "dashboard in chromium: a key that stops working mid-session (SIGHUP) sends the page back to its login form with the reason" {
	require_browser
	local art cfg=$BATS_TEST_TMPDIR/kcr.yaml old=sk-admin-200-old-abcdefgh new=sk-admin-200-new-abcdefgh
	art=$(artifacts)
	printf 'server:\n  admin_key: %s\n' "$old" >"$cfg"
	start_server hup "--config=$cfg"
	local q="document.querySelector" url
	url=$(SRV=hup srv_url)
	local swap="printf 'server:\\n  admin_key: $new\\n' >'$cfg.tmp' && mv '$cfg.tmp' '$cfg' && kill -HUP $(srv_pid hup)"
	run --separate-stderr "$HOST_PYTHON" "$DRIVE" --size "$SIZE" --timeout 30 --shots "$art" \
		"$url/dashboard" \
		type '#key-input' "$old" click '#login-button' \
		wait "document.body.dataset.state === 'ready'" \
		choose '#refresh-select' 2 \
		wait "+document.body.dataset.refreshes >= 2" \
		run "$swap" \
		wait "document.body.dataset.state === 'login' && $q('#login-error').textContent.includes('(401)')" \
		print "$q('#login-error').textContent" \
		print "[$q('#panels').hidden, $q('#keys-table tbody').children.length]" \
		shot dashboard-key-gone \
		type '#key-input' "$new" click '#login-button' \
		wait "document.body.dataset.state === 'ready'"
	echo "# drive.py: $stderr" | head -40
	assert_success
	assert_line --index 0 '"The server refused the key (401): Invalid API key"'
	assert_line --index 1 '[true, 0]'
	assert_png "$art/dashboard-key-gone.png" "${SIZE%x*}" "${SIZE#*x}"
}
