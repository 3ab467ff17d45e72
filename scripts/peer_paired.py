#!/usr/bin/env python3
"""Same-round ratios of one or more `make benchmark-peer` runs (their peer.json files).

    scripts/peer_paired.py RUN1/peer.json [RUN2/peer.json ...]

Every round of a peer run ran each engine and type once, alternating, so the ratio of
septet's rate to llama.cpp's within one round compares the two under the same load of
the shared machine. For each model and each pair of types this prints those ratios
(pp and tg), round by round and run by run, and their median over all the given runs:
the "paired medians" of docs/benchmarks.md. Pass runs made with the same septet kernels.
"""
import json
import statistics
import sys

# (septet type, llama.cpp type), as scripts/peer_table.py's ratio rows.
PAIRS = [("Q3P5", "Q3_K_S"), ("Q3P5", "Q4_0"), ("Q3P5_NL", "Q3_K_S"), ("Q3P5_NL", "Q4_0"), ("Q4_G", "Q4_0"),
         ("Q4_NL", "Q4_0"), ("Q4_NL", "Q3_K_M"), ("Q8_0", "Q8_0")]


def rounds(row, test):
    """{round number: rate} of one engine/type row."""
    return {r["round"]: r[test] for r in row.get("rounds", []) if r.get(test) is not None}


def main(paths):
    if not paths:
        sys.exit(__doc__)
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append((p, json.load(f)))
    models = []
    for _, d in runs:
        for m in d["sets"]:
            if m not in models:
                models.append(m)
    print("| model | septet / llama.cpp | test | same-round ratios (run by run) | paired median |")
    print("|---|---|---|---|---:|")
    for model in models:
        for a, b in PAIRS:
            for test in ("tg", "pp"):
                per_run, all_ratios = [], []
                for _, d in runs:
                    rows = d["sets"].get(model, {}).get("rows", [])
                    ra = next((r for r in rows if r["engine"] == "septet" and r["type"] == a), None)
                    rb = next((r for r in rows if r["engine"] == "llama.cpp" and r["type"] == b), None)
                    if ra is None or rb is None:
                        continue
                    xa, xb = rounds(ra, test), rounds(rb, test)
                    ratios = [xa[k] / xb[k] for k in sorted(xa) if k in xb and xb[k] > 0]
                    per_run.append(", ".join(f"{x:.2f}" for x in ratios))
                    all_ratios += ratios
                if not all_ratios:
                    continue
                med = statistics.median(all_ratios)
                print(f"| {model} | {a} / {b} | {test} | {' ; '.join(per_run)} | {med:.2f}x |")


if __name__ == "__main__":
    main(sys.argv[1:])
