"""The container shim (what containerd-shim is to a real node): the
container's parent, in a session of its own, so that the container and
its exit status outlive an API-server restart.

usage: shim.py EXIT_FILE PID_FILE -- COMMAND...

Writes the container's pid to PID_FILE, waits for it, and writes its exit
status as JSON to EXIT_FILE. SIGTERM to the process group reaches the
container; the shim ignores it and stays to record how the container
ended. A SIGKILL of the group ends the shim too: no EXIT_FILE then, and
the kubelet knows the container was killed.
"""

import datetime
import json
import os
import signal
import sys


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    exit_file, pid_file = sys.argv[1], sys.argv[2]
    assert sys.argv[3] == "--"
    cmd = sys.argv[4:]
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        # a handler, not SIG_IGN: exec resets handlers, so the container
        # still dies of these
        signal.signal(s, lambda *a: None)
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            sys.stderr.write("shim: exec %s: %s\n" % (cmd[0], e.strerror))
            os._exit(127)
    _write(pid_file, str(pid))
    while True:
        try:
            _, st = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    sig = None
    if os.WIFSIGNALED(st):
        sig = os.WTERMSIG(st)
        code = 128 + sig
    else:
        code = os.WEXITSTATUS(st)
    _write(exit_file, json.dumps({
        "exitCode": code, "signal": sig,
        "finishedAt": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")}))


if __name__ == "__main__":
    main()
