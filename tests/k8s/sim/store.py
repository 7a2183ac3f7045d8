"""The object store: what etcd plus the API server's watch cache are to a
real cluster.

- One global resourceVersion counter for every kind (as etcd's revision),
  so a client cannot rely on per-kind versions that a real cluster would
  not give it.
- Every change is an event kept in memory for watches; compaction drops
  them, and a watch from an older version then gets 410 Gone, as after
  etcd compacts. A restart starts the event log empty at the current
  version, as a restarted API server's watch cache does.
- DIR/state.json persists the objects, the counter and the kubelet's
  bookkeeping (written shortly after each change and at exit), so that a
  restart is an API server restart, not a new cluster.
"""

import copy
import json
import os
import queue
import threading
import time
import bisect

MAX_EVENTS = 50000


class Conflict(Exception):
    pass


class Exists(Exception):
    pass


class NotFound(Exception):
    pass


class Event:
    __slots__ = ("rv", "type", "res", "ns", "name", "obj", "old")

    def __init__(self, rv, typ, res, ns, name, obj, old):
        self.rv, self.type, self.res, self.ns, self.name = rv, typ, res, ns, name
        # obj/old are never changed after the event is made: watchers share them
        self.obj, self.old = obj, old


def _key(res, ns, name):
    return (res, ns or "", name)


class Store:
    def __init__(self, path):
        self.path = path
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.objects = {}
        self.rv = 0
        self.events = []
        self.event_rvs = []
        self.compacted = 0
        self.subscribers = []
        # kubelet/controller bookkeeping that must survive restarts
        self.extra = {}
        # decides whether an object being deleted can go now (set by the API)
        self.can_remove = lambda res, obj: True
        self._dirty = threading.Event()
        self._stop = False
        self._writer = None

    # ---- persistence -------------------------------------------------------

    def load(self):
        try:
            with open(self.path) as f:
                st = json.load(f)
        except FileNotFoundError:
            return False
        with self.lock:
            self.rv = st["rv"]
            for res, obj in st["objects"]:
                m = obj["metadata"]
                self.objects[_key(res, m.get("namespace"), m["name"])] = obj
            self.extra = st.get("extra", {})
            # the watch cache of a restarted server starts here
            self.compacted = self.rv
        return True

    def start_writer(self):
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()

    def _write_loop(self):
        while not self._stop:
            self._dirty.wait()
            time.sleep(0.05)  # one write for a burst of changes
            self._dirty.clear()
            self.flush()

    def mark_dirty(self):
        self._dirty.set()

    def flush(self):
        with self.lock:
            data = {
                "rv": self.rv,
                "objects": [[k[0], o] for k, o in sorted(self.objects.items())],
                "extra": self.extra,
            }
            text = json.dumps(data, indent=1, sort_keys=True)
        tmp = self.path + ".tmp.%d" % threading.get_ident()
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)

    # ---- reads ---------------------------------------------------------------

    def get(self, res, ns, name):
        with self.lock:
            o = self.objects.get(_key(res, ns, name))
            return copy.deepcopy(o) if o is not None else None

    def list(self, res, ns=None):
        """(items sorted by namespace and name, the current version)."""
        with self.lock:
            items = [copy.deepcopy(o) for k, o in sorted(self.objects.items())
                     if k[0] == res and (ns is None or k[1] == ns)]
            return items, self.rv

    def find_uid(self, uid):
        with self.lock:
            for k, o in self.objects.items():
                if o["metadata"].get("uid") == uid:
                    return k[0], copy.deepcopy(o)
        return None, None

    def uids(self):
        with self.lock:
            return {o["metadata"].get("uid") for o in self.objects.values()}

    # ---- writes --------------------------------------------------------------

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _emit(self, typ, res, obj, old):
        m = obj["metadata"]
        ev = Event(int(m["resourceVersion"]), typ, res, m.get("namespace", ""), m["name"], obj,
                   old)
        self.events.append(ev)
        self.event_rvs.append(ev.rv)
        if len(self.events) > MAX_EVENTS:
            drop = len(self.events) - MAX_EVENTS // 2
            self.compacted = self.events[drop - 1].rv
            del self.events[:drop]
            del self.event_rvs[:drop]
        for q in self.subscribers:
            q.put(ev)
        self.cond.notify_all()
        self.mark_dirty()

    def create(self, res, obj):
        with self.lock:
            m = obj["metadata"]
            k = _key(res, m.get("namespace"), m["name"])
            if k in self.objects:
                raise Exists()
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self.objects[k] = obj
            self._emit("ADDED", res, obj, None)
            return copy.deepcopy(obj)

    def replace(self, res, obj, expect_rv=None):
        """Stores obj in place of the current one; expect_rv (a string) must
        be the current version when given. Returns the stored object, or
        the removed one when the update let a deleted object go."""
        with self.lock:
            m = obj["metadata"]
            k = _key(res, m.get("namespace"), m["name"])
            cur = self.objects.get(k)
            if cur is None:
                raise NotFound()
            if expect_rv not in (None, "") and expect_rv != cur["metadata"]["resourceVersion"]:
                raise Conflict()
            return self._commit(res, k, cur, copy.deepcopy(obj))

    def mutate(self, res, ns, name, fn):
        """fn(copy of the object) -> the new object, or None for no change.
        Atomic: controllers never conflict with each other this way.
        Returns the stored object (None when it does not exist)."""
        with self.lock:
            k = _key(res, ns, name)
            cur = self.objects.get(k)
            if cur is None:
                return None
            new = fn(copy.deepcopy(cur))
            if new is None:
                return copy.deepcopy(cur)
            return self._commit(res, k, cur, new)

    def _commit(self, res, k, cur, new):
        new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        if new == cur:
            return copy.deepcopy(cur)  # a no-op update makes no event, as on a real server
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") \
                and self.can_remove(res, new):
            del self.objects[k]
            self._emit("DELETED", res, new, cur)
            return copy.deepcopy(new)
        self.objects[k] = new
        self._emit("MODIFIED", res, new, cur)
        return copy.deepcopy(new)

    def remove(self, res, ns, name):
        """Removes now: the DELETED event carries a new version."""
        with self.lock:
            k = _key(res, ns, name)
            cur = self.objects.pop(k, None)
            if cur is None:
                raise NotFound()
            gone = copy.deepcopy(cur)
            gone["metadata"]["resourceVersion"] = str(self._next_rv())
            self._emit("DELETED", res, gone, cur)
            return copy.deepcopy(gone)

    def set_extra(self, key, value):
        with self.lock:
            if value is None:
                self.extra.pop(key, None)
            else:
                self.extra[key] = value
            self.mark_dirty()

    def get_extra(self, key, default=None):
        with self.lock:
            return copy.deepcopy(self.extra.get(key, default))

    # ---- watches -------------------------------------------------------------

    def subscribe(self):
        """A queue of every event from now on (the controllers' informers)."""
        q = queue.Queue()
        with self.lock:
            self.subscribers.append(q)
        return q

    def events_after(self, rv):
        """Events newer than rv; None when rv is older than the log keeps
        (compacted: the watcher must get 410 Gone)."""
        with self.lock:
            if rv < self.compacted:
                return None
            i = bisect.bisect_right(self.event_rvs, rv)
            return self.events[i:]

    def compact(self):
        with self.lock:
            self.compacted = self.rv
            self.events = []
            self.event_rvs = []
            return self.rv
