#!/usr/bin/env python3
"""Drives a page in headless chromium over the DevTools protocol, for the
dashboard's browser test (tests/integration/200-dashboard.bats).

    drive.py [--size 1280x900] [--timeout 20] [--shots DIR] URL STEP...

STEPs run in order; each is a verb and its arguments:

    type SELECTOR TEXT   focuses the element and types TEXT (Input.insertText)
    click SELECTOR       a real mouse click (Input.dispatchMouseEvent) in
                         the element's middle; dialogs (confirm) are accepted
    choose SELECTOR VALUE  picks VALUE in a <select> (as a change event)
    wait JS              polls the expression until it is truthy, failing
                         after --timeout seconds (never a fixed sleep)
    print JS             prints the expression's value as one line of JSON
    scroll SELECTOR      scrolls the element to the top of the window
    shot NAME            saves a screenshot of the window as DIR/NAME.png
    run COMMAND          runs COMMAND with /bin/sh (e.g. executions while the
                         page is open), failing when it fails

Fails (exit 1) on a step that fails, on an uncaught exception in the page
and on a Content-Security-Policy violation, printing the page's text and
saving DIR/failure.png. Needs chromium and python3-websocket.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import websocket  # python3-websocket (websocket-client)

ARITY = {"type": 2, "choose": 2, "click": 1, "wait": 1, "print": 1, "scroll": 1, "shot": 1, "run": 1}


class StepFailed(Exception):
    pass


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise StepFailed("no chromium on PATH (apt-get install chromium)")


def start_browser(profile, width, height, timeout):
    """Starts chromium and returns (process, the browser's websocket URL),
    read from the DevToolsActivePort file it writes once it listens."""
    cmd = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
           "--remote-debugging-port=0", "--user-data-dir=" + profile,
           "--window-size=%d,%d" % (width, height), "--no-first-run",
           "--no-default-browser-check", "--disable-extensions", "--disable-sync",
           "--disable-background-networking", "--no-proxy-server", "--mute-audio",
           "about:blank"]
    log = open(os.path.join(profile, "chromium.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StepFailed("chromium exited with %s; see %s/chromium.log" % (proc.returncode, profile))
        try:
            with open(port_file) as f:
                lines = f.read().split("\n")
            if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                return proc, "ws://127.0.0.1:%s%s" % (lines[0].strip(), lines[1].strip())
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise StepFailed("chromium wrote no DevToolsActivePort within %s s" % timeout)


class Cdp:
    """One websocket to the browser; a page target attached with flat
    sessions. Events that arrive while a call waits for its answer are
    handled on the way: dialogs accepted, exceptions and CSP violations
    recorded."""

    def __init__(self, url, timeout):
        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.session = None
        self.problems = []
        self.timeout = timeout

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        return self.next_id

    def call(self, method, params=None, session=True):
        want = self.send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == want:
                if "error" in msg:
                    raise StepFailed("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})
            if "method" in msg:
                self.event(msg)
        raise StepFailed("%s: no answer within %s s" % (method, self.timeout))

    def event(self, msg):
        method, p = msg["method"], msg.get("params", {})
        if method == "Page.javascriptDialogOpening":
            # not waited for: the call in progress answers once it is handled
            self.send("Page.handleJavaScriptDialog", {"accept": True})
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text")
            self.problems.append("uncaught exception: %s" % text)
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("source") == "security" or "Content Security Policy" in e.get("text", ""):
                self.problems.append("CSP: %s" % e.get("text"))

    def open_page(self, width, height):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise StepFailed("%s: %s" % (expr, d.get("exception", {}).get("description") or d.get("text")))
        return r.get("result", {}).get("value")

    def drain(self):
        """Handles the events that came in since the last call."""
        self.ws.settimeout(0.01)
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if "method" in msg:
                    self.event(msg)
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(self.timeout)


def wait_for(cdp, expr, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            if cdp.evaluate("Boolean(%s)" % expr):
                return
            last = "false"
        except StepFailed as e:
            last = str(e)
        if time.monotonic() >= deadline:
            raise StepFailed("timed out after %s s waiting for: %s (last: %s)" % (timeout, expr, last))
        time.sleep(0.1)


def element(selector):
    return "document.querySelector(%s)" % json.dumps(selector)


def click(cdp, selector, timeout):
    wait_for(cdp, element(selector) + " && !%s.disabled" % element(selector), timeout)
    box = cdp.evaluate("(() => { const e = %s; e.scrollIntoView({block: 'center'});"
                       " const r = e.getBoundingClientRect();"
                       " return [r.left + r.width / 2, r.top + r.height / 2]; })()" % element(selector))
    x, y = box
    cdp.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
    for kind in ("mousePressed", "mouseReleased"):
        cdp.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                              "clickCount": 1})


def type_text(cdp, selector, text, timeout):
    wait_for(cdp, element(selector), timeout)
    cdp.evaluate("%s.focus()" % element(selector))
    cdp.call("Input.insertText", {"text": text})


def screenshot(cdp, path):
    data = cdp.call("Page.captureScreenshot", {"format": "png"})["data"]
    with open(path, "wb") as f:
        f.write(base64.b64decode(data))


def run_steps(cdp, steps, args):
    for i, (verb, *a) in enumerate(steps, 1):
        try:
            if verb == "type":
                type_text(cdp, a[0], a[1], args.timeout)
            elif verb == "choose":
                wait_for(cdp, element(a[0]), args.timeout)
                cdp.evaluate("(() => { const e = %s; e.value = %s;"
                             " e.dispatchEvent(new Event('change', {bubbles: true})); })()"
                             % (element(a[0]), json.dumps(a[1])))
            elif verb == "click":
                click(cdp, a[0], args.timeout)
            elif verb == "wait":
                wait_for(cdp, a[0], args.timeout)
            elif verb == "print":
                print(json.dumps(cdp.evaluate(a[0])), flush=True)
            elif verb == "scroll":
                wait_for(cdp, element(a[0]), args.timeout)
                cdp.evaluate("%s.scrollIntoView({block: 'start'})" % element(a[0]))
            elif verb == "run":
                r = subprocess.run(["/bin/sh", "-c", a[0]], stdout=subprocess.DEVNULL)
                if r.returncode:
                    raise StepFailed("exit status %d" % r.returncode)
            elif verb == "shot":
                screenshot(cdp, os.path.join(args.shots, a[0] + ".png"))
            cdp.drain()
            if cdp.problems:
                raise StepFailed("; ".join(cdp.problems))
        except StepFailed as e:
            raise StepFailed("step %d (%s %s): %s" % (i, verb, " ".join(a), e))


def parse_steps(words):
    steps = []
    while words:
        verb = words[0]
        if verb not in ARITY or len(words) < 1 + ARITY[verb]:
            sys.exit("drive.py: bad step at '%s' (verbs: %s)" % (" ".join(words[:3]), ", ".join(ARITY)))
        steps.append([verb] + words[1:1 + ARITY[verb]])
        words = words[1 + ARITY[verb]:]
    return steps


def report_failure(cdp, shots, err):
    print("drive.py: %s" % err, file=sys.stderr)
    if cdp is None or cdp.session is None:
        return
    try:
        text = cdp.evaluate("document.body ? document.body.innerText : ''") or ""
        print("drive.py: the page's text:\n" + text[:3000], file=sys.stderr)
        screenshot(cdp, os.path.join(shots, "failure.png"))
    except Exception as e:  # the browser may be what failed
        print("drive.py: (no page text: %s)" % e, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1280x900")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--shots", default=".")
    ap.add_argument("url")
    ap.add_argument("steps", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    steps = parse_steps(args.steps)
    os.makedirs(args.shots, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="kcr-chromium-")
    proc = cdp = None
    rc = 0
    try:
        proc, ws_url = start_browser(profile, width, height, args.timeout)
        cdp = Cdp(ws_url, args.timeout)
        cdp.open_page(width, height)
        cdp.call("Page.navigate", {"url": args.url})
        wait_for(cdp, "document.readyState === 'complete'", args.timeout)
        run_steps(cdp, steps, args)
    except (StepFailed, OSError, websocket.WebSocketException) as e:
        report_failure(cdp, args.shots, e)
        rc = 1
    finally:
        if cdp is not None:
            try:
                cdp.send("Browser.close", session=False)
            except Exception:
                pass
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
