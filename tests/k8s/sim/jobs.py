"""The controllers besides the kubelet: the Job controller, the garbage
collector (ownerReferences, Background and Foreground deletion) and the
namespace controllers (a new namespace's default ServiceAccount and
kube-root-ca.crt, a deleted namespace's contents).

The Job controller tracks finished pods with the batch.kubernetes.io/
job-tracking finalizer as the real one does, so counts survive both the
pods' deletion and an API-server restart.
"""

import queue
import threading
import time

from . import resources as R
from .registry import StatusError, now_iso, parse_iso, rand_suffix

TRACKING = "batch.kubernetes.io/job-tracking"


class Controllers:
    def __init__(self, store, registry, ca_pem=""):
        self.store = store
        self.registry = registry
        self.ca_pem = ca_pem
        self.stopping = False
        self.next_pod_at = {}  # job uid -> earliest time for a replacement pod

    def start(self):
        self.q = self.store.subscribe()
        threading.Thread(target=self.loop, name="controllers", daemon=True).start()

    def loop(self):
        last = 0
        while not self.stopping:
            try:
                ev = self.q.get(timeout=0.2)
            except queue.Empty:
                ev = None
            # drain a burst, then one pass (a level-triggered controller)
            while ev is not None:
                try:
                    ev = self.q.get_nowait()
                except queue.Empty:
                    ev = None
            try:
                self.sync_namespaces()
                self.sync_jobs()
                self.collect_garbage()
            except Exception:
                import traceback
                traceback.print_exc()
            if time.time() - last > 5:
                last = time.time()
                self.expire_events()

    # ---- namespaces ------------------------------------------------------------

    def sync_namespaces(self):
        nss, _ = self.store.list("namespaces")
        for n in nss:
            name = n["metadata"]["name"]
            if n["metadata"].get("deletionTimestamp"):
                self.finish_namespace(n)
                continue
            if self.store.get("serviceaccounts", name, "default") is None:
                self.make("serviceaccounts", name, {"metadata": {"name": "default"}})
            if self.store.get("configmaps", name, "kube-root-ca.crt") is None:
                self.make("configmaps", name, {"metadata": {
                    "name": "kube-root-ca.crt", "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to "
                        "verify the kube-apiserver when using internal endpoints such as the "
                        "internal service IP or kubernetes.default.svc. No other usage is "
                        "guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": self.ca_pem}})

    def make(self, key, ns, body):
        try:
            self.registry.create(R.BY_KEY[key], ns, body)
        except StatusError:
            pass

    def finish_namespace(self, n):
        name = n["metadata"]["name"]
        left = 0
        with self.store.lock:
            keys = [k for k in self.store.objects if k[1] == name and
                    R.BY_KEY.get(k[0]) and R.BY_KEY[k[0]].namespaced]
        for key, ns, oname in keys:
            left += 1
            o = self.store.get(key, ns, oname)
            if o is None or o["metadata"].get("deletionTimestamp"):
                continue
            try:
                self.registry.delete(R.BY_KEY[key], ns, oname, {"propagationPolicy":
                                                                "Background"})
            except StatusError:
                pass
        if left == 0:
            def fin(o):
                o.setdefault("spec", {})["finalizers"] = []
                return o
            self.store.mutate("namespaces", "", name, fin)

    def expire_events(self, keep=1000):
        """Events do not pile up (a real cluster keeps them an hour): past
        keep, the oldest go, so that lists and state.json stay small."""
        with self.store.lock:
            evs = [(o["metadata"].get("creationTimestamp", ""), int(o["metadata"].get(
                "resourceVersion", 0)), k) for k, o in self.store.objects.items()
                if k[0] == "events"]
        if len(evs) <= keep:
            return
        evs.sort()
        for _, _, k in evs[:len(evs) - keep * 4 // 5]:
            try:
                self.store.remove(*k)
            except Exception:
                pass

    # ---- jobs --------------------------------------------------------------------

    def sync_jobs(self):
        jobs, _ = self.store.list("batch/jobs")
        by_uid = {j["metadata"]["uid"]: j for j in jobs}
        pods, _ = self.store.list("pods")
        owned = {}
        for p in pods:
            ref = _controller(p)
            if ref and ref.get("kind") == "Job" and ref.get("uid") in by_uid:
                owned.setdefault(ref["uid"], []).append(p)
            elif TRACKING in (p["metadata"].get("finalizers") or []):
                # an orphan (its Job deleted with Orphan, or gone): nobody
                # will count it any more
                self.drop_finalizer(p)
        for j in jobs:
            self.sync_job(j, owned.get(j["metadata"]["uid"], []))

    def drop_finalizer(self, p):
        def fn(o):
            f = [x for x in o["metadata"].get("finalizers") or [] if x != TRACKING]
            if f == (o["metadata"].get("finalizers") or []):
                return None
            if f:
                o["metadata"]["finalizers"] = f
            else:
                o["metadata"].pop("finalizers", None)
            return o
        self.store.mutate("pods", p["metadata"]["namespace"], p["metadata"]["name"], fn)

    def sync_job(self, job, pods):
        m, spec = job["metadata"], job.get("spec", {})
        ns, name, uid = m["namespace"], m["name"], m["uid"]
        st = dict(job.get("status") or {})
        now = time.time()
        conds = {c["type"]: c for c in st.get("conditions") or []}
        finished = any(conds.get(t, {}).get("status") == "True" for t in ("Complete", "Failed"))
        if m.get("deletionTimestamp"):
            return
        # count finished pods once (the tracking finalizer says "not yet")
        succeeded, failed = st.get("succeeded", 0), st.get("failed", 0)
        counted = []
        for p in pods:
            phase = p.get("status", {}).get("phase")
            tracked = TRACKING in (p["metadata"].get("finalizers") or [])
            gone = p["metadata"].get("deletionTimestamp") is not None
            if not tracked:
                continue
            if phase == "Succeeded":
                succeeded += 1
                counted.append(p)
            elif phase == "Failed" or (gone and phase not in ("Succeeded",) and
                                       p["metadata"].get("deletionGracePeriodSeconds") == 0):
                failed += 1
                counted.append(p)
        active = [p for p in pods if p.get("status", {}).get("phase") not in
                  ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]
        terminating = [p for p in pods if p["metadata"].get("deletionTimestamp") and
                       p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        ready = sum(1 for p in active for c in p.get("status", {}).get("conditions") or []
                    if c["type"] == "Ready" and c["status"] == "True")
        completions = spec.get("completions", 1)
        parallelism = spec.get("parallelism", 1)
        new_conds = list(st.get("conditions") or [])

        def add_cond(typ, reason, message):
            for c in new_conds:
                if c["type"] == typ:
                    return
            new_conds.append({"type": typ, "status": "True", "lastProbeTime": now_iso(),
                              "lastTransitionTime": now_iso(), "reason": reason,
                              "message": message})

        if not st.get("startTime") and not spec.get("suspend"):
            st["startTime"] = now_iso()
        if not finished:
            if succeeded >= completions:
                add_cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number "
                         "of succeeded pods")
                add_cond("Complete", "CompletionsReached", "Reached expected number of "
                         "succeeded pods")
                st["completionTime"] = now_iso()
                finished = True
            elif failed > spec.get("backoffLimit", 6):
                add_cond("FailureTarget", "BackoffLimitExceeded", "Job has reached the "
                         "specified backoff limit")
                add_cond("Failed", "BackoffLimitExceeded", "Job has reached the specified "
                         "backoff limit")
                finished = True
            elif spec.get("activeDeadlineSeconds") and st.get("startTime") and \
                    now - parse_iso(st["startTime"]) >= spec["activeDeadlineSeconds"]:
                add_cond("FailureTarget", "DeadlineExceeded", "Job was active longer than "
                         "specified deadline")
                add_cond("Failed", "DeadlineExceeded", "Job was active longer than specified "
                         "deadline")
                finished = True
            if finished:
                for p in active:
                    self.delete_pod(p)
                active = []
        if not finished and not spec.get("suspend"):
            want = min(parallelism, completions - succeeded) - len(active)
            if want > 0 and now >= self.next_pod_at.get(uid, 0):
                for _ in range(want):
                    self.create_pod(job)
                # a replacement after a failure waits a little (the real
                # controller's backoff, scaled down)
                if failed:
                    self.next_pod_at[uid] = now + min(0.5 * 2 ** (failed - 1), 5)
        st["active"] = len(active)
        st["ready"] = ready
        st["terminating"] = len(terminating)
        if succeeded:
            st["succeeded"] = succeeded
        if failed:
            st["failed"] = failed
        st["uncountedTerminatedPods"] = {}
        if new_conds:
            st["conditions"] = new_conds
        for k in ("active", "ready", "terminating"):
            if not st.get(k) and k != "ready":
                st.pop(k, None)

        def fn(o):
            if o["metadata"]["uid"] != uid:
                return None
            o["status"] = st
            return o
        self.store.mutate("batch/jobs", ns, name, fn)
        # the counts are stored: the pods may go
        for p in counted:
            self.drop_finalizer(p)
        ttl = spec.get("ttlSecondsAfterFinished")
        if finished and ttl is not None:
            end = st.get("completionTime") or next(
                (c["lastTransitionTime"] for c in new_conds if c["type"] in ("Complete",
                                                                             "Failed")), None)
            if end and now - parse_iso(end) >= ttl:
                try:
                    self.registry.delete(R.JOB, ns, name, {"propagationPolicy": "Background"})
                except StatusError:
                    pass

    def create_pod(self, job):
        m, spec = job["metadata"], job["spec"]
        tmpl = spec.get("template", {})
        pm = dict(tmpl.get("metadata") or {})
        pm["name"] = "%s-%s" % (m["name"], rand_suffix())
        pm.pop("generateName", None)
        pm["labels"] = dict(pm.get("labels") or {})
        pm["finalizers"] = [TRACKING]
        pm["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": m["name"],
                                  "uid": m["uid"], "controller": True,
                                  "blockOwnerDeletion": True}]
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": pm,
                "spec": tmpl.get("spec", {})}
        try:
            self.registry.create(R.POD, m["namespace"], body)
        except StatusError as e:
            print("kube-sim: job %s/%s: pod not created: %s" % (m["namespace"], m["name"],
                                                              e.message), flush=True)
            self.next_pod_at[m["uid"]] = time.time() + 1

    def delete_pod(self, p):
        try:
            self.registry.delete(R.POD, p["metadata"]["namespace"], p["metadata"]["name"], {})
        except StatusError:
            pass

    # ---- the garbage collector ---------------------------------------------------

    def collect_garbage(self):
        with self.store.lock:
            objs = [(k, o) for k, o in self.store.objects.items()]
        uids = {o["metadata"].get("uid"): (k, o) for k, o in objs}
        for k, o in objs:
            m = o["metadata"]
            refs = m.get("ownerReferences") or []
            if refs and not m.get("deletionTimestamp"):
                live = [r for r in refs if r.get("uid") in uids]
                if not live:
                    self.gc_delete(k)
                    continue
                # an owner deleted in the foreground takes its dependents first
                for r in live:
                    ok, owner = uids[r["uid"]]
                    if "foregroundDeletion" in (owner["metadata"].get("finalizers") or []):
                        self.gc_delete(k)
                        break
            if "foregroundDeletion" in (m.get("finalizers") or []) and m.get(
                    "deletionTimestamp"):
                deps = [o2 for _, o2 in objs if any(
                    r.get("uid") == m.get("uid") for r in o2["metadata"].get("ownerReferences")
                    or [])]
                if not deps:
                    def fn(x):
                        f = [y for y in x["metadata"].get("finalizers") or []
                             if y != "foregroundDeletion"]
                        if f:
                            x["metadata"]["finalizers"] = f
                        else:
                            x["metadata"].pop("finalizers", None)
                        return x
                    self.store.mutate(k[0], k[1], k[2], fn)

    def gc_delete(self, k):
        res = R.BY_KEY.get(k[0])
        if res is None:
            return
        try:
            self.registry.delete(res, k[1], k[2], {"propagationPolicy": "Background"})
        except StatusError:
            pass


def _controller(o):
    for r in o["metadata"].get("ownerReferences") or []:
        if r.get("controller"):
            return r
    return None
