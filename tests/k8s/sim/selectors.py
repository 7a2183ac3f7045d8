"""Label and field selectors, parsed the way the API server parses them.

A malformed selector is the client's bug, so it must be a 400 as on a real
server, never silently 'match everything'.
"""

import re


class SelectorError(Exception):
    pass


_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _split_top(s):
    """Splits on commas that are not inside '( )'."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _check_key(k, whole):
    if not _KEY.match(k) or len(k.split("/")[-1]) > 63:
        raise SelectorError("unable to parse requirement: invalid label key \"%s\": name part "
                            "must consist of alphanumeric characters, '-', '_' or '.', and must "
                            "start and end with an alphanumeric character" % k)


def _check_value(v):
    if len(v) > 63 or not _VALUE.match(v):
        raise SelectorError("unable to parse requirement: values[0][%s]: Invalid value: \"%s\": "
                            "a valid label must be an empty string or consist of alphanumeric "
                            "characters, '-', '_' or '.'" % (v, v))


def parse_labels(text):
    """'a=b,c!=d,e in (x,y),f notin (z),g,!h' -> list of (key, op, values)."""
    reqs = []
    if text is None or text.strip() == "":
        return reqs
    for part in _split_top(text):
        p = part.strip()
        if p == "":
            raise SelectorError("found '', expected: !, identifier, or 'end of string'")
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", p)
        if m:
            key, op = m.group(1), m.group(2)
            vals = [v.strip() for v in m.group(3).split(",")]
            _check_key(key, text)
            for v in vals:
                _check_value(v)
            reqs.append((key, op, vals))
            continue
        if p.startswith("!"):
            key = p[1:].strip()
            _check_key(key, text)
            reqs.append((key, "!", []))
            continue
        m = re.match(r"^([^=!\s]+)\s*(==|=|!=)\s*(.*)$", p)
        if m:
            key, op, val = m.group(1), m.group(2), m.group(3).strip()
            _check_key(key, text)
            _check_value(val)
            reqs.append((key, "!=" if op == "!=" else "=", [val]))
            continue
        if re.match(r"^[^\s=!(),]+$", p):
            _check_key(p, text)
            reqs.append((p, "exists", []))
            continue
        raise SelectorError("unable to parse requirement: found '%s', expected: in, notin, =, "
                            "==, !=, gt, lt" % p)
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and not (has and v == vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and not (has and v in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
    return True


def match_label_selector(sel, labels):
    """A LabelSelector object (matchLabels, matchExpressions), as in Jobs and
    NetworkPolicies. None matches nothing, {} matches everything."""
    if sel is None:
        return False
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


# The fields each kind can be selected on (the server's field label
# conversion functions); anything else is refused as a real server does.
FIELDS = {
    "pods": {
        "metadata.name": lambda o: o["metadata"].get("name", ""),
        "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
        "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
        "spec.restartPolicy": lambda o: o.get("spec", {}).get("restartPolicy", ""),
        "spec.schedulerName": lambda o: o.get("spec", {}).get("schedulerName", ""),
        "spec.serviceAccountName": lambda o: o.get("spec", {}).get("serviceAccountName", ""),
        "status.phase": lambda o: o.get("status", {}).get("phase", ""),
        "status.podIP": lambda o: o.get("status", {}).get("podIP", ""),
        "status.nominatedNodeName": lambda o: o.get("status", {}).get("nominatedNodeName", ""),
    },
    "batch/jobs": {
        "status.successful": lambda o: str(o.get("status", {}).get("succeeded", 0)),
    },
    "namespaces": {"status.phase": lambda o: o.get("status", {}).get("phase", "")},
    "secrets": {"type": lambda o: o.get("type", "")},
    "events": {
        "involvedObject.kind": lambda o: o.get("involvedObject", {}).get("kind", ""),
        "involvedObject.name": lambda o: o.get("involvedObject", {}).get("name", ""),
        "involvedObject.namespace": lambda o: o.get("involvedObject", {}).get("namespace", ""),
        "involvedObject.uid": lambda o: o.get("involvedObject", {}).get("uid", ""),
        "reason": lambda o: o.get("reason", ""),
        "type": lambda o: o.get("type", ""),
    },
}
_COMMON = {
    "metadata.name": lambda o: o["metadata"].get("name", ""),
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
}


def parse_fields(text, resource_key, kind):
    """'metadata.name=x,status.phase!=Running' -> list of (getter, op, value)."""
    reqs = []
    if text is None or text.strip() == "":
        return reqs
    table = dict(_COMMON)
    table.update(FIELDS.get(resource_key, {}))
    for part in text.split(","):
        p = part.strip()
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", p)
        if not m:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (text, p))
        field, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in table:
            raise SelectorError("field label not supported: %s" % field)
        reqs.append((table[field], "!=" if op == "!=" else "=", val))
    return reqs


def match_fields(reqs, obj):
    for get, op, val in reqs:
        v = get(obj)
        if op == "=" and v != val:
            return False
        if op == "!=" and v == val:
            return False
    return True
