"""A pod's own network namespace, reached from the host: a relay that
listens on podIP:port in the host's namespace and connects inside the
pod's (the only way in, as a deny-all-egress NetworkPolicy leaves it)."""

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000


class Relay:
    """podIP:port on the host, connected to podIP:port inside the pod's own
    network namespace (whose only way in this is)."""

    def __init__(self, worker, ip, port):
        self.w, self.ip, self.port = worker, ip, port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(64)
        self.closed = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def accept_loop(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        pid = self.w.netns_pid()
        try:
            if pid is None:
                raise OSError("no process")
            s = socket_in_netns(pid)
            s.settimeout(5)
            s.connect((self.ip, self.port))
            s.settimeout(None)
        except OSError:
            c.close()
            return
        threading.Thread(target=_pump, args=(c, s), daemon=True).start()
        _pump(s, c)


def _pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


_libc = None


def socket_in_netns(pid):
    """A socket made inside pid's network namespace (setns applies to the
    calling thread only, and is undone before returning)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def make():
        mine = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                out["err"] = OSError(ctypes.get_errno(), "setns")
                return
            try:
                out["sock"] = socket.socket()
            finally:
                _libc.setns(mine, CLONE_NEWNET)
        finally:
            os.close(mine)
            os.close(target)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["sock"]
