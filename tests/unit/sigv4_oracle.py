#!/usr/bin/python3
"""The SigV4 oracle of tests/unit/test_sigv4.c: N random S3 requests
(methods, keys with spaces, UTF-8 and reserved characters, queries, header
sets, regions, session tokens, signed and unsigned payloads), each signed
by Debian's botocore (S3SigV4Auth) at a pinned time. Prints them as a JSON
array; test_sigv4 signs each with kcr and compares the Authorization.

Usage: sigv4_oracle.py N SEED   (run with /usr/bin/python3: botocore)"""
import base64
import json
import random
import sys
import types
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY_CHARS = (
    "abcXYZ019-_.~ !\"#$%&'()*+,:;<=>?@[\\]^`{|}=/"
    "\u00e9\u00fc\u4e2d\u6587\u1234\U0001F600"
)
HEADER_NAMES = ["Content-Type", "Range", "If-None-Match", "x-amz-meta-a",
                "X-Amz-Meta-Mixed", "Content-Disposition", "x-amz-acl",
                "Cache-Control", "content-md5", "X-Amz-Storage-Class"]
VALUE_CHARS = "abcABC019 \t-_.,;:/\"'()=+*&%$#@!"
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "auto", "minio"]


def rand_text(rng, chars, lo, hi):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def one(rng):
    method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
    bucket = rng.choice(["kcr-files", "b", "my.bucket-1"])
    key = rand_text(rng, KEY_CHARS, 0, 40)
    path = "/" + bucket + ("/" + key if key or rng.random() < 0.5 else "")
    query = []
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        name = rng.choice(["list-type", "prefix", "continuation-token",
                           "uploadId", "partNumber", "delete", "max-keys",
                           rand_text(rng, KEY_CHARS, 1, 8)])
        value = rng.choice(["", "2", rand_text(rng, KEY_CHARS, 0, 20)])
        query.append([name, value])
    headers = []
    for _ in range(rng.randint(0, 4)):
        headers.append([rng.choice(HEADER_NAMES),
                        rand_text(rng, VALUE_CHARS, 0, 24)])
    headers = [h for h in headers if h[1].strip(" \t")]
    secure = rng.random() < 0.5
    port = rng.choice(["", ":9000", ":4569", ":8443"])
    host = rng.choice(["127.0.0.1", "s3.amazonaws.com", "minio.local"]) + port
    token = rng.choice([None, None, "FQoGZXIvYXdzE" + rand_text(rng, "abcXYZ019+/=", 10, 60)])
    unsigned = secure and rng.random() < 0.5
    body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 100])))
    t = rng.randint(1262304000, 2000000000)
    creds = Credentials("AK" + rand_text(rng, "ABCDEF0123", 8, 18),
                        rand_text(rng, "abcXYZ019+/", 20, 40), token)
    region = rng.choice(REGIONS)

    url = ("https://" if secure else "http://") + host + quote(path, safe="/~")
    req = AWSRequest(method=method, url=url, headers=None, data=body)
    for name, value in headers:
        req.headers[name] = value
    req.params = [(n, v) for n, v in query]
    if unsigned:
        req.context["client_config"] = types.SimpleNamespace(
            s3={"payload_signing_enabled": False})
    auth = S3SigV4Auth(creds, "s3", region)
    # botocore's add_auth, with the time pinned instead of utcnow()
    import datetime
    req.context["timestamp"] = datetime.datetime.utcfromtimestamp(t).strftime("%Y%m%dT%H%M%SZ")
    auth._modify_request_before_signing(req)
    cr = auth.canonical_request(req)
    sts = auth.string_to_sign(req, cr)
    auth._inject_signature_to_request(req, auth.signature(sts, req))

    host_hdr = host
    return {
        "method": method, "url": url, "path": path, "query": query,
        "headers": [["Host", host_hdr]] + headers,
        "region": region, "access_key": creds.access_key,
        "secret_key": creds.secret_key, "token": token, "time": t,
        "body_b64": None if unsigned else base64.b64encode(body).decode(),
        "authorization": req.headers["Authorization"],
    }


def main():
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    json.dump([one(rng) for _ in range(n)], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
