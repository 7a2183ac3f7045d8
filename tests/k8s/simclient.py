"""Test helpers on a running simulator's DIR: the official Python client
configured from DIR's kubeconfigs, and raw HTTPS requests (for what the
client hides: Status bodies, watch streams, tokens).

    import simclient as sc
    core = sc.core(D)                  # CoreV1Api as the admin
    core = sc.core(D, "sa")            # ... as system:serviceaccount:kcr:kcr
    code, hdrs, body = sc.raw(D, "GET", "/api/v1/namespaces/kcr/pods")
"""

import http.client
import json
import os
import ssl

KUBECONFIGS = {"admin": "kubeconfig", "cert": "kubeconfig-cert", "sa": "kubeconfig-sa"}


def api_client(d, who="admin"):
    from kubernetes import client, config
    cfg = client.Configuration()
    config.load_kube_config(config_file=os.path.join(d, KUBECONFIGS[who]),
                            client_configuration=cfg)
    return client.ApiClient(cfg)


def core(d, who="admin"):
    from kubernetes import client
    return client.CoreV1Api(api_client(d, who))


def batch(d, who="admin"):
    from kubernetes import client
    return client.BatchV1Api(api_client(d, who))


def rbac(d, who="admin"):
    from kubernetes import client
    return client.RbacAuthorizationV1Api(api_client(d, who))


def token(d, user="sim-admin"):
    with open(os.path.join(d, "tokens")) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 1 and parts[1] == user:
                return parts[0]
    return None


def port(d):
    with open(os.path.join(d, "port")) as f:
        return int(f.read())


def connect(d, timeout=10):
    ctx = ssl.create_default_context(cafile=os.path.join(d, "pki", "ca.crt"))
    return http.client.HTTPSConnection("127.0.0.1", port(d), context=ctx, timeout=timeout)


def raw(d, method, path, body=None, tok="admin", ctype="application/json", timeout=10):
    """(status, headers dict with lower-case names, body bytes); tok is
    'admin', 'sa', a token, or None for none."""
    if tok == "admin":
        tok = token(d)
    elif tok == "sa":
        tok = token(d, "system:serviceaccount:kcr:kcr")
    c = connect(d, timeout)
    headers = {"Accept": "application/json"}
    if tok:
        headers["Authorization"] = "Bearer " + tok
    if body is not None:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        headers["Content-Type"] = ctype
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def watch_lines(d, path, tok="admin", timeout=10):
    """The events of a watch (path with its query), until the server ends it."""
    if tok == "admin":
        tok = token(d)
    c = connect(d, timeout)
    c.request("GET", path, headers={"Authorization": "Bearer " + tok})
    r = c.getresponse()
    out = []
    while True:
        line = r.readline()
        if not line:
            break
        if line.strip():
            out.append(json.loads(line))
    return r.status, out
