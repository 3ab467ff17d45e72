#!/usr/bin/env python3
"""The chat page at / in a real browser: headless Chromium (driven over the
DevTools protocol on a pipe) loads /?autotest=<message>, the page streams the
reply over SSE (fetch + ReadableStream) and the test checks the DOM holds exactly
the reply the API gives for the same conversation, with the user's markup shown
as text (not rendered). The Stop button (&autostop: pressed at the first text) aborts the
fetch and the server cancels the request (SmolLM2, slow enough to be mid-reply).
A screenshot goes to <build>/serve_chat_page.png.

Run by ctest (TIMEOUT set there): serve_chat_page_test.py SEPTET_BINARY BUILD_DIR
Exits 77 (ctest SKIP_RETURN_CODE) only when no chromium binary is found.
"""
import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if CHROMIUM is None:
    print("SKIP: no chromium binary on PATH (scripts/install-deps.sh installs the Debian package 'chromium')")
    sys.exit(77)


def shared_dir():
    if os.environ.get("SEPTET_SHARED"):
        return os.environ["SEPTET_SHARED"]
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")


def start_server(binary, model):
    proc = subprocess.Popen([binary, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", "--parallel", "1",
                             "--ctx", "1024"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    for line in proc.stderr:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
        if time.time() > deadline:
            break
    proc.kill()
    raise SystemExit("septet serve did not start")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (--remote-debugging-pipe: JSON messages ending in NUL, fd 3 in, fd 4 out)."""

    def __init__(self):
        # A cold Chromium on a loaded 2-core machine (ctest -j2 beside the heavier tests)
        # has been seen not to answer its first command within 30 s: a fresh launch, up
        # to two, each given 60 s for that first answer (ctest's limit for the test is 180 s).
        for attempt in range(2):
            self.launch()
            try:
                target = self.call("Target.createTarget", timeout=60, url="about:blank")["targetId"]
                break
            except RuntimeError:
                self.close()
                if attempt == 1:
                    raise
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def launch(self):
        to_browser_r, self.w = os.pipe()
        self.r, from_browser_w = os.pipe()

        def child_fds():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.profile = tempfile.mkdtemp(prefix="septet-chromium-")
        profile = self.profile
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1000,700",
             "--user-data-dir=" + profile, "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buf = b""
        self.last_id = 0

    def call(self, method, session=None, timeout=30, **params):
        self.last_id += 1
        msg = {"id": self.last_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            while b"\0" not in self.buf:
                if time.time() > deadline or not select.select([self.r], [], [], 1)[0] and self.proc.poll() is not None:
                    raise RuntimeError("no answer from chromium to " + method)
                if select.select([self.r], [], [], 0)[0]:
                    self.buf += os.read(self.r, 1 << 16)
            raw, self.buf = self.buf.split(b"\0", 1)
            m = json.loads(raw)
            if m.get("id") == self.last_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m["result"]

    def page(self, method, **params):
        return self.call(method, session=self.session, **params)

    def js(self, expression):
        return self.page("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open_and_wait(self, url, seconds=60):
        """Navigates, then waits (real time) until the page says data-state="done"."""
        self.page("Page.navigate", url=url)
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.js("document.body ? document.body.dataset.state : ''") == "done":
                return
            time.sleep(0.1)
        raise AssertionError("the page never reached data-state=done: " + str(self.js("document.body.outerHTML")))

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.w)
        os.close(self.r)
        shutil.rmtree(self.profile, ignore_errors=True)  # the profile directory, not left in /tmp


def main():
    binary, build_dir = sys.argv[1], sys.argv[2]
    browser = Browser()
    proc, port = start_server(binary, os.path.join(shared_dir(), "models", "stories260K", "stories260K.bin"))
    try:
        message = "<b>Once</b> upon a time & <img src=x onerror=alert(1)>"
        max_tokens = 24
        # What the API answers for the same conversation (greedy, so the same text).
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/chat/completions" % port,
            data=json.dumps({"messages": [{"role": "user", "content": message}], "temperature": 0,
                             "max_tokens": max_tokens}).encode(),
            headers={"Content-Type": "application/json"})
        expected = json.load(urllib.request.urlopen(req, timeout=30))["choices"][0]["message"]["content"]
        assert expected.strip(), "the API gave an empty reply"

        url = "http://127.0.0.1:%d/?%s" % (port, urllib.parse.urlencode({"autotest": message, "max_tokens": max_tokens}))
        browser.open_and_wait(url)
        got = browser.js('document.querySelector("#reply-1 .text").textContent')
        assert got == expected, "the page shows %r, the API gave %r" % (got, expected)
        print("ok: the streamed reply in the DOM equals the API's:", repr(expected))
        # The user's markup is text: no element made from it, shown verbatim.
        assert browser.js('document.querySelector("#log .user .text").textContent') == message
        assert browser.js('document.querySelectorAll("#log b, #log img").length') == 0, "user text became markup"
        print("ok: user markup is shown as text, not rendered")
        png = os.path.join(build_dir, "serve_chat_page.png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"]))
        assert os.path.getsize(png) > 1000, "empty screenshot"
        print("ok: screenshot", png)
    finally:
        stop(proc)

    # Stop: SmolLM2 is slow enough to be mid-reply when the button is pressed.
    smol = os.path.join(shared_dir(), "models", "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
    proc, port = start_server(binary, smol)
    try:
        url = "http://127.0.0.1:%d/?%s" % (port, urllib.parse.urlencode(
            {"autotest": "Write a very long story about a dragon and a knight.", "max_tokens": 900, "autostop": 1}))
        browser.open_and_wait(url)
        partial = browser.js('document.querySelector("#reply-1 .text").textContent')
        assert partial, "no text before Stop"
        assert browser.js('document.getElementById("send").disabled') is False, "Send not enabled again after Stop"
        health, t0 = {}, time.time()
        while time.time() - t0 < 30:
            health = json.load(urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=10))
            if health["cancelled"] == 1 and health["running"] == 0:
                break
            time.sleep(0.1)
        assert health.get("cancelled") == 1 and health.get("running") == 0, "Stop did not cancel: %r" % health
        print("ok: Stop aborted the stream after %r; the server cancelled the request" % partial)
    finally:
        stop(proc)
        browser.close()
    print("PASS")


if __name__ == "__main__":
    main()
