#!/usr/bin/python3
"""Checks Kubernetes manifests (JSON) against the official Python client's
models (Debian's python3-kubernetes): every unknown field and every missing
required field is listed, and the exit status is 1 when there is any.

usage: validate-manifests.py [--patch] FILE...

A file may hold one object, a List (its items), or an array of objects. A
file named like the simulator's DIR/manifests/NNNN-<Kind>-patch.json (or any
file with --patch) is a patch body: its fields are checked, missing ones
are not (a patch names only what it changes); a JSON patch (an array of
operations) is skipped. The kind of a body without one comes from a
NNNN-<Kind>[-patch].json name.

Exit: 0 all valid, 1 findings, 2 usage or unreadable input, 77 when
python3-kubernetes is not installed (automake's skip).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sim import resources, schema  # noqa: E402

_NAME = re.compile(r"^\d+-([A-Za-z]+)(-patch)?\.json$")


def objects(data):
    if isinstance(data, list):
        for o in data:
            yield from objects(o)
    elif isinstance(data, dict) and data.get("kind", "").endswith("List") and \
            isinstance(data.get("items"), list):
        for o in data["items"]:
            yield from objects(o)
    else:
        yield data


def check_file(path, force_patch):
    with open(path) as f:
        data = json.load(f)
    m = _NAME.match(os.path.basename(path))
    is_patch = force_patch or bool(m and m.group(2))
    name_kind = m.group(1) if m else None
    problems = []
    if is_patch and isinstance(data, list):
        return problems  # a JSON patch: operations, not an object
    for i, o in enumerate(objects(data)):
        where = path if i == 0 and not isinstance(data, list) else "%s[%d]" % (path, i)
        if not isinstance(o, dict):
            problems.append("%s: not an object" % where)
            continue
        kind = o.get("kind") or name_kind
        api_version = o.get("apiVersion")
        if api_version is None and kind:
            for r in resources.RESOURCES:
                if r.kind == kind:
                    api_version = r.api_version
                    break
        if not kind or not api_version:
            problems.append("%s: no kind/apiVersion to check against" % where)
            continue
        unknown, missing, model = schema.check(o, kind, api_version,
                                               check_required=not is_patch)
        if model is None:
            problems.append("%s: no model for %s %s" % (where, api_version, kind))
            continue
        for u in unknown:
            problems.append("%s: %s: unknown field \"%s\"" % (where, kind, u))
        for ms in missing:
            problems.append("%s: %s: missing required field \"%s\"" % (where, kind, ms))
    return problems


def main(argv):
    force_patch = False
    files = []
    for a in argv:
        if a == "--patch":
            force_patch = True
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        else:
            files.append(a)
    if not files:
        print("usage: validate-manifests.py [--patch] FILE...", file=sys.stderr)
        return 2
    if not schema.available():
        print("validate-manifests: python3-kubernetes is not installed", file=sys.stderr)
        return 77
    problems = []
    for p in files:
        try:
            problems += check_file(p, force_patch)
        except (OSError, ValueError) as e:
            print("validate-manifests: %s: %s" % (p, e), file=sys.stderr)
            return 2
    for p in problems:
        print(p)
    if problems:
        print("validate-manifests: %d problem(s) in %d file(s)" % (len(problems), len(files)),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
