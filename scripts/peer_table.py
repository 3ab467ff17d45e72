#!/usr/bin/env python3
"""Summarises a `make benchmark-peer` run (scripts/benchmark-peer.sh) into one Markdown
table per model and one JSON file with every sample.

    scripts/peer_table.py --runs RUNS.tsv --md OUT.md --json OUT.json [--title TEXT]

RUNS.tsv has one line per benchmark process, tab-separated:
    set  engine  type  round  model_file  result_json  set_description
engine is "septet" (result_json from `septet bench -o json`) or "llama.cpp" (from
`llama-bench -o json`). Each process ran one repetition of one pp test and one tg test;
the table gives the median over the rounds (the rounds alternate the engines and types, so
a slow moment of the shared machine is spread over all of them).

Bytes per token are the matmul weights one decoded token reads, counted with one rule for
both engines (scripts/gguf_weight_bytes.py): septet's from its own `weight_bytes`, llama.cpp's
from the GGUF tensor table. GB/s = bytes per token x tg t/s; "% of read bw" is against the
memory read probe `septet bench` measured in the same run, at the same thread count.
"""
import argparse
import collections
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_weight_bytes  # noqa: E402  (beside this file)

# (septet type, llama.cpp type): the comparisons the ratio rows show, in this order.
PAIRS = [("Q3P5", "Q3_K_S"), ("Q3P5", "Q3_K_M"), ("Q3P5", "IQ3_S"), ("Q3P5", "Q4_0"),
         ("Q3P5_NL", "Q3_K_S"), ("Q3P5_NL", "IQ3_S"), ("Q3P5_NL", "Q4_0"), ("Q4_G", "Q4_0"), ("Q4_NL", "Q4_0"),
         ("Q4_NL", "Q3_K_M"), ("Q8_0", "Q8_0")]


def load_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 7:
                raise SystemExit(f"peer_table.py: {path}: bad line (want 7 tab-separated fields): {line!r}")
            s, engine, typ, rnd, model, result, desc = parts
            runs.append({"set": s, "engine": engine, "type": typ, "round": int(rnd), "model": model,
                         "result": result, "desc": desc})
    return runs


def parse_septet(path):
    """-> ({"pp": t/s, "tg": t/s, "pp_n": N, "tg_n": N}, weight_bytes, bpw, read_gbs or None)"""
    with open(path) as f:
        j = json.load(f)
    out, wbytes, bpw = {}, None, None
    for r in j["results"]:
        kind = r["test"][:2]
        out[kind] = r["tok_per_s"]["median"]
        out[kind + "_n"] = r["n_tokens"]
        wbytes, bpw = r["weight_bytes"], r["bpw"]
    bw = None
    for b in j.get("bandwidth", []):
        bw = {"threads": b["threads"], "read_gbs": b["read_gbs"]["median"], "copy_gbs": b["copy_gbs"]["median"]}
    return out, wbytes, bpw, bw


def parse_llama(path):
    """-> ({"pp": t/s, "tg": t/s, ...}, info)"""
    with open(path) as f:
        j = json.load(f)
    out, info = {}, {}
    for r in j:
        samples = r.get("samples_ts") or [r["avg_ts"]]
        if r["n_prompt"] > 0 and r["n_gen"] == 0:
            out["pp"], out["pp_n"] = statistics.median(samples), r["n_prompt"]
        elif r["n_gen"] > 0 and r["n_prompt"] == 0:
            out["tg"], out["tg_n"] = statistics.median(samples), r["n_gen"]
        info = {k: r.get(k) for k in ("build_commit", "build_number", "cpu_info", "model_type", "model_size",
                                      "model_n_params", "n_threads", "type_k", "type_v", "flash_attn",
                                      "repack")}
    return out, info


def fmt_bytes(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


def summarise(runs):
    """Groups the runs by set and (engine, type); returns the structure written as JSON."""
    sets = collections.OrderedDict()
    bw = None
    gguf_cache = {}
    for r in runs:
        s = sets.setdefault(r["set"], {"description": r["desc"], "rows": collections.OrderedDict()})
        key = (r["engine"], r["type"])
        row = s["rows"].setdefault(key, {"engine": r["engine"], "type": r["type"], "model": r["model"],
                                         "pp": [], "tg": [], "rounds": []})
        if r["engine"] == "septet":
            res, wbytes, bpw, b = parse_septet(r["result"])
            row["weight_bytes"], row["bpw"] = wbytes, bpw
            row["weight_bytes_source"] = "septet bench weight_bytes"
            if b is not None:
                bw = b
        else:
            res, info = parse_llama(r["result"])
            row["llama_bench"] = info
            if r["model"] not in gguf_cache:
                gguf_cache[r["model"]] = gguf_weight_bytes.weight_bytes(r["model"])
            g = gguf_cache[r["model"]]
            row["weight_bytes"], row["bpw"], row["tensor_types"] = g["matmul_bytes"], g["bpw"], g["types"]
            row["weight_bytes_source"] = "GGUF tensor table (scripts/gguf_weight_bytes.py)"
        for kind in ("pp", "tg"):
            if kind in res:
                row[kind].append(res[kind])
                s[kind + "_n"] = res[kind + "_n"]
        row["rounds"].append({"round": r["round"], "result": r["result"], **{k: res.get(k) for k in ("pp", "tg")}})
    for s in sets.values():
        for row in s["rows"].values():
            row["pp_median"] = statistics.median(row["pp"]) if row["pp"] else None
            row["tg_median"] = statistics.median(row["tg"]) if row["tg"] else None
            row["tg_gbs"] = row["weight_bytes"] * row["tg_median"] / 1e9 if row["tg_median"] else None
            row["bw_fraction"] = row["tg_gbs"] / bw["read_gbs"] if bw and row["tg_gbs"] else None
        s["ratios"] = []
        for st, lt in PAIRS:
            a, b = s["rows"].get(("septet", st)), s["rows"].get(("llama.cpp", lt))
            if a is None or b is None:
                continue
            s["ratios"].append({"septet": st, "llama.cpp": lt, "bpw": ratio(a["bpw"], b["bpw"]),
                                "weight_bytes": ratio(a["weight_bytes"], b["weight_bytes"]),
                                "pp": ratio(a["pp_median"], b["pp_median"]),
                                "tg": ratio(a["tg_median"], b["tg_median"])})
    return sets, bw


def markdown(sets, bw, args):
    lines = []
    for name, s in sets.items():
        pp, tg = f"pp{s.get('pp_n', '?')}", f"tg{s.get('tg_n', '?')}"
        n_rounds = max(len(r["rounds"]) for r in s["rows"].values())
        lines.append(f"### {name}: {s['description']}")
        lines.append("")
        lines.append(f"| engine | type | bpw | bytes/token | {pp} t/s | {tg} t/s | tg GB/s | % of read bw |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for row in s["rows"].values():
            # benchmark-peer.sh runs a model with --repack 0 when llama-bench crashed on it by default
            norepack = row.get("llama_bench", {}).get("repack") is False
            kind = row["type"] + (" (--repack 0)" if norepack else "")
            lines.append(f"| {row['engine']} | {kind} | {row['bpw']:.2f} | {fmt_bytes(row['weight_bytes'])} | "
                         f"{fmt(row['pp_median'], '.2f')} | {fmt(row['tg_median'], '.2f')} | "
                         f"{fmt(row['tg_gbs'], '.2f')} | "
                         f"{'-' if row['bw_fraction'] is None else format(100 * row['bw_fraction'], '.1f') + ' %'} |")
        for q in s["ratios"]:
            lines.append(f"| **septet / llama.cpp** | {q['septet']} / {q['llama.cpp']} | {fmt(q['bpw'], '.2f')}x | "
                         f"{fmt(q['weight_bytes'], '.2f')}x | **{fmt(q['pp'], '.2f')}x** | **{fmt(q['tg'], '.2f')}x** "
                         f"| | |")
        lines.append("")
        lines.append(f"Median of {n_rounds} round(s); every round ran each engine/type once, alternating.")
        lines.append("")
    lines.append(f"Threads: {args.threads}. bpw and bytes/token: the matmul weights one decoded token reads "
                 "(every layer's q, k, v, o, gate, up, down and the output head, in the types stored; "
                 "embedding row and norms left out), the same rule for both engines. "
                 "GB/s = bytes/token x tg t/s (weights only, no KV cache).")
    if bw:
        lines.append(f"Memory read probe (`septet bench`, {bw['threads']} threads, same run): "
                     f"{bw['read_gbs']:.2f} GB/s read, {bw['copy_gbs']:.2f} GB/s copy.")
    lines.append("Ratio rows: septet / llama.cpp; > 1 means septet is faster (pp, tg) or reads more bytes (bpw, "
                 "bytes/token).")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--threads", required=True)
    ap.add_argument("--header", default="", help="Markdown put before the tables")
    args = ap.parse_args()
    sets, bw = summarise(load_runs(args.runs))
    md = (args.header + "\n\n" if args.header else "") + markdown(sets, bw, args)
    with open(args.md, "w") as f:
        f.write(md)
    out = {"threads": args.threads, "bandwidth": bw, "sets": {}}
    for name, s in sets.items():
        out["sets"][name] = {"description": s["description"], "pp_tokens": s.get("pp_n"), "tg_tokens": s.get("tg_n"),
                             "rows": list(s["rows"].values()), "ratios": s["ratios"]}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
