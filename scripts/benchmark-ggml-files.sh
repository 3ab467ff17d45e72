#!/usr/bin/env bash
# septet against llama.cpp on llama.cpp's own GGUF files (benchmark tooling, never part of `make test`):
# for each type, `llama-quantize` makes the file from an F16 base when it is missing, then every file is
# benched by `septet bench` and `llama-bench` back to back (same file, threads, pp, tg), for ROUNDS rounds,
# and one line per (round, file) prints both engines' pp and tg t/s. The docs/benchmarks.md §0 tables
# "Every llama.cpp file type" come from this loop.
#
# Environment (defaults): SEPTET (build/septet) PEER_BIN (/tmp/peer-llamacpp/build/bin, from
#   ../shared/tools/peer-llamacpp.sh) F16 (build/models/tinyllama-1.1b-f16.gguf: `make gen-weights` or
#   scripts/benchmark-peer.sh write it) OUT_DIR (build/models/peer) TYPES ("q4_0 q4_k_m q5_k_m q8_0 q3_k_m
#   q3_k_s iq4_xs q2_k") ROUNDS (2) THREADS (2) PP (256) TG (32) REPS (2)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
SEPTET=${SEPTET:-build/septet}
PEER_BIN=${PEER_BIN:-/tmp/peer-llamacpp/build/bin}
F16=${F16:-build/models/tinyllama-1.1b-f16.gguf}
OUT_DIR=${OUT_DIR:-build/models/peer}
TYPES=${TYPES:-q4_0 q4_k_m q5_k_m q8_0 q3_k_m q3_k_s iq4_xs q2_k}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
PP=${PP:-256}
TG=${TG:-32}
REPS=${REPS:-2}
for tool in "$SEPTET" "$PEER_BIN/llama-bench" "$PEER_BIN/llama-quantize"; do
  [[ -x $tool ]] || { echo "benchmark-ggml-files: $tool not found (build septet; run ../shared/tools/peer-llamacpp.sh)" >&2; exit 1; }
done
mkdir -p "$OUT_DIR"
base=$(basename "$F16" -f16.gguf)
for t in $TYPES; do
  f="$OUT_DIR/$base-llama-$t.gguf"
  if [[ ! -f $f ]]; then
    [[ -f $F16 ]] || { echo "benchmark-ggml-files: $F16 missing (make gen-weights)" >&2; exit 1; }
    timeout 3600 "$PEER_BIN/llama-quantize" "$F16" "$f" "${t^^}" > "$f.log" 2>&1
  fi
done
echo "round type | septet pp$PP tg$TG | llama.cpp pp$PP tg$TG (t/s, median of $REPS)"
for r in $(seq 1 "$ROUNDS"); do
  for t in $TYPES; do
    f="$OUT_DIR/$base-llama-$t.gguf"
    s=$(timeout 1800 "$SEPTET" bench -m "$f" -p "$PP" -n "$TG" -r "$REPS" -t "$THREADS" --bw-mib 0 2>&1 |
        grep -E "\| (pp$PP|tg$TG) " | awk -F'|' '{printf "%s ", $10}')
    l=$(timeout 1800 "$PEER_BIN/llama-bench" -m "$f" -p "$PP" -n "$TG" -r "$REPS" -t "$THREADS" 2>&1 |
        grep -E "pp$PP|tg$TG" | awk -F'|' '{printf "%s ", $8}')
    echo "$r $t | $s | $l"
  done
done
