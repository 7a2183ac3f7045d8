"""The scheduler and the node: pods are bound to sim-node at once and their
containers really run (kcr-runner, or any command), so that kcr's
kubernetes provider is tested end to end against processes that start,
become ready, fail, get killed and are deleted with a grace period, as on a
real node.

A container runs under shim.py, in its own mount namespace (its emptyDirs
bound at their mountPaths from private dirs under DIR/pods/<ns>_<name>),
as the pod's runAsUser/runAsGroup (setpriv), with its env. Every pod has
an IP of its own on the loopback net (127.X.Y.N), so every runner can bind
port 8080 as in a cluster. A pod selected by a NetworkPolicy that denies
all egress runs in a network namespace of its own, reached through a relay
on podIP:port.
"""

import hashlib
import http.client
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time

from . import selectors as sel
from . import podio
from .netns import Relay
from .kubelet_util import port_of as _port
from .registry import StatusError, now_iso, parse_iso

NODE = "sim-node"
SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def proc_start(pid):
    """The process's start time in ticks: a pid alone may be reused."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except (FileNotFoundError, ProcessLookupError, TypeError):
        return None
    fields = st.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def runner_supports_address(path):
    try:
        out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
        return "--address" in out.stdout + out.stderr
    except Exception:
        return False


class Container:
    """One container's runtime record (persisted in state.json)."""

    def __init__(self, rec=None):
        rec = rec or {}
        self.shim = rec.get("shim")            # the shim's pid (the process group)
        self.shim_start = rec.get("shim_start")
        self.pid = rec.get("pid")              # the container's own pid
        self.started = rec.get("started")      # startedAt of the running one
        self.restarts = rec.get("restarts", 0)
        self.cid = rec.get("cid")
        self.exit_file = rec.get("exit_file")
        self.pid_file = rec.get("pid_file")
        self.terminated = rec.get("terminated")  # the state.terminated of the last run
        self.last = rec.get("last")            # lastState.terminated
        self.waiting = rec.get("waiting")      # (reason, message) while not running
        self.ready = rec.get("ready", False)
        self.pulled = rec.get("pulled", False)
        self.next_try = rec.get("next_try", 0)
        self.backoff = rec.get("backoff", 0)  # a static message: no update per tick
        self.pull_fails = rec.get("pull_fails", 0)
        self.probe_ok = rec.get("probe_ok", 0)
        self.probe_fail = rec.get("probe_fail", 0)
        self.live_fail = rec.get("live_fail", 0)
        self.popen = None
        self.term_sent = rec.get("term_sent", False)

    def record(self):
        d = dict(self.__dict__)
        d.pop("popen")
        return d

    def alive(self):
        if self.shim is None:
            return False
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return proc_start(self.shim) == self.shim_start


class PodWorker(threading.Thread):
    def __init__(self, kubelet, pod, rec=None):
        super().__init__(name="pod-" + pod["metadata"]["name"], daemon=True)
        self.k = kubelet
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        rec = rec or {}
        self.ip = rec.get("ip") or pod.get("status", {}).get("podIP")
        self.netns = rec.get("netns", False)
        self.started_at = rec.get("startTime")
        self.containers = {n: Container(c) for n, c in (rec.get("containers") or {}).items()}
        self.kill_deadline = rec.get("kill_deadline")
        self.failed = tuple(rec["failed"]) if rec.get("failed") else None  # (reason, message)
        self.wake = threading.Event()
        self.relays = []
        self.done = False
        self.dir = os.path.join(kubelet.dir, "pods", "%s_%s" % (self.ns, self.name))

    # ---- bookkeeping ---------------------------------------------------------

    def save(self):
        self.k.store.set_extra("pod:" + self.uid, {
            "ns": self.ns, "name": self.name, "ip": self.ip, "netns": self.netns,
            "startTime": self.started_at, "kill_deadline": self.kill_deadline,
            "failed": self.failed,
            "containers": {n: c.record() for n, c in self.containers.items()}})

    def any_alive(self):
        return any(c.alive() for c in self.containers.values())

    def log_path(self, cname, spec):
        first = spec["containers"][0]["name"]
        return os.path.join(self.dir, "log" if cname == first else "log." + cname)

    # ---- the loop --------------------------------------------------------------

    def run(self):
        try:
            self.loop()
        except Exception:
            import traceback
            traceback.print_exc()
        finally:
            self.cleanup()

    def loop(self):
        while not self.k.stopping:
            pod = self.k.store.get("pods", self.ns, self.name)
            if pod is None or pod["metadata"]["uid"] != self.uid:
                # gone from the API (force deletion or the last step of a
                # graceful one): nothing may keep running
                self.kill_all(signal.SIGKILL)
                return
            if pod["metadata"].get("deletionTimestamp"):
                if self.terminate(pod):
                    return
            else:
                self.sync(pod)
            self.wake.wait(self.k.period)
            self.wake.clear()

    def sync(self, pod):
        spec = pod["spec"]
        if self.ip is None:
            self.ip = self.k.alloc_ip()
            self.started_at = now_iso()
            self.netns = self.k.egress_denied(pod)
            self.prepare_dir()
            self.save()
        self.ensure_relays(spec)
        phase = pod.get("status", {}).get("phase")
        terminal = phase in ("Succeeded", "Failed")
        ads = spec.get("activeDeadlineSeconds")
        if ads and not terminal and time.time() - parse_iso(self.started_at) >= ads:
            # the kubelet's own deadline: kill, then Failed/DeadlineExceeded
            self.kill_all(signal.SIGKILL)
            end = time.time() + 5
            while self.any_alive() and time.time() < end:
                time.sleep(0.02)
            for c in spec["containers"]:
                ct = self.containers.setdefault(c["name"], Container())
                if ct.shim is not None:
                    self.reap(c, ct)
            self.failed = ("DeadlineExceeded", "Pod was active on the node longer than the "
                           "specified deadline")
            self.push_status(pod, final=True, keep=True)
            return
        for c in spec["containers"]:
            ct = self.containers.setdefault(c["name"], Container())
            if terminal:
                continue
            if ct.alive():
                self.probe(pod, c, ct)
                continue
            if ct.shim is not None:
                self.reap(c, ct)
            if ct.terminated is not None:
                if not self.should_restart(spec, ct):
                    continue
                if time.time() < ct.next_try:
                    continue
            self.start_container(pod, c, ct)
        self.push_status(pod)

    def should_restart(self, spec, ct):
        rp = spec.get("restartPolicy", "Always")
        if rp == "Never":
            return False
        if rp == "OnFailure" and ct.terminated.get("exitCode") == 0:
            return False
        return True

    def reap(self, c, ct):
        """The container ended: how (the shim's exit file, else killed)."""
        info = None
        if ct.popen is not None:
            ct.popen.poll()
        try:
            with open(ct.exit_file) as f:
                info = json.load(f)
        except (OSError, ValueError, TypeError):
            info = None
        if info is None:
            info = {"exitCode": 137, "signal": 9, "finishedAt": now_iso()}
        code = info["exitCode"]
        reason = "Completed" if code == 0 else "Error"
        t = {"exitCode": code, "reason": reason, "startedAt": ct.started,
             "finishedAt": info.get("finishedAt") or now_iso(), "containerID": ct.cid}
        if info.get("signal"):
            t["signal"] = info["signal"]
        ct.terminated = t
        ct.shim = ct.shim_start = ct.pid = ct.popen = None
        ct.ready = False
        ct.probe_ok = ct.probe_fail = ct.live_fail = 0
        # restart backoff: 10 s doubling to 5 min on a node; scaled down
        ct.backoff = min(0.5 * (2 ** ct.restarts), 5.0)
        ct.next_try = time.time() + ct.backoff
        if ct.started is None:
            t.pop("startedAt")
        self.save()

    def start_container(self, pod, c, ct):
        spec = pod["spec"]
        image = c.get("image", "")
        if not ct.pulled:
            if time.time() < ct.next_try:
                return  # the pull's back-off (10 s doubling on a node; scaled down)
            if self.k.image_missing(image):
                ct.pull_fails += 1
                ct.next_try = time.time() + min(0.5 * 2 ** (ct.pull_fails // 2), 5.0)
                if ct.pull_fails % 2 == 1:
                    ct.waiting = ("ErrImagePull", 'rpc error: code = NotFound desc = failed to '
                                  'pull and unpack image "%s": failed to resolve reference "%s":'
                                  ' %s: not found' % (_full_image(image), _full_image(image),
                                                      _full_image(image)))
                else:
                    ct.waiting = ("ImagePullBackOff", 'Back-off pulling image "%s"' % image)
                self.k.event(pod, "Warning", "Failed" if ct.pull_fails % 2 else "BackOff",
                             ct.waiting[1])
                self.save()
                return
            ct.pulled = True
            self.k.event(pod, "Normal", "Pulled", 'Container image "%s" already present on '
                         'machine' % image)
        uid, gid, err = self.identity(pod, c)
        if err:
            ct.waiting = ("CreateContainerConfigError", err)
            self.save()
            return
        try:
            argv, env, cwd, fds = self.command(pod, c, uid, gid)
        except StatusError as e:
            ct.waiting = ("CreateContainerConfigError", e.message)
            self.save()
            return
        os.makedirs(self.dir, exist_ok=True)
        logf = open(self.log_path(c["name"], spec), "ab")
        n = ct.restarts + (1 if ct.terminated is not None else 0)
        ct.exit_file = os.path.join(self.dir, "exit.%s.%d" % (c["name"], n))
        ct.pid_file = os.path.join(self.dir, "pid.%s.%d" % (c["name"], n))
        for p in (ct.exit_file, ct.pid_file):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        try:
            popen = subprocess.Popen([PYTHON, SHIM, ct.exit_file, ct.pid_file, "--"] + argv,
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                     cwd="/", start_new_session=True, pass_fds=fds)
        finally:
            logf.close()
            for fd in fds:
                os.close(fd)
        if ct.terminated is not None:
            ct.last = ct.terminated
            ct.restarts += 1
        ct.terminated = None
        ct.waiting = None
        ct.popen = popen
        ct.shim = popen.pid
        ct.shim_start = proc_start(popen.pid)
        ct.started = now_iso()
        ct.cid = "containerd://" + hashlib.sha256(("%s/%s/%d/%f" % (
            self.uid, c["name"], ct.restarts, time.time())).encode()).hexdigest()
        ct.term_sent = False
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(ct.pid_file):
            if popen.poll() is not None:
                break
            time.sleep(0.01)
        try:
            with open(ct.pid_file) as f:
                ct.pid = int(f.read())
        except (OSError, ValueError):
            ct.pid = None
        self.save()
        self.k.event(pod, "Normal", "Created", "Created container %s" % c["name"])
        self.k.event(pod, "Normal", "Started", "Started container %s" % c["name"])
        if self.netns:
            self.ensure_relays(spec)

    def identity(self, pod, c):
        psc = pod["spec"].get("securityContext") or {}
        csc = c.get("securityContext") or {}
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup"))
        nonroot = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        who = 'pod: "%s_%s(%s)", container: %s' % (self.name, self.ns, self.uid, c["name"])
        if nonroot:
            if uid is None:
                return None, None, "container has runAsNonRoot and image will run as root (%s)" \
                    % who
            if uid == 0:
                return None, None, "container's runAsUser breaks non-root policy (%s)" % who
        return uid if uid is not None else 0, gid if gid is not None else (
            uid if uid is not None else 0), None

    def command(self, pod, c, uid, gid):
        """(argv, env, cwd, fds to pass) of the container's process chain:
        unshare (mount and maybe net namespace) -> sh (mounts) -> setpriv ->
        the command."""
        spec = pod["spec"]
        cmd = list(c.get("command") or ["kcr-runner"])  # every kcr image's entrypoint
        args = list(c.get("args") or [])
        env_map = self.k.container_env(pod, c, self.ip)
        cmd = [_expand(x, env_map) for x in cmd]
        args = [_expand(x, env_map) for x in args]
        fds = []
        if os.path.basename(cmd[0]) == "kcr-runner":
            if not self.k.runner:
                raise StatusError(500, "", "the simulator was started without --runner: no "
                                  "kcr-runner to run")
            cmd[0] = self.k.runner
            if self.k.runner_address:
                if "--address" not in args:
                    args += ["--address", self.ip]
            else:
                # a runner without --address: the node binds podIP:port and
                # hands the socket over (--listen-fd) in place of --port
                port = 8080
                if "--port" in args:
                    i = args.index("--port")
                    port = int(args[i + 1])
                    del args[i:i + 2]
                args = [a for a in args if a != "--log-requests"]
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.ip, port))
                s.listen(64)
                fd = s.detach()
                fds.append(fd)
                args += ["--listen-fd", str(fd)]
        argv = cmd + args
        # the mount namespace: volumes at their mountPaths
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        mounts = []
        for vm in c.get("volumeMounts") or []:
            v = vols.get(vm["name"])
            src = self.volume_dir(pod, v, uid, gid)
            if vm.get("subPath"):
                src = os.path.join(src, vm["subPath"])
                os.makedirs(src, exist_ok=True)
            mounts.append((vm["mountPath"], src, bool(vm.get("readOnly"))))
        mounts.sort(key=lambda m: m[0].count("/"))
        lines = ["set -e"]
        if self.netns:
            lines.append("ip link set lo up")
        opens = []
        for i, (mp, src, ro) in enumerate(mounts):
            # sources are opened before any mount: a mountPath such as /tmp
            # may hide the directory they live in
            opens.append("%d<%s" % (20 + i, shlex.quote(src)))
        if opens:
            lines.append("exec " + " ".join(opens))
        csc = c.get("securityContext") or {}
        for i, (mp, src, ro) in enumerate(mounts):
            lines.append("mkdir -p %s" % shlex.quote(mp))
        for i, (mp, src, ro) in enumerate(mounts):
            lines.append("mount -c --bind /proc/self/fd/%d %s" % (20 + i, shlex.quote(mp)))
            if ro:
                lines.append("mount -o remount,bind,ro %s" % shlex.quote(mp))
        # after the volumes: a bind mount takes the flags of the mount its
        # source is on, and the pod's dir may be on the root's
        if csc.get("readOnlyRootFilesystem"):
            lines.append("mount -o remount,bind,ro /")
        if opens:
            lines.append("exec " + " ".join("%d<&-" % (20 + i) for i in range(len(mounts))))
        wd = c.get("workingDir") or "/"
        lines.append("cd %s" % shlex.quote(wd))
        priv = ["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups"]
        psc = spec.get("securityContext") or {}
        if psc.get("supplementalGroups") or psc.get("fsGroup") is not None:
            groups = list(psc.get("supplementalGroups") or [])
            if psc.get("fsGroup") is not None:
                groups.append(psc["fsGroup"])
            priv[-1] = "--groups=" + ",".join(str(g) for g in groups)
        if csc.get("allowPrivilegeEscalation") is False:
            priv.append("--no-new-privs")
        drop = (csc.get("capabilities") or {}).get("drop") or []
        if "ALL" in drop and uid == 0:
            priv += ["--inh-caps=-all", "--bounding-set=-all"]
        lines.append("exec " + " ".join(shlex.quote(p) for p in priv) + ' -- "$@"')
        script = "\n".join(lines)
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if self.netns:
            unshare.append("--net")
        full = unshare + ["--", "/bin/bash", "-c", script, "sh"] + argv
        return full, env_map, wd, fds

    def volume_dir(self, pod, v, uid, gid):
        name = v["name"]
        d = os.path.join(self.dir, "volumes", name)
        if not os.path.isdir(d):
            os.makedirs(d)
            os.chmod(d, 0o777)  # an emptyDir is world-writable, as on a node
        if "configMap" in v or "secret" in v:
            src = v.get("configMap") or v.get("secret") or {}
            kind = "configmaps" if "configMap" in v else "secrets"
            oname = src.get("name") or src.get("secretName")
            o = self.k.store.get(kind, self.ns, oname)
            if o is None and not src.get("optional"):
                raise StatusError(500, "", '%s "%s" not found' % (
                    "configmap" if kind == "configmaps" else "secret", oname))
            data = dict((o or {}).get("data") or {})
            import base64
            for k2, val in data.items():
                b = base64.b64decode(val) if kind == "secrets" else val.encode()
                with open(os.path.join(d, k2), "wb") as f:
                    f.write(b)
        return d

    def prepare_dir(self):
        """A new pod of an old name starts from nothing."""
        marker = os.path.join(self.dir, "uid")
        try:
            with open(marker) as f:
                old = f.read().strip()
        except OSError:
            old = None
        if old != self.uid and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, exist_ok=True)
        with open(marker, "w") as f:
            f.write(self.uid)

    # ---- probes ----------------------------------------------------------------

    def probe(self, pod, c, ct):
        if ct.started is None:
            return
        age = time.time() - parse_iso(ct.started)
        rp = c.get("readinessProbe")
        if rp is None:
            ct.ready = True
        elif age >= rp.get("initialDelaySeconds", 0):
            ok = self.check(c, rp)
            if ok:
                ct.probe_ok += 1
                ct.probe_fail = 0
                if ct.probe_ok >= rp.get("successThreshold", 1):
                    ct.ready = True
            else:
                ct.probe_fail += 1
                ct.probe_ok = 0
                if ct.probe_fail >= rp.get("failureThreshold", 3) or not ct.ready:
                    if ct.ready:
                        self.k.event(pod, "Warning", "Unhealthy", "Readiness probe failed")
                    ct.ready = False
        lp = c.get("livenessProbe")
        if lp is not None and age >= lp.get("initialDelaySeconds", 0):
            if self.check(c, lp):
                ct.live_fail = 0
            else:
                ct.live_fail += 1
                if ct.live_fail >= lp.get("failureThreshold", 3):
                    self.k.event(pod, "Normal", "Killing", "Container %s failed liveness probe, "
                                 "will be restarted" % c["name"])
                    self.signal(ct, signal.SIGKILL)
                    ct.live_fail = 0

    def check(self, c, probe):
        timeout = max(float(probe.get("timeoutSeconds", 1)), 0.5)
        if "httpGet" in probe:
            hg = probe["httpGet"]
            port = _port(c, hg.get("port"))
            host = hg.get("host") or self.ip
            try:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
                headers = {h["name"]: h["value"] for h in hg.get("httpHeaders") or []}
                headers.setdefault("User-Agent", "kube-probe/1.30")
                conn.request("GET", hg.get("path", "/"), headers=headers)
                r = conn.getresponse()
                r.read()
                conn.close()
                return 200 <= r.status < 400
            except (OSError, http.client.HTTPException):
                return False
        if "tcpSocket" in probe:
            try:
                socket.create_connection((self.ip, _port(c, probe["tcpSocket"].get("port"))),
                                         timeout).close()
                return True
            except OSError:
                return False
        return True  # exec and grpc probes are not run: taken as passing

    # ---- status ----------------------------------------------------------------

    def push_status(self, pod, final=False, keep=False):
        """The pod's status from what runs. final: the containers are done
        for good (deletion, deadline); keep: the object stays (no final
        delete)."""
        spec = pod["spec"]
        css = []
        for c in spec["containers"]:
            ct = self.containers.get(c["name"]) or Container()
            cs = {"name": c["name"], "image": c.get("image", ""), "imageID": "",
                  "ready": bool(ct.ready and ct.shim is not None),
                  "restartCount": ct.restarts, "started": ct.shim is not None}
            if ct.pulled:
                cs["imageID"] = "%s@sha256:%s" % (_full_image(c.get("image", "")).rsplit(
                    ":", 1)[0] if "@" not in c.get("image", "") else c["image"].split("@")[0],
                    hashlib.sha256(c.get("image", "").encode()).hexdigest())
            if ct.cid:
                cs["containerID"] = ct.cid
            if ct.shim is not None:
                cs["state"] = {"running": {"startedAt": ct.started}}
            elif ct.terminated is not None and (final or not self.should_restart(spec, ct) or
                                                pod.get("status", {}).get("phase") in
                                                ("Succeeded", "Failed")):
                cs["state"] = {"terminated": ct.terminated}
            elif ct.terminated is not None:
                cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                           "back-off %ds restarting failed container=%s pod=%s_%s"
                                           "(%s)" % (max(1, int(ct.backoff + 0.5)),
                                                     c["name"], self.name, self.ns, self.uid)}}
                cs["lastState"] = {"terminated": ct.terminated}
            elif ct.waiting:
                cs["state"] = {"waiting": {"reason": ct.waiting[0], "message": ct.waiting[1]}}
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            if ct.last and "lastState" not in cs:
                cs["lastState"] = {"terminated": ct.last}
            cs.setdefault("lastState", {})
            css.append(cs)
        phase = self.phase(spec, css, final)
        all_ready = all(cs["ready"] for cs in css) and phase == "Running"
        not_ready = [cs["name"] for cs in css if not cs["ready"]]

        def cond(typ, ok, reason=None, message=None):
            c = {"type": typ, "status": "True" if ok else "False", "lastProbeTime": None}
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c

        if phase in ("Succeeded", "Failed"):
            why = "PodCompleted"
            conds = [cond("Initialized", True, why if phase == "Succeeded" else None),
                     cond("Ready", False, why), cond("ContainersReady", False, why),
                     cond("PodScheduled", True)]
        else:
            msg = "containers with unready status: [%s]" % " ".join(not_ready)
            conds = [cond("Initialized", True),
                     cond("Ready", all_ready, None if all_ready else "ContainersNotReady",
                          None if all_ready else msg),
                     cond("ContainersReady", all_ready, None if all_ready else
                          "ContainersNotReady", None if all_ready else msg),
                     cond("PodScheduled", True)]

        def fn(o):
            if o["metadata"]["uid"] != self.uid:
                return None
            st = o.setdefault("status", {})
            old = {c["type"]: c for c in st.get("conditions") or []}
            for c in conds:
                prev = old.get(c["type"])
                if prev and prev.get("status") == c["status"]:
                    c["lastTransitionTime"] = prev.get("lastTransitionTime")
                else:
                    c["lastTransitionTime"] = now_iso()
            # the order of a real pod's conditions
            new = dict(st)
            new.update({"phase": phase, "conditions": conds, "hostIP": self.k.host_ip,
                        "hostIPs": [{"ip": self.k.host_ip}], "podIP": self.ip,
                        "podIPs": [{"ip": self.ip}], "startTime": self.started_at,
                        "containerStatuses": css})
            new.setdefault("qosClass", "BestEffort")
            if self.failed:
                new["reason"], new["message"] = self.failed
            o["status"] = new
            if final and not keep:
                o["metadata"]["deletionGracePeriodSeconds"] = 0
            return o

        self.k.store.mutate("pods", self.ns, self.name, fn)

    def phase(self, spec, css, final):
        cur = self.k.store.get("pods", self.ns, self.name)
        if cur and cur.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return cur["status"]["phase"]
        rp = spec.get("restartPolicy", "Always")
        cts = [self.containers.get(c["name"]) or Container() for c in spec["containers"]]
        if all(ct.terminated is not None and ct.shim is None for ct in cts):
            codes = [ct.terminated.get("exitCode", 1) for ct in cts]
            if final or rp == "Never" or (rp == "OnFailure" and all(x == 0 for x in codes)):
                return "Succeeded" if all(x == 0 for x in codes) else "Failed"
        if final:
            return "Failed"
        if any(ct.shim is not None or ct.terminated is not None for ct in cts) and \
                all(ct.shim is not None or ct.terminated is not None or ct.restarts for ct in cts):
            return "Running"
        return "Pending"

    # ---- deletion --------------------------------------------------------------

    def terminate(self, pod):
        """Graceful deletion: SIGTERM, SIGKILL at the deadline, then the
        final status and the last delete. True when done."""
        m = pod["metadata"]
        deadline = parse_iso(m["deletionTimestamp"])
        if self.kill_deadline is None or deadline < self.kill_deadline:
            self.kill_deadline = deadline
            self.save()
        for name, ct in self.containers.items():
            if ct.alive() and not ct.term_sent:
                self.k.event(pod, "Normal", "Killing", "Stopping container %s" % name)
                self.signal(ct, signal.SIGTERM, group=True)
                ct.term_sent = True
                self.save()
        if any(c.alive() for c in self.containers.values()):
            if time.time() < self.kill_deadline:
                return False
            self.kill_all(signal.SIGKILL)
            end = time.time() + 5
            while self.any_alive() and time.time() < end:
                time.sleep(0.02)
        spec = pod["spec"]
        for c in spec["containers"]:
            ct = self.containers.setdefault(c["name"], Container())
            if ct.shim is not None:
                self.reap(c, ct)
            if ct.terminated is None:
                ct.terminated = {"exitCode": 137 if ct.started else 0, "reason":
                                 "ContainerStatusUnknown" if not ct.started else "Error",
                                 "finishedAt": now_iso()}
                if ct.started:
                    ct.terminated["startedAt"] = ct.started
        self.push_status(pod, final=True)
        return True

    def signal(self, ct, sig, group=False):
        try:
            if group and ct.shim:
                os.killpg(ct.shim, sig)
            elif ct.pid:
                os.kill(ct.pid, sig)
            elif ct.shim:
                os.killpg(ct.shim, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_all(self, sig):
        for ct in self.containers.values():
            if ct.alive():
                self.signal(ct, sig, group=True)

    def cleanup(self):
        self.done = True
        if self.k.stopping:
            return  # an API-server restart: the containers live on
        for r in self.relays:
            r.close()
        self.relays = []
        end = time.time() + 5
        while self.any_alive() and time.time() < end:
            self.kill_all(signal.SIGKILL)
            time.sleep(0.05)
        for ct in self.containers.values():
            if ct.popen is not None:
                ct.popen.poll()
        self.k.store.set_extra("pod:" + self.uid, None)
        self.k.forget(self)

    # ---- the network namespace's relay ----------------------------------------

    def ensure_relays(self, spec):
        if not self.netns or self.relays:
            return
        pid = None
        for ct in self.containers.values():
            if ct.alive() and ct.pid:
                pid = ct.pid
        if pid is None:
            return
        ports = sorted({p["containerPort"] for c in spec["containers"] for p in c.get("ports")
                        or []} or {8080})
        for port in ports:
            try:
                self.relays.append(Relay(self, self.ip, port))
            except OSError as e:
                print("kube-sim: relay %s:%d: %s" % (self.ip, port, e), flush=True)

    def netns_pid(self):
        for ct in self.containers.values():
            if ct.alive() and ct.pid:
                return ct.pid
        return None


def _full_image(image):
    name = image
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    first = name.split("/")[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    return name


def _expand(s, env):
    """$(VAR) references in command and args, as the kubelet expands them."""
    out, i = "", 0
    while i < len(s):
        if s.startswith("$$", i):
            out += "$"
            i += 2
        elif s.startswith("$(", i) and ")" in s[i:]:
            j = s.index(")", i)
            var = s[i + 2:j]
            out += env.get(var, s[i:j + 1])
            i = j + 1
        else:
            out += s[i]
            i += 1
    return out


class Kubelet:
    def __init__(self, store, registry, d, runner, net, period_ms, host_ip=None):
        self.store = store
        self.registry = registry
        registry.kubelet = self
        self.dir = d
        self.runner = os.path.abspath(runner) if runner else None
        self.runner_address = bool(runner) and runner_supports_address(runner)
        self.net = net
        self.host_ip = host_ip or net + ".1"
        self.period = max(period_ms, 20) / 1000.0
        self.workers = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.next_ip = 2
        self.api_port = 0

    # ---- life ------------------------------------------------------------------

    def start(self):
        pods, _ = self.store.list("pods")
        for p in pods:
            if p["spec"].get("nodeName") == NODE:
                rec = self.store.get_extra("pod:" + p["metadata"]["uid"])
                if rec is None and p.get("status", {}).get("phase") in ("Succeeded", "Failed") \
                        and not p["metadata"].get("deletionTimestamp"):
                    continue
                self.spawn(p, rec)
        # records of pods that are gone: their processes must not linger
        for k in list(self.store.extra):
            if k.startswith("pod:") and k[4:] not in self.workers:
                rec = self.store.extra.get(k) or {}
                for c in (rec.get("containers") or {}).values():
                    ct = Container(c)
                    if ct.alive():
                        try:
                            os.killpg(ct.shim, signal.SIGKILL)
                        except OSError:
                            pass
                self.store.set_extra(k, None)
        self.q = self.store.subscribe()
        threading.Thread(target=self.loop, name="kubelet", daemon=True).start()

    def stop(self):
        """An API-server restart leaves the containers running."""
        self.stopping = True

    def loop(self):
        import queue
        last = 0
        while not self.stopping:
            try:
                ev = self.q.get(timeout=0.5)
            except queue.Empty:
                ev = None
            try:
                if ev is not None and ev.res == "pods":
                    self.on_pod(ev)
                if time.time() - last > 1:
                    last = time.time()
                    self.resync()
            except Exception:
                import traceback
                traceback.print_exc()

    def on_pod(self, ev):
        o = ev.obj
        uid = o["metadata"]["uid"]
        if ev.type == "DELETED":
            w = self.workers.get(uid)
            if w:
                w.wake.set()
            return
        if not o["spec"].get("nodeName"):
            if not o["metadata"].get("deletionTimestamp"):
                self.schedule(o)
            return
        if o["spec"]["nodeName"] == NODE:
            w = self.workers.get(uid)
            if w is None:
                self.spawn(o, None)
            else:
                w.wake.set()

    def resync(self):
        pods, _ = self.store.list("pods")
        for p in pods:
            if not p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp"):
                self.schedule(p)
            elif p["spec"].get("nodeName") == NODE and p["metadata"]["uid"] not in self.workers \
                    and p.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                self.spawn(p, None)
            elif p["spec"].get("nodeName") == NODE and p["metadata"].get("deletionTimestamp") \
                    and p["metadata"].get("deletionGracePeriodSeconds") != 0 \
                    and p["metadata"]["uid"] not in self.workers:
                self.spawn(p, None)

    def schedule(self, pod):
        """The scheduler's binding: at once, to the one node."""
        def bind(o):
            if o["spec"].get("nodeName"):
                return None
            o["spec"]["nodeName"] = NODE
            st = o.setdefault("status", {})
            st["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                 "lastTransitionTime": now_iso()}]
            return o
        out = self.store.mutate("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                bind)
        if out is not None:
            self.event(out, "Normal", "Scheduled", "Successfully assigned %s/%s to %s" % (
                out["metadata"]["namespace"], out["metadata"]["name"], NODE), source=False)

    def spawn(self, pod, rec):
        with self.lock:
            uid = pod["metadata"]["uid"]
            if uid in self.workers:
                return
            w = PodWorker(self, pod, rec)
            self.workers[uid] = w
        w.start()

    def forget(self, w):
        with self.lock:
            if self.workers.get(w.uid) is w:
                del self.workers[w.uid]

    def has_process(self, pod):
        w = self.workers.get(pod["metadata"]["uid"])
        return w is not None and w.any_alive()

    def poke(self, pod):
        w = self.workers.get(pod["metadata"]["uid"])
        if w:
            w.wake.set()

    def kill(self, ns, name, sig=9):
        pod = self.store.get("pods", ns, name)
        w = self.workers.get(pod["metadata"]["uid"]) if pod else None
        if w is None:
            return False
        hit = False
        for ct in w.containers.values():
            if ct.alive():
                w.signal(ct, sig)
                hit = True
        w.wake.set()
        return hit

    # ---- the node's resources ----------------------------------------------------

    def alloc_ip(self):
        with self.lock:
            pods, _ = self.store.list("pods")
            used = {p.get("status", {}).get("podIP") for p in pods}
            used |= {w.ip for w in self.workers.values()}
            for _ in range(253):
                n = self.next_ip
                self.next_ip = 2 if self.next_ip >= 254 else self.next_ip + 1
                ip = "%s.%d" % (self.net, n)
                if ip not in used:
                    return ip
        raise RuntimeError("no free pod IP on %s.0/24" % self.net)

    def image_missing(self, image):
        try:
            with open(os.path.join(self.dir, "missing-images")) as f:
                missing = {line.strip() for line in f if line.strip()}
        except OSError:
            return False
        return image in missing or _full_image(image) in {_full_image(m) for m in missing}

    def egress_denied(self, pod):
        """Selected by a NetworkPolicy of policyTypes Egress without egress
        rules: no traffic out (the one NetworkPolicy case enforced)."""
        pols, _ = self.store.list("networking.k8s.io/networkpolicies",
                                  pod["metadata"]["namespace"])
        labels = pod["metadata"].get("labels") or {}
        for p in pols:
            spec = p.get("spec") or {}
            types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec
                                                else ["Ingress"])
            if "Egress" not in types or spec.get("egress"):
                continue
            if sel.match_label_selector(spec.get("podSelector", {}), labels):
                return True
        return False

    def container_env(self, pod, c, ip):
        m, spec = pod["metadata"], pod["spec"]
        env = {"PATH": BASE_PATH, "HOSTNAME": m["name"], "HOME": "/"}
        env["KUBERNETES_SERVICE_HOST"] = "127.0.0.1"
        env["KUBERNETES_SERVICE_PORT"] = str(self.api_port)
        env["KUBERNETES_SERVICE_PORT_HTTPS"] = str(self.api_port)
        for ef in c.get("envFrom") or []:
            src = ef.get("configMapRef") or ef.get("secretRef")
            kind = "configmaps" if "configMapRef" in ef else "secrets"
            o = self.store.get(kind, m["namespace"], (src or {}).get("name", ""))
            if o is None:
                if (src or {}).get("optional"):
                    continue
                raise StatusError(500, "", '%s "%s" not found' % (kind[:-1], src.get("name")))
            for k, v in (o.get("data") or {}).items():
                env[ef.get("prefix", "") + k] = _decode(kind, v)
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = _expand(str(e["value"]), env)
                continue
            vf = e.get("valueFrom") or {}
            if "fieldRef" in vf:
                fp = vf["fieldRef"].get("fieldPath", "")
                env[e["name"]] = {
                    "metadata.name": m["name"], "metadata.namespace": m["namespace"],
                    "metadata.uid": m["uid"], "spec.nodeName": NODE,
                    "spec.serviceAccountName": spec.get("serviceAccountName", ""),
                    "status.podIP": ip, "status.hostIP": self.host_ip,
                }.get(fp, (m.get("labels") or {}).get(fp[len("metadata.labels['"):-2], "")
                      if fp.startswith("metadata.labels[") else "")
            elif "secretKeyRef" in vf or "configMapKeyRef" in vf:
                ref = vf.get("secretKeyRef") or vf.get("configMapKeyRef")
                kind = "secrets" if "secretKeyRef" in vf else "configmaps"
                o = self.store.get(kind, m["namespace"], ref.get("name", ""))
                if o is None or ref.get("key") not in (o.get("data") or {}):
                    if ref.get("optional"):
                        continue
                    raise StatusError(500, "", "couldn't find key %s in %s %s/%s" % (
                        ref.get("key"), "Secret" if kind == "secrets" else "ConfigMap",
                        m["namespace"], ref.get("name")))
                env[e["name"]] = _decode(kind, o["data"][ref["key"]])
            elif "resourceFieldRef" in vf:
                env[e["name"]] = "0"
        return env

    def event(self, pod, typ, reason, message, source=True):
        """A core/v1 Event about the pod, as the kubelet and scheduler write."""
        m = pod["metadata"]
        name = "%s.%x" % (m["name"], int(time.time() * 1e9) + random.randint(0, 1 << 20))
        ev = {"kind": "Event", "apiVersion": "v1", "metadata": {
            "name": name, "namespace": m["namespace"], "uid": __import__("uuid").uuid4().hex,
            "creationTimestamp": now_iso()},
            "involvedObject": {"kind": "Pod", "namespace": m["namespace"], "name": m["name"],
                               "uid": m["uid"], "apiVersion": "v1"},
            "reason": reason, "message": message, "type": typ, "count": 1,
            "firstTimestamp": now_iso(), "lastTimestamp": now_iso(),
            "source": {"component": "kubelet", "host": NODE} if source else
            {"component": "default-scheduler"}, "reportingComponent": "kubelet" if source else
            "default-scheduler", "reportingInstance": NODE if source else ""}
        try:
            self.store.create("events", ev)
        except Exception:
            pass

    # ---- pods/log and pods/proxy (sim/podio.py) ----------------------------------

    def logs(self, h, ns, name):
        return podio.logs(self, h, ns, name)

    def proxy(self, h, ns, name, port, method, rest):
        return podio.proxy(self, h, ns, name, port, method, rest)


def _decode(kind, v):
    if kind == "secrets":
        import base64
        return base64.b64decode(v).decode("utf-8", "replace")
    return v
