#!/usr/bin/env python3
"""A container registry for tests: the part of the OCI distribution API
that `podman push` uses (blob uploads, monolithic or chunked, and manifest
PUTs), in memory, over plain HTTP on 127.0.0.1. Prints its port, then
serves until killed. Each manifest pushed is logged to --log as
"NAME:TAG sha256:DIGEST", the digest the registry computed itself."""
import argparse, hashlib, http.server, re, threading, uuid

blobs, uploads, lock = {}, {}, threading.Lock()  # uploads: bytearrays


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def reply(self, code, headers=(), body=b''):
        self.send_response(code)
        self.send_header('Docker-Distribution-API-Version', 'registry/2.0')
        self.send_header('Content-Length', str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def body(self):
        if self.headers.get('Transfer-Encoding', '') == 'chunked':
            out = bytearray()
            while True:
                n = int(self.rfile.readline().strip(), 16)
                out += self.rfile.read(n)
                self.rfile.readline()
                if n == 0:
                    return bytes(out)
        return self.rfile.read(int(self.headers.get('Content-Length') or 0))

    def do_GET(self):
        if self.path == '/v2/':
            return self.reply(200, body=b'{}')
        self.reply(404)

    def do_HEAD(self):
        m = re.match(r'/v2/(.+)/blobs/(sha256:[0-9a-f]+)$', self.path)
        if m and m.group(2) in blobs:
            return self.reply(200, [('Docker-Content-Digest', m.group(2))],
                              blobs[m.group(2)])
        self.reply(404)

    def do_POST(self):
        m = re.match(r'/v2/(.+)/blobs/uploads/', self.path)
        if not m:
            return self.reply(404)
        self.body()
        u = str(uuid.uuid4())
        with lock:
            uploads[u] = bytearray()
        self.reply(202, [('Location', '/v2/%s/blobs/uploads/%s' % (m.group(1), u)),
                         ('Range', '0-0'), ('Docker-Upload-UUID', u)])

    def do_PATCH(self):
        m = re.match(r'/v2/(.+)/blobs/uploads/([^?]+)', self.path)
        if not m or m.group(2) not in uploads:
            return self.reply(404)
        with lock:
            uploads[m.group(2)] += self.body()
            n = len(uploads[m.group(2)])
        self.reply(202, [('Location', self.path), ('Range', '0-%d' % max(n - 1, 0)),
                         ('Docker-Upload-UUID', m.group(2))])

    def do_PUT(self):
        m = re.match(r'/v2/(.+)/blobs/uploads/([^?]+)\?.*digest=(sha256%3A|sha256:)([0-9a-f]+)',
                     self.path)
        if m and m.group(2) in uploads:
            data = bytes(uploads.pop(m.group(2)) + self.body())
            digest = 'sha256:' + m.group(4)
            if 'sha256:' + hashlib.sha256(data).hexdigest() != digest:
                return self.reply(400, body=b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            blobs[digest] = data
            return self.reply(201, [('Location', '/v2/%s/blobs/%s' % (m.group(1), digest)),
                                    ('Docker-Content-Digest', digest)])
        m = re.match(r'/v2/(.+)/manifests/([^/]+)$', self.path)
        if m:
            data = self.body()
            digest = 'sha256:' + hashlib.sha256(data).hexdigest()
            with lock, open(args.log, 'a') as f:
                f.write('%s:%s %s\n' % (m.group(1), m.group(2), digest))
            return self.reply(201, [('Location', '/v2/%s/manifests/%s' % (m.group(1), digest)),
                                    ('Docker-Content-Digest', digest)])
        self.reply(404)


p = argparse.ArgumentParser()
p.add_argument('--log', required=True)
args = p.parse_args()
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
