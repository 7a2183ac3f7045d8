"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch and
JSON patch (RFC 6902).

A strategic merge patch is applied as a merge patch for maps. For lists it
merges by the patch strategy's key where the kind's schema says so
(containers, env, volumes, ports, volumeMounts, conditions by
name/type/containerPort/mountPath), which is what kubectl's and Helm's
three-way patches rely on; everything else replaces the list as a merge
patch does. $patch: replace/delete directives are honoured for maps.
"""

import copy


class PatchError(Exception):
    def __init__(self, message, code=422):
        super().__init__(message)
        self.code = code


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# list field name -> the merge key of its elements (the patchMergeKey of
# the core types that clients patch)
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "ports": "containerPort",
    "conditions": "type", "imagePullSecrets": "name", "tolerations": None,
    "ownerReferences": "uid", "hostAliases": "ip",
}


def strategic_merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    if patch.get("$patch") == "replace":
        p = dict(patch)
        p.pop("$patch")
        return copy.deepcopy(p)
    if patch.get("$patch") == "delete":
        return None
    out = dict(target)
    for k, v in patch.items():
        if k.startswith("$"):  # $setElementOrder/..., $retainKeys: order hints only
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and _MERGE_KEYS.get(k) and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, _MERGE_KEYS[k])
        elif isinstance(v, dict):
            r = strategic_merge_patch(out.get(k), v)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(cur, patch, key):
    out = [copy.deepcopy(e) for e in cur]
    for pe in patch:
        if not isinstance(pe, dict) or key not in pe:
            out.append(copy.deepcopy(pe))
            continue
        idx = next((i for i, e in enumerate(out) if isinstance(e, dict) and
                    e.get(key) == pe[key]), None)
        if pe.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(copy.deepcopy(pe))
        else:
            out[idx] = strategic_merge_patch(out[idx], pe)
    return out


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _walk(doc, path):
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer: %s" % path, 400)
    toks = [_unescape(t) for t in path.split("/")[1:]]
    return toks


def _container(doc, toks, create=False):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise PatchError("doc is missing path: %s" % "/".join(toks))
        elif isinstance(cur, dict):
            if t not in cur:
                raise PatchError("doc is missing path: /%s: missing value" % "/".join(toks))
            cur = cur[t]
        else:
            raise PatchError("doc is missing path: /%s" % "/".join(toks))
    return cur, toks[-1]


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                         400)
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        path = op.get("path", "")
        toks = _walk(doc, path)
        if kind in ("add", "replace", "test"):
            val = copy.deepcopy(op.get("value"))
        if kind in ("move", "copy"):
            ftoks = _walk(doc, op.get("from", ""))
            c, k = _container(doc, ftoks)
            val = copy.deepcopy(c[int(k)] if isinstance(c, list) else c.get(k))
            if kind == "move":
                if isinstance(c, list):
                    c.pop(int(k))
                else:
                    c.pop(k, None)
            kind = "add"
        if not toks:
            if kind in ("add", "replace"):
                doc = val
                continue
        c, k = _container(doc, toks)
        if kind == "add":
            if isinstance(c, list):
                if k == "-":
                    c.append(val)
                else:
                    c.insert(int(k), val)
            else:
                c[k] = val
        elif kind == "remove":
            try:
                if isinstance(c, list):
                    c.pop(int(k))
                else:
                    del c[k]
            except (KeyError, IndexError, ValueError):
                raise PatchError("Unable to remove nonexistent key: %s: missing value" % k)
        elif kind == "replace":
            if isinstance(c, list):
                c[int(k)] = val
            else:
                if k not in c:
                    raise PatchError("replace operation does not apply: doc is missing key: %s:"
                                     " missing value" % path)
                c[k] = val
        elif kind == "test":
            cur = c[int(k)] if isinstance(c, list) else c.get(k)
            if cur != val:
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind, 400)
    return doc
