#!/usr/bin/env python3
"""`make benchmark-serve`: septet serve under concurrent streaming clients.

Starts `septet serve` on a free loopback port, runs --clients threads that each
send streamed chat requests back to back for --seconds, and reports requests/s,
generated tokens/s, time to first token and inter-token latency (median and
p95, measured by the clients), plus the server's own /metrics counters. Writes
JSON to --out and a table to stdout. Not part of `make test`.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def client(port, deadline, max_tokens, out, lock):
    body = json.dumps({"messages": [{"role": "user", "content": "Tell me a story about a dog."}],
                       "max_tokens": max_tokens, "temperature": 0.8, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    while time.time() < deadline:
        t0 = time.time()
        req = urllib.request.Request("http://127.0.0.1:%d/v1/chat/completions" % port, data=body,
                                     headers={"Content-Type": "application/json"})
        times, tokens = [], 0
        with urllib.request.urlopen(req, timeout=120) as res:
            for line in res:
                if not line.startswith(b"data: {"):
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                elif chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    times.append(time.time())
        with lock:
            out["requests"] += 1
            out["tokens"] += tokens
            if times:
                out["ttft"].append(times[0] - t0)
                out["itl"].extend(b - a for a, b in zip(times, times[1:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--septet", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--out", default="serve-bench.json")
    a = ap.parse_args()
    proc = subprocess.Popen([a.septet, "serve", "-m", a.model, "--host", "127.0.0.1", "--port", "0",
                             "--parallel", str(a.parallel), "--max-queue", "0"], stderr=subprocess.PIPE, text=True)
    port = None
    for line in proc.stderr:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        sys.exit("benchmark-serve: septet serve did not start")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    try:
        out = {"requests": 0, "tokens": 0, "ttft": [], "itl": []}
        lock = threading.Lock()
        t0 = time.time()
        deadline = t0 + a.seconds
        threads = [threading.Thread(target=client, args=(port, deadline, a.max_tokens, out, lock))
                   for _ in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {
        "model": a.model, "clients": a.clients, "parallel": a.parallel, "seconds": wall,
        "requests": out["requests"], "requests_per_s": out["requests"] / wall,
        "generated_tokens": out["tokens"], "generated_tokens_per_s": out["tokens"] / wall,
        "ttft_ms_p50": 1000 * pct(out["ttft"], 0.5), "ttft_ms_p95": 1000 * pct(out["ttft"], 0.95),
        "itl_ms_p50": 1000 * pct(out["itl"], 0.5), "itl_ms_p95": 1000 * pct(out["itl"], 0.95),
        "server_generated_tokens_total": int(re.search(r"^septet_generated_tokens_total (\d+)", metrics, re.M).group(1)),
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print("| clients | slots | req/s | gen tok/s | TTFT p50 / p95 ms | ITL p50 / p95 ms |")
    print("|---|---|---|---|---|---|")
    print("| %d | %d | %.2f | %.1f | %.1f / %.1f | %.2f / %.2f |" % (
        a.clients, a.parallel, result["requests_per_s"], result["generated_tokens_per_s"], result["ttft_ms_p50"],
        result["ttft_ms_p95"], result["itl_ms_p50"], result["itl_ms_p95"]))
    print("JSON:", a.out)


if __name__ == "__main__":
    main()
