"""Small helpers of the kubelet shared with sim/podio.py."""


def port_of(c, p):
    """A probe's or a proxy's port: a number, or a container port's name."""
    if isinstance(p, int):
        return p
    if isinstance(p, str) and p.isdigit():
        return int(p)
    for cp in c.get("ports") or []:
        if cp.get("name") == p:
            return cp["containerPort"]
    return 8080
