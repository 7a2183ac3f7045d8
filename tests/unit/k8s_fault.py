#!/usr/bin/python3
"""A small Kubernetes API server that misbehaves on purpose, for
tests/unit/test_k8s_client.c (the simulator, tests/k8s/kube-sim.py, is the
well-behaved one). The path says what it does:

  /echo                 200: the request as JSON (method, path, query, auth,
                        ctype, body, cn: the client certificate's CN)
  /ok                   200: a small Pod
  /empty                200, no body
  /notjson              200, HTML
  /status/CODE          CODE with a Status (message "status CODE said")
  /plain/CODE           CODE with a body that is not JSON
  /flaky/N/TAG          500 Status N times, then 200
  /unavail/N/TAG        503 Status N times, then 200
  /throttle/N/TAG       429 with Retry-After: 1, N times, then 200
  /drop/N/TAG           the connection closed without a reply N times, then 200
  /slow/MS              200 after MS ms
  /big/MB/cl            200 saying Content-Length MB MiB
  /big/MB/chunked       200 with MB MiB, chunked
  /watch/NAME           watch streams (see watch())
  /api/v1/namespaces/NS/pods/POD:PORT/proxy/...  the pod proxy (see proxy())
  /_count/REST          how many requests /REST got (any method), as text

With --tls DIR it serves HTTPS with DIR/server.crt and server.key, and
asks for a client certificate signed by DIR/ca.crt (optional).
Prints "listening on 127.0.0.1:PORT" when ready."""
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
COUNT = {}


def status_obj(code, message, reason="Unknown"):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def pod(name, rv):
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def start_chunked(self, code=200):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def event(self, etype, obj):
        self.chunk(json.dumps({"type": etype, "object": obj}) + "\n")

    def handle_any(self):
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if path.startswith("/_count/"):
            with LOCK:
                c = COUNT.get(path[len("/_count"):], 0)
            return self.reply(200, str(c).encode(), "text/plain")
        with LOCK:
            COUNT[path] = COUNT.get(path, 0) + 1
            seen = COUNT[path]
        parts = path.strip("/").split("/")
        try:
            if parts[0] == "watch":
                return self.watch(parts[1], url.query)
            if "proxy" in parts and parts[0] == "api":
                return self.proxy(parts, body)
            return self.plain(parts, url.query, body, seen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def plain(self, parts, query, body, seen):
        head = parts[0]
        if head == "echo":
            cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
            cn = ""
            for rdn in (cert or {}).get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
            return self.reply(200, {"method": self.command, "path": self.path.split("?")[0],
                                    "query": query, "auth": self.headers.get("Authorization", ""),
                                    "ctype": self.headers.get("Content-Type", ""),
                                    "body": body.decode(errors="replace"), "cn": cn})
        if head == "ok":
            return self.reply(200, pod("ok", 5))
        if head == "empty":
            return self.reply(200, b"")
        if head == "notjson":
            return self.reply(200, b"<html>hello</html>", "text/html")
        if head == "status":
            code = int(parts[1])
            return self.reply(code, status_obj(code, "status %d said" % code))
        if head == "plain":
            return self.reply(int(parts[1]), b"oops", "text/plain")
        if head in ("flaky", "unavail", "throttle", "drop") and seen <= int(parts[1]):
            if head == "flaky":
                return self.reply(500, status_obj(500, "internal error", "InternalError"))
            if head == "unavail":
                return self.reply(503, status_obj(503, "unavailable", "ServiceUnavailable"))
            if head == "throttle":
                return self.reply(429, status_obj(429, "too many requests", "TooManyRequests"),
                                  headers=[("Retry-After", "1")])
            self.close_connection = True
            return None
        if head in ("flaky", "unavail", "throttle", "drop"):
            return self.reply(200, pod(head, seen))
        if head == "slow":
            time.sleep(int(parts[1]) / 1000)
            return self.reply(200, pod("slow", 1))
        if head == "big":
            mb = int(parts[1])
            if parts[2] == "cl":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(mb << 20))
                self.end_headers()
                self.wfile.write(b"[" + b" " * 65536)
                self.close_connection = True
                return None
            self.start_chunked()
            self.chunk(b"[")
            block = b" " * (1 << 20)
            for _ in range(mb):
                self.chunk(block)
            self.chunk(b"]")
            return self.end_chunked()
        return self.reply(404, status_obj(404, "no such path", "NotFound"))

    def watch(self, name, query):
        """Streams of watch events, a line each, split across writes."""
        if name == "gone-reply":
            return self.reply(410, status_obj(410, "too old resource version: 1 (5)", "Expired"))
        if name == "forbidden":
            return self.reply(403, status_obj(403, "pods is forbidden: no", "Forbidden"))
        self.start_chunked()
        if name == "events":
            added = pod("a", 10)
            added["metadata"]["annotations"] = {"query": query}
            self.event("ADDED", added)
            line = json.dumps({"type": "MODIFIED", "object": pod("a", 11)}) + "\n"
            for i in range(0, len(line), 7):  # one event over many writes
                self.chunk(line[i:i + 7])
                time.sleep(0.002)
            # two events in one write
            self.chunk(json.dumps({"type": "BOOKMARK", "object": pod("", 12)}) + "\n" +
                       json.dumps({"type": "DELETED", "object": pod("a", 13)}) + "\r\n\n")
            self.chunk(json.dumps({"type": "BOOKMARK", "object": pod("", 14)}) + "\n")
            return self.end_chunked()
        if name == "gone-event":
            self.event("ADDED", pod("a", 20))
            self.event("ERROR", status_obj(410, "too old resource version: 1 (20)", "Expired"))
            return self.end_chunked()
        if name == "error-event":
            self.event("ERROR", status_obj(500, "etcd is sad", "InternalError"))
            return self.end_chunked()
        if name == "garbage":
            self.chunk("this is not json\n")
            return self.end_chunked()
        if name == "stall":
            self.event("ADDED", pod("a", 30))
            time.sleep(30)
            return self.end_chunked()
        if name == "huge":
            self.chunk('{"type":"ADDED","object":{"metadata":{"name":"')
            block = "x" * (1 << 20)
            for _ in range(20):
                self.chunk(block)
            return self.end_chunked()
        if name == "cut":
            self.event("ADDED", pod("a", 40))
            self.chunk('{"type":"MODIFIED","obj')
            self.close_connection = True
            return None
        # forever: an event every 50 ms until the client goes
        rv = 100
        while True:
            rv += 1
            self.event("MODIFIED", pod("a", rv))
            time.sleep(0.05)

    def proxy(self, parts, body):
        i = parts.index("proxy")
        podport = parts[i - 1]
        rest = "/" + "/".join(parts[i + 1:])
        if podport.startswith("gone:"):
            return self.reply(404, status_obj(404, 'pods "gone" not found', "NotFound"))
        if rest == "/health":
            return self.reply(200, b'{"status":"ok"}')
        if rest == "/echo":
            return self.reply(200, body, self.headers.get("Content-Type", "none"))
        if rest == "/fail":
            return self.reply(500, b'{"error":"runner exploded"}')
        if rest == "/big":
            self.start_chunked()
            for _ in range(4):
                self.chunk(b"x" * (512 << 10))
            return self.end_chunked()
        return self.reply(404, b'{"error":"no such route"}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) > 2 and sys.argv[1] == "--tls":
        d = sys.argv[2]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d + "/server.crt", d + "/server.key")
        ctx.load_verify_locations(d + "/ca.crt")
        ctx.verify_mode = ssl.CERT_OPTIONAL
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
