#!/usr/bin/python3
"""kube-sim: a Kubernetes API server, scheduler, kubelet and job controller
in one process, for testing kcr's kubernetes provider where no real cluster
can run. See tests/k8s/README.md.

usage: kube-sim.py --dir DIR --runner PATH [--port 0] [--pod-net 127.X.Y]
                   [--runtime-classes gvisor,kata] [--namespaces kcr,default]
                   [--probe-period-ms 200]
"""

import argparse
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sim import api, auth, pki  # noqa: E402
from sim import resources as R  # noqa: E402
from sim.jobs import Controllers  # noqa: E402
from sim.kubelet import NODE, Kubelet  # noqa: E402
from sim.registry import Registry, StatusError, now_iso  # noqa: E402
from sim.store import Store  # noqa: E402

KUBELET_PORT = 10250


def parse_args():
    p = argparse.ArgumentParser(description="a Kubernetes API server simulator")
    p.add_argument("--dir", required=True)
    p.add_argument("--runner", default=None, help="the kcr-runner that pods run")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--pod-net", default=None, help="127.X.Y (default: a free random one)")
    p.add_argument("--runtime-classes", default="")
    p.add_argument("--namespaces", default="kcr,default")
    p.add_argument("--probe-period-ms", type=int, default=200)
    p.add_argument("--stop", action="store_true",
                   help="stop the simulator of DIR and every pod process it started")
    return p.parse_args()


def stop(d):
    """The whole cluster down: the API server (SIGTERM), then every
    container it left running (their shims' process groups)."""
    import json
    from sim.kubelet import proc_start
    try:
        with open(os.path.join(d, "sim.pid")) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if proc_start(pid) is None:  # gone (or a zombie)
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(d, "state.json")) as f:
            extra = json.load(f).get("extra", {})
    except (OSError, ValueError):
        extra = {}
    groups = []
    for k, rec in extra.items():
        if not k.startswith("pod:") or not isinstance(rec, dict):
            continue
        for c in (rec.get("containers") or {}).values():
            if c.get("shim") and proc_start(c["shim"]) == c.get("shim_start"):
                groups.append(c["shim"])
    for g in groups:
        try:
            os.killpg(g, signal.SIGKILL)
        except OSError:
            pass
    for _ in range(100):
        if not any(proc_start(g) is not None for g in groups):
            break
        time.sleep(0.05)


def reserve_net(net):
    """Holds net.1:10250 (the node's kubelet port) for the simulator's
    life: a second simulator picking the same net fails to bind it."""
    s = socket.socket()
    try:
        s.bind((net + ".1", KUBELET_PORT))
        s.listen(1)
    except OSError:
        s.close()
        return None
    return s


def pick_net(wanted):
    if wanted:
        return wanted, reserve_net(wanted)
    for _ in range(200):
        net = "127.%d.%d" % (random.randint(100, 254), random.randint(1, 254))
        s = reserve_net(net)
        if s is not None:
            return net, s
    raise SystemExit("kube-sim: no free 127.X.Y net")


def bootstrap(store, reg, args):
    """A fresh cluster's objects (and, on a restart, any the flags add)."""
    def ensure(key, ns, body):
        res = R.BY_KEY[key]
        if store.get(key, ns, body["metadata"]["name"]) is None:
            try:
                reg.create(res, ns, body)
            except StatusError as e:
                print("kube-sim: bootstrap %s: %s" % (key, e.message), file=sys.stderr)

    # kcr always: the kubeconfigs and the service account's dir name it
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease", "kcr"] + [
            n for n in args.namespaces.split(",") if n]:
        ensure("namespaces", "", {"metadata": {"name": ns}})
    for name, rules in auth.BOOTSTRAP_CLUSTER_ROLES.items():
        ensure("rbac.authorization.k8s.io/clusterroles", "", {
            "metadata": {"name": name, "labels": {
                "kubernetes.io/bootstrapping": "rbac-defaults"}}, "rules": rules})
    for name, (role, subjects) in auth.BOOTSTRAP_CLUSTER_ROLE_BINDINGS.items():
        ensure("rbac.authorization.k8s.io/clusterrolebindings", "", {
            "metadata": {"name": name, "labels": {
                "kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": k, "name": n}
                         for k, n in subjects]})
    for rc in [x for x in args.runtime_classes.split(",") if x]:
        ensure("node.k8s.io/runtimeclasses", "", {"metadata": {"name": rc}, "handler": rc})


def node_object(host_ip):
    t = now_iso()
    return {"metadata": {"name": NODE, "labels": {
        "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": ""}},
        "spec": {},
        "status": {
            "addresses": [{"type": "InternalIP", "address": host_ip},
                          {"type": "Hostname", "address": NODE}],
            "capacity": {"cpu": str(os.cpu_count() or 2), "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": str(os.cpu_count() or 2), "memory": "16Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": t, "lastTransitionTime": t}],
            "nodeInfo": {"kubeletVersion": api.SERVER_VERSION["gitVersion"],
                         "containerRuntimeVersion": "containerd://1.7.0",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "osImage": "kube-sim", "kernelVersion": os.uname().release}}}


def main():
    args = parse_args()
    d = os.path.abspath(args.dir)
    if args.stop:
        stop(d)
        return
    os.makedirs(d, exist_ok=True)
    for f in ("port",):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    with open(os.path.join(d, "sim.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    pki.make_pki(d)
    tokens_seen = pki.make_tokens(d)

    store = Store(os.path.join(d, "state.json"))
    restarted = store.load()
    net, net_sock = pick_net(args.pod_net or store.extra.get("net"))
    if net_sock is None:
        raise SystemExit("kube-sim: pod net %s is taken (another simulator?)" % net)
    store.extra["net"] = net
    reg = Registry(store)
    bootstrap(store, reg, args)
    if store.get("nodes", "", NODE) is None:
        reg.create(R.NODE, "", node_object(net + ".1"))

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "pki", "server.crt"), os.path.join(d, "pki",
                                                                            "server.key"))
    ctx.load_verify_locations(os.path.join(d, "pki", "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL  # a client certificate, or a token
    ctx.set_alpn_protocols(["http/1.1"])

    port = args.port
    if port == 0 and restarted:
        port = store.extra.get("port", 0)  # a restart keeps the address clients have
    kubelet = Kubelet(store, reg, d, args.runner, net, args.probe_period_ms)
    sim = api.Sim(d, store, reg, auth.Tokens(os.path.join(d, "tokens")), kubelet)
    try:
        server = api.Server(("127.0.0.1", port), sim, ctx)
    except OSError:
        server = api.Server(("127.0.0.1", 0), sim, ctx)
    port = server.server_address[1]
    sim.port = kubelet.api_port = port
    store.extra["port"] = port
    with open(os.path.join(d, "pki", "ca.crt")) as f:
        ca_pem = f.read()
    ctl = Controllers(store, reg, ca_pem)
    pki.write_client_files(d, port, tokens_seen, "kcr")
    store.flush()
    store.start_writer()
    kubelet.start()
    ctl.start()

    done = threading.Event()

    def on_term(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True)
    t.start()
    # DIR/port last: once it is there, the server answers
    tmp = os.path.join(d, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, os.path.join(d, "port"))
    print("kube-sim: listening on https://127.0.0.1:%d, pod net %s.0/24%s" % (
        port, net, " (restarted)" if restarted else ""), flush=True)
    while not done.wait(0.1):
        pass
    # an API-server restart: the objects are saved, the pods keep running
    sim.shutting_down = True
    kubelet.stop()
    ctl.stopping = True
    for f in ("port",):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    store.flush()
    try:
        os.unlink(os.path.join(d, "sim.pid"))
    except FileNotFoundError:
        pass
    net_sock.close()
    os._exit(0)


if __name__ == "__main__":
    main()
