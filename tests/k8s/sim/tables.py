"""kubectl's Table output (meta.k8s.io/v1 Table): `kubectl get` asks the
server for rows, and prints only NAME and AGE for a server that cannot
give them. The columns are the real server's for pods, jobs and
namespaces."""

import time

from .registry import parse_iso


def wants_table(accept):
    return "as=Table" in (accept or "")


def age(ts):
    if not ts:
        return "<unknown>"
    s = int(time.time() - parse_iso(ts))
    if s < 120:
        return "%ds" % max(s, 0)
    if s < 7200:
        return "%dm" % (s // 60)
    if s < 172800:
        return "%dh" % (s // 3600)
    return "%dd" % (s // 86400)


def _pod_status(o):
    st = o.get("status", {})
    reason = st.get("reason") or st.get("phase", "")
    for cs in st.get("containerStatuses") or []:
        s = cs.get("state", {})
        if "waiting" in s and s["waiting"].get("reason"):
            reason = s["waiting"]["reason"]
        elif "terminated" in s:
            t = s["terminated"]
            reason = t.get("reason") or ("Signal:%d" % t["signal"] if t.get("signal") else
                                         "ExitCode:%d" % t.get("exitCode", 0))
    if o["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_cells(o):
    st = o.get("status", {})
    css = st.get("containerStatuses") or []
    ready = sum(1 for c in css if c.get("ready"))
    total = len(o.get("spec", {}).get("containers") or [])
    restarts = sum(c.get("restartCount", 0) for c in css)
    return ["%d/%d" % (ready, total), _pod_status(o), restarts,
            age(o["metadata"].get("creationTimestamp")), st.get("podIP") or "<none>",
            o.get("spec", {}).get("nodeName") or "<none>", "<none>", "<none>"]


_POD_COLS = [("Name", "string", "name"), ("Ready", "string", ""), ("Status", "string", ""),
             ("Restarts", "string", ""), ("Age", "string", ""), ("IP", "string", ""),
             ("Node", "string", ""), ("Nominated Node", "string", ""),
             ("Readiness Gates", "string", "")]


def _job_cells(o):
    st, sp = o.get("status", {}), o.get("spec", {})
    conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
    status = "Running"
    if conds.get("Complete") == "True":
        status = "Complete"
    elif conds.get("Failed") == "True":
        status = "Failed"
    elif o["metadata"].get("deletionTimestamp"):
        status = "Terminating"
    dur = ""
    if st.get("startTime"):
        end = parse_iso(st["completionTime"]) if st.get("completionTime") else time.time()
        dur = "%ds" % int(end - parse_iso(st["startTime"]))
    return [status, "%d/%d" % (st.get("succeeded", 0), sp.get("completions", 1)), dur,
            age(o["metadata"].get("creationTimestamp"))]


COLUMNS = {
    "pods": (_POD_COLS, _pod_cells),
    "batch/jobs": ([("Name", "string", "name"), ("Status", "string", ""),
                    ("Completions", "string", ""), ("Duration", "string", ""),
                    ("Age", "date", "")], _job_cells),
    "events": ([("Name", "string", "name"), ("Last Seen", "string", ""), ("Type", "string", ""), ("Reason", "string", ""),
                ("Object", "string", ""), ("Message", "string", "")],
               lambda o: [age(o.get("lastTimestamp") or o["metadata"].get("creationTimestamp")),
                          o.get("type", ""), o.get("reason", ""),
                          "%s/%s" % (o.get("involvedObject", {}).get("kind", "").lower(),
                                     o.get("involvedObject", {}).get("name", "")),
                          o.get("message", "")]),
    "namespaces": ([("Name", "string", "name"), ("Status", "string", ""),
                    ("Age", "string", "")],
                   lambda o: [o.get("status", {}).get("phase", ""),
                              age(o["metadata"].get("creationTimestamp"))]),
}


def table(res, items, query=None):
    cols, cells = COLUMNS.get(res.key, ([("Name", "string", "name"), ("Created At", "date", "")],
                                        lambda o: [o["metadata"].get("creationTimestamp")]))
    include = (query or {}).get("includeObject", "Metadata")
    rows = []
    for o in items:
        if include == "Object":
            obj = o
        elif include == "None":
            obj = None
        else:
            obj = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": o["metadata"]}
        row = {"cells": [o["metadata"]["name"]] + cells(o)}
        if obj is not None:
            row["object"] = obj
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": [{"name": n, "type": t, "format": f, "description": "",
                                   "priority": 1 if n in ("IP", "Node", "Nominated Node",
                                                          "Readiness Gates") or
                                   (n == "Name" and res.key == "events") else 0}
                                  for n, t, f in cols],
            "rows": rows}
