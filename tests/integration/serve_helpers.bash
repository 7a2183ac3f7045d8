# Shared helpers for the `kcr serve` integration suites (bats 1.8.2).
# Each suite starts with 'load serve_helpers'.
#
# Servers
#   start_server NAME [--no-default-key] [VAR=VALUE...] [GLOBAL-OPTION...]
#                [-- SERVE-ARG...]
#       starts a real `kcr serve` on 127.0.0.1 and a free port, with its own
#       KCR_STATE_DIR (srv_dir NAME/state) and a random API key in
#       KCR_API_KEYS (--no-default-key: KCR_API_KEYS is not set at all, so
#       the keys come from a config file or are generated; --key KEY: that
#       key instead of a random one, e.g. to restart with the same tenant;
#       --ca FILE: the server speaks HTTPS (its TLS settings among the
#       VAR=VALUEs) with a certificate FILE's CA signed, and every request
#       to it goes to https:// and checks the certificate with FILE).
#       Tokens starting
#       with '-' before '--' are global kcr options (e.g. --config=FILE).
#       Waits until
#       GET /health answers 200. Called from setup_file, the server lives
#       for the whole file and teardown_file stops it; called from a test,
#       teardown stops it. Either way a server that has died before it is
#       stopped fails the test (or the file): a crash is never silent.
#       With TEST_STORES set (the env file of tests/servers.sh, as `make
#       check-stores` does), every server uses the redis session store and
#       the s3 file store of those servers, under a Redis key prefix and an
#       S3 object prefix of its own (store_prefix NAME); a VAR=VALUE given
#       here overrides them (two replicas sharing one prefix).
#   stop_server NAME        SIGTERM, wait, fail if it had crashed.
#   pools_only LANG...      KCR_POOL_<L>=0 for every other language
#   runner_pids [NAME]      the server's sandboxes' runners (pid 1 of each)
#   waiting_in NAME PROG    PROG processes right below NAME's runners
#   cell_pids [NAME]        the server's warm Python cells
#   pool_field LANG FIELD   one field of LANG's pool in GET /pool
#   until_field LANG FIELD OP VALUE [SECONDS]   polls pool_field until true
#   srv_url NAME / srv_key NAME / srv_pid NAME / srv_dir NAME / srv_port NAME
#   server_alive NAME
#
# Requests (curl; the target server is $SRV, default "main")
#   api [--no-key] METHOD PATH [CURL-ARGS...]
#       sends the request with X-API-Key (the server's, or $AS_KEY when
#       set; none with --no-key) and sets
#       HTTP_STATUS, HTTP_TIME (seconds), BODY (the body as text), BODY_FILE
#       and HDR_FILE (raw bytes and headers). Never fails by itself.
#   exec_json JSON          POST /exec with that JSON body
#   exec_code LANG CODE [EXTRA-JSON-MEMBERS]
#   upload_file PATH-ON-DISK FILENAME [CURL-ARGS...]     POST /upload
#   header NAME             a response header's value (case-insensitive)
#
# JSON (host python, the body of the last request, bound to 'j')
#   jget EXPR               prints EXPR (strings raw, the rest as JSON)
#   assert_json EXPR        fails unless EXPR is truthy
#   assert_json_eq EXPR WANT
#   assert_status CODE
#   assert_error_reply CODE [ERROR-REGEX]   the error shape of the contract
#   jstr STRING             STRING as a JSON string literal

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

KCR=${KCR:-$BATS_TEST_DIRNAME/../../bin/kcr}
if [ -z "${KCR_RUNNER:-}" ] && [ -x "$(dirname "$KCR")/../runner/kcr-runner" ]; then
	KCR_RUNNER=$(cd "$(dirname "$KCR")/../runner" && pwd)/kcr-runner
	export KCR_RUNNER
fi

HOST_PYTHON=/usr/bin/python3
[ -x "$HOST_PYTHON" ] || HOST_PYTHON=python3

ID_RE='^[A-Za-z0-9_-]{21}$'
# the stores every server of this run uses (see start_server, TEST_STORES)
if [ -n "${TEST_STORES:-}" ]; then
	SESSION_BACKEND=redis FILE_BACKEND=s3
else
	SESSION_BACKEND=fs FILE_BACKEND=fs
fi
SRV=${SRV:-main}

# Settings from the caller's environment that would change the server
# behind the tests' back (every KCR_* setting and KubeCodeRun's aliases).
_serve_clean_env() {
	local v
	for v in $(compgen -e); do
		case $v in
		KCR | KCR_RUNNER | KCR_SRCDIR) ;;
		KCR_*) unset "$v" ;;
		esac
	done
	unset API_KEY API_KEYS AUTH_TRUSTED_NETWORKS SESSION_TTL_HOURS LOG_LEVEL LOG_FORMAT \
		MAX_CPUS MAX_MEMORY_MB MAX_FILE_SIZE_MB MAX_FILES_PER_SESSION MAX_OUTPUT_FILES \
		MAX_OPEN_FILES MAX_OUTPUT_SIZE MAX_PIDS MAX_EXECUTION_TIME MAX_CONCURRENT_EXECUTIONS
	# no user or system config file either
	export XDG_CONFIG_HOME="${BATS_FILE_TMPDIR:-/nonexistent}/.no-xdg-config"
}
_serve_clean_env

# pool_field LANG FIELD: one field of LANG's pool in GET /pool ($SRV)
pool_field() {
	api GET /pool
	"$HOST_PYTHON" -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(next(p[sys.argv[3]] for p in j["pools"] if p["language"] == sys.argv[2]))' "$BODY_FILE" "$1" "$2"
}

# until_field LANG FIELD OP VALUE [SECONDS]: polls GET /pool until true
until_field() {
	local i v
	for i in $(seq $((${5:-20} * 10))); do
		v=$(pool_field "$1" "$2")
		[ "$v" "$3" "$4" ] && return 0
		sleep 0.1
	done
	fail "pool $1: $2 is $v, wanted $3 $4"
}

# pools_only LANG...: KCR_POOL_<L>=0 for every other language, for a
# server whose test counts its sandboxes (every language has a warm one
# by default)
pools_only() {
	local l keep
	for l in py js ts go java c cpp php rs r f90 d bash; do
		keep=
		for k in "$@"; do [ "$k" = "$l" ] && keep=1; done
		[ -n "$keep" ] || echo "KCR_POOL_${l^^}=0"
	done
}

# The runner processes of the server (pid 1 of each sandbox), not the
# template they are cloned from (sandbox.runner_template).
runner_pids() {
	pgrep -P "$(srv_pid "${1:-main}")" -f '^kcr-runner --sandbox' || true
}

# waiting_in NAME PROG: the PROG processes right below NAME's runners (an
# interpreter started ahead, --prewarm).
waiting_in() {
	local r
	for r in $(runner_pids "$1"); do pgrep -P "$r" -x "$2" || true; done
}

# The warm Python cells (pool.fork_server): below a runner, pid 1 of a pid
# namespace of their own (three pids in NSpid: host, sandbox, cell).
cell_pids() {
	local r p
	for r in $(runner_pids "$@"); do
		for p in $(pgrep -P "$r"); do
			awk '/^NSpid:/ && NF == 4 && $4 == 1 { found = 1 } END { exit !found }' \
				"/proc/$p/status" 2>/dev/null && echo "$p"
		done
	done
	true
}

random_key() {
	echo "sk-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
}

free_port() {
	"$HOST_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

srv_dir() { echo "$BATS_FILE_TMPDIR/srv/${1:-$SRV}"; }
srv_port() { cat "$(srv_dir "$1")/port"; }
srv_pid() { cat "$(srv_dir "$1")/pid"; }
srv_key() { cat "$(srv_dir "$1")/key"; }
srv_url() {
	if [ -f "$(srv_dir "$1")/ca.pem" ]; then
		echo "https://127.0.0.1:$(srv_port "$1")"
	else
		echo "http://127.0.0.1:$(srv_port "$1")"
	fi
}
# curl's arguments to trust an HTTPS server's certificate (none for HTTP)
srv_tls_args() {
	[ -f "$(srv_dir "$1")/ca.pem" ] && echo "--cacert $(srv_dir "$1")/ca.pem"
	true
}

pid_alive() { # alive and not a zombie
	[ -r "/proc/$1/stat" ] || return 1
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

server_alive() {
	local d
	d=$(srv_dir "$1")
	[ -f "$d/pid" ] && pid_alive "$(cat "$d/pid")"
}

_server_stderr_tail() {
	echo "# --- stderr of server '$1' (last 30 lines) ---"
	tail -n 30 "$(srv_dir "$1")/stderr" 2>/dev/null | sed 's/^/#   /'
}

start_server() {
	local name=$1
	shift
	local envs=() globals=() args=() d key= ca= port pid try i code keyenv=1
	while [ $# -gt 0 ]; do
		case $1 in
		--no-default-key) keyenv=0 ;;
		--key)
			key=$2
			shift
			;;
		--ca)
			ca=$2
			shift
			;;
		--)
			shift
			args=("$@")
			break
			;;
		-*) globals+=("$1") ;;
		*=*) envs+=("$1") ;;
		*)
			fail "start_server: unexpected argument '$1'"
			return 1
			;;
		esac
		shift
	done
	d=$(srv_dir "$name")
	rm -rf "$d"
	mkdir -p "$d/state"
	[ -n "$key" ] || key=$(random_key)
	echo "$key" >"$d/key"
	[ -z "$ca" ] || cp "$ca" "$d/ca.pem"
	local keyvar=()
	[ $keyenv = 1 ] && keyvar=("KCR_API_KEYS=$key")
	[ -n "${TEST_STORES:-}" ] && keyvar+=($(store_envs "$(store_prefix "$name")"))
	if [ -n "${BATS_TEST_NUMBER:-}" ] && [ -n "${BATS_TEST_TMPDIR:-}" ]; then
		echo test >"$d/scope"
	else
		echo file >"$d/scope"
	fi
	for try in 1 2 3 4 5; do
		port=$(free_port)
		echo "$port" >"$d/port"
		# fd 3 closed: bats waits for it otherwise
		# KubeCodeRun's TLS names are kcr's aliases, and SSL_CERT_FILE is
		# often a client's CA bundle: none reaches a server unless given
		env -u SSL_CERT_FILE -u SSL_KEY_FILE -u ENABLE_HTTPS \
			KCR_STATE_DIR="$d/state" "${keyvar[@]}" "${envs[@]}" \
			"$KCR" "${globals[@]}" serve --listen "127.0.0.1:$port" "${args[@]}" \
			>"$d/stdout" 2>"$d/stderr" 3>&- </dev/null &
		pid=$!
		echo "$pid" >"$d/pid"
		for i in $(seq 1 200); do
			if ! pid_alive "$pid"; then
				break
			fi
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
				$(srv_tls_args "$name") \
				"$(srv_url "$name")$(_health_path "${args[@]}")" 2>/dev/null) || true
			if [ "$code" = 200 ]; then
				echo "$name" >>"$BATS_FILE_TMPDIR/srv/.list"
				return 0
			fi
			sleep 0.05
		done
		if pid_alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null
			_server_stderr_tail "$name"
			fail "server '$name' did not answer GET /health within 10 s"
			return 1
		fi
		if ! grep -q 'cannot listen' "$d/stderr"; then
			_server_stderr_tail "$name"
			fail "server '$name' exited at start"
			return 1
		fi
		# the port was taken between picking and binding: pick another
	done
	fail "server '$name': no free port after 5 tries"
}

# /health, under the base path when the server was given one
_health_path() {
	local prev=
	for a in "$@"; do
		if [ "$prev" = --base-path ]; then
			echo "${a%/}/health"
			return
		fi
		case $a in --base-path=*)
			a=${a#--base-path=}
			echo "${a%/}/health"
			return
			;;
		esac
		prev=$a
	done
	echo /health
}

# Stops a server with SIGTERM (SIGKILL after 35 s); fails if it had already
# died, i.e. crashed.
stop_server() {
	local name=$1 d pid i
	d=$(srv_dir "$name")
	[ -f "$d/pid" ] || return 0
	pid=$(cat "$d/pid")
	if [ -e "$d/stopped" ]; then
		return 0
	fi
	touch "$d/stopped"
	if ! pid_alive "$pid"; then
		_server_stderr_tail "$name"
		fail "server '$name' (pid $pid) is gone before teardown: it crashed or exited"
		return 1
	fi
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 700); do
		pid_alive "$pid" || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	_server_stderr_tail "$name"
	fail "server '$name' did not exit within 35 s of SIGTERM"
}

_servers_of_scope() {
	local n
	[ -f "$BATS_FILE_TMPDIR/srv/.list" ] || return 0
	while read -r n; do
		[ "$(cat "$(srv_dir "$n")/scope" 2>/dev/null)" = "$1" ] && echo "$n"
	done <"$BATS_FILE_TMPDIR/srv/.list" | sort -u
}

# In a suite's teardown: stops the test's own servers, and fails when a
# file-level server died during the test.
serve_teardown() {
	local n rc=0
	for n in $(_servers_of_scope test); do
		stop_server "$n" || rc=1
	done
	for n in $(_servers_of_scope file); do
		[ -e "$(srv_dir "$n")/stopped" ] && continue
		[ -e "$(srv_dir "$n")/died" ] && continue # reported by an earlier test
		if ! server_alive "$n"; then
			touch "$(srv_dir "$n")/died"
			_server_stderr_tail "$n"
			fail "server '$n' died during this test"
			rc=1
		fi
	done
	return $rc
}

serve_teardown_file() {
	local n rc=0
	for n in $(_servers_of_scope file); do
		stop_server "$n" || rc=1
	done
	return $rc
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	SRV=main
}

teardown() {
	serve_teardown
}

teardown_file() {
	serve_teardown_file
}

# ---- requests ------------------------------------------------------------

api() {
	local with_key=1 method path out
	if [ "$1" = --no-key ]; then
		with_key=0
		shift
	fi
	method=$1 path=$2
	shift 2
	BODY_FILE=${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/.body
	HDR_FILE=${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/.headers
	: >"$BODY_FILE"
	: >"$HDR_FILE"
	local args=(-sS --path-as-is -X "$method" -o "$BODY_FILE" -D "$HDR_FILE"
		-w '%{http_code} %{time_total}' --max-time 120)
	[ $with_key = 1 ] && args+=(-H "X-API-Key: ${AS_KEY:-$(srv_key)}")
	args+=($(srv_tls_args))
	LAST_REQ="$method $path (server '$SRV')"
	out=$(curl "${args[@]}" "$@" "$(srv_url)$path") || true
	HTTP_STATUS=${out%% *}
	HTTP_TIME=${out#* }
	BODY=$(tr -d '\0' <"$BODY_FILE")
}

exec_json() {
	api POST /exec -H 'Content-Type: application/json' --data-binary "$1"
}

jstr() {
	"$HOST_PYTHON" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

# exec_code LANG CODE [EXTRA]: EXTRA is more JSON members, e.g. '"files":[...]'
exec_code() {
	local body
	body="{\"lang\":$(jstr "$1"),\"code\":$(jstr "$2")${3:+,$3}}"
	exec_json "$body"
}

upload_file() {
	local src=$1 name=$2
	shift 2
	api POST /upload -H 'User-Agent: LibreChat/1.0' -H 'User-Id: 6650c7e1f1a2b3c4d5e6f708' \
		-F "file=@$src;filename=$name" "$@"
}

header() {
	tr -d '\r' <"$HDR_FILE" | awk -v n="$1" 'BEGIN { IGNORECASE = 1 }
		{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == tolower(n)) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v; exit } }'
}

_show_reply() {
	echo "# request: ${LAST_REQ:-?}"
	echo "# status:  ${HTTP_STATUS:-?}"
	echo "# body:    $(head -c 2000 <<<"$BODY")"
}

jget() {
	"$HOST_PYTHON" -c '
import json, re, sys, time
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$BODY_FILE" "$1"
}

assert_json() {
	if ! "$HOST_PYTHON" -c '
import json, re, sys, time, datetime
try:
    j = json.load(open(sys.argv[1]))
except Exception as e:
    print("# not JSON:", e); sys.exit(1)
sys.exit(0 if eval(sys.argv[2]) else 1)' "$BODY_FILE" "$1"; then
		_show_reply
		fail "JSON check failed: $1"
		return 1
	fi
}

assert_json_eq() {
	local got
	got=$(jget "$1" 2>&1)
	if [ "$got" != "$2" ]; then
		_show_reply
		batslib_print_kv_single_or_multi 8 expression "$1" expected "$2" actual "$got" |
			batslib_decorate 'JSON value differs' | fail
		return 1
	fi
}

assert_status() {
	if [ "$HTTP_STATUS" != "$1" ]; then
		_show_reply
		fail "expected HTTP $1, got $HTTP_STATUS"
		return 1
	fi
}

# The body of an error reply: 4xx/5xx with error, error_type, request_id
# (an id like the others) and a timestamp of now.
assert_error_reply() {
	local want=$1 re=${2:-}
	if [[ $want == 4xx ]]; then
		if [[ ! $HTTP_STATUS =~ ^4[0-9][0-9]$ ]]; then
			_show_reply
			fail "expected a 4xx status, got $HTTP_STATUS"
			return 1
		fi
	else
		assert_status "$want" || return 1
	fi
	case $(header Content-Type) in
	application/json*) ;;
	*)
		_show_reply
		fail "error reply is not application/json (Content-Type: $(header Content-Type))"
		return 1
		;;
	esac
	assert_json 'isinstance(j, dict)' || return 1
	assert_json 'isinstance(j.get("error"), str) and j["error"].strip() != ""' || return 1
	assert_json 'isinstance(j.get("error_type"), str) and j["error_type"] in ("authentication", "authorization", "validation", "resource_not_found", "resource_conflict", "resource_exhausted", "execution_failed", "timeout", "rate_limited", "internal_server", "service_unavailable", "external_service")' || return 1
	assert_json 'isinstance(j.get("request_id"), str) and re.fullmatch(r"[A-Za-z0-9_-]{21}", j["request_id"])' || return 1
	assert_json 'isinstance(j.get("timestamp"), (int, float)) and not isinstance(j["timestamp"], bool) and abs(j["timestamp"] - time.time()) < 120' || return 1
	if [ -n "$re" ] && ! [[ $(jget 'j["error"]') =~ $re ]]; then
		_show_reply
		fail "error message does not match /$re/"
		return 1
	fi
}

# ISO-8601 UTC timestamp within MAX seconds of now.
assert_fresh_iso() { # EXPR [MAX]
	assert_json "re.fullmatch(r'\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]00:?00)', $1) is not None and abs(datetime.datetime.fromisoformat($1.replace('Z', '+00:00')).timestamp() - time.time()) < ${2:-60}"
}

# Files under the server's state dir holding file bytes (the fs store's
# blobs/), to check that a refused upload stored nothing.
count_stored() {
	if [ -n "${TEST_STORES:-}" ]; then
		(
			. "$TEST_STORES"
			find "$TEST_S3_DATA/$TEST_S3_BUCKET/$(store_prefix "${1:-$SRV}")" \
				-name '*._S3rver_object' -type f 2>/dev/null | wc -l
		)
	else
		find "$(srv_dir "${1:-$SRV}")/state" -path '*/blobs/*' -type f 2>/dev/null | wc -l
	fi
}

# state_bytes_stored NAME SID: whether the session store of server NAME
# holds the bytes of SID's Python state (fs: state.bin; redis: its key).
state_bytes_stored() {
	if [ -n "${TEST_STORES:-}" ]; then
		(
			. "$TEST_STORES"
			[ "$(redis-cli -u "$TEST_REDIS_URL" exists "$(store_prefix "$1"):state:$2")" = 1 ]
		)
	else
		[ -e "$(srv_dir "$1")/state/sessions/$2/state.bin" ]
	fi
}

# stored_file NAME SID FID: whether the file store of server NAME holds
# the bytes of SID/FID (fs: the blob; s3: s3rver's file of the object).
stored_file() {
	if [ -n "${TEST_STORES:-}" ]; then
		(
			. "$TEST_STORES"
			[ -s "$TEST_S3_DATA/$TEST_S3_BUCKET/$(store_prefix "$1")/$2/$3._S3rver_object" ]
		)
	else
		[ -s "$(srv_dir "$1")/state/blobs/$2/$3" ]
	fi
}

# The Redis key prefix and S3 object prefix of server NAME under
# TEST_STORES ("t<12 hex>", the same for the same NAME in one file, so a
# restarted server finds its sessions), without the separator.
store_prefix() {
	printf 't%s' "$(printf '%s' "$(srv_dir "$1")" | sha256sum | cut -c1-12)"
}

# The settings that put a server on the TEST_STORES servers, under PREFIX.
store_envs() {
	(
		. "$TEST_STORES"
		echo "KCR_SESSION_STORE=redis KCR_REDIS_URL=$TEST_REDIS_URL KCR_REDIS_PREFIX=$1:"
		echo "KCR_FILE_STORE=s3 KCR_S3_ENDPOINT=$TEST_S3_ENDPOINT KCR_S3_BUCKET=$TEST_S3_BUCKET"
		echo "KCR_S3_PREFIX=$1/ KCR_S3_ACCESS_KEY=S3RVER KCR_S3_SECRET_KEY=S3RVER"
	)
}

# Writes N bytes of random data to PATH.
random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# wait_pools_full [SECONDS]: until every warm pool of the server $SRV
# holds its target (a server that has just started is still importing
# its warm Python's libraries: a measurement wants the steady state).
wait_pools_full() {
	local i
	for i in $(seq $((${1:-60} * 10))); do
		api GET /pool
		"$HOST_PYTHON" -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(any(p["ready"] < p["target"] for p in j["pools"]))' "$BODY_FILE" && return 0
		sleep 0.1
	done
	fail "the warm pools did not fill in ${1:-60} s"
}

note() { # a measured number for the report (shown with --tap / -p)
	echo "# $*" >&3
}
