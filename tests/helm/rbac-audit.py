#!/usr/bin/python3
"""Compares the RBAC rules of a rendered chart with the API calls its
service account made, as the Kubernetes simulator recorded them
(DIR/audit.jsonl): every call must be granted by the rendered Roles of
its namespace (none missing), and every verb a rule grants must have been
used (none extra). Calls to non-resource URLs (/version) are left out:
every authenticated identity may make them (system:discovery).

usage: rbac-audit.py RENDERED.yaml AUDIT.jsonl USER
Prints "granted"/"used" tables and each difference; exit 1 on any.
"""
import json
import sys

import yaml


def granted(docs, user):
    ns_of_sa = user.split(":")
    sa_ns, sa_name = ns_of_sa[2], ns_of_sa[3]
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]): d
             for d in docs if d["kind"] == "Role"}
    out = set()
    for b in (d for d in docs if d["kind"] == "RoleBinding"):
        if not any(s["kind"] == "ServiceAccount" and s["name"] == sa_name and
                   s.get("namespace") == sa_ns for s in b["subjects"]):
            continue
        ns = b["metadata"]["namespace"]
        role = roles[(ns, b["roleRef"]["name"])]
        for r in role["rules"]:
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    for v in r["verbs"]:
                        out.add((ns, g, res, v))
    if any(d["kind"] in ("ClusterRole", "ClusterRoleBinding") for d in docs):
        raise SystemExit("rbac-audit: the chart grants cluster-wide rights")
    return out


def used(audit, user):
    out, denied = set(), []
    with open(audit) as f:
        for line in f:
            a = json.loads(line)
            if a.get("user") != user or not a.get("resource"):
                continue
            res = a["resource"] + ("/" + a["subresource"] if a.get("subresource") else "")
            key = (a.get("namespace") or "", a.get("apiGroup") or "", res, a["verb"])
            out.add(key)
            if a.get("code") == 403:
                denied.append(key)
    return out, denied


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    g = granted(docs, argv[2])
    u, denied = used(argv[1], argv[2])
    fmt = lambda k: "%s %s %s %s" % (k[0], k[1] or "core", k[2], k[3])  # noqa: E731
    for k in sorted(g):
        print("granted %s" % fmt(k))
    for k in sorted(u):
        print("used %s" % fmt(k))
    bad = 0
    for k in sorted(set(denied)):
        print("denied: %s" % fmt(k))
        bad += 1
    for k in sorted(u - g):
        print("missing from the Role: %s" % fmt(k))
        bad += 1
    for k in sorted(g - u):
        print("granted but never used: %s" % fmt(k))
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
