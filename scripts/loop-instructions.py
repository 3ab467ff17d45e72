#!/usr/bin/env python3
"""Counts the instructions of a kernel's hot loop in a compiled object file.

Disassembles FUNCTION (a substring of its demangled name) from OBJECT with
`objdump -d -C`, finds the smallest loop (a backward jump and its target) that
holds exactly COUNT instructions named MNEMONIC, and prints the loop's length
and its instructions by mnemonic (with --list, the loop itself). docs/benchmarks.md
§0 (tenth session) uses it on the AVX2 Q3P5 matvec, whose loop over one group of
4 blocks x 2 rows holds 32 vpmaddubsw:

  scripts/loop-instructions.py build/CMakeFiles/septet_kernels.dir/src/kernels/simd/dot_q3p5_slots.cc.o \\
      'N_AVX2::RowsLanes<1>(' vpmaddubsw 32

Benchmark tooling only (needs binutils' objdump); not part of the build or the tests.
"""
import argparse
import collections
import re
import subprocess
import sys


def function_lines(obj, name):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", obj], check=True, capture_output=True,
                         text=True).stdout
    lines, inside = [], False
    for line in out.splitlines():
        if re.match(r"^[0-9a-f]+ <.*>:$", line):
            if inside:
                break
            inside = name in line
            continue
        if inside:
            lines.append(line)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("object")
    ap.add_argument("function", help="substring of the demangled function name")
    ap.add_argument("mnemonic", help="instruction that identifies the loop, e.g. vpmaddubsw")
    ap.add_argument("count", type=int, help="how many of it the loop holds")
    ap.add_argument("--list", action="store_true", help="print the loop's instructions")
    a = ap.parse_args()
    insns = []  # (address, mnemonic, operands)
    for line in function_lines(a.object, a.function):
        m = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*(.*)", line)
        if m:
            insns.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if not insns:
        sys.exit(f"loop-instructions: no function matching {a.function!r} in {a.object}")
    index = {addr: i for i, (addr, _, _) in enumerate(insns)}
    best = None
    for i, (_, op, args) in enumerate(insns):
        m = re.match(r"([0-9a-f]+)", args)
        if not op.startswith("j") or not m:
            continue
        target = int(m.group(1), 16)
        if target not in index or index[target] > i:
            continue
        body = insns[index[target]:i + 1]
        if sum(1 for _, o, _ in body if o == a.mnemonic) == a.count and (best is None or len(body) < len(best)):
            best = body
    if best is None:
        sys.exit(f"loop-instructions: no loop of {a.function!r} holds exactly {a.count} {a.mnemonic}")
    counts = collections.Counter(op for _, op, _ in best)
    print(f"{len(best)} instructions in the loop at {best[0][0]:#x}")
    for op, n in counts.most_common():
        print(f"  {n:4d} {op}")
    if a.list:
        for addr, op, args in best:
            print(f"{addr:8x}  {op} {args}")


if __name__ == "__main__":
    main()
