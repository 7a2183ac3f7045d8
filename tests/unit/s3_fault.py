#!/usr/bin/python3
"""A small S3 that fails on purpose, for tests/unit/test_s3.c. It keeps
objects in memory and answers path-style requests; the bucket's name says
how it misbehaves:

  ok-*      a plain S3
  flaky-*   the first request of each method and path: 500 InternalError
  broken-*  every request but for the bucket: 500 InternalError
  slowdown-* the first two of each: 503 SlowDown
  denied-*  403 AccessDenied, always
  nobucket-* 404 NoSuchBucket, always
  slow-*    GET of an object answers after 3 s
  dropput-* PUT of an object: half its body read, then the connection closed
  dropget-* GET of an object: its headers and half its bytes, then closed
  verify-*  a plain S3 that checks every request's signature (key S3RVER,
            secret S3RVER) with botocore, as S3 would: the headers that
            SignedHeaders names, the path and query as they came, the
            payload's hash; a mismatch is 403 SignatureDoesNotMatch

GET /_count/<bucket> (unsigned) gives the requests that bucket got.
Only verify-* buckets check signatures.
Prints "listening on 127.0.0.1:PORT" when ready."""
import hashlib
import sys
import threading
import time
from urllib.parse import unquote
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
OBJECTS = {}
UPLOADS = {}
SEEN = {}
COUNT = {}


def signature_ok(handler, body):
    """Recomputes the request's signature with botocore from what came
    on the wire."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = handler.headers.get("Authorization", "")
    try:
        cred = auth.split("Credential=")[1].split(",")[0]
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        region = cred.split("/")[2]
    except IndexError:
        return False
    headers = [(k, v) for k, v in handler.headers.items() if k.lower() in signed]
    req = AWSRequest(method=handler.command,
                     url="http://%s%s" % (handler.headers["Host"], handler.path),
                     data=body)
    for k, v in headers:
        req.headers[k] = v
    signer = S3SigV4Auth(Credentials("S3RVER", "S3RVER"), "s3", region)
    req.context["timestamp"] = handler.headers.get("X-Amz-Date", "")
    sent_hash = handler.headers.get("X-Amz-Content-SHA256")
    signer._modify_request_before_signing(req)
    if req.headers["X-Amz-Content-SHA256"] != sent_hash:
        return False
    sts = signer.string_to_sign(req, signer.canonical_request(req))
    return auth.endswith("Signature=" + signer.signature(sts, req))


def error_xml(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><RequestId>1</RequestId></Error>" % (code, message)).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def fail(self, status, code, message):
        self.reply(status, error_xml(code, message), [("Content-Type", "application/xml")])

    def body_cached(self):
        self.cached = self.body()
        return self.cached

    def body(self):
        if getattr(self, "cached", None) is not None:
            data, self.cached = self.cached, None
            return data
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def drop(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass

    def first(self, bucket, times):
        """Whether this method and path came fewer than times times."""
        with LOCK:
            k = (self.command, self.path)
            SEEN[k] = SEEN.get(k, 0) + 1
            return SEEN[k] <= times

    def handle_any(self):
        path = unquote(self.path.split("?", 1)[0])
        parts = path.lstrip("/").split("/", 1)
        bucket, key = parts[0], parts[1] if len(parts) > 1 else ""
        host = self.headers.get("Host", "")
        if ".localhost" in host:  # virtual-hosted: <bucket>.localhost:PORT
            bucket, key = host.split(".localhost")[0], path.lstrip("/")
        if bucket == "_count":
            self.reply(200, str(COUNT.get(key, 0)).encode())
            return
        with LOCK:
            COUNT[bucket] = COUNT.get(bucket, 0) + 1
        kind = bucket.split("-", 1)[0]
        self.cached = None
        if kind == "verify" and not signature_ok(self, self.body_cached()):
            self.fail(403, "SignatureDoesNotMatch", "The request signature we calculated "
                      "does not match the signature you provided.")
            return
        if kind == "denied":
            self.body()
            self.fail(403, "AccessDenied", "Access Denied")
            return
        if kind == "nobucket":
            self.body()
            self.fail(404, "NoSuchBucket", "The specified bucket does not exist")
            return
        if kind == "flaky" and self.first(bucket, 1):
            self.body()
            self.fail(500, "InternalError", "We encountered an internal error")
            return
        if kind == "broken" and key:
            self.body()
            self.fail(500, "InternalError", "We encountered an internal error")
            return
        if kind == "slowdown" and self.first(bucket, 2):
            self.body()
            self.fail(503, "SlowDown", "Please reduce your request rate.")
            return
        if not key:
            self.body()
            if self.command == "GET" and "list-type=2" in self.path:
                self.list_objects(bucket)
                return
            self.reply(200)
            return
        self.object(kind, bucket, key)

    def list_objects(self, bucket):
        """ListObjectsV2, two keys a page, to make clients follow
        NextContinuationToken."""
        from urllib.parse import parse_qs
        from xml.sax.saxutils import escape
        q = parse_qs(self.path.partition("?")[2], keep_blank_values=True)
        prefix = q.get("prefix", [""])[0]
        after = q.get("continuation-token", [""])[0]
        with LOCK:
            keys = sorted(k for b, k in OBJECTS if b == bucket and k.startswith(prefix))
        keys = [k for k in keys if k > after]
        page, more = keys[:2], len(keys) > 2
        xml = "<ListBucketResult><IsTruncated>%s</IsTruncated>" % ("true" if more else "false")
        xml += "".join("<Contents><Key>%s</Key></Contents>" % escape(k) for k in page)
        if more:
            xml += "<NextContinuationToken>%s</NextContinuationToken>" % escape(page[-1])
        self.reply(200, (xml + "</ListBucketResult>").encode())

    def multipart(self, bucket, key, query):
        """The multipart upload's three calls and its abort; True when
        the request was one of them."""
        q = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if self.command == "POST" and "uploads" in q:
            with LOCK:
                UPLOADS[str(len(UPLOADS) + 1)] = {}
                uid = str(len(UPLOADS))
            self.reply(200, ("<InitiateMultipartUploadResult><UploadId>%s</UploadId>"
                             "</InitiateMultipartUploadResult>" % uid).encode())
        elif "uploadId" in q and self.command == "PUT":
            data = self.body()
            with LOCK:
                UPLOADS[q["uploadId"]][int(q["partNumber"])] = data
            self.reply(200, headers=[("ETag", '"%s"' % hashlib.md5(data).hexdigest())])
        elif "uploadId" in q and self.command == "POST":
            self.body()
            with LOCK:
                parts = UPLOADS.pop(q["uploadId"])
                OBJECTS[(bucket, key)] = b"".join(parts[n] for n in sorted(parts))
            self.reply(200, b"<CompleteMultipartUploadResult/>")
        elif "uploadId" in q and self.command == "DELETE":
            with LOCK:
                UPLOADS.pop(q["uploadId"], None)
            self.reply(204)
        else:
            return False
        return True

    def object(self, kind, bucket, key):
        if self.multipart(bucket, key, self.path.partition("?")[2]):
            return
        if self.command == "PUT":
            if kind == "dropput":
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n // 2)
                self.drop()
                return
            data = self.body()
            with LOCK:
                OBJECTS[(bucket, key)] = data
            self.reply(200, headers=[("ETag", '"%s"' % hashlib.md5(data).hexdigest())])
            return
        if self.command == "DELETE":
            with LOCK:
                OBJECTS.pop((bucket, key), None)
            self.reply(204)
            return
        with LOCK:
            data = OBJECTS.get((bucket, key))
        if data is None:
            self.fail(404, "NoSuchKey", "The specified key does not exist.")
            return
        if kind == "slow" and self.command == "GET":
            time.sleep(3)
        if kind == "dropget" and self.command == "GET":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.drop()
            return
        self.reply(200, data)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
