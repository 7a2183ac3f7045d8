#!/usr/bin/env bats
# kcr serve on the kubernetes provider, against the API server simulator
# (tests/k8s/kube-sim.py), whose pods really run kcr-runner: the LibreChat
# flow and every language in pods, warm pool pods claimed once, Jobs, the
# Python state, a pod killed mid-run, two replicas on one pool, the pods of
# a replica that died, the API server down and back, a rotating
# service-account token, and every manifest kcr sent checked against the
# official client's models.

load serve_helpers
load k8s_helpers

USER_ID=6650c7e1f1a2b3c4d5e6f708

setup_file() {
	start_sim
	# main reaches its pods through the API server's pod proxy (kcr
	# outside the cluster); replica b (started by a test) at podIP:8080.
	# Fixed pool targets: the tests count pods (091 tests adaptive ones)
	start_server main KCR_POOL_ADAPTIVE=false $(k8s_env) KCR_POOL_PY=2 KCR_POOL_JS=0 KCR_K8S_ORPHAN_INTERVAL=5 \
		KCR_LOG_LEVEL=info
}

teardown_file() {
	serve_teardown_file
	kill_sim_pods
}

# py pool pods of the server main that are ready (Ready and unclaimed)
ready_py_pods() {
	kube get pods -n kcr -l kcr.dev/language=py,kcr.dev/role=pool,kcr.dev/state=ready \
		-o json | "$HOST_PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
    if conds.get("Ready") == "True" and not p["metadata"].get("deletionTimestamp"):
        print(p["metadata"]["name"])'
}

wait_ready_py() { # N [SECONDS]
	local i
	for i in $(seq $((${2:-60} * 5))); do
		[ "$(ready_py_pods | wc -l)" -ge "$1" ] && return 0
		sleep 0.2
	done
	fail "fewer than $1 ready py pool pods after ${2:-60} s: $(kube get pods -n kcr 2>&1)"
}

@test "the LibreChat flow runs in pods: upload, exec with files, an output, download" {
	librechat_flow "$USER_ID"
}

@test "every language runs in a pod (pool size 0: a Job each)" {
	local -A code=(
		[py]='print("Hello, World!")'
		[js]='console.log("Hello, World!");'
		[ts]=$'const g: string = "Hello, World!";\nconsole.log(g);'
		[go]=$'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello, World!")\n}'
		[java]=$'public class Main {\n    public static void main(String[] a) {\n        System.out.println("Hello, World!");\n    }\n}'
		[c]=$'#include <stdio.h>\nint main(void) { puts("Hello, World!"); return 0; }'
		[cpp]=$'#include <iostream>\nint main() { std::cout << "Hello, World!" << std::endl; }'
		[php]=$'<?php\necho "Hello, World!\\n";'
		[rs]=$'fn main() {\n    println!("Hello, World!");\n}'
		[r]='cat("Hello, World!\n")'
		[f90]=$'program hello\n  print \'(A)\', \'Hello, World!\'\nend program hello'
		[d]=$'import std.stdio;\nvoid main() { writeln("Hello, World!"); }'
		[bash]='echo "Hello, World!"'
	)
	local lang
	for lang in "${!code[@]}"; do
		exec_code "$lang" "${code[$lang]}"
		[ "$HTTP_STATUS" = 200 ] || problem "$lang: HTTP $HTTP_STATUS: $BODY"
		[ "$(jget 'j.get("stdout")')" = "Hello, World!" ] || problem "$lang: $BODY"
	done
	assert_no_problems
	# the Jobs are deleted once their run is over
	run kube get jobs -n kcr -l app.kubernetes.io/managed-by=kcr -o name
	assert_output ''
}

@test "the Python state is carried from one pod to the next" {
	exec_json "{\"lang\":\"py\",\"user_id\":\"$USER_ID\",\"entity_id\":\"agent_s\",\"code\":\"counter = 41\"}"
	assert_status 200
	assert_json 'j["has_state"] is True'
	exec_json "{\"lang\":\"py\",\"user_id\":\"$USER_ID\",\"entity_id\":\"agent_s\",\"code\":\"counter += 1\nprint(counter)\"}"
	assert_status 200
	assert_json_eq 'j["stdout"]' 42
}

@test "pool pods carry the security settings of the design" {
	wait_ready_py 1
	local pod
	pod=$(ready_py_pods | head -n 1)
	kube get pod -n kcr "$pod" -o json >pod.json
	"$HOST_PYTHON" - pod.json <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
s, c = p["spec"], p["spec"]["containers"][0]
cs = c["securityContext"]
assert s["automountServiceAccountToken"] is False, s
assert s["enableServiceLinks"] is False, s
assert s["restartPolicy"] == "Never"
assert s["securityContext"]["runAsNonRoot"] is True
assert s["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
assert cs["runAsNonRoot"] is True and cs["runAsUser"] != 0
assert cs["readOnlyRootFilesystem"] is True
assert cs["allowPrivilegeEscalation"] is False and cs["privileged"] is False
assert cs["capabilities"]["drop"] == ["ALL"]
assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"]
assert c["resources"]["limits"]["ephemeral-storage"]
mounts = {m["mountPath"] for m in c["volumeMounts"]}
assert mounts == {"/mnt/data", "/tmp"}, mounts
assert all("sizeLimit" in v["emptyDir"] for v in s["volumes"])
assert p["metadata"]["labels"]["kcr.dev/owner"]
EOF
}

@test "KubeCodeRun's names and per-language resources shape the pods kcr sends" {
	start_server k KCR_POOL_ADAPTIVE=false KCR_SANDBOX_PROVIDER=kubernetes "KCR_KUBECONFIG=$(_sim_dir)/kubeconfig" \
		K8S_NAMESPACE=kcr POD_POOL_PY=0 POD_POOL_JS=0 POD_POOL_BASH=0 KCR_K8S_READY_TIMEOUT=5 \
		LANG_IMAGE_BASH=registry.example/kcr/bash:7 LANG_CPU_LIMIT_BASH=1500m \
		LANG_MEMORY_LIMIT_BASH=300Mi K8S_IMAGE_PULL_SECRETS=regcred K8S_RUN_AS_USER=4242 \
		'K8S_POD_NODE_SELECTOR={"disk":"ssd"}' \
		'K8S_POD_TOLERATIONS=[{"key":"sandbox","operator":"Exists","effect":"NoSchedule"}]' \
		'KCR_K8S_RESOURCES_BASH={"requests":{"cpu":"250m","ephemeral-storage":"1Gi"}}'
	SRV=k exec_code bash 'echo x'
	local job
	job=$(grep -l '"kcr.dev/language": *"bash"' "$(_sim_dir)"/manifests/*-Job.json | tail -n 1)
	[ -n "$job" ] || fail "no bash Job was sent"
	"$HOST_PYTHON" - "$job" <<'EOF'
import json, sys
job = json.load(open(sys.argv[1]))
s = job["spec"]
assert s["backoffLimit"] == 0 and s["ttlSecondsAfterFinished"] == 60, s
ps = s["template"]["spec"]
c = ps["containers"][0]
assert c["image"] == "registry.example/kcr/bash:7", c["image"]
r = c["resources"]
assert r["limits"]["cpu"] == "1500m" and r["limits"]["memory"] == "300Mi", r
assert r["requests"]["cpu"] == "250m" and r["requests"]["ephemeral-storage"] == "1Gi", r
assert r["requests"]["memory"] == "128Mi", r
assert ps["nodeSelector"] == {"disk": "ssd"}, ps
assert ps["tolerations"][0]["key"] == "sandbox", ps
assert ps["imagePullSecrets"] == [{"name": "regcred"}], ps
assert ps["securityContext"]["runAsUser"] == 4242 and c["securityContext"]["runAsUser"] == 4242
EOF
}

@test "a warm pod serves one execution and is deleted; the pool refills" {
	wait_ready_py 2
	local before after
	before=$(ready_py_pods | sort)
	exec_code py 'import os; print(open("/proc/self/cgroup").read() != "", os.getuid())'
	assert_status 200
	assert_json 'j["stdout"].split()[1] != "0"'
	# the claimed pod is gone or going, two others are ready again
	wait_ready_py 2
	after=$(ready_py_pods | sort)
	run comm -12 <(echo "$before") <(echo "$after")
	[ "$(echo "$output" | grep -c .)" -le 1 ] || fail "no pod was used: $before / $after"
}

@test "a pod killed mid-execution: a clear error, and the pool refills" {
	wait_ready_py 2
	curl -s -o killed.json -H "X-API-Key: $(srv_key main)" -H 'Content-Type: application/json' \
		-d '{"lang":"py","code":"import time\nprint(1, flush=True)\ntime.sleep(60)"}' \
		"$(srv_url main)/exec" &
	local bg=$! pod="" i
	for i in $(seq 150); do
		pod=$(k8s_pods kcr.dev/state=claimed | head -n 1)
		[ -n "$pod" ] && break
		sleep 0.2
	done
	[ -n "$pod" ] || fail "no pod was claimed"
	sleep 0.5
	simctl POST "/sim/pods/kcr/$pod/kill"
	assert_equal "$HTTP_STATUS" 200
	wait "$bg" || true
	run cat killed.json
	assert_output --regexp "sandbox pod $pod (died|was deleted) during the execution"
	api POST /exec -H 'Content-Type: application/json' -d '{"lang":"py","code":"print(2)"}'
	assert_status 200
	wait_ready_py 2
}

@test "two replicas hammering one pool never use a pod twice" {
	start_server b KCR_POOL_ADAPTIVE=false $(k8s_env) KCR_POOL_PY=2 KCR_POOL_JS=0 KCR_K8S_RUNNER_ACCESS=direct \
		--key "$(srv_key main)"
	wait_ready_py 4
	local n=24
	seq "$n" | xargs -P 8 -I{} sh -c '
		port=$(cat "$1/port"); [ $(({} % 2)) = 0 ] && port=$(cat "$2/port")
		curl -s -o /dev/null -w "%{http_code}\n" -H "X-API-Key: $3" -H "Content-Type: application/json" \
			-d "{\"lang\":\"py\",\"code\":\"print({})\"}" "http://127.0.0.1:$port/exec"' _ \
		"$(srv_dir main)" "$(srv_dir b)" "$(srv_key main)" >codes
	assert_equal "$(grep -c '^200$' codes)" "$n"
	# every pod's runner log: at most one execution
	local d execs used=0
	for d in "$(_sim_dir)"/pods/*/; do
		execs=$(grep -c 'POST /execute' "$d/log" 2>/dev/null || true)
		[ "${execs:-0}" -le 1 ] || problem "pod $(basename "$d") ran $execs executions"
		used=$((used + ${execs:-0}))
	done
	assert_no_problems
	[ "$used" -ge "$n" ] || fail "only $used executions in pod logs for $n requests"
	# the audit log: no pod claimed twice
	"$HOST_PYTHON" - "$(_sim_dir)/audit.jsonl" <<'EOF'
import collections, json, sys
claims = collections.Counter(
    e["name"] for e in map(json.loads, open(sys.argv[1])) if e.get("claim"))
twice = [n for n, c in claims.items() if c > 1]
assert claims and not twice, (claims, twice)
EOF
}

@test "the pods of a replica that died are deleted by the other" {
	start_server b KCR_POOL_ADAPTIVE=false $(k8s_env) KCR_POOL_PY=2 KCR_POOL_JS=0 --key "$(srv_key main)"
	local owner="" i left
	for i in $(seq 300); do
		owner=$(kube get pods -n kcr -l kcr.dev/role=pool -o json | "$HOST_PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    if p["metadata"]["annotations"].get("kcr.dev/owner-pid") == sys.argv[1]:
        print(p["metadata"]["labels"]["kcr.dev/owner"]); break' "$(srv_pid b)")
		[ -n "$owner" ] && break
		sleep 0.2
	done
	[ -n "$owner" ] || fail "replica b made no pods"
	kill -KILL "$(srv_pid b)"
	touch "$(srv_dir b)/stopped" # killed on purpose: no crash to report
	for i in $(seq 300); do
		left=$(k8s_pods "kcr.dev/owner=$owner" | grep -c . || true)
		[ "$left" = 0 ] && break
		sleep 0.2
	done
	assert_equal "$left" 0
}

@test "the API server down: 503 naming it; back: executions run again" {
	stop_sim
	exec_code py 'print(3)'
	[ "$HTTP_STATUS" = 503 ] || fail "HTTP $HTTP_STATUS: $BODY"
	assert_json '"kubernetes api server" in j["error"].lower()'
	api --no-key GET /ready
	assert_status 503
	assert_json 'j["sandbox_provider"] == "kubernetes" and not j["sandbox"]["ok"]'
	start_sim
	local i
	for i in $(seq 120); do
		exec_code py 'print(4)'
		[ "$HTTP_STATUS" = 200 ] && break
		sleep 0.5
	done
	assert_status 200
	assert_json_eq 'j["stdout"]' 4
}

@test "a rotated service-account token is read again" {
	local dir sa port
	dir=$(_sim_dir)
	[ -s "$dir/port" ] || start_sim
	port=$(cat "$dir/port")
	kube create --validate=false -f - <<EOF >/dev/null
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"kcr","namespace":"kcr"},
  "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["create","get","list","watch","delete","patch"]},
           {"apiGroups":[""],"resources":["pods/proxy"],"verbs":["get","create"]},
           {"apiGroups":["batch"],"resources":["jobs"],"verbs":["create","delete"]}]},
 {"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"kcr","namespace":"kcr"},
  "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"kcr"},
  "subjects":[{"kind":"ServiceAccount","name":"kcr","namespace":"kcr"}]}]}
EOF
	sa=$BATS_TEST_TMPDIR/sa
	cp -r "$dir/sa" "$sa"
	start_server c KCR_POOL_ADAPTIVE=false KCR_SANDBOX_PROVIDER=kubernetes KCR_K8S_IN_CLUSTER=true "KCR_K8S_SA_DIR=$sa" \
		KUBERNETES_SERVICE_HOST=127.0.0.1 "KUBERNETES_SERVICE_PORT=$port" \
		KCR_K8S_RUNNER_ACCESS=direct KCR_POOL_PY=0 KCR_POOL_JS=0
	SRV=c exec_code bash 'echo one'
	assert_status 200
	# rotate: a new token for the service account, the old one refused
	local old new
	old=$(cat "$sa/token")
	new=rotated-$(random_key)
	sed -i "s/^$old,/$new,/" "$dir/tokens"
	printf '%s' "$new" >"$sa/token.new"
	mv "$sa/token.new" "$sa/token"
	SRV=c exec_code bash 'echo two'
	assert_status 200
	assert_json_eq 'j["stdout"]' two
}

@test "every manifest kcr sent deserialises into the official client's models" {
	local dir
	dir=$(_sim_dir)
	ls "$dir"/manifests/*.json >/dev/null || fail "no manifest was recorded"
	run "$HOST_PYTHON" "$BATS_TEST_DIRNAME/../k8s/validate-manifests.py" "$dir"/manifests/*.json
	assert_success
}
