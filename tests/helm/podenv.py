#!/usr/bin/python3
"""Turns the rendered Deployment of kcr serve into what a kubelet would
start, on this host: its container's command and args, its environment
(value, fieldRef, secretKeyRef and configMapKeyRef resolved from the
Secret and ConfigMap of the same rendering), and its configMap volumes
written out under ROOT at their mountPaths (an env value naming a path
under a mount is moved under ROOT too).

usage: podenv.py RENDERED.yaml ROOT POD-NAME
Prints, one per line: "cmd ARG" for each word of command+args, then
"env NAME=VALUE" for each variable. Exit 1 when the Deployment names
something the rendering does not have (a Secret from existingSecret).
"""
import base64
import os
import sys

import yaml


def find(docs, kind, name):
    for d in docs:
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            return d
    return None


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, root, pod_name = argv
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    dep = [d for d in docs if d["kind"] == "Deployment" and
           d["metadata"]["labels"].get("app.kubernetes.io/component") == "server"][0]
    ns = dep["metadata"]["namespace"]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = []
    for m in c.get("volumeMounts", []):
        v = volumes[m["name"]]
        local = os.path.join(root, m["mountPath"].lstrip("/"))
        os.makedirs(local, exist_ok=True)
        mounts.append((m["mountPath"], local))
        if "configMap" in v:
            cm = find(docs, "ConfigMap", v["configMap"]["name"])
            if cm is None:
                raise SystemExit("podenv: no ConfigMap %s" % v["configMap"]["name"])
            for k, text in cm.get("data", {}).items():
                with open(os.path.join(local, k), "w") as f:
                    f.write(text)

    def moved(value):
        for mp, local in mounts:
            if value == mp or value.startswith(mp.rstrip("/") + "/"):
                return local + value[len(mp.rstrip("/")):]
        return value

    fields = {"metadata.name": pod_name, "metadata.namespace": ns}
    for word in c.get("command", []) + c.get("args", []):
        print("cmd %s" % word)
    for e in c.get("env", []):
        if "value" in e:
            val = moved(str(e["value"]))
        else:
            ref = e["valueFrom"]
            if "fieldRef" in ref:
                val = fields[ref["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in ref:
                s = find(docs, "Secret", ref["secretKeyRef"]["name"])
                key = ref["secretKeyRef"]["key"]
                if s is None or key not in s.get("data", {}):
                    if ref["secretKeyRef"].get("optional"):
                        continue
                    raise SystemExit("podenv: no key %s in Secret %s" %
                                     (key, ref["secretKeyRef"]["name"]))
                val = base64.b64decode(s["data"][key]).decode()
            elif "configMapKeyRef" in ref:
                cm = find(docs, "ConfigMap", ref["configMapKeyRef"]["name"])
                val = cm["data"][ref["configMapKeyRef"]["key"]]
            else:
                raise SystemExit("podenv: %s: unsupported valueFrom" % e["name"])
        print("env %s=%s" % (e["name"], val))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
