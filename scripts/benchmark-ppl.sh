#!/usr/bin/env bash
# `septet perplexity` vs `llama-perplexity` on the same GGUF files, the same text, the same threads, the two tools
# alternating (`make benchmark-ppl`; never part of `make test`). Benchmark tooling only: it uses the peer that
# `make benchmark-peer` builds (../shared/tools/peer-llamacpp.sh) and the SmolLM2 files that script made.
#
# Pairs (septet file : llama.cpp file):
#   F32   the F32 base `septet quantize --type F32` wrote from the shared Q4_1 GGUF (both tools read it);
#   Q8_0  llama-quantize's Q8_0 of that base (both tools read it);
#   Q3P5 / Q4_0  septet's own 3.5-bit file beside llama.cpp's Q4_0 of the same base (what a user of each runs).
# Each run is timed as a whole process (load, tokenize, evaluate, report), medians over $PPL_REPS rounds.
#
# Environment (defaults): PEER_DIR (/tmp/peer-llamacpp) MODELS_DIR (build/models) PPL_THREADS (nproc)
#   PPL_CHUNKS (8) PPL_CTX (512) PPL_REPS (3) PPL_OUT (build/bench-results/ppl) SEPTET (build/septet)
#   SEPTET_SHARED (../shared) PPL_TIMEOUT (1800 s per run)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
SEPTET=${SEPTET:-build/septet}
SHARED=${SEPTET_SHARED:-$root/../shared}
PEER_DIR=${PEER_DIR:-/tmp/peer-llamacpp}
MODELS_DIR=${MODELS_DIR:-build/models}
PPL_THREADS=${PPL_THREADS:-$(nproc)}
PPL_CHUNKS=${PPL_CHUNKS:-8}
PPL_CTX=${PPL_CTX:-512}
PPL_REPS=${PPL_REPS:-3}
PPL_OUT=${PPL_OUT:-build/bench-results/ppl}
T_RUN=${PPL_TIMEOUT:-1800}
TEXT=$SHARED/data/wiki.test.raw

log() { echo "benchmark-ppl: $*" >&2; }
die() { log "error: $*"; exit 1; }

for v in PPL_THREADS PPL_CHUNKS PPL_CTX PPL_REPS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v=${!v}: expected a positive integer"
done
[ -x "$SEPTET" ] || die "$SEPTET not found; run 'make build' first"
llama=$PEER_DIR/build/bin/llama-perplexity
[ -x "$llama" ] || die "$llama not found; run 'make benchmark-peer' first (it builds the peer and the models)"
[ -f "$TEXT" ] || die "$TEXT not found (set SEPTET_SHARED)"
p=$MODELS_DIR/peer/smollm2-135m
PAIRS=("F32|$p-f32.gguf|$p-f32.gguf" "Q8_0|$p-llama-q8_0.gguf|$p-llama-q8_0.gguf"
       "Q3P5 / Q4_0|$p-septet-q3p5.gguf|$p-llama-q4_0.gguf")
for pair in "${PAIRS[@]}"; do
  IFS="|" read -r _ s l <<<"$pair"
  for f in "$s" "$l"; do [ -s "$f" ] || die "$f missing; run 'make benchmark-peer' first (PEER_SETS=smollm2 is enough)"; done
done

mkdir -p "$PPL_OUT/logs"
runs=$PPL_OUT/runs.tsv
: >"$runs"
load_start=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)

# timed NAME ENGINE LOG CMD...: one run, its wall seconds and final PPL appended to $runs.
timed() {
  local name=$1 engine=$2 lg=$3; shift 3
  local t0 t1 ppl
  t0=$(date +%s.%N)
  timeout "$T_RUN" "$@" >"$lg" 2>&1 || { tail -n 5 "$lg" >&2; die "$engine failed on $name (log: $lg)"; }
  t1=$(date +%s.%N)
  if [ "$engine" = septet ]; then
    ppl=$(sed -n 's/^PPL: \([0-9.]*\) .*/\1/p' "$lg" | tail -n 1)
  else
    ppl=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\) .*/\1/p' "$lg" | tail -n 1)
  fi
  [ -n "$ppl" ] || die "no final PPL in $lg"
  printf '%s\t%s\t%s\t%s\n' "$name" "$engine" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" "$ppl" >>"$runs"
}

for ((round = 1; round <= PPL_REPS; round++)); do
  for pair in "${PAIRS[@]}"; do
    IFS="|" read -r name s l <<<"$pair"
    tag=$(echo "$name" | tr -cd 'A-Za-z0-9_')
    log "round $round/$PPL_REPS: $name"
    timed "$name" septet "$PPL_OUT/logs/$tag-septet-r$round.log" \
      "$SEPTET" perplexity -m "$s" -f "$TEXT" --ctx "$PPL_CTX" --chunks "$PPL_CHUNKS" -t "$PPL_THREADS"
    timed "$name" llama.cpp "$PPL_OUT/logs/$tag-llama-r$round.log" \
      "$llama" -m "$l" -f "$TEXT" -c "$PPL_CTX" --chunks "$PPL_CHUNKS" -t "$PPL_THREADS"
  done
done

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (+ uncommitted changes)"
python3 - "$runs" "$PPL_OUT/ppl.md" <<EOF
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
names = list(dict.fromkeys(r[0] for r in rows))
out = ["## septet perplexity vs llama-perplexity (\`make benchmark-ppl\`)", "",
       "Date $(date -u +%Y-%m-%d), septet $commit, SmolLM2-135M-Instruct, WikiText-2 test, $PPL_CHUNKS windows of "
       "$PPL_CTX, $PPL_THREADS threads, $PPL_REPS alternating rounds (median wall seconds of the whole process).",
       "Load average before: $load_start; after: $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown).", "",
       "| file (septet / llama.cpp) | septet s | llama.cpp s | speed ratio (llama s / septet s) | septet PPL | llama.cpp PPL |",
       "|---|---:|---:|---:|---:|---:|"]
for n in names:
    s = [float(r[2]) for r in rows if r[0] == n and r[1] == "septet"]
    l = [float(r[2]) for r in rows if r[0] == n and r[1] == "llama.cpp"]
    ps = [r[3] for r in rows if r[0] == n and r[1] == "septet"][-1]
    pl = [r[3] for r in rows if r[0] == n and r[1] == "llama.cpp"][-1]
    ms, ml = statistics.median(s), statistics.median(l)
    out.append(f"| {n} | {ms:.1f} | {ml:.1f} | {ml / ms:.2f}x | {ps} | {pl} |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
log "wrote $PPL_OUT/ppl.md (runs in $runs, logs in $PPL_OUT/logs)"
