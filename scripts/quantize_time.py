#!/usr/bin/env python3
"""Calibration + quantization time, septet beside llama.cpp, alternating (issue #12's time target).

    scripts/quantize_time.py [--rounds 2] [--threads 2] [--work build/quality-smollm2]
                             [--septet build/septet] [--peer /tmp/peer-llamacpp/build/bin]
                             [--plain] [--septet-b OTHER_BUILD/septet]

Uses the files scripts/quality_smollm2.py leaves in --work (smollm2-f32.gguf, the F32 base of
SmolLM2-135M-Instruct, and wiki.calib.txt, the 10,240-token calibration text) and the same flags:
llama-imatrix `-c 512 --chunks 20`, then llama-quantize --imatrix per type; septet quantize
`--calib-ctx 512 --calib-tokens 10240` per recipe (the recipes that meet the KLD targets of
docs/quality.md). Each round runs llama.cpp's imatrix and quantizes, then septet's recipes, so
both see the same machine state; the output files go to a scratch directory and are removed.
Wall seconds from the clock, CPU seconds (user + system) from getrusage of the child.
Prints per command the median over rounds, and per septet recipe its ratio to llama.cpp's
imatrix + quantize of each type.

--plain: quantization without calibration instead (llama-quantize without --imatrix of
PLAIN_LLAMA_TYPES; septet quantize --type T for PLAIN_TYPES), ratios to each llama.cpp type.
--septet-b: a second septet build, run after the first in every round with the same
arguments (an A/B of two builds on one machine state); its rows are labelled "septet-b".
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMA_TYPES = ["Q4_0", "Q3_K_S", "IQ3_S", "Q3_K_M"]
PLAIN_LLAMA_TYPES = ["Q4_0", "Q3_K_S", "Q4_K_M"]
PLAIN_TYPES = ["Q3P5", "Q3P5_NL", "Q4_NL", "Q4_T", "Q4_G"]
RECIPES = [  # (label, septet quantize arguments after IN OUT and the calibration flags)
    ("Q3P5_NL --act-order --rotate --refit 1", ["--type", "Q3P5_NL", "--act-order", "--rotate", "--refit", "1"]),
    ("Q4_NL --act-order --rotate --refit 1", ["--type", "Q4_NL", "--act-order", "--rotate", "--refit", "1"]),
    ("Q4_T --rotate", ["--type", "Q4_T", "--rotate"]),
    ("Q4_T --mix-bpw 4.1 --rotate --refit 1", ["--type", "Q4_T", "--mix-bpw", "4.1", "--rotate", "--refit", "1"]),
]


def timed(cmd, env=None):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-3000:]))
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "quality-smollm2"))
    ap.add_argument("--septet", default=os.path.join(ROOT, "build", "septet"))
    ap.add_argument("--peer", default="/tmp/peer-llamacpp/build/bin")
    ap.add_argument("--plain", action="store_true", help="no calibration (see above)")
    ap.add_argument("--septet-b", default=None, help="a second septet binary, alternated with --septet")
    args = ap.parse_args()
    base = os.path.join(args.work, "smollm2-f32.gguf")
    calib = os.path.join(args.work, "wiki.calib.txt")
    for f in (base,) if args.plain else (base, calib):
        if not os.path.exists(f):
            sys.exit("%s: missing; run scripts/quality_smollm2.py first (it writes both)" % f)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = args.peer + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    t = str(args.threads)
    llama_types = PLAIN_LLAMA_TYPES if args.plain else LLAMA_TYPES
    recipes = [("--type " + ty, ["--type", ty]) for ty in PLAIN_TYPES] if args.plain else RECIPES
    calib_flags = [] if args.plain else ["--calib", calib, "--calib-ctx", "512", "--calib-tokens", "10240"]
    builds = [("septet", args.septet)] + ([("septet-b", args.septet_b)] if args.septet_b else [])
    times = {}  # name -> [(wall, cpu)]
    with tempfile.TemporaryDirectory(prefix="septet-qtime-") as tmp:
        for rnd in range(args.rounds):
            imat = os.path.join(tmp, "imatrix.gguf")
            runs = []
            if not args.plain:
                runs.append(("llama-imatrix", [os.path.join(args.peer, "llama-imatrix"), "-m", base, "-f", calib, "-c",
                                               "512", "--chunks", "20", "-t", t, "-o", imat], env))
            for ty in llama_types:
                runs.append(("llama-quantize " + ty, [os.path.join(args.peer, "llama-quantize"),
                                                      *([] if args.plain else ["--imatrix", imat]), base,
                                                      os.path.join(tmp, "llama.gguf"), ty, t], env))
            for label, extra in recipes:
                for tag, binary in builds:
                    runs.append((tag + " " + label, [binary, "quantize", base, os.path.join(tmp, "septet.gguf"),
                                                     "--force", "-t", t, *calib_flags, *extra], None))
            for name, cmd, e in runs:
                wall, cpu = timed(cmd, e)
                times.setdefault(name, []).append((wall, cpu))
                print("round %d  %-48s %7.1f s wall %7.1f CPU s" % (rnd + 1, name, wall, cpu), flush=True)

    def med(name, i):
        return statistics.median(x[i] for x in times[name])

    print("\nmedians over %d rounds (wall s / CPU s):" % args.rounds)
    for name in times:
        print("  %-48s %7.1f %7.1f" % (name, med(name, 0), med(name, 1)))
    imat_w = 0.0 if args.plain else med("llama-imatrix", 0)
    imat_c = 0.0 if args.plain else med("llama-imatrix", 1)
    print("\nseptet / llama.cpp (%s), wall and CPU:" % ("quantize of the type" if args.plain
                                                       else "imatrix + quantize of the type"))
    print("  %-40s %s" % ("", "  ".join("%-15s" % ty for ty in llama_types)))
    for label, _ in recipes:
        for tag, _ in builds:
            cells = []
            for ty in llama_types:
                lw = imat_w + med("llama-quantize " + ty, 0)
                lc = imat_c + med("llama-quantize " + ty, 1)
                cells.append("%5.2f / %5.2f  " % (med(tag + " " + label, 0) / lw, med(tag + " " + label, 1) / lc))
            print("  %-40s %s" % ((tag + " " if tag != "septet" else "") + label, "".join(cells)))


if __name__ == "__main__":
    main()
