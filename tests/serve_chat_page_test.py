#!/usr/bin/env python3
"""The chat page at / in a real browser: headless Chromium loads
/?autotest=<message>, the page streams the reply over SSE (fetch +
ReadableStream) and the test checks the dumped DOM holds exactly the reply the
API gives for the same conversation, with the user's markup shown as text (not
rendered). A screenshot goes to <build>/serve_chat_page.png.

Run by ctest (TIMEOUT set there): serve_chat_page_test.py SEPTET_BINARY BUILD_DIR
Exits 77 (ctest SKIP_RETURN_CODE) only when no chromium binary is found.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
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
    proc = subprocess.Popen([binary, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", "--parallel", "1"],
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


def chromium(args, timeout=90):
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-dev-shm-usage", "--user-data-dir=" + os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                                         "septet-chromium-%d" % os.getpid())]
    r = subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)
    return r.stdout


def main():
    binary, build_dir = sys.argv[1], sys.argv[2]
    model = os.path.join(shared_dir(), "models", "stories260K", "stories260K.bin")
    proc, port = start_server(binary, model)
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
        dom = chromium(["--virtual-time-budget=30000", "--dump-dom", url])
        m = re.search(r'<div class="msg assistant" id="reply-1"><span class="role">assistant</span>'
                      r'<span class="text">(.*?)</span></div>', dom, re.S)
        assert m, "no assistant reply in the DOM:\n" + dom[-3000:]
        got = html.unescape(m.group(1))
        assert got == expected, "the page shows %r, the API gave %r" % (got, expected)
        print("ok: the streamed reply in the DOM equals the API's:", repr(expected))
        assert 'data-state="done"' in dom, "the page did not finish streaming"
        # The user's markup is text: escaped in the DOM, no <b> or <img> element made from it.
        assert html.escape(message, quote=False) in dom, "the user message is not shown as text"
        assert "<b>Once</b>" not in dom and "<img src=" not in dom, "user text became markup"
        print("ok: user markup is shown as text, not rendered")

        png = os.path.join(build_dir, "serve_chat_page.png")
        if os.path.exists(png):
            os.remove(png)
        chromium(["--timeout=5000", "--window-size=1000,700", "--screenshot=" + png, url])
        assert os.path.exists(png) and os.path.getsize(png) > 1000, "no screenshot written"
        print("ok: screenshot", png)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("PASS")


if __name__ == "__main__":
    main()
