"""The cluster's files: the PKI (made once with /usr/bin/openssl, kept
across restarts so clients' kubeconfigs stay valid), the tokens file, the
kubeconfigs and an in-cluster service-account dir."""

import base64
import os
import secrets
import subprocess

OPENSSL = "/usr/bin/openssl" if os.path.exists("/usr/bin/openssl") else "openssl"


def _run(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _key(name, cwd):
    # EC P-256: fast to make, and every Kubernetes client takes it
    _run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name + ".key", cwd=cwd)
    os.chmod(os.path.join(cwd, name + ".key"), 0o600)


def _cert(name, subj, cwd, ext):
    _key(name, cwd)
    _run("req", "-new", "-key", name + ".key", "-subj", subj, "-out", name + ".csr", cwd=cwd)
    with open(os.path.join(cwd, name + ".ext"), "w") as f:
        f.write(ext)
    _run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", name + ".ext",
         "-out", name + ".crt", cwd=cwd)
    os.unlink(os.path.join(cwd, name + ".csr"))
    os.unlink(os.path.join(cwd, name + ".ext"))


def make_pki(d):
    pki = os.path.join(d, "pki")
    if os.path.exists(os.path.join(pki, "admin.crt")):
        return pki
    os.makedirs(pki, exist_ok=True)
    _key("ca", pki)
    _run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=kube-sim-ca", "-days", "3650",
         "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
         "-out", "ca.crt", cwd=pki)
    _cert("server", "/CN=kube-apiserver", pki,
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,"
          "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,"
          "DNS:kubernetes.default.svc.cluster.local\n")
    _cert("admin", "/O=system:masters/CN=sim-admin", pki,
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=clientAuth\n")
    return pki


SA_USER = "system:serviceaccount:kcr:kcr"


def make_tokens(d):
    """DIR/tokens (kept when it exists: tests rewrite it). Returns
    {admin: token, sa: token} as found in the file."""
    path = os.path.join(d, "tokens")
    if not os.path.exists(path):
        admin = "admin-" + secrets.token_hex(16)
        sa = "sa-" + secrets.token_hex(16)
        with open(path, "w") as f:
            f.write("%s,sim-admin,uid-admin,system:masters\n" % admin)
            f.write("%s,%s,uid-sa-kcr,system:serviceaccounts|system:serviceaccounts:kcr\n" % (
                sa, SA_USER))
        os.chmod(path, 0o600)
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) >= 2:
                if parts[1] == "sim-admin" and "admin" not in out:
                    out["admin"] = parts[0]
                elif parts[1] == SA_USER and "sa" not in out:
                    out["sa"] = parts[0]
    return out


def _kubeconfig(server, cluster_lines, user_lines, namespace):
    return "\n".join([
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: sim",
        "  cluster:",
        "    server: %s" % server,
    ] + ["    " + x for x in cluster_lines] + [
        "users:",
        "- name: sim",
        "  user:",
    ] + ["    " + x for x in user_lines] + [
        "contexts:",
        "- name: sim",
        "  context:",
        "    cluster: sim",
        "    user: sim",
        "    namespace: %s" % namespace,
        "current-context: sim",
        "preferences: {}",
        "",
    ])


def write_client_files(d, port, tokens, namespace="kcr"):
    server = "https://127.0.0.1:%d" % port
    with open(os.path.join(d, "pki", "ca.crt"), "rb") as f:
        ca = f.read()
    ca_data = base64.b64encode(ca).decode()
    files = {
        "kubeconfig": _kubeconfig(server, ["certificate-authority-data: " + ca_data],
                                  ["token: " + tokens["admin"]], namespace),
        # relative file names: a kubeconfig's are relative to its folder
        "kubeconfig-cert": _kubeconfig(server, ["certificate-authority: pki/ca.crt"],
                                       ["client-certificate: pki/admin.crt",
                                        "client-key: pki/admin.key"], namespace),
        "kubeconfig-sa": _kubeconfig(server, ["certificate-authority-data: " + ca_data],
                                     ["token: " + tokens.get("sa", "")], namespace),
    }
    for name, text in files.items():
        _write(os.path.join(d, name), text, 0o600)
    sa = os.path.join(d, "sa")
    os.makedirs(sa, exist_ok=True)
    _write(os.path.join(sa, "token"), tokens.get("sa", ""), 0o600)
    _write(os.path.join(sa, "ca.crt"), ca.decode(), 0o644)
    _write(os.path.join(sa, "namespace"), namespace, 0o644)


def _write(path, text, mode):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
