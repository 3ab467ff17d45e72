#!/usr/bin/env python3
"""`make benchmark-serve`: septet serve under a fixed-time load of many clients.

Starts `septet serve` on a free loopback port (with an API key, a 1 MiB body
limit and a queue large enough for every client), then:

1. References: every well-formed request the clients will send (chat and
   completions, greedy and seeded sampling, over prompts that share a long
   system prompt / preamble) is sent once, alone; its text is what the load
   phase must give back, bit for bit.
2. Warm-up (touches every slot), then RSS "before" (VmRSS of the server).
3. Load: --clients threads for --seconds, back to back. Each request is, at
   random, well formed (streamed or not; 1 - --bad-fraction of them) or bad:
   malformed JSON (must get 400), oversized body (413), no or a wrong API key
   (401), or a client that disconnects mid-stream (nothing to check but the
   server). Well-formed answers are compared with the references.
4. After: the server must be idle (/health: nothing running or queued), RSS
   "after" must stay within --rss-bound-mib of "before", and SIGTERM must stop
   it with exit status 0.

Reports throughput (requests/s, generated tokens/s), p50/p99 time to first
token (streamed requests, from sending) and inter-token latency (gaps between
streamed chunks), errors by kind, the prefix-cache hit rate (/metrics), RSS
before/after. Writes JSON to --out and a markdown table to stdout; exits 1 when
any check failed. Not part of `make test`.
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

KEY = "sk-benchmark"
SYSTEM = ("You are a storyteller for small children. Your stories are short, kind and simple, with a "
          "happy ending. Use easy words, short sentences, and name the animals and the children in them. ")
QUESTIONS = ["Tell me a story about a dog.", "Tell me a story about a cat and a ball.",
             "What did Lily find in the garden?", "Why was the little bird sad?",
             "Tell me about Tom and his red car.", "What is the sun?"]
PREAMBLE = "Once upon a time, there was a little girl named Lily. She loved to play outside with her dog Max. "
ENDINGS = ["One day", "Max saw a cat", "The sun was hot", "Lily found a box", "They went to the park", "Tom said"]


def note(msg):
    print("benchmark-serve: %s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def workload(max_tokens):
    """The well-formed requests: (path, body) pairs. Greedy and seeded sampling."""
    reqs = []
    for i, q in enumerate(QUESTIONS):
        sampling = {"temperature": 0} if i % 2 == 0 else {"temperature": 0.8, "top_p": 0.95, "seed": 1000 + i}
        reqs.append(("/v1/chat/completions", dict(messages=[{"role": "system", "content": SYSTEM},
                                                           {"role": "user", "content": q}],
                                                 max_tokens=max_tokens, **sampling)))
    for i, e in enumerate(ENDINGS):
        sampling = {"temperature": 0} if i % 2 == 1 else {"temperature": 0.7, "seed": 2000 + i}
        reqs.append(("/v1/completions", dict(prompt=PREAMBLE + e, max_tokens=max_tokens, **sampling)))
    return reqs


class Server:
    def __init__(self, port):
        self.port = port

    def conn(self, timeout=300):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get_json(self, path):
        c = self.conn(30)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return json.loads(body)

    def metrics(self):
        c = self.conn(30)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(septet_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def post(self, path, body, stream, headers=None, timeout=300):
        """Returns (status, text, finish_reason, chunk_times, t_sent). Text from the
        deltas when streamed; chunk_times are arrival times of content chunks."""
        b = dict(body)
        b["stream"] = stream
        data = json.dumps(b).encode()
        h = {"Content-Type": "application/json", "Authorization": "Bearer " + KEY}
        if headers is not None:
            h = headers
        c = self.conn(timeout)
        t0 = time.time()
        c.request("POST", path, body=data, headers=h)
        r = c.getresponse()
        chat = path.endswith("chat/completions")
        if r.status != 200 or not stream:
            raw = r.read()
            c.close()
            if r.status != 200:
                return r.status, raw.decode(errors="replace"), None, [], t0
            j = json.loads(raw)
            ch = j["choices"][0]
            return 200, ch["message"]["content"] if chat else ch["text"], ch["finish_reason"], [], t0
        text, finish, times, done = [], None, [], False
        for line in r:
            if line.startswith(b"data: [DONE]"):
                done = True
                break
            if not line.startswith(b"data: {"):
                continue
            j = json.loads(line[6:])
            if "error" in j:
                return 500, json.dumps(j), None, times, t0
            if not j["choices"]:
                continue
            ch = j["choices"][0]
            piece = ch["delta"].get("content") if chat else ch.get("text")
            if piece:
                text.append(piece)
                times.append(time.time())
            if ch.get("finish_reason"):
                finish = ch["finish_reason"]
        c.close()
        if not done:
            return -1, "".join(text), finish, times, t0  # stream ended without [DONE]
        return 200, "".join(text), finish, times, t0


def raw_request(port, head, body, read_first=False, timeout=60):
    """Sends a request over a raw socket; returns the status code (or -1)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head + body)
        if read_first:
            return s
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        m = re.match(rb"HTTP/1\.[01] (\d+)", data)
        return int(m.group(1)) if m else -1
    finally:
        if not read_first:
            s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--septet", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--prefill-chunk", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--bad-fraction", type=float, default=0.10)
    ap.add_argument("--rss-bound-mib", type=float, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--extra", default="", help="more septet serve flags, space separated")
    ap.add_argument("--out", default="serve-bench.json")
    ap.add_argument("--log", default="", help="write the server's stderr (access log) here")
    a = ap.parse_args()
    rng = random.Random(a.seed)

    cmd = [a.septet, "serve", "-m", a.model, "--host", "127.0.0.1", "--port", "0", "--parallel", str(a.parallel),
           "-t", str(a.threads), "--ctx", str(a.ctx), "--max-queue", str(4 * a.clients), "--api-key", KEY,
           "--max-body-mib", "1", "--prefill-chunk", str(a.prefill_chunk), "--shutdown-timeout", "30"]
    cmd += a.extra.split()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    port = None
    for line in proc.stderr:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        sys.exit("benchmark-serve: septet serve did not start")
    log_lines = []
    threading.Thread(target=lambda: [log_lines.append(x) for x in proc.stderr], daemon=True).start()
    srv = Server(port)
    failures = []

    # 1. References, each request alone.
    note("server on port %d; references" % port)
    reqs = workload(a.max_tokens)
    refs = []
    for path, body in reqs:
        st, text, finish, _, _ = srv.post(path, body, stream=False)
        if st != 200:
            sys.exit("benchmark-serve: reference request failed: %d %s" % (st, text[:300]))
        refs.append((text, finish))

    # 2. Warm-up: every slot busy at once, then RSS before.
    note("warm-up")
    def warm(i):
        path, body = reqs[i % len(reqs)]
        srv.post(path, body, stream=False)
    ws = [threading.Thread(target=warm, args=(i,)) for i in range(2 * a.parallel)]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    rss_before = rss_kib(proc.pid)
    m0 = srv.metrics()

    # 3. Load.
    lock = threading.Lock()
    stats = {"ok": 0, "ok_stream": 0, "tokens_chunks": 0, "ttft": [], "itl": [], "latency": [],
             "errors": {}, "bad_sent": {}}

    def err(kind, detail=""):
        with lock:
            stats["errors"][kind] = stats["errors"].get(kind, 0) + 1
            if len(failures) < 20 and detail:
                failures.append("%s: %s" % (kind, detail[:300]))

    def bad(kind):
        with lock:
            stats["bad_sent"][kind] = stats["bad_sent"].get(kind, 0) + 1

    body_limit = 1 << 20

    def client(seed, deadline):
        r = random.Random(seed)
        while time.time() < deadline:
            try:
                if r.random() >= a.bad_fraction:
                    i = r.randrange(len(reqs))
                    path, body = reqs[i]
                    stream = r.random() < 0.5
                    st, text, finish, times, t0 = srv.post(path, body, stream)
                    if st == -1:
                        err("stream_without_done", text)
                    elif st != 200:
                        err("http_%d" % st, text)
                    elif (text, finish) != refs[i]:
                        err("wrong_answer", "%r != %r" % ((text, finish), refs[i]))
                    else:
                        with lock:
                            stats["ok"] += 1
                            stats["latency"].append(time.time() - t0)
                            if stream:
                                stats["ok_stream"] += 1
                                if times:
                                    stats["ttft"].append(times[0] - t0)
                                    stats["itl"].extend(y - x for x, y in zip(times, times[1:]))
                    continue
                kind = r.choice(["malformed", "oversized", "unauthorized", "disconnect"])
                bad(kind)
                head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
                if kind == "malformed":
                    body = b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,'
                    h = head + "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (KEY, len(body))
                    st = raw_request(port, h.encode(), body)
                    if st != 400:
                        err("malformed_got_%d" % st)
                elif kind == "oversized":
                    body = b'{"prompt": "' + b"a" * (body_limit + 1000) + b'"}'
                    h = head + "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (KEY, len(body))
                    try:
                        st = raw_request(port, h.encode(), body)
                    except (BrokenPipeError, ConnectionResetError):
                        st = 413  # the server answered 413 and closed before reading it all
                    if st != 413:
                        err("oversized_got_%d" % st)
                elif kind == "unauthorized":
                    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}).encode()
                    auth = "" if r.random() < 0.5 else "Authorization: Bearer wrong\r\n"
                    h = head + auth + "Content-Length: %d\r\n\r\n" % len(body)
                    st = raw_request(port, h.encode(), body)
                    if st != 401:
                        err("unauthorized_got_%d" % st)
                else:  # disconnect: a streamed request, hang up after the first bytes (or at once)
                    path, b = reqs[r.randrange(len(reqs))]
                    b = dict(b, stream=True, max_tokens=a.max_tokens)
                    data = json.dumps(b).encode()
                    h = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (path, KEY, len(data)))
                    s = raw_request(port, h.encode(), data, read_first=True)
                    if r.random() < 0.5:
                        s.settimeout(60)
                        try:
                            s.recv(64)
                        except OSError:
                            pass
                    s.close()
            except Exception as e:  # noqa: BLE001 - every failure is counted by kind
                err("client_exception_" + type(e).__name__, repr(e))

    t0 = time.time()
    deadline = t0 + a.seconds
    rss_samples = []  # (seconds into the load, MiB): growth should level off

    def sample_rss():
        while time.time() < deadline:
            rss_samples.append((round(time.time() - t0, 1), round(rss_kib(proc.pid) / 1024.0, 1)))
            time.sleep(max(1.0, a.seconds / 12))
    threading.Thread(target=sample_rss, daemon=True).start()
    load_before = os.getloadavg()
    note("load: %d clients for %.0f s" % (a.clients, a.seconds))
    threads = [threading.Thread(target=client, args=(rng.randrange(1 << 30), deadline)) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=a.seconds + 600)
    note("load over; waiting for the last requests")
    hung = sum(t.is_alive() for t in threads)
    wall = time.time() - t0
    if hung:
        failures.append("%d clients still waiting 600 s after the end" % hung)

    # 4. After: idle, RSS, clean exit.
    note("clients done after %.0f s" % (time.time() - t0))
    idle = False
    for _ in range(300):
        h = srv.get_json("/health")
        if h["running"] == 0 and h["queued"] == 0:
            idle = True
            break
        time.sleep(0.1)
    if not idle:
        failures.append("server not idle after the load: %s" % h)
    time.sleep(0.5)
    rss_after = rss_kib(proc.pid)
    m1 = srv.metrics()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "hang"
    if code != 0:
        failures.append("septet serve exit status %s after SIGTERM" % code)

    def delta(name):
        return m1.get(name, 0) - m0.get(name, 0)
    gen = delta("septet_generated_tokens_total")
    hit_tokens, prompt_tokens = delta("septet_prefix_cache_hit_tokens_total"), delta(
        "septet_prefix_cache_prompt_tokens_total")
    growth_mib = (rss_after - rss_before) / 1024.0
    if growth_mib > a.rss_bound_mib:
        failures.append("RSS grew by %.1f MiB (bound %.0f MiB)" % (growth_mib, a.rss_bound_mib))
    if stats["errors"]:
        failures.append("errors: %s" % stats["errors"])
    result = {
        "model": a.model, "clients": a.clients, "parallel": a.parallel, "threads": a.threads, "ctx": a.ctx,
        "prefill_chunk": a.prefill_chunk, "max_tokens": a.max_tokens, "bad_fraction": a.bad_fraction,
        "seconds": wall, "well_formed_ok": stats["ok"], "well_formed_ok_streamed": stats["ok_stream"],
        "requests_per_s": stats["ok"] / wall, "generated_tokens": gen, "generated_tokens_per_s": gen / wall,
        "ttft_ms_p50": 1000 * pct(stats["ttft"], 0.5), "ttft_ms_p99": 1000 * pct(stats["ttft"], 0.99),
        "itl_ms_p50": 1000 * pct(stats["itl"], 0.5), "itl_ms_p99": 1000 * pct(stats["itl"], 0.99),
        "latency_ms_p50": 1000 * pct(stats["latency"], 0.5), "latency_ms_p99": 1000 * pct(stats["latency"], 0.99),
        "bad_sent": stats["bad_sent"], "errors": stats["errors"],
        "server_responses": {k: v for k, v in m1.items() if k.startswith("septet_requests_total")},
        "client_disconnects": delta("septet_client_disconnects_total"),
        "prefix_hit_tokens": hit_tokens, "prompt_tokens": prompt_tokens,
        "prefix_hit_rate": hit_tokens / prompt_tokens if prompt_tokens else 0.0,
        "prefix_hit_requests": delta("septet_prefix_cache_hit_requests_total"),
        "prefill_chunks": delta("septet_prefill_chunks_total"),
        "rss_before_mib": rss_before / 1024.0, "rss_after_mib": rss_after / 1024.0, "rss_growth_mib": growth_mib,
        "rss_samples_mib": rss_samples, "load_average_at_start": load_before, "cpus": os.cpu_count(),
        "exit_status": code, "failures": failures,
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print("| clients | slots | ok req/s | gen tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | bad sent | errors "
          "| prefix hit | RSS before / after MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("| %d | %d | %.2f | %.1f | %.0f / %.0f | %.1f / %.1f | %s | %s | %.0f %% | %.1f / %.1f |" % (
        a.clients, a.parallel, result["requests_per_s"], result["generated_tokens_per_s"], result["ttft_ms_p50"],
        result["ttft_ms_p99"], result["itl_ms_p50"], result["itl_ms_p99"],
        ", ".join("%s %d" % kv for kv in sorted(stats["bad_sent"].items())) or "none",
        ", ".join("%s %d" % kv for kv in sorted(stats["errors"].items())) or "none",
        100 * result["prefix_hit_rate"], result["rss_before_mib"], result["rss_after_mib"]))
    print("JSON:", a.out)
    if a.log:
        with open(a.log, "w") as f:
            f.writelines(log_lines)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
