#!/usr/bin/python3
"""Checks every object of a rendered chart (multi-document YAML) against
Debian's python3-kubernetes models: each field must be one the model of
its kind knows, recursively (openapi_types / attribute_map, through
tests/k8s/sim/schema.py), and each required field must be there. Kinds the
models lack are checked by a small schema of their own here: ServiceMonitor
(monitoring.coreos.com/v1), and autoscaling/v2 HorizontalPodAutoscaler
against V2beta2 (python3-kubernetes 22.6 predates autoscaling/v2; v2 kept
v2beta2's fields).

usage: check-objects.py RENDERED.yaml...
Prints "KIND NAME" per object checked and each problem; exit 1 on any.
"""
import os
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s"))
from sim import schema  # noqa: E402

# a ServiceMonitor's fields the chart may use (prometheus-operator's CRD, v1)
SERVICE_MONITOR = {
    "": {"apiVersion", "kind", "metadata", "spec"},
    "metadata": {"name", "namespace", "labels", "annotations"},
    "spec": {"selector", "endpoints", "namespaceSelector", "jobLabel"},
    "spec.selector": {"matchLabels", "matchExpressions"},
    "spec.endpoints[]": {"port", "path", "interval", "scrapeTimeout", "scheme",
                         "authorization", "bearerTokenSecret", "tlsConfig", "honorLabels"},
    "spec.endpoints[].authorization": {"type", "credentials"},
    "spec.endpoints[].authorization.credentials": {"name", "key"},
}
FREE = {"metadata.labels", "metadata.annotations", "spec.selector.matchLabels"}


def check_own(obj, path, problems):
    if path in FREE or not isinstance(obj, dict):
        return
    allowed = SERVICE_MONITOR.get(path)
    if allowed is None:
        return
    for k, v in obj.items():
        if k not in allowed:
            problems.append("unknown field \"%s\"" % (path + "." + k if path else k))
            continue
        sub = path + "." + k if path else k
        if isinstance(v, list):
            for e in v:
                check_own(e, sub + "[]", problems)
        else:
            check_own(v, sub, problems)


def check(o):
    kind, api = o.get("kind"), o.get("apiVersion")
    if not kind or not api:
        return ["no kind/apiVersion"]
    if (api, kind) == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        problems = []
        check_own(o, "", problems)
        for ep in o.get("spec", {}).get("endpoints", []):
            if "port" not in ep:
                problems.append("missing required field \"spec.endpoints[].port\"")
        return problems
    if (api, kind) == ("autoscaling/v2", "HorizontalPodAutoscaler"):
        api = "autoscaling/v2beta2"
    unknown, missing, model = schema.check(o, kind, api)
    if model is None:
        return ["no model for %s %s" % (api, kind)]
    return ["unknown field \"%s\"" % u for u in unknown] + \
        ["missing required field \"%s\"" % m for m in missing]


def main(argv):
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if not schema.available():
        print("check-objects: python3-kubernetes is not installed", file=sys.stderr)
        return 77
    bad = 0
    for path in argv:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for o in docs:
            name = "%s %s" % (o.get("kind"), o.get("metadata", {}).get("name"))
            problems = check(o)
            print("%s%s" % (name, ": " + "; ".join(problems) if problems else ""))
            bad += len(problems)
    if bad:
        print("check-objects: %d problem(s)" % bad, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
