"""Who is asking (TLS client certificates, bearer tokens, impersonation)
and may they (RBAC from the stored Role, RoleBinding, ClusterRole and
ClusterRoleBinding objects, as the real authorizer evaluates them).

DIR/tokens is re-read on every request so that a test can rotate or revoke
a token by rewriting the file, as a real cluster's token authenticator
would stop accepting a deleted service-account token.
"""

import os
import threading

RBAC = "rbac.authorization.k8s.io"


class User:
    def __init__(self, name, groups, uid="", authenticated=True):
        self.name = name
        self.groups = list(groups)
        self.uid = uid
        if authenticated and "system:authenticated" not in self.groups:
            self.groups.append("system:authenticated")

    def is_master(self):
        return "system:masters" in self.groups


ANONYMOUS = User("system:anonymous", ["system:unauthenticated"], authenticated=False)


class Tokens:
    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._cache = (None, {})

    def lookup(self, token):
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            return None
        with self._lock:
            # re-read when the file changed (every request checks)
            if self._cache[0] != stamp:
                table = {}
                with open(self.path) as f:
                    for line in f:
                        line = line.strip()
                        if not line or line.startswith("#"):
                            continue
                        parts = line.split(",")
                        while len(parts) < 4:
                            parts.append("")
                        groups = [g for g in parts[3].split("|") if g]
                        table[parts[0]] = (parts[1], parts[2], groups)
                self._cache = (stamp, table)
            ent = self._cache[1].get(token)
        if ent is None:
            return None
        return User(ent[0], ent[2], ent[1])


def user_from_cert(cert):
    """CN is the user, each O a group (the x509 authenticator's rule)."""
    name, groups = None, []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                name = v
            elif k == "organizationName":
                groups.append(v)
    if not name:
        return None
    return User(name, groups)


def sa_groups(user):
    """system:serviceaccount:NS:NAME also belongs to its namespace's group."""
    if user.name.startswith("system:serviceaccount:"):
        ns = user.name.split(":")[2]
        for g in ("system:serviceaccounts", "system:serviceaccounts:" + ns):
            if g not in user.groups:
                user.groups.append(g)
    return user


# ---- RBAC --------------------------------------------------------------------

def _subject_matches(s, user):
    kind = s.get("kind")
    if kind == "User":
        return s.get("name") == user.name
    if kind == "Group":
        return s.get("name") in user.groups
    if kind == "ServiceAccount":
        return user.name == "system:serviceaccount:%s:%s" % (s.get("namespace", ""),
                                                             s.get("name", ""))
    return False


def _has(lst, v):
    lst = lst or []
    return "*" in lst or v in lst


def _rule_allows(rule, attrs):
    if not _has(rule.get("verbs"), attrs["verb"]):
        return False
    if attrs.get("path") is not None:
        for u in rule.get("nonResourceURLs") or []:
            if u == attrs["path"] or u == "*" or (u.endswith("*") and
                                                  attrs["path"].startswith(u[:-1])):
                return True
        return False
    if not _has(rule.get("apiGroups"), attrs["group"]):
        return False
    res = attrs["resource"]
    if attrs.get("subresource"):
        combined = res + "/" + attrs["subresource"]
        rs = rule.get("resources") or []
        if not ("*" in rs or combined in rs or ("*/" + attrs["subresource"]) in rs or
                (res + "/*") in rs):
            return False
    elif not _has(rule.get("resources"), res):
        return False
    names = rule.get("resourceNames")
    if names:
        return attrs.get("name") in names
    return True


def authorize(store, user, attrs):
    """attrs: verb, group, resource, subresource, namespace, name, or verb and
    path for a non-resource URL. Returns (allowed, reason) with the reason
    worded as the RBAC authorizer's."""
    if user.is_master():
        return True, ""
    items, _ = store.list(RBAC + "/clusterrolebindings")
    for b in items:
        if not any(_subject_matches(s, user) for s in b.get("subjects") or []):
            continue
        role = store.get(RBAC + "/clusterroles", "", b.get("roleRef", {}).get("name", ""))
        if role and any(_rule_allows(r, attrs) for r in role.get("rules") or []):
            return True, 'RBAC: allowed by ClusterRoleBinding "%s" of ClusterRole "%s" to %s' % (
                b["metadata"]["name"], role["metadata"]["name"], _describe(user, b))
    ns = attrs.get("namespace")
    if ns and attrs.get("path") is None:
        items, _ = store.list(RBAC + "/rolebindings", ns)
        for b in items:
            if not any(_subject_matches(s, user) for s in b.get("subjects") or []):
                continue
            ref = b.get("roleRef", {})
            if ref.get("kind") == "ClusterRole":
                role = store.get(RBAC + "/clusterroles", "", ref.get("name", ""))
            else:
                role = store.get(RBAC + "/roles", ns, ref.get("name", ""))
            if role and any(_rule_allows(r, attrs) for r in role.get("rules") or []):
                return True, 'RBAC: allowed by RoleBinding "%s/%s" of %s "%s" to %s' % (
                    b["metadata"]["name"], ns, ref.get("kind"), ref.get("name"),
                    _describe(user, b))
    return False, ""


def _describe(user, binding):
    for s in binding.get("subjects") or []:
        if _subject_matches(s, user):
            if s.get("kind") == "ServiceAccount":
                return 'ServiceAccount "%s/%s"' % (s.get("namespace"), s.get("name"))
            return '%s "%s"' % (s.get("kind"), s.get("name"))
    return 'User "%s"' % user.name


def rules_for(store, user, ns):
    """The rules that apply to user in ns (SelfSubjectRulesReview)."""
    if user.is_master():
        return [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], \
            [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    rrules, nrules = [], []

    def add(role):
        for r in (role or {}).get("rules") or []:
            if r.get("nonResourceURLs"):
                nrules.append({"verbs": r.get("verbs", []),
                               "nonResourceURLs": r["nonResourceURLs"]})
            else:
                rr = {"verbs": r.get("verbs", []), "apiGroups": r.get("apiGroups", []),
                      "resources": r.get("resources", [])}
                if r.get("resourceNames"):
                    rr["resourceNames"] = r["resourceNames"]
                rrules.append(rr)

    items, _ = store.list(RBAC + "/clusterrolebindings")
    for b in items:
        if any(_subject_matches(s, user) for s in b.get("subjects") or []):
            add(store.get(RBAC + "/clusterroles", "", b.get("roleRef", {}).get("name", "")))
    items, _ = store.list(RBAC + "/rolebindings", ns)
    for b in items:
        if any(_subject_matches(s, user) for s in b.get("subjects") or []):
            ref = b.get("roleRef", {})
            if ref.get("kind") == "ClusterRole":
                add(store.get(RBAC + "/clusterroles", "", ref.get("name", "")))
            else:
                add(store.get(RBAC + "/roles", ns, ref.get("name", "")))
    return rrules, nrules


# The bootstrap policy a fresh cluster has (a subset: what clients use).
BOOTSTRAP_CLUSTER_ROLES = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "system:basic-user": [
        {"apiGroups": ["authorization.k8s.io"],
         "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
         "verbs": ["create"]}],
    "system:discovery": [{"nonResourceURLs": [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
        "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    "system:public-info-viewer": [{"nonResourceURLs": [
        "/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    "view": [{"apiGroups": [""], "resources": [
        "pods", "pods/log", "pods/status", "configmaps", "services", "endpoints",
        "persistentvolumeclaims", "serviceaccounts", "events", "namespaces"],
        "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets",
                                              "daemonsets"],
         "verbs": ["get", "list", "watch"]}],
}
BOOTSTRAP_CLUSTER_ROLE_BINDINGS = {
    "cluster-admin": ("cluster-admin", [("Group", "system:masters")]),
    "system:basic-user": ("system:basic-user", [("Group", "system:authenticated")]),
    "system:discovery": ("system:discovery", [("Group", "system:authenticated")]),
    "system:public-info-viewer": ("system:public-info-viewer",
                                  [("Group", "system:authenticated"),
                                   ("Group", "system:unauthenticated")]),
}
