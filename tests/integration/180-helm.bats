#!/usr/bin/env bats
# The Helm chart helm/kcr, without helm and without a cluster: rendered by
# tests/helm/render.go (text/template + sprig + yaml.v3, as Helm does) for
# the default values and each tests/helm/values-*.yaml, its values checked
# against values.schema.json, every object against python3-kubernetes'
# models; then the rendering created on the Kubernetes simulator and its
# Deployment run as a real kcr serve (tests/helm/podenv.py): the LibreChat
# flow passes, the RBAC it grants is exactly the API calls kcr made, and
# kcr cluster check run as its service account finds every right it needs.

load serve_helpers
load k8s_helpers

CHART=$BATS_TEST_DIRNAME/../../helm/kcr
HELM_TESTS=$BATS_TEST_DIRNAME/../helm
SA_USER=system:serviceaccount:kcr:kcr
USER_ID=6650c7e1f1a2b3c4d5e6f708

setup_file() {
	local cache=${GOCACHE:-${HOME:+$HOME/.cache/go-build}}
	export RENDER=$BATS_FILE_TMPDIR/render
	# Debian's sprig and yaml.v3, offline; Go's build cache where it keeps it
	GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=${cache:-$BATS_FILE_TMPDIR/.gocache} \
		go build -o "$RENDER" "$HELM_TESTS/render.go"
}

teardown() {
	serve_teardown
	kill_sim_pods
}

# render OUT [RENDER-ARG...]: the chart as `helm template` prints it (release
# kcr in namespace kcr), its merged values valid against the schema
render() {
	local out=$1
	shift
	"$RENDER" -n kcr --name kcr --values-out "$out.values.json" "$@" "$CHART" >"$out" ||
		return 1
	"$HOST_PYTHON" "$HELM_TESTS/validate-values.py" "$CHART/values.schema.json" "$out.values.json"
}

# assert_rendered FILE EXPR: EXPR true over the rendering; docs, obj(kind,
# name), kinds(), role(name) and cfg (the ConfigMap's kcr.yaml) bound
assert_rendered() {
	run "$HOST_PYTHON" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def obj(kind, name="kcr"):
    m = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert m, "no %s %s" % (kind, name)
    return m[0]
def kinds():
    return sorted("%s/%s" % (d["kind"], d["metadata"]["name"]) for d in docs)
def rules(name="kcr"):
    return sorted((g, r, tuple(sorted(x["verbs"]))) for x in obj("Role", name)["rules"]
                  for g in x["apiGroups"] for r in x["resources"])
def env(name):
    c = obj("Deployment")["spec"]["template"]["spec"]["containers"][0]
    return [e for e in c["env"] if e["name"] == name][0]
cfg = yaml.safe_load(obj("ConfigMap")["data"]["kcr.yaml"])
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print("not true: " + sys.argv[2]); print(kinds()); sys.exit(1)' "$1" "$2"
	assert_success
}

@test "the default values render the objects of a release, hardened" {
	render r.yaml
	local f=r.yaml
	assert_rendered $f 'kinds() == ["ConfigMap/kcr", "Deployment/kcr", "NetworkPolicy/kcr",
		"NetworkPolicy/kcr-sandbox", "Role/kcr", "RoleBinding/kcr", "Secret/kcr", "Service/kcr",
		"ServiceAccount/kcr"]'
	# kcr serve: non-root, read-only root, no capabilities, seccomp, probes, spread
	assert_rendered $f '(lambda p: p["securityContext"]["runAsNonRoot"] and
		p["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault" and
		p["containers"][0]["securityContext"]["readOnlyRootFilesystem"] and
		not p["containers"][0]["securityContext"]["allowPrivilegeEscalation"] and
		p["containers"][0]["securityContext"]["capabilities"]["drop"] == ["ALL"] and
		p["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/health" and
		p["containers"][0]["startupProbe"]["httpGet"]["path"] == "/health" and
		p["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/ready" and
		p["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname")(
		obj("Deployment")["spec"]["template"]["spec"])'
	assert_rendered $f 'env("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"'
	assert_rendered $f 'env("KCR_API_KEYS")["valueFrom"]["secretKeyRef"] == {"name": "kcr", "key": "api-key"}'
	# exactly the provider's verbs; no pods/proxy when the runner is reached directly
	assert_rendered $f 'rules() == [("", "pods", ("create", "delete", "get", "list", "patch", "watch")),
		("batch", "jobs", ("create", "delete"))]'
	# sandbox pods: no egress, ingress only from kcr serve on 8080
	assert_rendered $f '(lambda s: s["policyTypes"] == ["Ingress", "Egress"] and s["egress"] == [] and
		s["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}] and
		s["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server")(
		obj("NetworkPolicy", "kcr-sandbox")["spec"])'
	assert_rendered $f 'sorted(p for r in obj("NetworkPolicy")["spec"]["egress"] for x in r["ports"]
		for p in [x["port"]]) == [53, 53, 443, 6443, 8080]'
	assert_rendered $f 'cfg["sandbox"]["provider"] == "kubernetes" and cfg["kubernetes"]["namespace"] == "kcr"
		and cfg["server"]["listen"] == "0.0.0.0:8000" and cfg["pool"] == {"py": 4, "js": 2}'
}

@test "each edge-case values file renders what it asks for" {
	local v=$HELM_TESTS
	render es.yaml -f "$v/values-existing-secret.yaml"
	assert_rendered es.yaml '"Secret/kcr" not in kinds() and
		env("KCR_ADMIN_KEY")["valueFrom"]["secretKeyRef"]["name"] == "my-kcr-keys"'
	render ing.yaml -f "$v/values-ingress-tls.yaml"
	assert_rendered ing.yaml 'obj("Ingress")["spec"]["tls"] == [{"secretName": "kcr-tls",
		"hosts": ["code.example.org"]}] and obj("Ingress")["spec"]["ingressClassName"] == "nginx"
		and cfg["server"]["trusted_proxies"] == ["10.0.0.0/8"]'
	render ns.yaml -f "$v/values-sandbox-namespace.yaml"
	assert_rendered ns.yaml 'obj("Role")["metadata"]["namespace"] == "kcr-sandboxes" and
		obj("RoleBinding")["subjects"][0]["namespace"] == "kcr" and
		obj("Role", "kcr-peers")["metadata"]["namespace"] == "kcr" and
		rules("kcr-peers") == [("", "pods", ("get",))] and
		obj("NetworkPolicy", "kcr-sandbox")["metadata"]["namespace"] == "kcr-sandboxes" and
		cfg["kubernetes"]["namespace"] == "kcr-sandboxes"'
	render px.yaml -f "$v/values-proxy.yaml"
	assert_rendered px.yaml '("", "pods/proxy", ("create", "get")) in rules() and
		cfg["kubernetes"]["runner_access"] == "proxy" and
		{"ipBlock": {"cidr": "10.96.0.1/32"}} in obj("NetworkPolicy", "kcr-sandbox")["spec"]["ingress"][0]["from"]'
	render ha.yaml -f "$v/values-ha.yaml"
	assert_rendered ha.yaml 'obj("HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3 and
		obj("PodDisruptionBudget")["spec"]["minAvailable"] == 2 and
		"replicas" not in obj("Deployment")["spec"] and
		cfg["store"]["sessions"] == "redis" and cfg["store"]["files"] == "s3" and
		"redis-url" in obj("Secret")["data"] and env("KCR_REDIS_URL")["valueFrom"]["secretKeyRef"]["key"] == "redis-url"'
	render st.yaml -f "$v/values-stores-in-chart.yaml"
	assert_rendered st.yaml 'obj("Deployment", "kcr-redis") and obj("Deployment", "kcr-minio") and
		cfg["store"]["redis"]["host"] == "kcr-redis" and cfg["store"]["s3"]["endpoint"] == "http://kcr-minio:9000" and
		obj("ServiceMonitor")["spec"]["endpoints"][0]["authorization"]["credentials"]["key"] == "api-key" and
		obj("ServiceMonitor")["metadata"]["labels"]["release"] == "prometheus"'
	render rc.yaml -f "$v/values-runtimeclass.yaml"
	assert_rendered rc.yaml 'cfg["kubernetes"]["runtime_class"] == "gvisor" and
		cfg["kubernetes"]["node_selector"] == "{\"kcr.dev/sandbox\":\"true\"}" and
		cfg["kubernetes"]["image_py"].startswith("registry.example.org/") and
		cfg["limits"]["memory_mb"] == 768 and cfg["limits"]["timeout"] == 30 and
		cfg["pool"] == {"py": 8, "js": 0, "go": 1, "rs": 1} and env("KCR_LOG_LEVEL")["value"] == "debug"'
	# KubeCodeRun's execution.languages.<name>, by kcr's ids
	assert_rendered rc.yaml 'cfg["kubernetes"]["image_rs"] == "registry.example.org/kcr/rs:1.80" and
		cfg["kubernetes"]["cpu_limit_rs"] == "2" and cfg["kubernetes"]["memory_limit_rs"] == "1Gi"'
	# --set over -f over values.yaml
	render set.yaml -f "$v/values-runtimeclass.yaml" --set execution.pool.py=2 --set 'api.corsOrigins={https://a.example,https://b.example}'
	assert_rendered set.yaml 'cfg["pool"]["py"] == 2 and cfg["pool"]["go"] == 1 and
		cfg["server"]["cors_origins"] == ["https://a.example", "https://b.example"]'
}

@test "values the schema refuses, and several replicas on per-pod stores, fail with the reason" {
	run render bad.yaml -f "$HELM_TESTS/values-invalid.yaml"
	assert_failure
	assert_output "values don't meet the specifications of the schema: execution.runnerAccess: 'tunnel' is not one of ['auto', 'direct', 'proxy']"
	run render bad.yaml --set replicaCount=-1
	assert_failure
	assert_output --partial "replicaCount: -1 is less than the minimum of 0"
	run render bad.yaml --set execution.pool.cobol=1
	assert_failure
	assert_output --partial "Additional properties are not allowed ('cobol' was unexpected)"
	run render bad.yaml --set replicaCount=3
	assert_failure
	assert_output --partial "several replicas (replicaCount > 1 or autoscaling.enabled) need shared stores"
}

@test "every rendered object deserialises into python3-kubernetes' models; kcr takes every kcr.yaml" {
	local f files=()
	render default.yaml
	files+=(default.yaml)
	for f in "$HELM_TESTS"/values-*.yaml; do
		[ "$f" = "$HELM_TESTS/values-invalid.yaml" ] && continue
		render "$(basename "$f")" -f "$f"
		files+=("$(basename "$f")")
	done
	run "$HOST_PYTHON" "$HELM_TESTS/check-objects.py" "${files[@]}"
	assert_success
	assert_line 'ServiceMonitor kcr'
	assert_line 'HorizontalPodAutoscaler kcr'
	assert_line 'Ingress kcr'
	note "$(echo "$output" | wc -l) objects checked in ${#files[@]} renderings"
	# kcr refuses an unknown setting: each ConfigMap's kcr.yaml is one it takes
	for f in "${files[@]}"; do
		"$HOST_PYTHON" -c '
import sys, yaml
cm = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap"][0]
sys.stdout.write(cm["data"]["kcr.yaml"])' "$f" >"$f.kcr.yaml"
		run "$KCR" --config "$f.kcr.yaml" config show
		assert_success
	done
	# the check sees a field no model has
	sed 's/^  replicas: 1$/  replicas: 1\n  replica: 1/' default.yaml >typo.yaml
	run "$HOST_PYTHON" "$HELM_TESTS/check-objects.py" typo.yaml
	assert_failure
	assert_line 'Deployment kcr: unknown field "spec.replica"'
}

# deploy NAME RENDERED: creates every object of the rendering on the
# simulator, then runs its Deployment as kcr serve NAME (podenv.py): the
# command, args and env of its container, its config map written out; the
# service-account token the kubelet would mount and the API server's
# address it would inject come from the simulator
deploy() {
	local name=$1 f=$2 line envs=() args=() sim
	sim=$(_sim_dir)
	run kube create -f "$f"
	assert_success
	"$HOST_PYTHON" "$HELM_TESTS/podenv.py" "$f" "$BATS_TEST_TMPDIR/pod-$name" "kcr-7d9f-$name" >podenv.$name
	while IFS= read -r line; do
		case $line in
		"cmd kcr") ;;
		"cmd serve") ;;
		cmd\ *) args+=("${line#cmd }") ;;
		env\ *) envs+=("${line#env }") ;;
		esac
	done <podenv.$name
	grep -qx 'cmd kcr' podenv.$name && grep -qx 'cmd serve' podenv.$name ||
		fail "the container does not run kcr serve: $(cat podenv.$name)"
	start_server "$name" --no-default-key --key "$(sed -n 's/^env KCR_API_KEYS=//p' podenv.$name)" \
		"${envs[@]}" KUBERNETES_SERVICE_HOST=127.0.0.1 "KUBERNETES_SERVICE_PORT=$(cat "$sim/port")" \
		"KCR_K8S_SA_DIR=$sim/sa" -- "${args[@]}"
}

# orphan NS OWNER-POD: a ready pool pod of a replica whose pod is gone
orphan() {
	kube create -f - <<-EOF
	{"apiVersion": "v1", "kind": "Pod",
	 "metadata": {"name": "kcr-py-orphan", "namespace": "$1",
	   "labels": {"app.kubernetes.io/managed-by": "kcr", "app.kubernetes.io/component": "sandbox",
	     "kcr.dev/language": "py", "kcr.dev/role": "pool", "kcr.dev/state": "ready",
	     "kcr.dev/owner": "kcr-gone-1-abc"},
	   "annotations": {"kcr.dev/owner-pod": "$2"}},
	 "spec": {"containers": [{"name": "runner", "image": "localhost/kcr/py:0.1.0"}]}}
	EOF
}

# exercise NAME SANDBOX-NS: the LibreChat flow, a Job, a claim that meets a
# conflict; then the rendering's RBAC against what kcr's identity called
exercise() {
	local name=$1 ns=$2 f=$3 i
	SRV=$name
	# the pods of a replica that died are deleted at start: gone from the list
	for i in $(seq 100); do
		kube get pod -n "$ns" kcr-py-orphan >/dev/null 2>&1 || break
		sleep 0.2
	done
	kube get pod -n "$ns" kcr-py-orphan >/dev/null 2>&1 && fail "the orphan pod was not deleted"
	# a warm py pod to claim (else the run would be a Job, and no claim)
	for i in $(seq 300); do
		kube get pods -n "$ns" -l kcr.dev/language=py,kcr.dev/role=pool,kcr.dev/state=ready \
			-o 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}' | grep -q True && break
		sleep 0.2
	done
	# the next claim of a pool pod gets a 409 (another replica was faster)
	simctl POST /sim/fault -d "{\"path_prefix\": \"/api/v1/namespaces/$ns/pods/\", \"method\": \"PATCH\", \"status\": 409, \"count\": 1}"
	assert_equal "$HTTP_STATUS" 200
	librechat_flow "$USER_ID"
	exec_code js 'console.log(6 * 7)'
	assert_status 200
	assert_json_eq 'j["stdout"].strip()' 42
	# deletions run after the reply: wait for the calls to settle
	for i in $(seq 50); do
		"$HOST_PYTHON" "$HELM_TESTS/rbac-audit.py" "$f" "$(_sim_dir)/audit.jsonl" "$SA_USER" \
			>/dev/null && break
		sleep 0.2
	done
	run "$HOST_PYTHON" "$HELM_TESTS/rbac-audit.py" "$f" "$(_sim_dir)/audit.jsonl" "$SA_USER"
	echo "$output" | sed 's/^/# /' >&3
	assert_success
}

@test "the rendered release on the simulator: kcr serve passes the LibreChat flow; RBAC is exactly what it used" {
	SIM_DIR=$BATS_TEST_TMPDIR/sim
	start_sim
	render rel.yaml --set execution.pool.py=1 --set execution.pool.js=0
	orphan kcr kcr/kcr-7d9f-gone
	deploy helm-a rel.yaml
	exercise helm-a kcr rel.yaml
	refute_line --partial 'pods/proxy'
	# kcr cluster check in the kcr serve pod (kubectl exec deploy/kcr --
	# kcr cluster check): the chart's rights are the ones it asks for
	local envs
	mapfile -t envs < <(sed -n 's/^env //p' podenv.helm-a)
	run env "${envs[@]}" KUBERNETES_SERVICE_HOST=127.0.0.1 "KUBERNETES_SERVICE_PORT=$(cat "$SIM_DIR/port")" \
		"KCR_K8S_SA_DIR=$SIM_DIR/sa" KCR_STATE_DIR="$BATS_TEST_TMPDIR/check-state" "$KCR" cluster check
	echo "$output" | sed 's/^/# /' >&3
	assert_success
	assert_line 'ok   RBAC pods (create get list watch delete patch)'
	assert_line 'ok   RBAC batch/jobs (create delete)'
}

@test "sandboxes in their own namespace, runners through the API server's proxy: the same, with both Roles" {
	SIM_DIR=$BATS_TEST_TMPDIR/sim
	start_sim --namespaces kcr,default,kcr-sandboxes
	render rel.yaml -f "$HELM_TESTS/values-sandbox-namespace.yaml" -f "$HELM_TESTS/values-proxy.yaml" \
		--set execution.pool.py=1 --set execution.pool.js=0
	orphan kcr-sandboxes kcr/kcr-7d9f-gone
	deploy helm-b rel.yaml
	exercise helm-b kcr-sandboxes rel.yaml
	assert_line 'used kcr-sandboxes core pods/proxy create'
	assert_line 'used kcr core pods get'
}
