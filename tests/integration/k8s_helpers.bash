# The Kubernetes API simulator (tests/k8s/kube-sim.py) for the suites that
# run kcr against it. Load after serve_helpers.
#
#   start_sim [SIM-ARG...]   starts it in $SIM_DIR (default
#                            $BATS_FILE_TMPDIR/sim), waits for its port
#   stop_sim                 SIGTERM (its pods go on, as a kubelet's would)
#   restart_sim              stop_sim, then start it again on the same port
#   kill_sim_pods            stops every pod's runner (for teardown)
#   sim_url                  https://127.0.0.1:PORT
#   simctl METHOD PATH [CURL-ARGS...]  a request as the admin (client
#                            certificate); sets HTTP_STATUS and BODY
#   kube ARGS...             kubectl on the simulator's admin kubeconfig
#   k8s_pods SELECTOR        the names of the pods matching SELECTOR
#   k8s_env                  the kcr settings of a server on the simulator
#   librechat_flow USER-ID   upload a CSV, run py on it (an output file),
#                            download the output: LibreChat's flow on $SRV

SIM_DIR=${SIM_DIR:-}
KUBE_SIM=${KUBE_SIM:-$BATS_TEST_DIRNAME/../k8s/kube-sim.py}

_sim_dir() { echo "${SIM_DIR:-$BATS_FILE_TMPDIR/sim}"; }

start_sim() {
	local dir port=0 i
	dir=$(_sim_dir)
	mkdir -p "$dir"
	[ -f "$dir/port" ] && port=$(cat "$dir/port")
	rm -f "$dir/port"
	"$HOST_PYTHON" "$KUBE_SIM" --dir "$dir" --runner "$KCR_RUNNER" --port "$port" \
		--namespaces kcr,default --probe-period-ms 200 "$@" \
		>>"$dir/sim.out" 2>&1 3>&- &
	echo $! >"$dir/sim.bgpid"
	for i in $(seq 1 300); do
		[ -s "$dir/port" ] && return 0
		kill -0 "$(cat "$dir/sim.bgpid")" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 30 "$dir/sim.out" >&2
	fail "the Kubernetes simulator did not start"
}

stop_sim() {
	local dir pid
	dir=$(_sim_dir)
	pid=$(cat "$dir/sim.bgpid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

restart_sim() {
	stop_sim
	start_sim "$@"
}

sim_url() { echo "https://127.0.0.1:$(cat "$(_sim_dir)/port")"; }

simctl() {
	local method=$1 path=$2 dir
	shift 2
	dir=$(_sim_dir)
	BODY=$(curl -sS -X "$method" --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
		--key "$dir/pki/admin.key" -H 'Content-Type: application/json' \
		-w '\n%{http_code}' "$(sim_url)$path" "$@")
	HTTP_STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}

kube() { kubectl --kubeconfig "$(_sim_dir)/kubeconfig" "$@"; }

k8s_pods() { # SELECTOR: names, one per line
	kube get pods -n kcr -l "$1" -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}'
}

# Stops the simulator and what its pods left running (their runners
# outlive it, as a kubelet's containers outlive an API server).
kill_sim_pods() {
	"$HOST_PYTHON" "$KUBE_SIM" --dir "$(_sim_dir)" --stop >/dev/null 2>&1 || true
}

k8s_env() { # the settings of a kcr serve that runs its sandboxes on the simulator
	echo KCR_SANDBOX_PROVIDER=kubernetes "KCR_KUBECONFIG=$(_sim_dir)/kubeconfig" \
		KCR_K8S_NAMESPACE=kcr KCR_K8S_API_RETRIES=2 KCR_K8S_READY_TIMEOUT=60
}

librechat_flow() {
	local user=$1 up_sid up_fid sid fid
	printf 'name,qty\napple,3\npear,4\n' >data.csv
	api POST /upload -H "User-Id: $user" -F entity_id=agent_k -F "file=@data.csv;filename=data.csv"
	assert_status 200
	up_sid=$(jget 'j["session_id"]')
	up_fid=$(jget 'j["files"][0]["fileId"]')
	exec_json "{\"lang\":\"py\",\"user_id\":\"$user\",\"entity_id\":\"agent_k\",\"code\":$(jstr 'import csv, socket
rows = list(csv.DictReader(open("/mnt/data/data.csv")))
open("/mnt/data/total.txt", "w").write(str(sum(int(r["qty"]) for r in rows)))
print(socket.gethostname(), len(rows))'),\"files\":[{\"id\":\"$up_fid\",\"session_id\":\"$up_sid\",\"name\":\"data.csv\"}]}"
	assert_status 200
	assert_json 'j["stdout"].split()[1] == "2"'
	sid=$(jget 'j["session_id"]')
	fid=$(jget '[f["id"] for f in j["files"] if f["name"] == "total.txt"][0]')
	api GET "/download/$sid/$fid"
	assert_status 200
	assert_equal "$BODY" 7
}

# problem MSG: notes a failure and goes on; assert_no_problems fails with
# all of them (one run that lists every language that failed, not the first).
problem() {
	echo "# $*" >&3
	echo "$*" >>"$BATS_TEST_TMPDIR/problems"
}

assert_no_problems() {
	[ -s "$BATS_TEST_TMPDIR/problems" ] || return 0
	fail "$(cat "$BATS_TEST_TMPDIR/problems")"
}
