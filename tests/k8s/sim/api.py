"""The HTTPS front: routing of /api and /apis paths the way the real server
routes them, authentication and RBAC on every request, the audit log,
discovery, watches, the control API under /sim, and the replies' Status
objects.

HTTP/1.1 with keep-alive, as kubectl and client-go expect; watches and
followed logs are chunked streams, as on a real server.
"""

import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import auth as authmod
from . import resources as R
from . import selectors as sel
from . import tables
from .registry import StatusError, bad_request, forbidden, not_found

SERVER_VERSION = {
    "major": "1", "minor": "30", "gitVersion": "v1.30.0-kcr-sim", "gitCommit":
    "0000000000000000000000000000000000000000", "gitTreeState": "clean", "buildDate":
    "2026-12-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc", "platform": "linux/amd64"}

BOOKMARK_INTERVAL = 1.0


class Sim:
    """What every request handler shares."""

    def __init__(self, d, store, registry, tokens, kubelet=None, port=0):
        self.dir = d
        self.store = store
        self.registry = registry
        self.tokens = tokens
        self.kubelet = kubelet
        self.port = port
        self.faults = []
        self.fault_lock = threading.Lock()
        self.stall_until = 0.0
        self.audit_lock = threading.Lock()
        self.audit_file = open(os.path.join(d, "audit.jsonl"), "a", buffering=1)
        self.manifest_lock = threading.Lock()
        mdir = os.path.join(d, "manifests")
        os.makedirs(mdir, exist_ok=True)
        self.manifest_n = max([int(f.split("-")[0]) for f in os.listdir(mdir)
                               if f.split("-")[0].isdigit()] or [0])
        self.shutting_down = False

    def audit(self, rec):
        with self.audit_lock:
            self.audit_file.write(json.dumps(rec, sort_keys=True) + "\n")

    def save_manifest(self, kind, body, suffix=""):
        with self.manifest_lock:
            self.manifest_n += 1
            p = os.path.join(self.dir, "manifests", "%04d-%s%s.json" % (
                self.manifest_n, kind, suffix))
        with open(p, "wb") as f:
            f.write(body)

    def take_fault(self, method, path):
        with self.fault_lock:
            for f in self.faults:
                if f["count"] <= 0:
                    continue
                if not path.startswith(f.get("path_prefix") or "/"):
                    continue
                if f.get("method") and f["method"].upper() != method:
                    continue
                f["count"] -= 1
                return dict(f)
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, sim, ctx):
        self.sim = sim
        self.ctx = ctx
        super().__init__(addr, Handler)



class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-sim"
    sys_version = ""

    def setup(self):
        # the TLS handshake runs in this connection's thread, never in the
        # accept loop, so one slow client cannot hold up the others
        self.request.settimeout(30)
        self.request = self.server.ctx.wrap_socket(self.request, server_side=True)
        self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    # ---- plumbing ------------------------------------------------------------

    @property
    def sim(self):
        return self.server.sim

    def read_body(self):
        if getattr(self, "_body", None) is not None:
            return self._body
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            for chunk in self.read_chunks():
                data += chunk
            self._body = data
        else:
            self._body = self.rfile.read(n) if n else b""
        return self._body

    def read_chunks(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            data = self.rfile.read(size)
            self.rfile.readline()
            yield data

    def json_body(self):
        body = self.read_body()
        try:
            return json.loads(body or b"null")
        except ValueError as e:
            raise bad_request("the object provided is unrecognized (must be of type %s): "
                              "couldn't get version/kind; json parse error: %s" % (
                                  "object", e))

    def send_json(self, code, obj, headers=None):
        data = json.dumps(obj).encode() + b"\n"
        self.code = code
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self.audit_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_text(self, code, data, ctype="text/plain"):
        self.code = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error_status(self, e):
        self.send_json(e.code, e.status(), e.headers)

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ---- the request ---------------------------------------------------------

    def dispatch(self, method):
        self.audit_id = str(uuid.uuid4())
        self.code = 0
        self._body = None
        self.warnings = []  # a kept-alive connection's last request had its own
        self.body_consumed = False
        u = urllib.parse.urlsplit(self.path)
        self.url_path = u.path
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(
            u.query, keep_blank_values=True).items()}
        self.raw_query = u.query
        self.rec = {"ts": time.time(), "verb": method.lower(), "apiGroup": "", "resource": "",
                    "subresource": "", "namespace": "", "name": "", "path": u.path,
                    "method": method}
        self.user = None
        try:
            self.user = self.authenticate()
            if self.user is None:
                raise StatusError(401, "Unauthorized", "Unauthorized")
            self.rec["user"] = self.user.name
            self.rec["groups"] = self.user.groups
            self.route(method, u.path)
        except StatusError as e:
            if not self.code:
                self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # a bug of ours must be a 500, never a hang
            import traceback
            traceback.print_exc()
            if not self.code:
                self.send_error_status(StatusError(500, "InternalError",
                                                   "Internal error occurred: %s" % e))
        finally:
            self.drain()
            if self.user is None:
                self.rec["user"] = ""
                self.rec["groups"] = []
            self.rec["code"] = self.code
            if not self.rec.get("nolog"):
                self.rec.pop("nolog", None)
                self.sim.audit(self.rec)

    def drain(self):
        """A reply sent before the request's body was read (a 401, a 403, a
        fault) must not leave the body on a kept-alive connection, where it
        would be read as the next request."""
        if self._body is not None or self.body_consumed:
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1 << 20:
            self.close_connection = True
        elif n:
            try:
                self.rfile.read(n)
            except OSError:
                self.close_connection = True

    def authenticate(self):
        """Bearer token, else the client certificate, else anonymous. A
        token the server does not know is a 401, not anonymous."""
        h = self.headers.get("Authorization", "")
        user = None
        if h.lower().startswith("bearer "):
            user = self.sim.tokens.lookup(h[7:].strip())
            if user is None:
                return None
        if user is None:
            cert = self.request.getpeercert() if hasattr(self.request, "getpeercert") else None
            if cert:
                user = authmod.user_from_cert(cert)
        if user is None:
            user = authmod.ANONYMOUS
        authmod.sa_groups(user)
        imp = self.headers.get("Impersonate-User")
        if imp:
            ok, _ = authmod.authorize(self.sim.store, user, {
                "verb": "impersonate", "group": "", "resource": "users", "name": imp,
                "namespace": ""})
            if not ok:
                raise StatusError(403, "Forbidden", 'users "%s" is forbidden: User "%s" cannot '
                                  'impersonate resource "users" in API group "" at the cluster '
                                  'scope' % (imp, user.name), {"name": imp, "kind": "users"})
            groups = self.headers.get_all("Impersonate-Group") or []
            user = authmod.sa_groups(authmod.User(imp, groups))
        return user

    def authorize(self, attrs, res=None):
        ok, _ = authmod.authorize(self.sim.store, self.user, attrs)
        if ok:
            return
        u = self.user.name
        if attrs.get("path") is not None:
            raise StatusError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"' % (
                u, attrs["verb"], attrs["path"]), {})
        rname = attrs["resource"] + ("/" + attrs["subresource"] if attrs.get("subresource")
                                     else "")
        where = ('in the namespace "%s"' % attrs["namespace"] if attrs.get("namespace")
                 else "at the cluster scope")
        msg = 'User "%s" cannot %s resource "%s" in API group "%s" %s' % (
            u, attrs["verb"], rname, attrs["group"], where)
        raise forbidden(res, attrs.get("name"), msg)

    def route(self, method, path):
        if path.startswith("/sim/"):
            return self.control(method, path)
        fault = None
        if not path.startswith(("/healthz", "/livez", "/readyz")):
            fault = self.sim.take_fault(method, path)
        if fault:
            self.inject(fault, path)
            return
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis") or (
                parts[0] == "api" and len(parts) < 2) or (parts[0] == "apis" and len(parts) < 3):
            return self.non_resource(method, path, parts)
        return self.resource(method, parts)

    def inject(self, f, path):
        code = int(f.get("status", 500))
        reason = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                  504: "Timeout", 409: "Conflict", 404: "NotFound"}.get(code, "InternalError")
        msg = {429: "Too many requests, please try again later.",
               500: "Internal error occurred: injected by the simulator",
               503: "the server is currently unable to handle the request",
               504: "Timeout: request did not complete within the allotted timeout"}.get(
                   code, "injected by the simulator")
        headers = {}
        details = None
        if f.get("retry_after") is not None:
            headers["Retry-After"] = str(f["retry_after"])
            details = {"retryAfterSeconds": int(f["retry_after"])}
        elif code == 429:
            headers["Retry-After"] = "1"
            details = {"retryAfterSeconds": 1}
        self.rec["fault"] = True
        self.send_error_status(StatusError(code, reason, msg, details, headers))

    # ---- non-resource URLs ---------------------------------------------------

    def non_resource(self, method, path, parts):
        self.rec["verb"] = {"GET": "get", "HEAD": "head", "POST": "post", "PUT": "put",
                            "PATCH": "patch", "DELETE": "delete"}.get(method, "get")
        self.authorize({"verb": self.rec["verb"], "path": path})
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
                ("/healthz/", "/livez/", "/readyz/")):
            return self.send_text(200, b"ok", "text/plain; charset=utf-8")
        if path.rstrip("/") == "/version":
            return self.send_json(200, SERVER_VERSION)
        if path.rstrip("/") == "/api":
            return self.send_json(200, {
                "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % self.sim.port}]})
        if path.rstrip("/") == "/apis":
            return self.send_json(200, self.group_list())
        if path.startswith("/openapi"):
            return self.openapi(path)
        raise StatusError(404, "NotFound", "the server could not find the requested resource",
                          {})

    def group_list(self):
        gl = []
        for g, versions in R.groups().items():
            if not g:
                continue
            vs = [{"groupVersion": g + "/" + v, "version": v} for v in versions]
            gl.append({"name": g, "versions": vs, "preferredVersion": vs[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": gl}

    def openapi(self, path):
        """An OpenAPI v3 index that says every kind's PATCH takes fieldValidation,
        which is how kubectl decides to ask the server to validate fields
        instead of fetching the whole schema (that the simulator has not)."""
        if path.rstrip("/") == "/openapi/v3":
            paths = {}
            for g, versions in R.groups().items():
                for v in versions:
                    gv = "api/" + v if not g else "apis/%s/%s" % (g, v)
                    paths[gv] = {"serverRelativeURL": "/openapi/v3/%s?hash=0" % gv}
            return self.send_json(200, {"paths": paths})
        if path.startswith("/openapi/v3/"):
            gv = path[len("/openapi/v3/"):].strip("/")
            parts = gv.split("/")
            if parts[0] == "api":
                group, version = "", parts[1] if len(parts) > 1 else ""
            else:
                group, version = (parts[1], parts[2]) if len(parts) > 2 else ("", "")
            doc_paths = {}
            for r in R.RESOURCES:
                if r.group != group or r.version != version:
                    continue
                base = "/" + gv + ("/namespaces/{namespace}" if r.namespaced else "")
                gvk = {"group": r.group, "version": r.version, "kind": r.kind}
                params = [{"name": "fieldValidation", "in": "query", "schema": {"type":
                                                                                "string"}}]
                doc_paths["%s/%s" % (base, r.plural)] = {
                    "post": {"x-kubernetes-group-version-kind": gvk, "parameters": params}}
                doc_paths["%s/%s/{name}" % (base, r.plural)] = {
                    "put": {"x-kubernetes-group-version-kind": gvk, "parameters": params},
                    "patch": {"x-kubernetes-group-version-kind": gvk, "parameters": params}}
            if not doc_paths:
                raise StatusError(404, "NotFound", "the server could not find the requested "
                                  "resource", {})
            return self.send_json(200, {"openapi": "3.0.0", "info": {"title": "Kubernetes",
                                                                    "version": "v1.30.0"},
                                        "paths": doc_paths, "components": {"schemas": {}}})
        raise StatusError(404, "NotFound", "the server could not find the requested resource",
                          {})

    # ---- resources -------------------------------------------------------------

    def resource(self, method, parts):
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        gv_res = [r for r in R.RESOURCES if r.group == group and r.version == version]
        if not gv_res:
            self.rec["verb"] = "get"
            self.authorize({"verb": "get", "path": self.url_path})
            raise StatusError(404, "NotFound", "the server could not find the requested resource",
                              {})
        if not rest:
            self.rec["verb"] = "get"
            self.authorize({"verb": "get", "path": self.url_path})
            if group == "" and parts[0] == "api" and len(parts) == 1:
                pass
            return self.send_json(200, {
                "kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": version if not group else group + "/" + version,
                "resources": [e for r in gv_res for e in r.discovery()]})
        watch_prefix = False
        if rest[0] == "watch":
            watch_prefix, rest = True, rest[1:]
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            cand = R.BY_GVR.get((group, version, rest[2]))
            if cand is not None and cand.namespaced:
                ns, rest = rest[1], rest[2:]
        res = R.BY_GVR.get((group, version, rest[0])) if rest else None
        if res is None:
            raise StatusError(404, "NotFound", "the server could not find the requested resource",
                              {})
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        subrest = "/".join(rest[3:])
        if sub and sub not in res.subresources:
            raise StatusError(404, "NotFound", "the server could not find the requested resource",
                              {})
        port = None
        if sub == "proxy" and ":" in name:
            name, port = name.split(":", 1)
            if ":" in port:  # scheme:name:port
                port = port.split(":")[-1]
        self.rec.update({"apiGroup": group, "resource": res.plural, "subresource": sub,
                         "namespace": ns, "name": name})
        watch = watch_prefix or self.query.get("watch") in ("true", "1", "True")
        if sub == "proxy":
            verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update",
                    "PATCH": "patch", "DELETE": "delete", "OPTIONS": "get"}.get(method, "get")
        elif method in ("GET", "HEAD"):
            verb = "watch" if watch else ("get" if name else "list")
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on "
                              "the requested resource", {})
        self.rec["verb"] = verb
        if not res.namespaced and ns:
            raise StatusError(404, "NotFound", "the server could not find the requested resource",
                              {})
        attrs = {"verb": verb, "group": group, "resource": res.plural, "subresource": sub,
                 "namespace": ns, "name": name}
        if not res.stored:
            return self.review(res, method)
        self.authorize(attrs, res)
        if verb not in res.verbs and not sub:
            raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on "
                              "the requested resource", {})
        if res.namespaced and not ns and name:
            raise StatusError(404, "NotFound", "the server could not find the requested resource",
                              {})
        if sub == "proxy":
            return self.sim.kubelet.proxy(self, ns, name, port, method, subrest)
        if sub == "log":
            return self.sim.kubelet.logs(self, ns, name)
        dry = self.query.get("dryRun") == "All"
        reg = self.sim.registry
        if verb == "watch":
            return self.watch(res, ns, name)
        if verb == "list":
            return self.list(res, ns)
        if verb == "get":
            o = self.sim.store.get(res.key, ns, name)
            if o is None:
                raise not_found(res, name)
            return self.send_obj(200, res, o)
        if verb == "create":
            if name:
                raise StatusError(405, "MethodNotAllowed", "the server does not allow this "
                                  "method on the requested resource", {})
            body = self.read_body()
            obj = self.json_body()
            self.check_fields(res, obj)
            if not dry:
                self.sim.save_manifest(res.kind, body)
            o = reg.create(res, ns, obj, self.user, dry)
            self.rec["name"] = o["metadata"]["name"]
            return self.send_obj(201, res, o)
        if verb == "update":
            body = self.read_body()
            obj = self.json_body()
            self.check_fields(res, obj)
            if not dry:
                self.sim.save_manifest(res.kind, body)
            o = reg.update(res, ns, name, obj, sub or None, dry)
            return self.send_obj(200, res, o)
        if verb == "patch":
            body = self.read_body()
            ctype = self.headers.get("Content-Type", "")
            try:
                p = json.loads(body or b"null")
            except ValueError:
                p = None
            if isinstance(p, dict):
                self.check_fields(res, p, patch=True)
            if not dry:
                self.sim.save_manifest(res.kind, body, "-patch")
            before = self.sim.store.get(res.key, ns, name) if res.key == "pods" else None
            o = reg.patch(res, ns, name, ctype, body, sub or None, dry)
            if before is not None and not dry:
                old = (before["metadata"].get("labels") or {}).get("kcr.dev/state")
                new = (o["metadata"].get("labels") or {}).get("kcr.dev/state")
                if new == "claimed" and old != "claimed":
                    self.rec["claim"] = True
            return self.send_obj(200, res, o)
        if verb == "delete":
            opts = self.delete_options()
            code, o = reg.delete(res, ns, name, opts, dry)
            if o.get("kind") == "Status":
                return self.send_json(code, o)
            return self.send_obj(code, res, o)
        if verb == "deletecollection":
            opts = self.delete_options()
            items = self.select(res, ns)
            out = []
            for it in items:
                try:
                    reg.delete(res, it["metadata"].get("namespace", ""), it["metadata"]["name"],
                               opts, dry)
                    out.append(it)
                except StatusError:
                    pass
            return self.send_json(200, {"kind": res.kind + "List", "apiVersion":
                                        res.api_version, "metadata": {
                                            "resourceVersion": str(self.sim.store.rv)},
                                        "items": out})
        raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the "
                          "requested resource", {})

    def check_fields(self, res, obj, patch=False):
        """fieldValidation=Strict|Warn|Ignore on unknown and duplicate fields,
        with python3-kubernetes' models as the schema when installed."""
        mode = self.query.get("fieldValidation", "Warn")
        if mode not in ("Strict", "Warn", "Ignore"):
            raise bad_request('fieldValidation parameter unsupported: "%s"' % mode)
        if mode == "Ignore":
            return
        from . import schema
        unknown = schema.unknown_fields(res.kind, res.api_version, obj)
        if not unknown:
            return
        self.rec["warnings"] = ['unknown field "%s"' % f for f in unknown]
        if mode == "Strict":
            msg = ", ".join('unknown field "%s"' % f for f in unknown)
            raise bad_request('%s in version "%s" cannot be handled as a %s: strict decoding '
                              'error: %s' % (res.kind, res.api_version, res.kind, msg))
        self.warnings = ['299 - "unknown field \\"%s\\""' % f for f in unknown]

    def send_obj(self, code, res, o):
        headers = {}
        for w in getattr(self, "warnings", []) or []:
            headers.setdefault("Warning", w)
        self.warnings = []
        if tables.wants_table(self.headers.get("Accept", "")):
            return self.send_json(code, tables.table(res, [o], self.query), headers)
        return self.send_json(code, o, headers)

    def delete_options(self):
        opts = {}
        body = self.read_body()
        if body.strip():
            try:
                opts = json.loads(body) or {}
            except ValueError:
                raise bad_request("invalid DeleteOptions body")
        if "gracePeriodSeconds" in self.query:
            opts["gracePeriodSeconds"] = int(self.query["gracePeriodSeconds"])
        if "propagationPolicy" in self.query:
            opts["propagationPolicy"] = self.query["propagationPolicy"]
        if "orphanDependents" in self.query:
            opts["orphanDependents"] = self.query["orphanDependents"] == "true"
        return opts

    def selectors(self, res):
        try:
            ls = sel.parse_labels(self.query.get("labelSelector"))
            fs = sel.parse_fields(self.query.get("fieldSelector"), res.key, res.kind)
        except sel.SelectorError as e:
            raise bad_request(str(e))
        return ls, fs

    def matches(self, ls, fs, o):
        return sel.match_labels(ls, o["metadata"].get("labels")) and sel.match_fields(fs, o)

    def select(self, res, ns):
        ls, fs = self.selectors(res)
        items, rv = self.sim.store.list(res.key, ns or None)
        return [o for o in items if self.matches(ls, fs, o)]

    def list(self, res, ns):
        ls, fs = self.selectors(res)
        items, rv = self.sim.store.list(res.key, ns or None)
        items = [o for o in items if self.matches(ls, fs, o)]
        meta = {"resourceVersion": str(rv)}
        cont = self.query.get("continue")
        if cont:
            try:
                tok = json.loads(__import__("base64").urlsafe_b64decode(cont + "=="))
                start, crv = tok["start"], int(tok["rv"])
            except Exception:
                raise bad_request("continue key is not valid: illegal base64 data")
            if crv < self.sim.store.compacted:
                raise StatusError(410, "Expired", "The provided continue parameter is too old to "
                                  "display a consistent list result. You can start a new list "
                                  "without the continue parameter, or use the continue token in "
                                  "this response to retrieve the remainder of the results. "
                                  "Continuing with the provided token results in an inconsistent "
                                  "list - objects that were created, modified, or deleted between"
                                  " the time the first chunk was returned and now may show up in "
                                  "the list.", {})
            items = [o for o in items if _skey(o) > start]
            meta["resourceVersion"] = str(crv)
        limit = int(self.query.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            rest = len(items) - limit
            items = items[:limit]
            tok = json.dumps({"start": _skey(items[-1]), "rv": meta["resourceVersion"]})
            meta["continue"] = __import__("base64").urlsafe_b64encode(
                tok.encode()).decode().rstrip("=")
            meta["remainingItemCount"] = rest
        for o in items:
            # the items of a real list carry no kind or apiVersion
            o.pop("kind", None)
            o.pop("apiVersion", None)
        lst = {"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": meta,
               "items": items}
        if tables.wants_table(self.headers.get("Accept", "")):
            for o in items:
                o["kind"], o["apiVersion"] = res.kind, res.api_version
            t = tables.table(res, items, self.query)
            t["metadata"] = meta
            return self.send_json(200, t)
        return self.send_json(200, lst)

    # ---- watch -----------------------------------------------------------------

    def watch(self, res, ns, name):
        ls, fs = self.selectors(res)
        if name:
            fs.append((lambda o: o["metadata"]["name"], "=", name))
        store = self.sim.store
        rvq = self.query.get("resourceVersion", "")
        try:
            timeout = float(self.query.get("timeoutSeconds") or 0)
        except ValueError:
            raise bad_request("invalid timeoutSeconds")
        if timeout <= 0:
            timeout = 1800 + (time.time() % 1800)  # the server's min-request-timeout spread
        bookmarks = self.query.get("allowWatchBookmarks") in ("true", "1")
        table = tables.wants_table(self.headers.get("Accept", ""))
        self.code = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self.audit_id)
        self.end_headers()
        self.wfile.flush()
        # logged when the stream starts, as the real audit's ResponseStarted
        self.sim.audit(dict(self.rec, user=self.user.name, groups=self.user.groups, code=200))
        self.rec["nolog"] = True
        deadline = time.time() + timeout

        def send(typ, obj):
            if table and typ != "BOOKMARK" and typ != "ERROR":
                obj = tables.table(res, [obj], self.query)
            self.chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")

        def gone(rv):
            send("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure", "message": "too old resource version: %s (%s)" % (
                               rv, store.compacted), "reason": "Expired", "code": 410})

        def visible(o):
            return (not ns or o["metadata"].get("namespace") == ns) and self.matches(ls, fs, o)

        initial_end = self.query.get("sendInitialEvents") == "true"
        with store.lock:
            if rvq in ("", "0") or initial_end:
                # no version (or "any"): the current state first, as ADDED
                items, pos = store.list(res.key, ns or None)
                initial = [o for o in items if self.matches(ls, fs, o)]
            else:
                try:
                    pos = int(rvq)
                except ValueError:
                    raise bad_request("invalid resource version: %s" % rvq)
                initial = []
                if pos < store.compacted:
                    initial = None
        try:
            if initial is None:
                self.stall_wait(deadline)
                gone(rvq)
                self.end_chunks()
                return
            for o in initial:
                self.stall_wait(deadline)
                send("ADDED", o)
            if initial_end:
                # a streaming list (sendInitialEvents): its end is a bookmark
                send("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version, "metadata": {
                    "resourceVersion": str(pos), "annotations": {
                        "k8s.io/initial-events-end": "true"}}})
            last_bm = time.time()
            while (time.time() < deadline or time.time() < self.sim.stall_until) and \
                    not self.sim.shutting_down:
                if time.time() < self.sim.stall_until:
                    # stalled: nothing at all goes out, as from a wedged server
                    time.sleep(0.05)
                    continue
                with store.cond:
                    evs = store.events_after(pos)
                    if evs == []:
                        store.cond.wait(min(0.25, max(0.01, deadline - time.time())))
                        evs = store.events_after(pos)
                if evs is None:
                    gone(pos)
                    break
                for ev in evs:
                    pos = ev.rv
                    if ev.res != res.key:
                        continue
                    now_in = ev.type != "DELETED" and visible(ev.obj)
                    was_in = ev.old is not None and visible(ev.old)
                    if ev.type == "DELETED":
                        if was_in or visible(ev.obj):
                            send("DELETED", ev.obj)
                    elif now_in and (was_in or ev.type == "ADDED"):
                        send(ev.type, ev.obj)
                    elif now_in:
                        send("ADDED", ev.obj)  # it came into the selection
                    elif was_in:
                        send("DELETED", ev.obj)  # it left the selection
                if bookmarks and time.time() - last_bm >= BOOKMARK_INTERVAL and \
                        time.time() < deadline and time.time() >= self.sim.stall_until:
                    send("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version,
                                      "metadata": {"resourceVersion": str(pos)}})
                    last_bm = time.time()
            self.end_chunks()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def stall_wait(self, deadline):
        while time.time() < self.sim.stall_until and time.time() < deadline:
            time.sleep(0.05)

    # ---- reviews -----------------------------------------------------------------

    def review(self, res, method):
        if method != "POST":
            raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on "
                              "the requested resource", {})
        self.rec["verb"] = "create"
        self.authorize({"verb": "create", "group": res.group, "resource": res.plural,
                        "subresource": "", "namespace": "", "name": ""}, res)
        body = self.json_body() or {}
        spec = body.get("spec") or {}
        out = {"kind": res.kind, "apiVersion": res.api_version, "metadata": {
            "creationTimestamp": None}, "spec": spec}
        if res.plural in ("selfsubjectaccessreviews", "subjectaccessreviews"):
            who = self.user
            if res.plural == "subjectaccessreviews":
                who = authmod.sa_groups(authmod.User(spec.get("user", ""),
                                                     spec.get("groups") or []))
            ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
            if ra is not None:
                attrs = {"verb": ra.get("verb", ""), "group": ra.get("group", ""),
                         "resource": ra.get("resource", ""),
                         "subresource": ra.get("subresource", ""),
                         "namespace": ra.get("namespace", ""), "name": ra.get("name", "")}
            elif nra is not None:
                attrs = {"verb": nra.get("verb", ""), "path": nra.get("path", "")}
            else:
                raise StatusError(422, "Invalid", '%s.authorization.k8s.io "" is invalid: '
                                  'spec.resourceAttributes: Invalid value: "null": exactly one of'
                                  ' nonResourceAttributes or resourceAttributes must be specified'
                                  % res.kind, {"group": "authorization.k8s.io",
                                               "kind": res.kind})
            ok, why = authmod.authorize(self.sim.store, who, attrs)
            out["status"] = {"allowed": ok}
            if why:
                out["status"]["reason"] = why
            return self.send_json(201, out)
        if res.plural == "selfsubjectrulesreviews":
            rr, nr = authmod.rules_for(self.sim.store, self.user, spec.get("namespace", ""))
            out["status"] = {"resourceRules": rr, "nonResourceRules": nr, "incomplete": False}
            return self.send_json(201, out)
        if res.plural == "selfsubjectreviews":
            out.pop("spec")
            out["status"] = {"userInfo": {"username": self.user.name,
                                          "groups": self.user.groups}}
            if self.user.uid:
                out["status"]["userInfo"]["uid"] = self.user.uid
            return self.send_json(201, out)
        raise StatusError(404, "NotFound", "the server could not find the requested resource", {})

    # ---- the control API ---------------------------------------------------------

    def control(self, method, path):
        self.rec["verb"] = "sim"
        if not self.user.is_master():
            raise StatusError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"' % (
                self.user.name, method.lower(), path), {})
        if method != "POST":
            raise StatusError(405, "MethodNotAllowed", "POST only", {})
        body = self.json_body() or {}
        sim = self.sim
        if path == "/sim/fault":
            f = {"path_prefix": body.get("path_prefix") or "/", "method": body.get("method") or "",
                 "status": int(body.get("status", 500)), "count": int(body.get("count", 1)),
                 "retry_after": body.get("retry_after")}
            with sim.fault_lock:
                sim.faults = [x for x in sim.faults if x["count"] > 0]
                sim.faults.append(f)
            return self.send_json(200, {"ok": True, "fault": f})
        if path == "/sim/stall-watches":
            sim.stall_until = time.time() + float(body.get("seconds", 5))
            return self.send_json(200, {"ok": True, "until": sim.stall_until})
        if path == "/sim/compact":
            rv = sim.store.compact()
            return self.send_json(200, {"ok": True, "compacted": str(rv)})
        parts = path.split("/")
        if len(parts) == 6 and parts[2] == "pods" and parts[5] == "kill":
            ns, name = parts[3], parts[4]
            if sim.store.get("pods", ns, name) is None:
                raise not_found(R.POD, name)
            ok = sim.kubelet.kill(ns, name, int(body.get("signal", 9)))
            return self.send_json(200, {"ok": ok})
        raise StatusError(404, "NotFound", "no such control endpoint", {})


def _skey(o):
    return o["metadata"].get("namespace", "") + "/" + o["metadata"]["name"]
