#!/usr/bin/env bats
# The Kubernetes API server simulator (tests/k8s/kube-sim.py) against the
# official clients, unchanged: kubectl and Debian's python3-kubernetes.
# What kcr's kubernetes provider is tested against must behave like a real
# cluster for them, or those tests prove nothing.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

SRC=${KCR_SRCDIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
PY=/usr/bin/python3
SIM="$SRC/tests/k8s/kube-sim.py"

sim_start() {
	rm -f "$D/port"
	setsid "$PY" "$SIM" --dir "$D" --runner "$KCR_RUNNER" --probe-period-ms 100 \
		--runtime-classes gvisor,kata --namespaces kcr,default \
		>>"$D.log" 2>&1 </dev/null 3>&- &
	wait_until '[ -s "$D/port" ]' 60 || {
		cat "$D.log" >&2
		return 1
	}
}

setup_file() {
	if [ -z "${KCR_RUNNER:-}" ] || [ ! -x "$KCR_RUNNER" ]; then
		KCR_RUNNER=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/runner/kcr-runner
	fi
	export KCR_RUNNER
	export D="$BATS_FILE_TMPDIR/sim"
	export PYTHONPATH="$SRC/tests/k8s"
	export KUBECACHEDIR="$BATS_FILE_TMPDIR/kube-cache" # not the user's ~/.kube
	mkdir -p "$D"
	sim_start
}

teardown_file() {
	"$PY" "$SIM" --dir "$D" --stop
}

# wait_until SHELL-CONDITION [SECONDS]: polls, never a fixed sleep
wait_until() {
	local deadline=$((SECONDS + ${2:-30}))
	until eval "$1"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

k() { kubectl --kubeconfig "$D/kubeconfig" "$@"; }

need_kubectl() { command -v kubectl >/dev/null || skip "kubectl is not installed"; }
need_pyk8s() { "$PY" -c 'import kubernetes' 2>/dev/null || skip "python3-kubernetes is not installed"; }
need_runner() { [ -x "$KCR_RUNNER" ] || skip "no kcr-runner (build first)"; }

# py: runs the Python on stdin with D and the simclient helpers
py() {
	run "$PY" -c "import sys; sys.argv = ['-', '$D']; exec(sys.stdin.read())"
}

pod_json() { # pod_json NAME [RESTART-POLICY] [EXTRA-LABEL=VALUE]: a pod as kcr makes them
	local labels='"app.kubernetes.io/name":"kcr","kcr.dev/role":"pool","kcr.dev/state":"ready"'
	[ -n "${3:-}" ] && labels="$labels,\"${3%%=*}\":\"${3#*=}\""
	cat <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","labels":{$labels}},
 "spec":{"automountServiceAccountToken":false,"enableServiceLinks":false,
  "restartPolicy":"${2:-Never}","terminationGracePeriodSeconds":5,
  "securityContext":{"runAsUser":65532,"runAsGroup":65532,"runAsNonRoot":true,
   "seccompProfile":{"type":"RuntimeDefault"}},
  "containers":[{"name":"runner","image":"kcr/py:1","command":["kcr-runner"],
   "args":["--port","8080","--data-dir","/mnt/data","--src-dir","/tmp/kcr-src","--log-requests"],
   "ports":[{"containerPort":8080,"name":"http"}],
   "readinessProbe":{"httpGet":{"path":"/ready","port":8080},"periodSeconds":1},
   "securityContext":{"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false,
    "capabilities":{"drop":["ALL"]}},
   "volumeMounts":[{"name":"data","mountPath":"/mnt/data"},{"name":"tmp","mountPath":"/tmp"}]}],
  "volumes":[{"name":"data","emptyDir":{}},{"name":"tmp","emptyDir":{}}]}}
EOF
}

jfield() { # jfield JSON-FILE EXPR: EXPR on the document j
	"$PY" -c 'import json,sys; j=json.load(sys.stdin); v=eval(sys.argv[1]); print(v if isinstance(v,str) else json.dumps(v))' "$2" <"$1"
}

@test "the API answers: /version, /healthz, discovery, namespaces, the node" {
	need_kubectl
	run k get --raw /healthz
	assert_success
	assert_output ok
	run k version -o json
	assert_success
	assert_output --partial '"gitVersion": "v1.30.0-kcr-sim"'
	run k api-resources --api-group=batch -o name
	assert_success
	assert_output --partial jobs.batch
	run k get ns/kcr ns/default nodes/sim-node
	assert_success
	assert_output --regexp 'namespace/kcr +Active'
	assert_output --partial node/sim-node
}

@test "kubectl: create -f, wait Ready, get, get -l, get -o json, delete" {
	need_kubectl
	need_runner
	pod_json kb-a Never >"$BATS_TEST_TMPDIR/a.json"
	run k create -f "$BATS_TEST_TMPDIR/a.json"
	assert_success
	assert_output "pod/kb-a created"
	run k create -f "$BATS_TEST_TMPDIR/a.json"
	assert_failure
	assert_output --partial 'pods "kb-a" already exists'
	run k wait --for=condition=Ready pod/kb-a --timeout=60s
	assert_success
	run k get pods
	assert_success
	assert_output --regexp 'kb-a +1/1 +Running +0'
	run k get pods -l 'kcr.dev/state=ready,kcr.dev/role in (pool)' -o name
	assert_output --partial pod/kb-a
	run k get pods -l 'kcr.dev/state!=ready' -o name
	refute_output --partial kb-a
	k get pod kb-a -o json >"$BATS_TEST_TMPDIR/got.json"
	run jfield "$BATS_TEST_TMPDIR/got.json" '[j["status"]["phase"], j["spec"]["nodeName"], [c["type"] for c in j["status"]["conditions"] if c["status"]=="True"], j["status"]["containerStatuses"][0]["ready"], j["status"]["podIP"].split(".")[0]]'
	assert_output '["Running", "sim-node", ["Initialized", "Ready", "ContainersReady", "PodScheduled"], true, "127"]'
	run k delete pod kb-a --timeout=60s
	assert_success
	assert_output 'pod "kb-a" deleted'
	run k get pod kb-a
	assert_failure
	assert_output --partial 'pods "kb-a" not found'
}

@test "kubectl: the client-certificate kubeconfig, auth can-i and whoami" {
	need_kubectl
	run kubectl --kubeconfig "$D/kubeconfig-cert" get ns kcr -o name
	assert_success
	assert_output namespace/kcr
	run kubectl --kubeconfig "$D/kubeconfig-cert" auth whoami -o jsonpath='{.status.userInfo.username}'
	assert_success
	assert_output sim-admin
	run k auth can-i delete pods
	assert_output yes
	run kubectl --kubeconfig "$D/kubeconfig-sa" auth can-i list secrets
	assert_output no
	run k auth can-i list secrets --as=system:serviceaccount:kcr:kcr
	assert_output no
}

@test "Status errors as the real server writes them: 404, 409 AlreadyExists, 422 Invalid, 401" {
	need_pyk8s
	py <<'EOF'
import json, simclient as sc
D = sys.argv[1]
code, _, b = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods/nope")
s = json.loads(b)
assert code == 404 and s == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'pods "nope" not found', "reason": "NotFound", "details": {"name": "nope", "kind": "pods"},
    "code": 404}, s
pod = {"metadata": {"name": "inv"}, "spec": {"containers": [{"name": "c"}]}}
code, _, b = sc.raw(D, "POST", "/api/v1/namespaces/kcr/pods", pod)
s = json.loads(b)
assert code == 422 and s["reason"] == "Invalid", b
assert s["message"] == 'Pod "inv" is invalid: spec.containers[0].image: Required value', s["message"]
assert s["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
    "field": "spec.containers[0].image"}], s
code, _, b = sc.raw(D, "POST", "/api/v1/namespaces/kcr/pods", {"metadata": {"name": "inv"}, "spec": {}})
assert code == 422 and "spec.containers: Required value" in json.loads(b)["message"], b
code, _, b = sc.raw(D, "POST", "/api/v1/namespaces/kcr/pods", {"metadata": {}, "spec": {"containers": [{"image": "x"}]}})
m = json.loads(b)["message"]
assert code == 422 and "metadata.name: Required value: name or generateName is required" in m and \
    "spec.containers[0].name: Required value" in m, m
code, _, b = sc.raw(D, "POST", "/api/v1/namespaces/nons/pods", {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
assert code == 404 and json.loads(b)["message"] == 'namespaces "nons" not found', b
for want in (201, 409):
    code, _, b = sc.raw(D, "POST", "/api/v1/namespaces/kcr/configmaps", {"metadata": {"name": "dup"}})
    assert code == want, (code, b)
s = json.loads(b)
assert s["reason"] == "AlreadyExists" and s["message"] == 'configmaps "dup" already exists' and \
    s["details"] == {"name": "dup", "kind": "configmaps"}, s
code, _, b = sc.raw(D, "POST", "/apis/batch/v1/namespaces/kcr/jobs", {"metadata": {"name": "j"}, "spec": {
    "template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "x"}]}}}})
s = json.loads(b)
assert code == 422 and s["message"] == ('Job.batch "j" is invalid: spec.template.spec.restartPolicy: '
    'Unsupported value: "Always": supported values: "OnFailure", "Never"'), s["message"]
code, _, b = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods", tok="not-a-token")
assert code == 401 and json.loads(b)["reason"] == "Unauthorized", b
code, _, b = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods?labelSelector=a%20in%20(", tok="admin")
assert code == 400, b
# a refused request's body does not spill into the next one on the connection
c = sc.connect(D)
c.request("POST", "/api/v1/namespaces/kcr/secrets", body=json.dumps({"metadata": {"name": "s"}, "data": {}}),
          headers={"Authorization": "Bearer " + sc.token(D, "system:serviceaccount:kcr:kcr"),
                   "Content-Type": "application/json"})
r = c.getresponse(); r.read()
assert r.status == 403, r.status
c.request("GET", "/version", headers={"Authorization": "Bearer " + sc.token(D)})
r = c.getresponse()
assert r.status == 200 and json.loads(r.read())["major"] == "1"
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "python3-kubernetes: list with selectors and limit/continue, watch, generateName" {
	need_pyk8s
	py <<'EOF'
import simclient as sc
from kubernetes import watch
D = sys.argv[1]
core = sc.core(D)
def body(i):
    return {"metadata": {"generateName": "gen-", "labels": {"set": "w", "i": str(i)}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
             "command": ["sleep", "60"]}]}}
first = core.create_namespaced_pod("kcr", body(0))
assert first.metadata.name.startswith("gen-") and len(first.metadata.name) == 9, first.metadata.name
rv = first.metadata.resource_version
names = [first.metadata.name] + [core.create_namespaced_pod("kcr", body(i)).metadata.name for i in (1, 2)]
lst = core.list_namespaced_pod("kcr", label_selector="set=w,i!=1")
assert sorted(p.metadata.name for p in lst.items) == sorted([names[0], names[2]])
page = core.list_namespaced_pod("kcr", label_selector="set=w", limit=2)
assert len(page.items) == 2 and page.metadata._continue and page.metadata.remaining_item_count == 1
rest = core.list_namespaced_pod("kcr", label_selector="set=w", limit=2, _continue=page.metadata._continue)
assert len(rest.items) == 1 and not rest.metadata._continue
fs = core.list_namespaced_pod("kcr", field_selector="metadata.name=" + names[1])
assert [p.metadata.name for p in fs.items] == [names[1]]
# a watch from the first create's version sees the other two, then their
# deletion; Watch follows the version itself
seen = []
w = watch.Watch()
core.delete_namespaced_pod(names[1], "kcr", grace_period_seconds=0)
for ev in w.stream(core.list_namespaced_pod, "kcr", label_selector="set=w", resource_version=rv,
                   timeout_seconds=20):
    seen.append((ev["type"], ev["object"].metadata.name))
    if ("DELETED", names[1]) in seen:
        w.stop()
assert ("ADDED", names[1]) in seen and ("ADDED", names[2]) in seen, seen
assert ("DELETED", names[1]) in seen, seen
for n in (names[0], names[2]):
    core.delete_namespaced_pod(n, "kcr", grace_period_seconds=0)
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "watch: bookmarks, timeoutSeconds, and 410 Gone from a compacted version" {
	need_pyk8s
	py <<'EOF'
import json, time, simclient as sc
D = sys.argv[1]
code, _, b = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods")
rv = json.loads(b)["metadata"]["resourceVersion"]
t = time.time()
code, evs = sc.watch_lines(D, "/api/v1/namespaces/kcr/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=" + rv)
assert code == 200 and 1.5 < time.time() - t < 15, time.time() - t
bm = [e for e in evs if e["type"] == "BOOKMARK"]
assert bm and list(bm[0]["object"]["metadata"]) == ["resourceVersion"] and bm[0]["object"]["kind"] == "Pod", evs
# make a change, compact, and watch from before it
sc.raw(D, "POST", "/api/v1/namespaces/kcr/configmaps", {"metadata": {"name": "cm-410"}})
code, _, b = sc.raw(D, "POST", "/sim/compact", {})
assert code == 200, b
code, evs = sc.watch_lines(D, "/api/v1/namespaces/kcr/pods?watch=true&resourceVersion=" + rv)
assert code == 200 and len(evs) == 1 and evs[0]["type"] == "ERROR", evs
st = evs[0]["object"]
assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired" and \
    st["message"].startswith("too old resource version: " + rv), st
# the official client's Watch gives the 410 to its caller
from kubernetes import watch, client
core = sc.core(D)
try:
    for ev in watch.Watch().stream(core.list_namespaced_pod, "kcr", resource_version=rv, timeout_seconds=5):
        assert ev["type"] != "ADDED", ev
    raise SystemExit("no 410")
except client.ApiException as e:
    assert e.status == 410, e
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "claim: merge patch with metadata.resourceVersion, 409 Conflict on a stale one, audited" {
	need_pyk8s
	py <<'EOF'
import json, simclient as sc
D = sys.argv[1]
core = sc.core(D)
p = core.create_namespaced_pod("kcr", {"metadata": {"name": "claim-me", "labels": {"kcr.dev/state": "ready"}},
    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "60"]}]}})
seen = p.metadata.resource_version
# someone else changes the pod first (the kubelet's status updates do too)
core.patch_namespaced_pod("claim-me", "kcr", {"metadata": {"annotations": {"x": "y"}}})
claim = {"metadata": {"resourceVersion": seen, "labels": {"kcr.dev/state": "claimed", "kcr.dev/claimed-by": "r1"}}}
code, _, b = sc.raw(D, "PATCH", "/api/v1/namespaces/kcr/pods/claim-me", claim, ctype="application/merge-patch+json")
s = json.loads(b)
assert code == 409 and s["reason"] == "Conflict" and s["message"] == ('Operation cannot be fulfilled on pods '
    '"claim-me": the object has been modified; please apply your changes to the latest version and try again'), b
cur = core.read_namespaced_pod("claim-me", "kcr")
claim["metadata"]["resourceVersion"] = cur.metadata.resource_version
code, _, b = sc.raw(D, "PATCH", "/api/v1/namespaces/kcr/pods/claim-me", claim, ctype="application/merge-patch+json")
o = json.loads(b)
assert code == 200 and o["metadata"]["labels"]["kcr.dev/state"] == "claimed", b
assert int(o["metadata"]["resourceVersion"]) > int(cur.metadata.resource_version)
# a PUT with a stale version is a conflict too
cur = cur.to_dict()
code, _, b = sc.raw(D, "PUT", "/api/v1/namespaces/kcr/pods/claim-me",
    sc.api_client(D).sanitize_for_serialization(core.read_namespaced_pod("claim-me", "kcr")) | {"metadata": {"name": "claim-me", "resourceVersion": seen}})
assert code == 409, b
# json-patch and strategic merge patch
core.patch_namespaced_pod("claim-me", "kcr", [{"op": "add", "path": "/metadata/labels/jp", "value": "1"}])
assert core.read_namespaced_pod("claim-me", "kcr").metadata.labels["jp"] == "1"
audit = [json.loads(l) for l in open(D + "/audit.jsonl")]
claims = [a for a in audit if a.get("claim")]
assert len(claims) == 1 and claims[0]["verb"] == "patch" and claims[0]["code"] == 200 and \
    claims[0]["name"] == "claim-me" and claims[0]["user"] == "sim-admin", claims
conflicts = [a for a in audit if a["name"] == "claim-me" and a["code"] == 409]
assert len(conflicts) == 2, conflicts
core.delete_namespaced_pod("claim-me", "kcr", grace_period_seconds=0)
print("ok")
EOF
	assert_success
	assert_output ok
	run ls "$D/manifests"
	assert_output --regexp '[0-9]{4}-Pod-patch\.json'
}

@test "RBAC: the service account is forbidden until a Role is bound, then allowed" {
	need_pyk8s
	py <<'EOF'
import json, simclient as sc
from kubernetes import client
D = sys.argv[1]
sa = sc.core(D, "sa")
try:
    sa.list_namespaced_pod("kcr")
    raise SystemExit("not forbidden")
except client.ApiException as e:
    s = json.loads(e.body)
    assert e.status == 403 and s["reason"] == "Forbidden", e.body
    assert s["message"] == ('pods is forbidden: User "system:serviceaccount:kcr:kcr" cannot list '
        'resource "pods" in API group "" in the namespace "kcr"'), s["message"]
authz = client.AuthorizationV1Api(sc.api_client(D, "sa"))
def can(verb, res, sub=""):
    r = authz.create_self_subject_access_review({"spec": {"resourceAttributes": {
        "namespace": "kcr", "verb": verb, "resource": res, "subresource": sub}}})
    return r.status.allowed
assert not can("list", "pods")
rb = sc.rbac(D)
rb.create_namespaced_role("kcr", {"metadata": {"name": "kcr"}, "rules": [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/proxy", "pods/log"], "verbs": ["get", "create"]}]})
rb.create_namespaced_role_binding("kcr", {"metadata": {"name": "kcr"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kcr"},
    "subjects": [{"kind": "ServiceAccount", "name": "kcr", "namespace": "kcr"}]})
assert can("list", "pods") and can("create", "pods", "proxy") and not can("list", "secrets")
sa.list_namespaced_pod("kcr")
try:
    sa.list_namespaced_secret("kcr")
    raise SystemExit("secrets not forbidden")
except client.ApiException as e:
    assert e.status == 403
try:
    sa.list_namespaced_pod("default")
    raise SystemExit("another namespace not forbidden")
except client.ApiException as e:
    assert e.status == 403 and 'in the namespace "default"' in json.loads(e.body)["message"]
print("ok")
EOF
	assert_success
	assert_output ok
	# in-cluster: the service-account dir and KUBERNETES_SERVICE_*
	run env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$(cat "$D/port")" "$PY" -c "
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader
InClusterConfigLoader(token_filename='$D/sa/token', cert_filename='$D/sa/ca.crt').load_and_set()
print(len(client.CoreV1Api().list_namespaced_pod(open('$D/sa/namespace').read()).items) >= 0)"
	assert_success
	assert_output True
}

@test "a pod really runs kcr-runner: /health on podIP:8080 and through pods/proxy, as 65532, with its emptyDirs" {
	need_kubectl
	need_runner
	pod_json run-a Never >"$BATS_TEST_TMPDIR/p.json"
	k create -f "$BATS_TEST_TMPDIR/p.json"
	run k wait --for=condition=Ready pod/run-a --timeout=60s
	assert_success
	ip=$(k get pod run-a -o jsonpath='{.status.podIP}')
	run curl -sS --max-time 10 "http://$ip:8080/health"
	assert_success
	assert_output --partial '"ok"'
	run k get --raw /api/v1/namespaces/kcr/pods/run-a:8080/proxy/health
	assert_success
	assert_output --partial '"ok"'
	# a POST through the proxy, body both ways
	tok=$(head -1 "$D/tokens" | cut -d, -f1)
	run curl -sS --max-time 10 --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $tok" \
		-X POST -H 'Content-Type: application/json' --data '{}' \
		"https://127.0.0.1:$(cat "$D/port")/api/v1/namespaces/kcr/pods/run-a:8080/proxy/no-such-path"
	assert_success
	refute_output --partial '"kind":"Status"'
	pid=$(cat "$D"/pods/kcr_run-a/pid.runner.0)
	run ps -o user=,args= -p "$pid"
	assert_output --regexp '^65532 .*kcr-runner'
	# its /tmp is the pod's emptyDir, not the host's
	[ "$(readlink /proc/"$pid"/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ]
	[ -d "$D/pods/kcr_run-a/volumes/tmp" ]
	run k logs run-a
	assert_success
	run k get pod run-a -o jsonpath='{.status.containerStatuses[0].state.running.startedAt}'
	assert_output --regexp '^20[0-9-]+T[0-9:]+Z$'
	k delete pod run-a --wait=false
}

@test "pods/proxy streams large bodies both ways, with Content-Length or chunked, any method" {
	need_pyk8s
	py <<'EOF'
import hashlib, json, os, time, simclient as sc
D = sys.argv[1]
core = sc.core(D)
# an echo server in the pod: the body back, chunked, with the method
echo = r"""
import os, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def body(self):
        if self.headers.get("Transfer-Encoding") == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    self.rfile.readline(); return out
                out += self.rfile.read(n); self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))
    def any(self):
        data = self.body()
        self.send_response(200)
        self.send_header("X-Method", self.command)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(data), 100000):
            part = data[i:i + 100000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")
    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET = any
http.server.ThreadingHTTPServer((os.environ["MY_IP"], 8080), H).serve_forever()
"""
core.create_namespaced_pod("kcr", {"metadata": {"name": "echo"}, "spec": {"restartPolicy": "Never",
    "containers": [{"name": "c", "image": "python", "command": ["/usr/bin/python3", "-c", echo],
        "env": [{"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "readinessProbe": {"tcpSocket": {"port": 8080}}}]}})
end = time.time() + 30
while time.time() < end and not any(c.type == "Ready" and c.status == "True" for c in
                                    core.read_namespaced_pod("echo", "kcr").status.conditions or []):
    time.sleep(0.1)
big = os.urandom(3 << 20)
path = "/api/v1/namespaces/kcr/pods/echo:8080/proxy/up?x=1"
hdrs = {"Authorization": "Bearer " + sc.token(D), "Content-Type": "application/octet-stream"}
c = sc.connect(D, 60)
c.request("PUT", path, body=big, headers=hdrs)
r = c.getresponse()
got = r.read()
assert r.status == 200 and r.getheader("X-Method") == "PUT" and got == big, (r.status, len(got))
def gen():
    for i in range(0, len(big), 65536):
        yield big[i:i + 65536]
c.request("POST", path, body=gen(), headers=hdrs, encode_chunked=True)
r = c.getresponse()
got = r.read()
assert r.status == 200 and r.getheader("X-Method") == "POST" and got == big, (r.status, len(got))
c.request("DELETE", path, headers=hdrs)
r = c.getresponse()
assert r.status == 200 and r.getheader("X-Method") == "DELETE" and r.read() == b""
code, _, b = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods/echo:9999/proxy/")
assert code == 503 and "connection refused" in json.loads(b)["message"], b
core.delete_namespaced_pod("echo", "kcr", grace_period_seconds=0)
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "a container's env, its writable emptyDir on a read-only root, its logs, and restartPolicy OnFailure" {
	need_pyk8s
	py <<'EOF'
import time, simclient as sc
D = sys.argv[1]
core = sc.core(D)
core.create_namespaced_config_map("kcr", {"metadata": {"name": "env-cm"}, "data": {"greeting": "hi"}})
script = ('echo "env $MY_NAME $MY_IP $GREETING $PLAIN $(id -u):$(id -g)"; '
          'touch /mnt/data/ok && echo data-ok; '
          'touch /kcr-sim-root-probe 2>/dev/null || echo root-ro; exit 1')
core.create_namespaced_pod("kcr", {"metadata": {"name": "envy"}, "spec": {
    "restartPolicy": "OnFailure", "securityContext": {"runAsUser": 65532, "runAsGroup": 65532},
    "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
        "securityContext": {"readOnlyRootFilesystem": True},
        "env": [{"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "greeting"}}},
                {"name": "PLAIN", "value": "x-$(GREETING)"}],
        "volumeMounts": [{"name": "data", "mountPath": "/mnt/data"}]}],
    "volumes": [{"name": "data", "emptyDir": {}}]}})
end = time.time() + 30
while time.time() < end:
    cs = core.read_namespaced_pod("envy", "kcr").status.container_statuses
    if cs and cs[0].restart_count >= 1:
        break
    time.sleep(0.1)
pod = core.read_namespaced_pod("envy", "kcr")
cs = pod.status.container_statuses[0]
assert cs.restart_count >= 1 and pod.status.phase == "Running", (pod.status.phase, cs)
assert cs.last_state.terminated.exit_code == 1, cs
log = core.read_namespaced_pod_log("envy", "kcr")
assert "env envy %s hi x-hi 65532:65532" % pod.status.pod_ip in log, log
assert "data-ok" in log and "root-ro" in log, log
assert core.read_namespaced_pod_log("envy", "kcr", tail_lines=1).count("\n") == 1
core.delete_namespaced_pod("envy", "kcr", grace_period_seconds=0)
print("ok")
EOF
	assert_success
	assert_output ok
	[ -e "$D/pods/kcr_envy/volumes/data/ok" ]
	[ ! -e /kcr-sim-root-probe ]
}

@test "kill: the container dies, the pod goes Failed with exit 137; a graceful delete sends SIGTERM" {
	need_kubectl
	need_runner
	pod_json kill-a Never >"$BATS_TEST_TMPDIR/k.json"
	pod_json grace-a Never >"$BATS_TEST_TMPDIR/g.json"
	k create -f "$BATS_TEST_TMPDIR/k.json" -f "$BATS_TEST_TMPDIR/g.json"
	run k wait --for=condition=Ready pod/kill-a pod/grace-a --timeout=60s
	assert_success
	tok=$(head -1 "$D/tokens" | cut -d, -f1)
	run curl -sS --max-time 10 --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $tok" -X POST -d '{}' \
		"https://127.0.0.1:$(cat "$D/port")/sim/pods/kcr/kill-a/kill"
	assert_success
	assert_output --partial '"ok": true'
	run k wait --for=jsonpath='{.status.phase}'=Failed pod/kill-a --timeout=30s
	assert_success
	run k get pod kill-a -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason} {.status.conditions[?(@.type=="Ready")].status}'
	assert_output '137 Error False'
	# a graceful deletion: deletionTimestamp first, SIGTERM, then DELETED
	pid=$(cat "$D"/pods/kcr_grace-a/pid.runner.0)
	run k delete pod grace-a kill-a --wait=false
	assert_success
	run k get pod grace-a -o jsonpath='{.metadata.deletionTimestamp} {.metadata.deletionGracePeriodSeconds}'
	if [ "$status" -eq 0 ]; then assert_output --regexp 'Z 5$'; fi
	run k wait --for=delete pod/grace-a pod/kill-a --timeout=30s
	assert_success
	wait_until '! kill -0 "$pid" 2>/dev/null' 10
}

@test "Jobs: the pod appears with job-name and ownerReferences; Background deletion removes it, no policy orphans it" {
	need_pyk8s
	need_runner
	py <<'EOF'
import time, simclient as sc
D = sys.argv[1]
core, batch = sc.core(D), sc.batch(D)
def job(name):
    return {"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {
        "metadata": {"labels": {"kcr.dev/role": "job"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
                 "command": ["sleep", "60"]}]}}}}
def pods_of(name, want, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        ps = core.list_namespaced_pod("kcr", label_selector="job-name=" + name).items
        if want(ps):
            return ps
        time.sleep(0.1)
    raise SystemExit("pods of %s: %s" % (name, [p.metadata.name for p in ps]))
j = batch.create_namespaced_job("kcr", job("jb"))
ps = pods_of("jb", lambda ps: len(ps) == 1)
p = ps[0]
assert p.metadata.name.startswith("jb-") and len(p.metadata.name) == 8, p.metadata.name
ref = p.metadata.owner_references[0]
assert (ref.kind, ref.name, ref.uid, ref.controller) == ("Job", "jb", j.metadata.uid, True)
assert p.metadata.labels["controller-uid"] == j.metadata.uid and p.metadata.labels["kcr.dev/role"] == "job"
pods_of("jb", lambda ps: ps and ps[0].status.phase == "Running")
end = time.time() + 20
while time.time() < end and not batch.read_namespaced_job("jb", "kcr").status.active:
    time.sleep(0.1)
assert batch.read_namespaced_job("jb", "kcr").status.active == 1
batch.delete_namespaced_job("jb", "kcr", propagation_policy="Background")
pods_of("jb", lambda ps: not ps)
# no propagationPolicy: a batch/v1 Job orphans its pods
batch.create_namespaced_job("kcr", job("jo"))
p = pods_of("jo", lambda ps: len(ps) == 1)[0]
import json
code, _, b = sc.raw(D, "DELETE", "/apis/batch/v1/namespaces/kcr/jobs/jo")
assert code == 200 and json.loads(b)["status"] == "Success", b
time.sleep(1.5)
ps = pods_of("jo", lambda ps: len(ps) == 1)
assert not ps[0].metadata.owner_references, ps[0].metadata.owner_references
core.delete_namespaced_pod(ps[0].metadata.name, "kcr", grace_period_seconds=0)
pods_of("jo", lambda ps: not ps)
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "Jobs: a failing container fails the Job (backoffLimit), a succeeding one completes it, ttl removes it" {
	need_kubectl
	cat >"$BATS_TEST_TMPDIR/jfail.json" <<'EOF'
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"jfail"},"spec":{"backoffLimit":1,
 "template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox","command":["sh","-c","exit 3"]}]}}}}
EOF
	cat >"$BATS_TEST_TMPDIR/jok.json" <<'EOF'
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"jok"},"spec":{"ttlSecondsAfterFinished":1,
 "template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox","command":["sh","-c","echo done"]}]}}}}
EOF
	run k create -f "$BATS_TEST_TMPDIR/jfail.json" -f "$BATS_TEST_TMPDIR/jok.json"
	assert_success
	run k wait --for=condition=Failed job/jfail --timeout=60s
	assert_success
	run k get job jfail -o jsonpath='{.status.failed} {.status.conditions[?(@.type=="Failed")].reason}'
	assert_output '2 BackoffLimitExceeded'
	run k wait --for=delete job/jok --timeout=60s
	assert_success
	run k get pods -l job-name=jok -o name
	assert_output ''
	k delete job jfail --cascade=foreground --timeout=30s
	run k get pods -l job-name=jfail -o name
	assert_output ''
}

@test "restart: SIGTERM and the same command again keep the objects, the pods and the versions" {
	need_kubectl
	need_runner
	pod_json keep-a Never >"$BATS_TEST_TMPDIR/k.json"
	k create -f "$BATS_TEST_TMPDIR/k.json"
	k wait --for=condition=Ready pod/keep-a --timeout=60s
	pid=$(cat "$D"/pods/kcr_keep-a/pid.runner.0)
	rv=$(k get pod keep-a -o jsonpath='{.metadata.resourceVersion}')
	port=$(cat "$D/port")
	simpid=$(cat "$D/sim.pid")
	kill -TERM "$simpid"
	wait_until '! kill -0 "$simpid" 2>/dev/null' 30
	kill -0 "$pid" # the container outlived its API server
	sim_start
	[ "$(cat "$D/port")" = "$port" ]
	run k get pod keep-a -o jsonpath='{.status.phase} {.metadata.resourceVersion}'
	assert_output "Running $rv"
	[ "$(cat "$D"/pods/kcr_keep-a/pid.runner.0)" = "$pid" ]
	ip=$(k get pod keep-a -o jsonpath='{.status.podIP}')
	run curl -sS --max-time 10 "http://$ip:8080/health"
	assert_output --partial '"ok"'
	k label pod keep-a restarted=yes
	run k get pod keep-a -o jsonpath='{.metadata.resourceVersion}'
	[ "$output" -gt "$rv" ]
	# re-adopted: a kill is still seen, a delete still stops it
	k delete pod keep-a --timeout=30s
	wait_until '! kill -0 "$pid" 2>/dev/null' 10
}

@test "tokens: a rewritten tokens file revokes the old token at once" {
	need_pyk8s
	py <<'EOF'
import simclient as sc
D = sys.argv[1]
old = sc.token(D, "system:serviceaccount:kcr:kcr")
code, _, _ = sc.raw(D, "GET", "/api", tok=old)
assert code == 200, code
lines = open(D + "/tokens").read().replace(old, "sa-rotated-token")
open(D + "/tokens.new", "w").write(lines)
import os
os.replace(D + "/tokens.new", D + "/tokens")
code, _, b = sc.raw(D, "GET", "/api", tok=old)
assert code == 401, (code, b)
code, _, _ = sc.raw(D, "GET", "/api", tok="sa-rotated-token")
assert code == 200, code
open(D + "/tokens", "w").write(lines.replace("sa-rotated-token", old))
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "faults: 429 with Retry-After, 503, counted; stall-watches holds events back" {
	need_pyk8s
	py <<'EOF'
import json, time, simclient as sc
D = sys.argv[1]
code, _, _ = sc.raw(D, "POST", "/sim/fault", {"path_prefix": "/api/v1/namespaces/kcr/pods", "method": "GET",
                                              "status": 429, "count": 2, "retry_after": 3})
assert code == 200
for _ in range(2):
    code, h, b = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods")
    assert code == 429 and h["retry-after"] == "3" and json.loads(b)["reason"] == "TooManyRequests", (code, h, b)
code, _, _ = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods")
assert code == 200
sc.raw(D, "POST", "/sim/fault", {"path_prefix": "/api/v1", "status": 503, "count": 1})
code, _, b = sc.raw(D, "GET", "/api/v1/namespaces/kcr/configmaps")
assert code == 503 and json.loads(b)["reason"] == "ServiceUnavailable", b
code, _, _ = sc.raw(D, "POST", "/sim/fault", {"status": 500}, tok="sa")
assert code == 403  # the control API is the admin's
# a stalled watch sends nothing, not even bookmarks
sc.raw(D, "POST", "/sim/stall-watches", {"seconds": 1.5})
t = time.time()
rv = json.loads(sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods")[2])["metadata"]["resourceVersion"]
code, evs = sc.watch_lines(D, "/api/v1/namespaces/kcr/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=" + rv)
assert time.time() - t >= 1.2 and not [e for e in evs if e["type"] == "BOOKMARK"], evs
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "admission: RuntimeClass must exist, missing images never pull, runAsNonRoot is enforced, activeDeadlineSeconds kills" {
	need_pyk8s
	echo "kcr/missing:1" >"$D/missing-images"
	py <<'EOF'
import json, time, simclient as sc
from kubernetes import client
D = sys.argv[1]
core = sc.core(D)
def pod(name, image="busybox", rc=None, sc_=None):
    spec = {"restartPolicy": "Never", "containers": [{"name": "c", "image": image, "command": ["sleep", "30"]}]}
    if rc: spec["runtimeClassName"] = rc
    if sc_: spec["securityContext"] = sc_
    return {"metadata": {"name": name}, "spec": spec}
try:
    core.create_namespaced_pod("kcr", pod("rc-x", rc="nope"))
    raise SystemExit("created")
except client.ApiException as e:
    assert e.status == 403 and json.loads(e.body)["message"] == \
        'pods "rc-x" is forbidden: pod rejected: RuntimeClass "nope" not found', e.body
core.create_namespaced_pod("kcr", pod("rc-g", rc="gvisor"))
core.create_namespaced_pod("kcr", pod("img-x", image="kcr/missing:1"))
core.create_namespaced_pod("kcr", pod("root-x", sc_={"runAsNonRoot": True}))
dl = pod("dl-x")
dl["spec"]["activeDeadlineSeconds"] = 1
core.create_namespaced_pod("kcr", dl)
def waiting(name):
    st = core.read_namespaced_pod(name, "kcr").status
    cs = st.container_statuses or []
    return cs and cs[0].state.waiting and cs[0].state.waiting.reason
end = time.time() + 30
while time.time() < end and not (waiting("img-x") in ("ErrImagePull", "ImagePullBackOff") and
                                 waiting("root-x") == "CreateContainerConfigError"):
    time.sleep(0.1)
assert waiting("img-x") in ("ErrImagePull", "ImagePullBackOff"), waiting("img-x")
assert core.read_namespaced_pod("img-x", "kcr").status.phase == "Pending"
assert waiting("root-x") == "CreateContainerConfigError"
end = time.time() + 30
while time.time() < end and core.read_namespaced_pod("dl-x", "kcr").status.phase != "Failed":
    time.sleep(0.1)
st = core.read_namespaced_pod("dl-x", "kcr").status
assert (st.phase, st.reason) == ("Failed", "DeadlineExceeded"), st
for n in ("rc-g", "img-x", "root-x", "dl-x"):
    core.delete_namespaced_pod(n, "kcr", grace_period_seconds=0)
print("ok")
EOF
	assert_success
	assert_output ok
	rm -f "$D/missing-images"
}

@test "NetworkPolicy: a pod whose egress is denied runs in its own network namespace, reached through the relay" {
	need_kubectl
	need_runner
	cat >"$BATS_TEST_TMPDIR/np.json" <<'EOF'
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"deny-egress"},
 "spec":{"podSelector":{"matchLabels":{"net":"none"}},"policyTypes":["Egress"]}}
EOF
	k create -f "$BATS_TEST_TMPDIR/np.json"
	pod_json iso-a Never net=none >"$BATS_TEST_TMPDIR/iso.json"
	k create -f "$BATS_TEST_TMPDIR/iso.json"
	run k wait --for=condition=Ready pod/iso-a --timeout=60s
	assert_success
	pid=$(cat "$D"/pods/kcr_iso-a/pid.runner.0)
	[ "$(readlink /proc/"$pid"/ns/net)" != "$(readlink /proc/self/ns/net)" ]
	ip=$(k get pod iso-a -o jsonpath='{.status.podIP}')
	run curl -sS --max-time 10 "http://$ip:8080/health"
	assert_output --partial '"ok"'
	run k get --raw /api/v1/namespaces/kcr/pods/iso-a:8080/proxy/health
	assert_output --partial '"ok"'
	# nothing gets out: not even the API server on the host's loopback
	run nsenter -t "$pid" -n curl -sS --max-time 3 "https://127.0.0.1:$(cat "$D/port")/healthz"
	assert_failure
	k delete pod iso-a --timeout=30s
	k delete networkpolicy deny-egress
}

@test "validate-manifests.py: catches an unknown field and a missing required field, passes good ones" {
	need_pyk8s
	pod_json good >"$BATS_TEST_TMPDIR/good.json"
	"$PY" -c '
import json, sys
p = json.load(open(sys.argv[1]))
p["spec"]["containers"][0]["imagePulPolicy"] = "Always"
del p["spec"]["containers"][0]["name"]
json.dump(p, open(sys.argv[2], "w"))' "$BATS_TEST_TMPDIR/good.json" "$BATS_TEST_TMPDIR/bad.json"
	run "$PY" "$SRC/tests/k8s/validate-manifests.py" "$BATS_TEST_TMPDIR/good.json" "$BATS_TEST_TMPDIR/bad.json"
	assert_failure 1
	assert_line "$BATS_TEST_TMPDIR/bad.json: Pod: unknown field \"spec.containers[0].imagePulPolicy\""
	assert_line "$BATS_TEST_TMPDIR/bad.json: Pod: missing required field \"spec.containers[0].name\""
	refute_output --partial good.json
	# every body the clients sent during this file's tests: only the
	# invalid ones of the 422 test are reported
	"$PY" -c 'import json,sys; json.dump({"apiVersion":"v1","kind":"Pod","metadata":{"name":"inv"},"spec":{}},open(sys.argv[1],"w"))' "$D/manifests/9999-Pod.json"
	run "$PY" "$SRC/tests/k8s/validate-manifests.py" "$D"/manifests/*.json
	assert_failure 1
	run "$PY" -c '
import sys
bad = [l.split(":")[0] for l in sys.stdin if l.startswith("/")]
assert bad, "none reported"
for f in bad:
    body = open(f).read()
    assert "\"inv\"" in body or "\"metadata\": {}" in body, (f, body)
print("ok")' <<<"$output"
	assert_output ok
	rm "$D/manifests/9999-Pod.json"
	# the server warns about unknown fields too, and kubectl's strict validation refuses them
	need_kubectl
	run k create -f "$BATS_TEST_TMPDIR/bad.json"
	assert_failure
	assert_output --partial 'unknown field "spec.containers[0].imagePulPolicy"'
}
