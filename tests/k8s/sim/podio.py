"""pods/log and pods/proxy: what a client reads of a pod through the API
server. Logs come from the container's log file (followed while it runs);
the proxy streams the request and the reply both ways, any method."""

import http.client
import os
import time

from . import resources as R
from .kubelet_util import port_of
from .registry import StatusError, bad_request, not_found


# not forwarded: hop-by-hop headers, the API server's credentials, and
# Expect (the API server has already answered 100-continue itself)
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailers", "transfer-encoding", "upgrade", "authorization", "host", "content-length",
        "expect"}


def logs(k, h, ns, name):
    pod = k.store.get("pods", ns, name)
    if pod is None:
        raise not_found(R.POD, name)
    q = h.query
    names = [c["name"] for c in pod["spec"]["containers"]]
    cname = q.get("container")
    if not cname:
        if len(names) > 1:
            raise bad_request("a container name must be specified for pod %s, choose one of:"
                              " [%s]" % (name, " ".join(names)))
        cname = names[0]
    if cname not in names:
        raise bad_request('container %s is not valid for pod %s' % (cname, name))
    w = k.workers.get(pod["metadata"]["uid"])
    ct = w.containers.get(cname) if w else None
    if ct is None or (ct.started is None and ct.terminated is None):
        reason = "ContainerCreating"
        if ct is not None and ct.waiting:
            reason = ct.waiting[0]
        raise bad_request('container "%s" in pod "%s" is waiting to start: %s' % (
            cname, name, "trying and failing to pull image" if reason in (
                "ErrImagePull", "ImagePullBackOff") else reason))
    path = os.path.join(k.dir, "pods", "%s_%s" % (ns, name),
                        "log" if cname == names[0] else "log." + cname)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        data = b""
    tail = q.get("tailLines")
    if tail is not None:
        lines = data.splitlines(True)
        data = b"".join(lines[-int(tail):]) if int(tail) > 0 else b""
    limit = int(q.get("limitBytes") or 0)
    if limit:
        data = data[:limit]
    follow = q.get("follow") in ("true", "1")
    if not follow:
        return h.send_text(200, data)
    h.code = 200
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    h.chunk(data)
    sent = len(data)
    with open(path, "rb") as f:
        f.seek(0, 2)
        pos = f.tell() if tail is not None or limit else len(data)
        f.seek(pos)
        while not k.stopping:
            more = f.read(65536)
            if more:
                if limit:
                    more = more[:max(0, limit - sent)]
                h.chunk(more)
                sent += len(more)
                if limit and sent >= limit:
                    break
                continue
            if not (w and ct.alive()) or w.done:
                break
            time.sleep(0.1)
    h.end_chunks()

def proxy(k, h, ns, name, port, method, rest):
    """pods/proxy: the request and the reply streamed both ways."""
    pod = k.store.get("pods", ns, name)
    if pod is None:
        raise not_found(R.POD, name)
    ip = pod.get("status", {}).get("podIP")
    if port is None:
        port = 80
        for c in pod["spec"]["containers"]:
            for p in c.get("ports") or []:
                port = p["containerPort"]
                break
    else:
        port = port_of(pod["spec"]["containers"][0], port)
    if not ip:
        raise StatusError(503, "ServiceUnavailable", "error trying to reach service: pod "
                          "%s has no IP address" % name, {})
    path = "/" + rest
    if h.raw_query:
        path += "?" + h.raw_query
    try:
        conn = http.client.HTTPConnection(ip, port, timeout=300)
        conn.connect()
    except OSError as e:
        raise StatusError(503, "ServiceUnavailable", "error trying to reach service: dial tcp "
                          "%s:%d: connect: %s" % (ip, port, (e.strerror or str(e)).lower()),
                          {})
    h.body_consumed = True  # streamed to the pod from here on
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", "%s:%d" % (ip, port))
    for k, v in h.headers.items():
        if k.lower() not in _HOP and not k.lower().startswith("impersonate-"):
            conn.putheader(k, v)
    chunked = h.headers.get("Transfer-Encoding", "").lower() == "chunked"
    n = int(h.headers.get("Content-Length") or 0)
    if chunked:
        conn.putheader("Transfer-Encoding", "chunked")
    elif n or method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(n))
    conn.endheaders()
    try:
        if chunked:
            for data in h.read_chunks():
                conn.send(b"%x\r\n%s\r\n" % (len(data), data))
            conn.send(b"0\r\n\r\n")
        else:
            left = n
            while left > 0:
                data = h.rfile.read(min(left, 65536))
                if not data:
                    break
                conn.send(data)
                left -= len(data)
        r = conn.getresponse()
    except (OSError, http.client.HTTPException) as e:
        h.close_connection = True  # what is left of the request body is unread
        raise StatusError(503, "ServiceUnavailable", "error trying to reach service: %s" % e,
                          {})
    h.code = r.status
    h.send_response(r.status)
    length = r.getheader("Content-Length")
    for k, v in r.getheaders():
        if k.lower() not in _HOP:
            h.send_header(k, v)
    if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
        # no body, whatever the headers say
        if length is not None:
            h.send_header("Content-Length", length)
        h.end_headers()
        conn.close()
        return
    if length is not None:
        h.send_header("Content-Length", length)
    else:
        h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    while True:
        data = r.read1(65536) if hasattr(r, "read1") else r.read(65536)
        if not data:
            break
        if length is not None:
            h.wfile.write(data)
            h.wfile.flush()
        else:
            h.chunk(data)
    if length is None:
        h.end_chunks()
    conn.close()
