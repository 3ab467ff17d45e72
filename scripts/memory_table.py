#!/usr/bin/env python3
"""docs/memory.md's placement table: `septet plan --shape S --type T --mem B --json` for
every shape x weight type x budget, as markdown. Sizes are exact (the plan's arithmetic
over the gen-weights tensor shapes); speeds are upper bounds from the bandwidths given.

  scripts/memory_table.py [--septet build/septet] [--mem-bw 40] [--disk-bw 3] [--kv-type f32] [--ctx 4096]
"""
import argparse
import json
import subprocess

SHAPES = ["llama2-7b", "llama3-8b", "llama2-13b", "llama2-70b"]
TYPES = ["Q3P5", "Q4_G", "Q8_0"]
BUDGETS = ["24G", "16G", "8G"]


def gib(b):
    return f"{b / 2**30:.2f}"


def plan(args, shape, wtype, budget):
    cmd = [args.septet, "plan", "--shape", shape, "--type", wtype, "--mem", budget, "--ctx", str(args.ctx),
           "--kv-type", args.kv_type, "-t", str(args.threads), "--mem-bw", str(args.mem_bw),
           "--disk-bw", str(args.disk_bw), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None, r.stderr.strip().removeprefix("septet: error: ")
    return json.loads(r.stdout), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--septet", default="build/septet")
    ap.add_argument("--mem-bw", type=float, default=40.0)
    ap.add_argument("--disk-bw", type=float, default=3.0)
    ap.add_argument("--kv-type", default="f32")
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    print(f"KV {args.kv_type.upper()}, n_ctx {args.ctx}, 1 sequence, {args.threads} threads; "
          f"memory {args.mem_bw:g} GB/s, disk {args.disk_bw:g} GB/s (GiB = 2^30 bytes)\n")
    print("| model | type | weights GiB | largest layer GiB | KV GiB | budget | placement | host GiB | tok/s (read-ahead) | tok/s (serial) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        for wtype in TYPES:
            for budget in BUDGETS:
                p, err = plan(args, shape, wtype, budget)
                if p is None:
                    print(f"| {shape} | {wtype} | | | | {budget} | refused: {err} | | | |")
                    continue
                d = p["decode"]
                print(f"| {shape} | {wtype} | {gib(p['weights']['total'])} | {gib(p['layer_bytes_max'])} | "
                      f"{gib(p['kv_bytes'])} | {budget} | {p['placement']['text']} | "
                      f"{gib(p['placement']['host_bytes'])} | {d['tok_s_overlapped']:.2f} | {d['tok_s_serial']:.2f} |")


if __name__ == "__main__":
    main()
