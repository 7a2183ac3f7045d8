"""The resources the simulator serves: one table feeds routing, discovery,
RBAC names and the Status objects' details, so they cannot disagree.

Only pods, namespaces, jobs, the RBAC kinds and the review kinds have
behaviour; every other kind is a plain stored object (what a Helm chart
applies), with no controller behind it.
"""

import base64
import hashlib

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
REVIEW_VERBS = ["create"]


class Resource:
    def __init__(self, group, version, plural, kind, namespaced=True, short=(), verbs=None,
                 subresources=(), categories=("all",), stored=True):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.singular = kind.lower()
        self.namespaced = namespaced
        self.short = list(short)
        self.verbs = list(verbs or ALL_VERBS)
        # subresource -> verbs (pods/log, pods/status, ...)
        self.subresources = dict(subresources)
        self.categories = list(categories)
        # a review kind is answered, never stored
        self.stored = stored

    @property
    def key(self):
        """The store's name for the kind: 'pods', 'batch/jobs'."""
        return self.plural if not self.group else self.group + "/" + self.plural

    @property
    def api_version(self):
        return self.version if not self.group else self.group + "/" + self.version

    def discovery(self):
        """Its APIResource entries (the resource, then its subresources)."""
        h = hashlib.sha256(self.key.encode()).digest()
        out = [{
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": self.verbs,
        }]
        if self.short:
            out[0]["shortNames"] = self.short
        if self.categories and self.stored:
            out[0]["categories"] = self.categories
        if self.stored:
            out[0]["storageVersionHash"] = base64.b64encode(h[:8]).decode()
        for sub, verbs in self.subresources.items():
            kind = self.kind
            if sub == "log":
                kind = "Pod"
            elif sub == "proxy":
                kind = "PodProxyOptions"
            out.append({"name": self.plural + "/" + sub, "singularName": "", "namespaced":
                        self.namespaced, "kind": kind, "verbs": verbs})
        return out


_STATUS = {"status": ["get", "patch", "update"]}

RESOURCES = [
    Resource("", "v1", "pods", "Pod", short=["po"], subresources={
        "status": ["get", "patch", "update"], "log": ["get"],
        "proxy": ["create", "delete", "get", "patch", "update"]}),
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, short=["ns"],
             verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
             subresources=_STATUS, categories=()),
    Resource("", "v1", "nodes", "Node", namespaced=False, short=["no"], subresources=_STATUS,
             categories=()),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", short=["sa"], categories=()),
    Resource("", "v1", "secrets", "Secret", categories=()),
    Resource("", "v1", "configmaps", "ConfigMap", short=["cm"], categories=()),
    Resource("", "v1", "services", "Service", short=["svc"], subresources=_STATUS),
    Resource("", "v1", "endpoints", "Endpoints", short=["ep"], categories=()),
    Resource("", "v1", "events", "Event", short=["ev"], categories=()),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=["pvc"],
             subresources=_STATUS, categories=()),
    Resource("", "v1", "resourcequotas", "ResourceQuota", short=["quota"], subresources=_STATUS,
             categories=()),
    Resource("", "v1", "limitranges", "LimitRange", short=["limits"], categories=()),
    Resource("apps", "v1", "deployments", "Deployment", short=["deploy"], subresources=_STATUS),
    Resource("apps", "v1", "replicasets", "ReplicaSet", short=["rs"], subresources=_STATUS),
    Resource("apps", "v1", "statefulsets", "StatefulSet", short=["sts"], subresources=_STATUS),
    Resource("apps", "v1", "daemonsets", "DaemonSet", short=["ds"], subresources=_STATUS),
    Resource("batch", "v1", "jobs", "Job", subresources=_STATUS),
    Resource("batch", "v1", "cronjobs", "CronJob", short=["cj"], subresources=_STATUS),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", categories=()),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", categories=()),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False,
             categories=()),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
             namespaced=False, categories=()),
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
             namespaced=False, verbs=REVIEW_VERBS, categories=(), stored=False),
    Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
             namespaced=False, verbs=REVIEW_VERBS, categories=(), stored=False),
    Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview",
             namespaced=False, verbs=REVIEW_VERBS, categories=(), stored=False),
    Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
             namespaced=False, verbs=REVIEW_VERBS, categories=(), stored=False),
    Resource("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", namespaced=False,
             categories=()),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=["netpol"],
             categories=()),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", short=["ing"],
             subresources=_STATUS, categories=()),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=["pdb"],
             subresources=_STATUS, categories=()),
    Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
             short=["hpa"], subresources=_STATUS),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", categories=()),
]

BY_KEY = {r.key: r for r in RESOURCES}
BY_GVR = {(r.group, r.version, r.plural): r for r in RESOURCES}


def by_kind(api_version, kind):
    for r in RESOURCES:
        if r.api_version == api_version and r.kind == kind:
            return r
    return None


def groups():
    """group -> [versions], in the order of the table ('' is the core group)."""
    out = {}
    for r in RESOURCES:
        out.setdefault(r.group, [])
        if r.version not in out[r.group]:
            out[r.group].append(r.version)
    return out


POD = BY_KEY["pods"]
NAMESPACE = BY_KEY["namespaces"]
NODE = BY_KEY["nodes"]
JOB = BY_KEY["batch/jobs"]
