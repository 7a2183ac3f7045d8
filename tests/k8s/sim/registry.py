"""What the API server does to an object between the request and the store:
defaulting, validation (422 with the real field paths and wording),
admission (namespaces exist, RuntimeClasses exist, service accounts
exist), metadata (uid, generateName, creationTimestamp), and deletion
(grace periods, finalizers, propagation of the owner's deletion).

The messages are copied from the real server's, because clients (kcr
among them) match on reasons and log the messages.
"""

import copy
import datetime
import json
import random
import re
import threading
import time
import uuid

from . import patch as patchmod
from .store import Conflict, Exists, NotFound


def now_iso(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName alphabet


def rand_suffix(n=5):
    return "".join(random.choice(_ALNUM) for _ in range(n))


class StatusError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = headers or {}

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            s["details"] = self.details
        if self.reason == "":
            del s["reason"]
        return s


def _details(res, name):
    d = {"name": name}
    if res.group:
        d["group"] = res.group
    d["kind"] = res.plural
    return d


def not_found(res, name):
    return StatusError(404, "NotFound", '%s "%s" not found' % (_qual(res), name),
                       _details(res, name))


def already_exists(res, name):
    return StatusError(409, "AlreadyExists", '%s "%s" already exists' % (_qual(res), name),
                       _details(res, name))


def conflict(res, name):
    return StatusError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object '
                       "has been modified; please apply your changes to the latest version and "
                       "try again" % (_qual(res), name), _details(res, name))


def bad_request(msg):
    return StatusError(400, "BadRequest", msg)


def forbidden(res, name, msg):
    d = _details(res, name) if name else {"kind": res.plural}
    if res.group and "group" not in d:
        d["group"] = res.group
    if not name:
        return StatusError(403, "Forbidden", '%s is forbidden: %s' % (_qual(res), msg), d)
    return StatusError(403, "Forbidden", '%s "%s" is forbidden: %s' % (_qual(res), name, msg), d)


def _qual(res):
    return res.plural if not res.group else res.plural + "." + res.group


class Invalid:
    """Collects field errors, raised as one 422 like the real validation."""

    def __init__(self, res, name):
        self.res, self.name, self.causes = res, name, []

    def required(self, field):
        self.causes.append(("FieldValueRequired", "Required value", field, "Required value"))

    def invalid(self, field, value, detail):
        self.causes.append(("FieldValueInvalid", 'Invalid value: %s: %s' % (
            json.dumps(value), detail), field, None))

    def unsupported(self, field, value, allowed):
        self.causes.append(("FieldValueNotSupported", 'Unsupported value: %s: supported values: '
                            '%s' % (json.dumps(value), ", ".join('"%s"' % a for a in allowed)),
                            field, None))

    def notfound(self, field, value):
        self.causes.append(("FieldValueNotFound", "Not found: %s" % json.dumps(value), field,
                            None))

    def duplicate(self, field, value):
        self.causes.append(("FieldValueDuplicate", "Duplicate value: %s" % json.dumps(value),
                            field, None))

    def forbidden(self, field, detail):
        self.causes.append(("FieldValueForbidden", "Forbidden: %s" % detail, field, None))

    def immutable(self, field):
        self.causes.append(("FieldValueInvalid", "Invalid value: field is immutable", field,
                            None))

    def raise_if_any(self):
        if not self.causes:
            return
        msgs = ["%s: %s" % (c[2], c[1]) for c in self.causes]
        body = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
        qual = self.res.kind + ("." + self.res.group if self.res.group else "")  # Job.batch
        message = '%s "%s" is invalid: %s' % (qual, self.name, body)
        details = {"name": self.name, "kind": self.res.kind,
                   "causes": [{"reason": c[0], "message": c[1], "field": c[2]}
                              for c in self.causes]}
        if self.res.group:
            details["group"] = self.res.group
        raise StatusError(422, "Invalid", message, details)


_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUB_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
              "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
              "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# RBAC kinds may have ':' in names (system:basic-user)
_PATH_SEGMENT_KINDS = {"rbac.authorization.k8s.io/clusterroles",
                       "rbac.authorization.k8s.io/clusterrolebindings",
                       "rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/rolebindings"}


class Registry:
    def __init__(self, store, runtime_classes=()):
        self.store = store
        self.kubelet = None  # set by the kubelet: pods being deleted need it
        self.service_ip = 10
        self._lock = threading.Lock()
        store.can_remove = self._can_remove

    # ---- helpers -------------------------------------------------------------

    def _can_remove(self, res, obj):
        if res == "namespaces":
            # the namespace controller clears spec.finalizers once it is empty
            return not (obj.get("spec") or {}).get("finalizers")
        if res != "pods":
            return True
        # a scheduled pod goes only when the kubelet said its containers are
        # gone (its final delete with grace 0), as on a real node
        m = obj["metadata"]
        return (not obj.get("spec", {}).get("nodeName") or m.get("deletionGracePeriodSeconds")
                == 0)

    def require_namespace(self, ns):
        n = self.store.get("namespaces", "", ns)
        if n is None:
            raise StatusError(404, "NotFound", 'namespaces "%s" not found' % ns,
                              {"name": ns, "kind": "namespaces"})
        return n

    # ---- create ---------------------------------------------------------------

    def prepare_create(self, res, ns, body, user=None):
        """The object as it would be stored (raises StatusError)."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        kind = obj.get("kind")
        if kind and kind != res.kind:
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (%s)" % (obj.get("apiVersion"), res.api_version)
                              if obj.get("apiVersion") != res.api_version else
                              "%s in version \"%s\" cannot be handled as a %s: no kind \"%s\" is "
                              "registered for version \"%s\"" % (res.kind, res.version, res.kind,
                                                                 kind, res.api_version))
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version
        m = obj.setdefault("metadata", {})
        if not isinstance(m, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced:
            bns = m.get("namespace")
            if bns and bns != ns:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            m["namespace"] = ns
            self.require_namespace(ns)
            nsobj = self.store.get("namespaces", "", ns)
            if nsobj and nsobj["metadata"].get("deletionTimestamp"):
                raise forbidden(res, m.get("name") or "", "unable to create new content in "
                                "namespace %s because it is being terminated" % ns)
        else:
            m.pop("namespace", None)
        if not m.get("name") and m.get("generateName"):
            m["name"] = m["generateName"] + rand_suffix()
        name = m.get("name") or ""
        inv = Invalid(res, name)
        if not name:
            inv.required("metadata.name")
            inv.causes[-1] = ("FieldValueRequired", "Required value: name or generateName is "
                              "required", "metadata.name", None)
        elif res.key not in _PATH_SEGMENT_KINDS and (len(name) > 253 or
                                                     not _DNS1123_SUB.match(name)):
            inv.invalid("metadata.name", name, _SUB_MSG)
        self._validate_meta(m, inv)
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "managedFields", "selfLink"):
            m.pop(k, None)
        m["uid"] = str(uuid.uuid4())
        m["creationTimestamp"] = now_iso()
        if res.group in ("apps", "batch", "networking.k8s.io", "policy", "autoscaling"):
            m["generation"] = 1
        hook = getattr(self, "_create_" + res.plural, None)
        if hook:
            hook(res, obj, inv, user)
        inv.raise_if_any()
        return obj

    def _validate_meta(self, m, inv):
        for k, v in (m.get("labels") or {}).items():
            if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
                inv.invalid("metadata.labels", v, "a valid label must be an empty string or "
                            "consist of alphanumeric characters, '-', '_' or '.', and must start "
                            "and end with an alphanumeric character (e.g. 'MyValue',  or "
                            "'my_value',  or '12345', regex used for validation is "
                            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
        for k, v in (m.get("annotations") or {}).items():
            if not isinstance(v, str):
                inv.invalid("metadata.annotations", v, "must be a string")

    def create(self, res, ns, body, user=None, dry_run=False):
        obj = self.prepare_create(res, ns, body, user)
        if dry_run:
            if self.store.get(res.key, ns if res.namespaced else "", obj["metadata"]["name"]):
                raise already_exists(res, obj["metadata"]["name"])
            return obj
        try:
            return self.store.create(res.key, obj)
        except Exists:
            raise already_exists(res, obj["metadata"]["name"])

    # ---- per-kind create hooks -------------------------------------------------

    def _create_pods(self, res, obj, inv, user):
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            inv.required("spec.containers")
            return
        self._validate_pod_spec(spec, "spec", inv)
        self._default_pod_spec(spec)
        obj["status"] = {"phase": "Pending", "qosClass": _qos(spec)}
        if inv.causes:
            return
        # admission: RuntimeClass, then ServiceAccount, as the real plugins
        rc = spec.get("runtimeClassName")
        name = obj["metadata"]["name"]
        if rc and self.store.get("node.k8s.io/runtimeclasses", "", rc) is None:
            raise forbidden(res, name, 'pod rejected: RuntimeClass "%s" not found' % rc)
        sa = spec.get("serviceAccountName", "default")
        ns = obj["metadata"]["namespace"]
        if self.store.get("serviceaccounts", ns, sa) is None:
            raise forbidden(res, name, 'error looking up service account %s/%s: serviceaccount '
                            '"%s" not found' % (ns, sa, sa))

    def _validate_pod_spec(self, spec, path, inv):
        cs = spec.get("containers")
        if not cs:
            inv.required(path + ".containers")
            return
        vols = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
        for i, v in enumerate(spec.get("volumes") or []):
            if not v.get("name"):
                inv.required("%s.volumes[%d].name" % (path, i))
        seen = set()
        for kind in ("initContainers", "containers"):
            for i, c in enumerate(spec.get(kind) or []):
                p = "%s.%s[%d]" % (path, kind, i)
                if not isinstance(c, dict):
                    inv.invalid(p, c, "must be an object")
                    continue
                n = c.get("name")
                if not n:
                    inv.required(p + ".name")
                elif not _DNS1123_LABEL.match(n) or len(n) > 63:
                    inv.invalid(p + ".name", n, _LABEL_MSG)
                elif n in seen:
                    inv.duplicate(p + ".name", n)
                seen.add(n)
                if not c.get("image"):
                    inv.required(p + ".image")
                for j, vm in enumerate(c.get("volumeMounts") or []):
                    if not vm.get("name"):
                        inv.required("%s.volumeMounts[%d].name" % (p, j))
                    elif vm["name"] not in vols:
                        inv.notfound("%s.volumeMounts[%d].name" % (p, j), vm["name"])
                    if not vm.get("mountPath"):
                        inv.required("%s.volumeMounts[%d].mountPath" % (p, j))
                for j, port in enumerate(c.get("ports") or []):
                    cp = port.get("containerPort")
                    if not isinstance(cp, int) or not 0 < cp < 65536:
                        inv.invalid("%s.ports[%d].containerPort" % (p, j), cp,
                                    "must be between 1 and 65535, inclusive")
                pol = c.get("imagePullPolicy")
                if pol is not None and pol not in ("Always", "IfNotPresent", "Never"):
                    inv.unsupported(p + ".imagePullPolicy", pol,
                                    ["Always", "IfNotPresent", "Never"])
        rp = spec.get("restartPolicy")
        if rp is not None and rp not in ("Always", "OnFailure", "Never"):
            inv.unsupported(path + ".restartPolicy", rp, ["Always", "OnFailure", "Never"])

    def _default_pod_spec(self, spec):
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("securityContext", {})
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = sa
        spec["serviceAccount"] = sa
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tol = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tol):
                tol.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": 300})
        for kind in ("initContainers", "containers"):
            for c in spec.get(kind) or []:
                img = c.get("image", "")
                tag = img.rsplit("/", 1)[-1]
                latest = "@" not in img and (":" not in tag or tag.endswith(":latest"))
                c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("resources", {})
                for p in c.get("ports") or []:
                    p.setdefault("protocol", "TCP")
                for pname in ("readinessProbe", "livenessProbe", "startupProbe"):
                    pr = c.get(pname)
                    if isinstance(pr, dict):
                        pr.setdefault("timeoutSeconds", 1)
                        pr.setdefault("periodSeconds", 10)
                        pr.setdefault("successThreshold", 1)
                        pr.setdefault("failureThreshold", 3)
                        if isinstance(pr.get("httpGet"), dict):
                            pr["httpGet"].setdefault("scheme", "HTTP")
                            pr["httpGet"].setdefault("path", "/")
        for v in spec.get("volumes") or []:
            if "emptyDir" in v and v["emptyDir"] is None:
                v["emptyDir"] = {}

    def _create_jobs(self, res, obj, inv, user):
        spec = obj.setdefault("spec", {})
        tmpl = spec.get("template")
        if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec"), dict):
            inv.required("spec.template.spec.containers")
            return
        self._validate_pod_spec(tmpl["spec"], "spec.template.spec", inv)
        rp = tmpl["spec"].get("restartPolicy")
        if rp not in ("OnFailure", "Never"):
            if rp is None:
                inv.required("spec.template.spec.restartPolicy")
                inv.causes[-1] = ("FieldValueRequired", 'Required value: valid values: '
                                  '"OnFailure", "Never"', "spec.template.spec.restartPolicy",
                                  None)
            else:
                inv.unsupported("spec.template.spec.restartPolicy", rp, ["OnFailure", "Never"])
        for f in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds",
                  "ttlSecondsAfterFinished"):
            v = spec.get(f)
            if v is not None and (not isinstance(v, int) or v < 0 or
                                  (f == "activeDeadlineSeconds" and v == 0)):
                inv.invalid("spec." + f, v, "must be greater than or equal to 0")
        if inv.causes:
            return
        self._default_pod_spec(tmpl["spec"])
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        spec.setdefault("manualSelector", None)
        if spec.get("manualSelector") is None:
            spec.pop("manualSelector")
        uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = tmpl.setdefault("metadata", {}).setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid,
                       "batch.kubernetes.io/job-name": name, "controller-uid": uid,
                       "job-name": name})
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(
            {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
             "controller-uid": uid, "job-name": name})
        obj["status"] = {}

    def _create_namespaces(self, res, obj, inv, user):
        name = obj["metadata"].get("name", "")
        if name and not _DNS1123_LABEL.match(name):
            inv.causes = [c for c in inv.causes if c[2] != "metadata.name"]
            inv.invalid("metadata.name", name, _LABEL_MSG)
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}

    def _create_secrets(self, res, obj, inv, user):
        import base64
        sd = obj.pop("stringData", None) or {}
        data = obj.get("data") or {}
        for k, v in sd.items():
            data[k] = base64.b64encode(v.encode()).decode()
        for k, v in data.items():
            try:
                base64.b64decode(v, validate=True)
            except Exception:
                raise bad_request('Secret in version "v1" cannot be handled as a Secret: illegal '
                                  'base64 data at input byte 0')
        if data:
            obj["data"] = data
        obj.setdefault("type", "Opaque")

    def _create_services(self, res, obj, inv, user):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None":
            with self._lock:
                self.service_ip += 1
                spec["clusterIP"] = "10.96.%d.%d" % (self.service_ip // 250,
                                                     self.service_ip % 250 + 1)
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        obj["status"] = {"loadBalancer": {}}

    def _create_runtimeclasses(self, res, obj, inv, user):
        if not obj.get("handler"):
            inv.required("handler")

    def _create_rolebindings(self, res, obj, inv, user):
        if not obj.get("roleRef", {}).get("name"):
            inv.required("roleRef.name")

    _create_clusterrolebindings = _create_rolebindings

    # ---- update / patch ----------------------------------------------------------

    def update(self, res, ns, name, body, sub=None, dry_run=False, patch_rv=None):
        """PUT: body replaces the object (or its status with sub='status')."""
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise bad_request("the body of the request was in an unknown format")
        bm = body["metadata"]
        if bm.get("name") and bm["name"] != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL "
                              "(%s)" % (bm["name"], name))
        key_ns = ns if res.namespaced else ""
        cur = self.store.get(res.key, key_ns, name)
        if cur is None:
            raise not_found(res, name)
        want_rv = bm.get("resourceVersion")
        if want_rv not in (None, "") and want_rv != cur["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        new = copy.deepcopy(body)
        new["kind"], new["apiVersion"] = res.kind, res.api_version
        m = new["metadata"]
        # what clients cannot change
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "namespace", "name", "generation"):
            if k in cur["metadata"]:
                m[k] = cur["metadata"][k]
            else:
                m.pop(k, None)
        if cur["metadata"].get("deletionTimestamp") and \
                set(m.get("finalizers") or []) - set(cur["metadata"].get("finalizers") or []):
            raise forbidden(res, name, "no new finalizers can be added if the object is being "
                            "deleted, found new finalizers %s" % json.dumps(
                                sorted(set(m["finalizers"]) -
                                       set(cur["metadata"].get("finalizers") or []))))
        inv = Invalid(res, name)
        self._validate_meta(m, inv)
        has_status = "status" in res.subresources
        if sub == "status":
            # only the status changes through /status
            st = new.get("status")
            new = copy.deepcopy(cur)
            if st is not None:
                new["status"] = st
            new["metadata"]["labels"] = cur["metadata"].get("labels")
        elif has_status:
            if "status" in cur:
                new["status"] = cur["status"]
            else:
                new.pop("status", None)
        if sub != "status":
            hook = getattr(self, "_update_" + res.plural, None)
            if hook:
                hook(res, cur, new, inv)
            if has_status and res.group and cur.get("spec") != new.get("spec"):
                new["metadata"]["generation"] = cur["metadata"].get("generation", 1) + 1
        inv.raise_if_any()
        for k in ("labels", "annotations", "finalizers", "ownerReferences"):
            if new["metadata"].get(k) is None:
                new["metadata"].pop(k, None)
        if dry_run:
            return new
        try:
            return self.store.replace(res.key, new, want_rv or None)
        except Conflict:
            raise conflict(res, name)
        except NotFound:
            raise not_found(res, name)

    def _update_pods(self, res, cur, new, inv):
        a, b = copy.deepcopy(cur.get("spec", {})), copy.deepcopy(new.get("spec", {}))
        self._default_pod_spec(b)
        for s in (a, b):
            for kind in ("containers", "initContainers"):
                for c in s.get(kind) or []:
                    c.pop("image", None)
            s.pop("activeDeadlineSeconds", None)
            s.pop("tolerations", None)
        # the scheduler's binding sets nodeName; a client may not
        if not b.get("nodeName"):
            b["nodeName"] = a.get("nodeName")
        if a.get("nodeName") is None:
            a.pop("nodeName", None)
        if b.get("nodeName") is None:
            b.pop("nodeName", None)
        if a != b:
            inv.forbidden("spec", "pod updates may not change fields other than "
                          "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                          "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
                          "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it "
                          "to be set to 1 if it was previously negative)")
        else:
            new["spec"] = dict(new.get("spec", {}))
            for k in ("nodeName",):
                if cur.get("spec", {}).get(k):
                    new["spec"][k] = cur["spec"][k]
            self._default_pod_spec(new["spec"])

    def _update_jobs(self, res, cur, new, inv):
        a, b = cur.get("spec", {}), new.get("spec", {})
        if a.get("template") != b.get("template"):
            inv.immutable("spec.template")
        if a.get("selector") != b.get("selector"):
            inv.immutable("spec.selector")
        if a.get("completions") != b.get("completions"):
            inv.immutable("spec.completions")

    def _update_namespaces(self, res, cur, new, inv):
        new["spec"] = cur.get("spec")

    def patch(self, res, ns, name, ctype, body_bytes, sub=None, dry_run=False):
        key_ns = ns if res.namespaced else ""
        ctype = (ctype or "").split(";")[0].strip().lower()
        try:
            p = json.loads(body_bytes or b"null")
        except ValueError as e:
            raise bad_request("error decoding patch: %s" % e)
        for _ in range(5):
            cur = self.store.get(res.key, key_ns, name)
            if cur is None:
                raise not_found(res, name)
            try:
                if ctype == "application/merge-patch+json":
                    new = patchmod.merge_patch(cur, p)
                elif ctype == "application/strategic-merge-patch+json":
                    if res.group not in ("", "apps", "batch", "policy", "autoscaling",
                                         "networking.k8s.io", "rbac.authorization.k8s.io",
                                         "node.k8s.io", "coordination.k8s.io"):
                        raise StatusError(415, "UnsupportedMediaType",
                                          "strategic merge patch is not supported for %s" %
                                          res.kind)
                    new = patchmod.strategic_merge_patch(cur, p)
                elif ctype == "application/json-patch+json":
                    new = patchmod.json_patch(cur, p)
                elif ctype == "application/apply-patch+yaml":
                    # server-side apply from JSON bodies (YAML needs a parser
                    # the standard library lacks): applied as a merge
                    new = patchmod.merge_patch(cur, p)
                else:
                    raise StatusError(415, "UnsupportedMediaType", "the body of the request was "
                                      "in an unknown format - accepted media types include: "
                                      "application/json-patch+json, application/merge-patch+json,"
                                      " application/apply-patch+yaml, "
                                      "application/strategic-merge-patch+json")
            except patchmod.PatchError as e:
                if e.code == 400:
                    raise bad_request(str(e))
                raise StatusError(422, "Invalid", str(e))
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise bad_request("the patch made the object invalid")
            # a version in the patch is a precondition, as with a PUT
            prv = new["metadata"].get("resourceVersion")
            if prv != cur["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            try:
                return self.update(res, ns, name, new, sub, dry_run)
            except StatusError as e:
                # the object moved between our read and write: patch again,
                # unless the client pinned the version itself
                if e.code == 409 and e.reason == "Conflict" and not _pins_rv(p):
                    continue
                raise
        raise conflict(res, name)

    # ---- delete ----------------------------------------------------------------

    def delete(self, res, ns, name, opts, dry_run=False):
        """Returns (code, body)."""
        key_ns = ns if res.namespaced else ""
        cur = self.store.get(res.key, key_ns, name)
        if cur is None:
            raise not_found(res, name)
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != cur["metadata"]["uid"]:
            raise StatusError(409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": "
                              "Precondition failed: UID in precondition: %s, UID in object meta: "
                              "%s" % (_qual(res), name, pre["uid"], cur["metadata"]["uid"]),
                              _details(res, name))
        if pre.get("resourceVersion") and pre["resourceVersion"] != \
                cur["metadata"]["resourceVersion"]:
            raise StatusError(409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": "
                              "Precondition failed: ResourceVersion in precondition: %s, "
                              "ResourceVersion in object meta: %s" % (
                                  _qual(res), name, pre["resourceVersion"],
                                  cur["metadata"]["resourceVersion"]), _details(res, name))
        policy = opts.get("propagationPolicy")
        if policy is None and opts.get("orphanDependents") is True:
            policy = "Orphan"
        if policy is None:
            # the API default: batch/v1 Jobs (and ReplicationControllers of
            # old) orphan their pods unless told otherwise
            policy = "Orphan" if res.key == "batch/jobs" else "Background"
        if policy not in ("Orphan", "Background", "Foreground"):
            raise StatusError(422, "Invalid", 'DeleteOptions.meta.k8s.io "" is invalid: '
                              'propagationPolicy: Unsupported value: "%s": supported values: '
                              '"Foreground", "Background", "Orphan", "nil"' % policy)
        if dry_run:
            return 200, cur
        if policy == "Orphan":
            self.orphan_dependents(cur["metadata"]["uid"])
        grace = opts.get("gracePeriodSeconds")
        now = time.time()

        def mark(o):
            m = o["metadata"]
            if res.key == "pods":
                g = grace if grace is not None else o["spec"].get(
                    "terminationGracePeriodSeconds", 30)
                if g is None or g < 0:
                    g = 0
                st = o.get("status", {}).get("phase")
                if not o["spec"].get("nodeName") or st in ("Succeeded", "Failed") and \
                        not (self.kubelet and self.kubelet.has_process(o)):
                    g = 0
                if m.get("deletionTimestamp"):
                    old_g = m.get("deletionGracePeriodSeconds", 0)
                    if g >= old_g:
                        return None  # an earlier deletion already runs, and is shorter
                m["deletionGracePeriodSeconds"] = g
                m["deletionTimestamp"] = now_iso(now + g)
                if g == 0 and o["spec"].get("nodeName") and self.kubelet and \
                        self.kubelet.has_process(o):
                    # force: gone from the API now, the kubelet kills what runs
                    m["deletionGracePeriodSeconds"] = 0
                return o
            if m.get("deletionTimestamp"):
                if policy == "Foreground" and "foregroundDeletion" not in (m.get("finalizers")
                                                                            or []):
                    m.setdefault("finalizers", []).append("foregroundDeletion")
                    return o
                return None
            m["deletionTimestamp"] = now_iso(now)
            m["deletionGracePeriodSeconds"] = 0
            if policy == "Foreground":
                m.setdefault("finalizers", []).append("foregroundDeletion")
            if res.key == "namespaces":
                o.setdefault("status", {})["phase"] = "Terminating"
            return o

        out = self.store.mutate(res.key, key_ns, name, mark)
        if out is None:
            raise not_found(res, name)
        if res.key == "pods" and self.kubelet:
            self.kubelet.poke(out)
        still = self.store.get(res.key, key_ns, name)
        if res.key in ("pods", "namespaces"):
            return 200, out
        if still is not None:
            return 202, out
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": dict(_details(res, name), uid=cur["metadata"]["uid"])}

    def orphan_dependents(self, uid):
        """Removes uid from every object's ownerReferences (the garbage
        collector's orphan finalizer, done at once)."""
        with self.store.lock:
            keys = [k for k, o in self.store.objects.items()
                    if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences")
                           or [])]
        for res, ns, name in keys:
            def strip(o):
                refs = [r for r in o["metadata"].get("ownerReferences") or []
                        if r.get("uid") != uid]
                if refs:
                    o["metadata"]["ownerReferences"] = refs
                else:
                    o["metadata"].pop("ownerReferences", None)
                return o
            self.store.mutate(res, ns, name, strip)


def _pins_rv(p):
    return isinstance(p, dict) and isinstance(p.get("metadata"), dict) and \
        p["metadata"].get("resourceVersion") not in (None, "")


def _qos(spec):
    req = lim = 0
    n = 0
    for c in spec.get("containers") or []:
        n += 1
        r = c.get("resources") or {}
        if r.get("requests"):
            req += 1
        if r.get("limits") and "cpu" in r["limits"] and "memory" in r["limits"]:
            lim += 1
    if n and lim == n:
        return "Guaranteed"
    if req or lim:
        return "Burstable"
    return "BestEffort"
