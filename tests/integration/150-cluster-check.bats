#!/usr/bin/env bats
# kcr cluster check and kcr pool status against the Kubernetes API
# simulator (tests/k8s/kube-sim.py), whose pods really run kcr-runner: a
# healthy cluster passes; each broken precondition (API server down,
# namespace missing, RBAC lacking a verb, runtimeClass missing, an image
# that does not pull, no NetworkPolicy) fails with its own line, its fix and
# exit 1; --json parses; usage errors exit 2 and an unusable configuration
# 125. Then the cluster's pools as kcr pool status counts them.
# shellcheck disable=SC2154 # status, output, lines: set by run/run_kcr

load ../cli/helpers

bats_require_minimum_version 1.5.0

SIM_PY=${KCR_KUBE_SIM:-$BATS_TEST_DIRNAME/../k8s/kube-sim.py}

# ---- the simulator --------------------------------------------------------

setup_file() {
	[ -x "${KCR_RUNNER:-}" ] || KCR_RUNNER=$(cd "$(dirname "$KCR")/../runner" && pwd)/kcr-runner
	export KCR_RUNNER
	export SIM=$BATS_FILE_TMPDIR/sim
	mkdir -p "$SIM"
	/usr/bin/python3 "$SIM_PY" --dir "$SIM" --runner "$KCR_RUNNER" --runtime-classes gvisor \
		--namespaces kcr,default --probe-period-ms 100 >"$BATS_FILE_TMPDIR/sim.log" 2>&1 &
	local i
	for ((i = 0; i < 150; i++)); do
		[ -s "$SIM/port" ] && break
		sleep 0.1
	done
	[ -s "$SIM/port" ] || {
		sed 's/^/# /' "$BATS_FILE_TMPDIR/sim.log" >&3
		false
	}
	SIM_PORT=$(cat "$SIM/port")
	ADMIN_TOKEN=$(awk -F, '$2 == "sim-admin" { print $1; exit }' "$SIM/tokens")
	export SIM_PORT ADMIN_TOKEN
}

teardown_file() {
	# the API server and every pod process it started
	[ -n "${SIM:-}" ] && /usr/bin/python3 "$SIM_PY" --dir "$SIM" --stop >/dev/null 2>&1
	return 0
}

setup() {
	kcr_setup
	# each test starts on a sim without its own objects
	rm -f "$SIM/missing-images"
}

teardown() {
	local n r
	for n in $(sim_names apis/networking.k8s.io/v1/namespaces/kcr/networkpolicies); do
		sim_api DELETE "/apis/networking.k8s.io/v1/namespaces/kcr/networkpolicies/$n" >/dev/null
	done
	for r in roles rolebindings; do
		for n in $(sim_names "apis/rbac.authorization.k8s.io/v1/namespaces/kcr/$r"); do
			sim_api DELETE "/apis/rbac.authorization.k8s.io/v1/namespaces/kcr/$r/$n" >/dev/null
		done
	done
	for n in $(sim_names api/v1/namespaces/kcr/pods); do
		sim_api DELETE "/api/v1/namespaces/kcr/pods/$n" -d '{"gracePeriodSeconds":0}' >/dev/null
	done
	kcr_teardown
}

# sim_api METHOD PATH [CURL-ARGS...]: as the simulator's admin; prints the body
sim_api() {
	local method=$1 path=$2
	shift 2
	curl -sS --max-time 20 --cacert "$SIM/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
		-H 'Content-Type: application/json' -X "$method" "https://127.0.0.1:$SIM_PORT$path" "$@"
}

# sim_names PATH: the names of a collection's items
sim_names() {
	sim_api GET "/$1" | /usr/bin/python3 -c 'import json, sys
for o in json.load(sys.stdin).get("items") or []:
    print(o["metadata"]["name"])'
}

sim_wait_no_pods() { # NS
	local i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(sim_names "api/v1/namespaces/$1/pods")" ] && return 0
		sleep 0.1
	done
	return 1
}

# kcr with the simulator as its cluster (admin unless KUBECONFIG_FILE is set)
kcr_sim() { # [RC] ARGS...
	local rc=0
	case $1 in [0-9]* | '?') rc=$1 && shift ;; esac
	KCR_KUBECONFIG=${KUBECONFIG_FILE:-$SIM/kubeconfig} KCR_STATE_DIR=$BATS_TEST_TMPDIR/state \
		KCR_POOL_PY=1 KCR_POOL_JS=0 run_kcr "$rc" "$@"
}

# sa_role NAME VERBS: a Role with VERBS on pods (and what else kcr needs)
# bound to the simulator's service account kcr:kcr
sa_role() {
	sim_api POST /apis/rbac.authorization.k8s.io/v1/namespaces/kcr/roles -d '{
	  "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
	  "metadata": {"name": "'"$1"'"},
	  "rules": [
	    {"apiGroups": [""], "resources": ["pods"], "verbs": ['"$2"']},
	    {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get", "create"]},
	    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]}]}' >/dev/null
	sim_api POST /apis/rbac.authorization.k8s.io/v1/namespaces/kcr/rolebindings -d '{
	  "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
	  "metadata": {"name": "'"$1"'"},
	  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "'"$1"'"},
	  "subjects": [{"kind": "ServiceAccount", "name": "kcr", "namespace": "kcr"}]}' >/dev/null
}

deny_egress() {
	sim_api POST /apis/networking.k8s.io/v1/namespaces/kcr/networkpolicies -d '{
	  "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
	  "metadata": {"name": "kcr-sandbox-deny-egress"},
	  "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "sandbox"}},
	           "policyTypes": ["Egress"]}}' >/dev/null
}

# listen PORT-VAR: a TCP listener on the host (127.0.0.1), as a stand-in for
# the internet and for kcr serve; its port in the variable
listen() {
	local f=$BATS_TEST_TMPDIR/listen.$1
	/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); c.close()' "$f" &
	kcr_track_pid $!
	while [ ! -s "$f" ]; do sleep 0.05; done
	printf -v "$1" '%s' "$(cat "$f")"
}

# a port nothing listens on
closed_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

assert_no_check_pods() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ -z "$(sim_api GET '/api/v1/namespaces/kcr/pods?labelSelector=kcr.dev%2Frole%3Dcheck' |
			/usr/bin/python3 -c 'import json, sys; print(" ".join(o["metadata"]["name"] for o in json.load(sys.stdin)["items"]))')" ] &&
			return 0
		sleep 0.1
	done
	fail "test pods were left behind"
}

# ---- kcr cluster check ---------------------------------------------------

@test "a healthy cluster: every check ok, exit 0, the test pods deleted, readiness watched" {
	local egress serve
	listen egress
	listen serve
	deny_egress
	local n0
	n0=$(wc -l <"$SIM/audit.jsonl")
	kcr_sim --set kubernetes.runtime_class=gvisor --set pool.js=1 cluster check \
		--egress-target "127.0.0.1:$egress" --serve-address "127.0.0.1:$serve" --timeout 60
	tail -n "+$((n0 + 1))" "$SIM/audit.jsonl" >audit.jsonl
	assert_line --regexp "^ok   API server https://127\.0\.0\.1:$SIM_PORT \(v1\.30\.0-kcr-sim, [0-9]+ ms\)$"
	assert_line 'ok   namespace kcr (exists, Active)'
	assert_line 'ok   RBAC pods (create get list watch delete patch)'
	assert_line 'ok   RBAC pods/proxy (get create)'
	assert_line 'ok   RBAC batch/jobs (create delete)'
	assert_line 'ok   runtimeClass gvisor (handler gvisor)'
	assert_line 'ok   pools (py 0/1 ready, js 0/1 ready)'
	assert_line --regexp '^ok   image py \(localhost/kcr/py:[^ ]+: scheduled [0-9]+ ms, pulled and started [0-9]+ ms, Ready [0-9]+ ms, /health [0-9]+ ms\)$'
	assert_line --regexp '^ok   image js \(localhost/kcr/js:'
	assert_line "ok   NetworkPolicy (a sandbox pod could not reach 127.0.0.1:$egress (refused), 127.0.0.1:$serve (refused))"
	refute_line --regexp '^(FAIL|skip)'
	assert_equal "${#lines[@]}" 10
	assert_no_check_pods

	# the pods were test pods as the provider makes them, with a deadline
	run /usr/bin/python3 -c 'import glob, json, sys
pods = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/manifests/*-Pod.json"))]
pods = [p for p in pods if p["metadata"]["labels"].get("kcr.dev/role") == "check"]
assert len(pods) == 2, len(pods)
for p in pods:
    assert p["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kcr"
    assert p["spec"]["runtimeClassName"] == "gvisor"
    assert p["spec"]["activeDeadlineSeconds"] > 60
    assert p["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
print("ok")' "$SIM"
	assert_success
	# readiness from a watch of the one pod, never a poll of it; no pod log read
	run /usr/bin/python3 -c 'import json, sys
a = [json.loads(l) for l in open("audit.jsonl")]
pods = [e for e in a if e.get("resource") == "pods"]
watches = [e for e in pods if e["verb"] == "watch"]
gets = [e for e in pods if e["verb"] == "get" and not e.get("subresource")]
assert len(watches) >= 2, watches
# one list: the pools check counts the pool pods
assert len([e for e in pods if e["verb"] == "list"]) == 1, "listed pods more than once"
assert not gets, gets
assert not [e for e in a if e.get("subresource") == "log"]
print("ok")'
	assert_success
}

@test "the runner reached directly (kubernetes.runner_access direct): no pods/proxy needed, /health at the pod's IP" {
	local egress n0
	listen egress
	deny_egress
	n0=$(wc -l <"$SIM/audit.jsonl")
	kcr_sim --set kubernetes.runner_access=direct cluster check --egress-target "127.0.0.1:$egress"
	tail -n "+$((n0 + 1))" "$SIM/audit.jsonl" >audit.jsonl
	refute_line --partial 'pods/proxy'
	assert_line 'ok   RBAC pods (create get list watch delete patch)'
	assert_line --regexp '^ok   image py \(.*/health [0-9]+ ms\)$'
	assert_line "ok   NetworkPolicy (a sandbox pod could not reach 127.0.0.1:$egress (refused); kcr serve's address not checked: kcr is not in a pod (--serve-address HOST:PORT))"
	# nothing went through the API server's pod proxy
	run /usr/bin/python3 -c 'import json
a = [json.loads(l) for l in open("audit.jsonl")]
assert a and not [e for e in a if e.get("subresource") == "proxy"]
print("ok")'
	assert_success
	assert_no_check_pods
}

@test "in a pod (the service account, in-cluster): the runner direct, kcr serve's address from POD_IP" {
	local egress
	listen egress
	sa_role kcr-all '"create", "get", "list", "watch", "delete", "patch"'
	deny_egress
	KCR_KUBECONFIG='' KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$SIM_PORT \
		POD_IP=127.0.0.1 POD_NAME=kcr-0 POD_NAMESPACE=kcr KCR_POOL_PY=1 KCR_POOL_JS=0 \
		KCR_STATE_DIR=$BATS_TEST_TMPDIR/state \
		run_kcr --set kubernetes.in_cluster=true --set "kubernetes.sa_dir=$SIM/sa" cluster check \
		--egress-target "127.0.0.1:$egress"
	assert_line 'ok   namespace kcr (cannot tell: kcr may not read namespaces; the pod checks below use it)'
	assert_line 'ok   RBAC pods (create get list watch delete patch)'
	refute_line --partial 'pods/proxy'
	assert_line "ok   NetworkPolicy (a sandbox pod could not reach 127.0.0.1:$egress (refused), 127.0.0.1:8000 (refused))"
	assert_no_check_pods
}

@test "--json: one object, every check with name, ok, detail, fix and ms" {
	local egress
	listen egress
	deny_egress
	kcr_sim cluster check --json --egress-target "127.0.0.1:$egress"
	run /usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] is True, j
names = [c["name"] for c in j["checks"]]
assert names[0].startswith("API server "), names
assert names[1:] == ["namespace kcr", "RBAC pods", "RBAC pods/proxy", "RBAC batch/jobs",
                     "pools", "image py", "NetworkPolicy"], names
for c in j["checks"]:
    assert set(c) == {"name", "ok", "detail", "fix", "ms"}, c
    assert c["ok"] is True and c["fix"] is None and isinstance(c["ms"], (int, float)), c
print("ok")' "$KCR_STDOUT_FILE"
	assert_success
	assert_no_check_pods
}

@test "the API server down: one FAIL line naming it, with the fix, exit 1" {
	local port
	port=$(closed_port)
	sed "s#127.0.0.1:$SIM_PORT#127.0.0.1:$port#" "$SIM/kubeconfig" >kubeconfig
	KUBECONFIG_FILE=$PWD/kubeconfig kcr_sim 1 --set kubernetes.api_retries=0 cluster check
	assert_line --index 0 --regexp "^FAIL API server https://127\.0\.0\.1:$port: .+; fix: start the cluster or make its API server reachable from here"
	assert_line --index 1 '1 check failed'
	assert_equal "${#lines[@]}" 2

	KUBECONFIG_FILE=$PWD/kubeconfig kcr_sim 1 --set kubernetes.api_retries=0 cluster check --json
	run /usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] is False and len(j["checks"]) == 1, j
c = j["checks"][0]
assert c["ok"] is False and c["fix"].startswith("start the cluster"), c
print("ok")' "$KCR_STDOUT_FILE"
	assert_success
}

@test "a namespace that does not exist: FAIL with kubectl create namespace, the test pods skipped" {
	kcr_sim 1 --set kubernetes.namespace=nowhere cluster check
	assert_line 'FAIL namespace nowhere: does not exist; fix: kubectl create namespace nowhere, or set kubernetes.namespace to the namespace kcr'"'"'s Role is in'
	assert_line 'skip test pods: the namespace is missing'
	assert_line '1 check failed'
	refute_line --partial 'image py'
}

@test "RBAC without 'delete pods' (the service account's Role): FAIL RBAC pods naming it" {
	sa_role kcr-no-delete '"create", "get", "list", "watch", "patch"'
	deny_egress
	KUBECONFIG_FILE=$SIM/kubeconfig-sa kcr_sim 1 cluster check --egress-target "127.0.0.1:$(closed_port)"
	# a service account may not read namespaces: that is said, not failed
	assert_line 'ok   namespace kcr (cannot tell: kcr may not read namespaces; the pod checks below use it)'
	assert_line --regexp '^FAIL RBAC pods: missing delete; fix: grant them in the Role bound to kcr'"'"'s identity in namespace kcr \(rules: apiGroups \[""\], resources \["pods"\], verbs \["delete"\]\)'
	assert_line 'ok   RBAC pods/proxy (get create)'
	assert_line 'ok   RBAC batch/jobs (create delete)'
	assert_line --regexp '^ok   image py '
	# and, as it cannot, kcr says that it left its test pod
	assert_line --regexp '^FAIL cleanup: test pod kcr-check-py-[a-z0-9-]+ was not deleted: .*; fix: kubectl delete pod -n kcr kcr-check-py-'
	assert_line '2 checks failed'
}

@test "a runtimeClass that does not exist: FAIL naming those there are, the test pods skipped" {
	kcr_sim 1 --set kubernetes.runtime_class=kata cluster check
	assert_line 'FAIL runtimeClass kata: does not exist; fix: install the runtime on the nodes (gVisor'"'"'s runsc, Kata) and create its RuntimeClass, or set kubernetes.runtime_class to one the cluster has: gvisor'
	assert_line 'skip test pods: the runtimeClass is missing'
	assert_line '1 check failed'
}

@test "an image that cannot be pulled: FAIL naming the image and the registry fix" {
	echo registry.example/kcr/py:gone >"$SIM/missing-images"
	kcr_sim 1 --set kubernetes.image_py=registry.example/kcr/py:gone cluster check --timeout 30
	assert_line --regexp '^FAIL image py: image registry\.example/kcr/py:gone cannot be pulled \((ErrImagePull|ImagePullBackOff)[^)]*\); fix: build and push it \(kcr images build --push\) to the registry kubernetes\.image_registry names, or set kubernetes\.image_py'
	# no pod to probe the network from
	assert_line --regexp '^skip NetworkPolicy: no test pod'
	assert_line '1 check failed'
	assert_no_check_pods
}

@test "no NetworkPolicy: the test pod reaches a listener on the host and kcr serve; FAIL, exit 1" {
	local egress serve
	listen egress
	listen serve
	kcr_sim 1 cluster check --egress-target "127.0.0.1:$egress" --serve-address "127.0.0.1:$serve"
	assert_line "FAIL NetworkPolicy: not enforced: a sandbox pod reached 127.0.0.1:$egress, 127.0.0.1:$serve (no NetworkPolicy in kcr limits the egress of kcr's pods); fix: apply the chart's NetworkPolicy and use a CNI that enforces it (Calico, Cilium)"
	assert_line '1 check failed'
	assert_no_check_pods

	# from a pod of a language the probe is not written in: in bash there
	kcr_sim 1 cluster check -l go --egress-target "127.0.0.1:$egress"
	assert_line --regexp '^ok   image go '
	assert_line --regexp "^FAIL NetworkPolicy: not enforced: a sandbox pod reached 127\.0\.0\.1:$egress "

	kcr_sim 1 cluster check --json --egress-target "127.0.0.1:$egress"
	run /usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] is False
bad = [c for c in j["checks"] if not c["ok"]]
assert [c["name"] for c in bad] == ["NetworkPolicy"], bad
assert "Calico, Cilium" in bad[0]["fix"] and "reached 127.0.0.1:" in bad[0]["detail"], bad
print("ok")' "$KCR_STDOUT_FILE"
	assert_success
}

@test "a test pod that is not Ready in time: FAIL with how long and what it waited for" {
	# the watch stalls: nothing tells kcr the pod is Ready
	sim_api POST /sim/stall-watches -d '{"seconds": 8}' >/dev/null
	kcr_sim 1 cluster check --timeout 2
	assert_line --regexp '^FAIL image py: not Ready after 2 s \(Pending[^)]*\); fix: kubectl describe pod -n kcr -l kcr.dev/role=check'
	assert_line --regexp '^skip NetworkPolicy: '
	assert_line '1 check failed'
	assert_no_check_pods
	sleep 6 # the stall ends before the next test
}

@test "interrupted (SIGINT) while a test pod starts: its pods deleted, exit 130" {
	local pid rc=0 i
	sim_api POST /sim/stall-watches -d '{"seconds": 8}' >/dev/null
	KCR_KUBECONFIG=$SIM/kubeconfig KCR_POOL_PY=1 KCR_POOL_JS=0 \
		"$KCR" cluster check --timeout 60 >out 2>err &
	pid=$!
	kcr_track_pid "$pid"
	for ((i = 0; i < 100; i++)); do
		[ -n "$(sim_names api/v1/namespaces/kcr/pods)" ] && break
		sleep 0.1
	done
	[ -n "$(sim_names api/v1/namespaces/kcr/pods)" ] || fail "no test pod was made"
	kill -INT "$pid"
	wait "$pid" || rc=$?
	assert_equal "$rc" 130
	run cat out
	assert_line 'interrupted: the test pods were deleted'
	assert_no_check_pods
	sleep 6
}

@test "usage errors exit 2; a configuration that cannot be used exits 125" {
	kcr_sim 2 cluster check --egress-target nowhere
	assert_kcr_error "--egress-target 'nowhere': expected HOST:PORT"
	kcr_sim 2 cluster check --serve-address 10.0.0.1:99999
	kcr_sim 2 cluster check --timeout 0
	kcr_sim 2 cluster check -l cobol
	kcr_sim 2 cluster check extra
	kcr_sim 2 cluster
	KUBECONFIG_FILE=/nonexistent/kubeconfig kcr_sim 125 --set kubernetes.in_cluster=false cluster check
	assert_stderr_regex '^kcr: cannot use the Kubernetes configuration: '
	[ -z "$output" ] || fail "wrote to stdout: $output"
}

# ---- kcr pool status with sandbox.provider kubernetes --------------------

# pool_pod NAME LANG ROLE STATE [IMAGE [CMD]]: a pod labelled as kcr labels its own
pool_pod() {
	/usr/bin/python3 - "$@" <<'EOF' | sim_api POST /api/v1/namespaces/kcr/pods -d @- >/dev/null
import json, sys
name, lang, role, state = sys.argv[1:5]
image = sys.argv[5] if len(sys.argv) > 5 else "localhost/kcr/%s:test" % lang
cmd = sys.argv[6:] or ["kcr-runner", "--port", "8080", "--data-dir", "/mnt/data",
                       "--src-dir", "/tmp/kcr-src"]
labels = {"app.kubernetes.io/name": "kcr", "app.kubernetes.io/component": "sandbox",
          "app.kubernetes.io/managed-by": "kcr", "kcr.dev/language": lang, "kcr.dev/role": role}
if state:
    labels["kcr.dev/state"] = state
print(json.dumps({"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": name, "labels": labels},
  "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
    "containers": [{"name": "runner", "image": image, "command": cmd[:1], "args": cmd[1:],
      "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
      "securityContext": {"runAsUser": 65532, "runAsGroup": 65532},
      "volumeMounts": [{"name": "data", "mountPath": "/mnt/data"},
                       {"name": "tmp", "mountPath": "/tmp"}]}],
    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}}))
EOF
}

pod_ready() { # NAME
	sim_api GET "/api/v1/namespaces/kcr/pods/$1" | /usr/bin/python3 -c 'import json, sys
p = json.load(sys.stdin)
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True"
                  for c in p.get("status", {}).get("conditions", [])) else 1)'
}

@test "kcr pool status (kubernetes): each language's ready, claimed, creating, failed and Jobs" {
	local p i
	echo localhost/kcr/py:gone >"$SIM/missing-images"
	pool_pod kcr-py-a py pool ready
	pool_pod kcr-py-b py pool ready
	pool_pod kcr-py-c py pool claimed
	pool_pod kcr-py-d py pool ready localhost/kcr/py:gone
	pool_pod kcr-js-a js pool ready localhost/kcr/js:test sleep 600
	pool_pod kcr-bash-job-a bash job ''
	for p in kcr-py-a kcr-py-b kcr-py-c kcr-bash-job-a; do
		for ((i = 0; i < 100; i++)); do
			pod_ready "$p" && break
			sleep 0.1
		done
		pod_ready "$p" || fail "pod $p is not Ready"
	done
	sleep 1 # the missing image is reported

	kcr_sim --set sandbox.provider=kubernetes pool status
	assert_line --index 0 --regexp '^LANG +TARGET +READY +CLAIMED +CREATING +FAILED +JOBS +OLDEST_READY$'
	assert_line --regexp '^py +1 +2 +1 +0 +1 +0 +[0-9]+s$'
	assert_line --regexp '^js +0 +0 +0 +1 +0 +0 +-$'
	assert_line --regexp '^bash +0 +0 +0 +0 +0 +1 +-$'
	assert_equal "${#lines[@]}" 4

	kcr_sim --set sandbox.provider=kubernetes pool status --json
	run /usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
assert j["provider"] == "kubernetes" and j["namespace"] == "kcr", j
p = {x["language"]: x for x in j["pools"]}
assert sorted(p) == ["bash", "js", "py"], p
want = {"py": (1, 2, 1, 0, 1, 0), "js": (0, 0, 0, 1, 0, 0), "bash": (0, 0, 0, 0, 0, 1)}
for lang, w in want.items():
    got = tuple(p[lang][k] for k in ("target", "ready", "claimed", "creating", "failed", "jobs"))
    assert got == w, (lang, got, w)
assert p["py"]["oldest_ready_s"] >= 0
print("ok")' "$KCR_STDOUT_FILE"
	assert_success

	# a pool with a size and no pod shows too; a server's pools stay the server's
	kcr_sim --set sandbox.provider=kubernetes --set pool.go=3 pool status
	assert_line --regexp '^go +3 +0 +0 +0 +0 +0 +-$'

	# and kcr cluster check says that pool pods failed
	kcr_sim 1 cluster check --egress-target "127.0.0.1:$(closed_port)"
	assert_line 'FAIL pools: pool pods failed: py 1; fix: kubectl describe pods -n kcr -l kcr.dev/role=pool shows why (the image checks below tell an image that does not pull); kcr serve replaces them'
	assert_line '1 check failed'
}
