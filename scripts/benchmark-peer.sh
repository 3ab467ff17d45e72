#!/usr/bin/env bash
# septet vs llama.cpp on the same weights, same machine, same threads, same pp/tg (`make benchmark-peer`;
# never part of `make test`). Benchmark tooling only: it builds the peer with ../shared/tools/peer-llamacpp.sh.
#
#   1. synthetic set: `septet gen-weights --shape $PEER_SHAPE --type F16` (random weights, speed only);
#   2. smollm2 set:   SmolLM2-135M-Instruct (real weights), F32 base written by septet's own writer,
#                     `septet quantize --type F32` of the shared Q4_1 GGUF. When septet cannot read the
#                     source (Q4_1 support), the set is skipped with a message, never replaced by another base;
#   then each base becomes llama.cpp's Q4_0 Q3_K_S Q3_K_M IQ3_S Q8_0 (`llama-quantize`, no imatrix) and
#   septet's Q3P5 Q3P5_NL Q4_NL Q4_G Q8_0 (`septet quantize`, no calibration), and every model is benched once per
#   round, engines alternating (septet Q3P5, llama.cpp Q3_K_S, septet Q3P5_NL, llama.cpp IQ3_S, ...), for $PEER_REPS
#   rounds. scripts/peer_table.py prints the medians with septet / llama.cpp ratios and bytes per token.
#
# Environment (defaults): PEER_DIR (/tmp/peer-llamacpp) PEER_SHAPE (tinyllama-1.1b) PEER_THREADS (nproc)
#   PEER_PP (512) PEER_TG (128) PEER_REPS (3) PEER_OUT (build/bench-results/peer) MODELS_DIR (build/models)
#   PEER_SETS ("synthetic smollm2") PEER_LAYERS (the shape's; fewer makes a small smoke-test model)
#   SEPTET (build/septet) SEPTET_SHARED (../shared)
#   PEER_SMOLLM (the Q4_1 GGUF under shared/models/smollm2-135m-instruct)
#   PEER_TIMEOUT_BUILD (7200 s) PEER_TIMEOUT_QUANT (7200 s) PEER_TIMEOUT_BENCH (3600 s): per step.
# Generated and quantized models are cached in $MODELS_DIR/peer (the F16 base in $MODELS_DIR, shared with
# `make gen-weights`); delete a file to make it again. Output: $PEER_OUT/peer.md, peer.json (medians and
# every sample), raw/ (each engine's JSON), logs/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
SEPTET=${SEPTET:-build/septet}
SHARED=${SEPTET_SHARED:-$root/../shared}
PEER_DIR=${PEER_DIR:-/tmp/peer-llamacpp}
PEER_SHAPE=${PEER_SHAPE:-tinyllama-1.1b}
PEER_THREADS=${PEER_THREADS:-$(nproc)}
PEER_PP=${PEER_PP:-512}
PEER_TG=${PEER_TG:-128}
PEER_REPS=${PEER_REPS:-3}
PEER_OUT=${PEER_OUT:-build/bench-results/peer}
MODELS_DIR=${MODELS_DIR:-build/models}
PEER_SETS=${PEER_SETS:-synthetic smollm2}
PEER_LAYERS=${PEER_LAYERS:-}
PEER_SMOLLM=${PEER_SMOLLM:-$SHARED/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}
T_BUILD=${PEER_TIMEOUT_BUILD:-7200}
T_QUANT=${PEER_TIMEOUT_QUANT:-7200}
T_BENCH=${PEER_TIMEOUT_BENCH:-3600}

LLAMA_TYPES=(Q4_0 Q3_K_S Q3_K_M IQ3_S Q8_0)
SEPTET_TYPES=(Q3P5 Q3P5_NL Q4_NL Q4_G Q8_0)
# One round: each engine/type once, the engines alternating, each septet type beside its nearest peer.
ORDER=(septet:Q3P5 llama.cpp:Q3_K_S septet:Q3P5_NL llama.cpp:IQ3_S septet:Q4_G llama.cpp:Q4_0
       septet:Q4_NL llama.cpp:Q3_K_M septet:Q8_0 llama.cpp:Q8_0)

log() { echo "benchmark-peer: $*" >&2; }
die() { log "error: $*"; exit 1; }
lc() { echo "$1" | tr 'A-Z' 'a-z'; }

for v in PEER_THREADS PEER_PP PEER_TG PEER_REPS ${PEER_LAYERS:+PEER_LAYERS}; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v=${!v}: expected a positive integer"
done
[ -x "$SEPTET" ] || die "$SEPTET not found; run 'make build' first"
# gguf (PyPI) reads llama.cpp's tensor sizes: benchmark tooling, installed here when missing.
if ! python3 -c 'import gguf' 2>/dev/null; then
  log "installing the Python package gguf (PyPI)"
  python3 -m pip install -q gguf >&2 || python3 -m pip install -q --break-system-packages gguf >&2 ||
    die "the Python package 'gguf' is missing and pip could not install it; run: pip install gguf"
fi

# ---- the peer ----
log "building/finding llama.cpp in $PEER_DIR (../shared/tools/peer-llamacpp.sh; ~20 min the first time)"
mkdir -p "$PEER_OUT/logs" "$PEER_DIR"
# peer-llamacpp.sh fetches the sdist with `pip download --no-binary :all:`, which also builds pip's
# build dependencies from source and was seen to stall for over 10 minutes. Fetching only the sdist
# (its metadata prepared without build isolation) first lets the script find the tarball and skip that.
ver=${PEER_VERSION:-0.3.36}
if [ ! -x "$PEER_DIR/build/bin/llama-bench" ] && [ ! -f "$PEER_DIR/llama_cpp_python-$ver.tar.gz" ]; then
  python3 -c 'import scikit_build_core' 2>/dev/null || python3 -m pip install -q scikit-build-core >&2
  timeout 600 python3 -m pip download -q --no-deps --no-build-isolation --no-binary llama-cpp-python \
    -d "$PEER_DIR" "llama-cpp-python==$ver" >&2 || log "sdist pre-download failed; peer-llamacpp.sh will try its own"
fi
bin=$(timeout "$T_BUILD" "$SHARED/tools/peer-llamacpp.sh" "$PEER_DIR" 2>"$PEER_OUT/logs/peer-build.log" | tail -n 1) ||
  die "building llama.cpp failed; see $PEER_OUT/logs/peer-build.log"
for b in llama-bench llama-quantize; do [ -x "$bin/$b" ] || die "$bin/$b missing after the peer build"; done

rm -rf "$PEER_OUT/raw"
mkdir -p "$PEER_OUT/raw" "$MODELS_DIR/peer"
runs="$PEER_OUT/runs.tsv"
: >"$runs"

# make_once OUT CMD...: runs CMD (which writes OUT.part.gguf) unless OUT exists, then renames.
make_once() {
  local out=$1; shift
  if [ -s "$out" ]; then log "$out exists, kept"; return 0; fi
  local part="${out%.gguf}.part.gguf" lg="$PEER_OUT/logs/$(basename "${out%.gguf}").log"
  rm -f "$part"
  log "making $out"
  if ! timeout "$T_QUANT" "$@" >"$lg" 2>&1; then
    rm -f "$part"
    tail -n 5 "$lg" >&2
    log "failed: $* (log: $lg)"
    return 1
  fi
  mv "$part" "$out"
}

# quantize_all BASE PREFIX: llama.cpp's and septet's types of BASE, as PREFIX-{llama,septet}-TYPE.gguf.
quantize_all() {
  local base=$1 prefix=$2 t
  for t in "${LLAMA_TYPES[@]}"; do
    make_once "$prefix-llama-$(lc "$t").gguf" "$bin/llama-quantize" "$base" "$prefix-llama-$(lc "$t").part.gguf" \
      "$t" "$PEER_THREADS" || die "llama-quantize $t of $base failed (is the file readable by llama.cpp?)"
  done
  for t in "${SEPTET_TYPES[@]}"; do
    make_once "$prefix-septet-$(lc "$t").gguf" "$SEPTET" quantize --type "$t" -t "$PEER_THREADS" --force "$base" \
      "$prefix-septet-$(lc "$t").part.gguf" || die "septet quantize --type $t of $base failed"
  done
}

bw_done=0
peer_failed=()     # llama.cpp models whose llama-bench failed (left out of the table)
peer_norepack=()   # llama.cpp models benched with --repack 0 (the default crashed)
# llama_bench MODEL RESULT [EXTRA ARGS]: one llama-bench run of MODEL, its JSON to RESULT.
llama_bench() {
  local model=$1 res=$2
  shift 2
  timeout "$T_BENCH" "$bin/llama-bench" -m "$model" -p "$PEER_PP" -n "$PEER_TG" -r 1 -t "$PEER_THREADS" \
    "$@" -o json >"$res" 2>>"$PEER_OUT/logs/bench-llama.log"
}
# bench_set NAME DESCRIPTION PREFIX: the alternating rounds over PREFIX-*.gguf, appended to $runs.
bench_set() {
  local name=$1 desc=$2 prefix=$3 round entry engine t model res bw
  [ -n "${load_start:-}" ] || load_start=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
  for ((round = 1; round <= PEER_REPS; round++)); do
    for entry in "${ORDER[@]}"; do
      engine=${entry%%:*}; t=${entry#*:}
      res="$PEER_OUT/raw/$name-${engine%.cpp}-$(lc "$t")-r$round.json"
      if [ "$engine" = septet ]; then
        model="$prefix-septet-$(lc "$t").gguf"
        bw=0; [ "$bw_done" = 1 ] || bw=512   # the memory read probe, once per run
        log "round $round/$PEER_REPS: $name septet $t"
        timeout "$T_BENCH" "$SEPTET" bench -m "$model" -p "$PEER_PP" -n "$PEER_TG" -r 1 -t "$PEER_THREADS" \
          --bw-mib "$bw" -o json >"$res" 2>>"$PEER_OUT/logs/bench-septet.log" ||
          die "septet bench $model failed; see $PEER_OUT/logs/bench-septet.log"
        bw_done=1
      else
        model="$prefix-llama-$(lc "$t").gguf"
        case " ${peer_failed[*]} " in *" $model "*) continue ;; esac
        log "round $round/$PEER_REPS: $name llama.cpp $t"
        # The peer may crash on a type: llama.cpp 0.3.36 built -march=native on an AVX-512 Xeon VM
        # segfaults or hits an illegal instruction on Q4_0, Q3_K_M, IQ3_S and Q8_0 models unless its
        # load-time weight repack is off. Such a model is benched with `--repack 0` for the rest of the
        # run (marked in the table and in logs/failures.txt); if that fails too, its rows are left out.
        local rc=0 extra=()
        case " ${peer_norepack[*]} " in *" $model "*) extra=(--repack 0) ;; esac
        llama_bench "$model" "$res" "${extra[@]}" || rc=$?
        if [ "$rc" != 0 ] && [ ${#extra[@]} = 0 ]; then
          log "WARNING: llama-bench $model failed (exit $rc); benching it with --repack 0 from now on"
          echo "llama-bench $model: exit $rc (round $round); run with --repack 0" >>"$PEER_OUT/logs/failures.txt"
          peer_norepack+=("$model")
          rc=0
          llama_bench "$model" "$res" --repack 0 || rc=$?
        fi
        if [ "$rc" != 0 ]; then
          log "WARNING: llama-bench $model failed (exit $rc); llama.cpp $t is left out of this run's table"
          echo "llama-bench $model: exit $rc (round $round); left out" >>"$PEER_OUT/logs/failures.txt"
          peer_failed+=("$model")
          rm -f "$res"
          continue
        fi
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$engine" "$t" "$round" "$model" "$res" "$desc" >>"$runs"
    done
  done
}

sets_run=()
for set in $PEER_SETS; do
  case $set in
    synthetic)
      name=$PEER_SHAPE${PEER_LAYERS:+-l$PEER_LAYERS}
      base="$MODELS_DIR/$name-f16.gguf"   # without PEER_LAYERS, the file `make gen-weights` writes (same bytes)
      make_once "$base" "$SEPTET" gen-weights --shape "$PEER_SHAPE" ${PEER_LAYERS:+--layers "$PEER_LAYERS"} \
        --type F16 -t "$PEER_THREADS" -o "${base%.gguf}.part.gguf" ||
        die "septet gen-weights --shape $PEER_SHAPE failed"
      quantize_all "$base" "$MODELS_DIR/peer/$name"
      desc="$PEER_SHAPE shape${PEER_LAYERS:+ cut to $PEER_LAYERS layers}, synthetic random weights (speed only),"
      bench_set "$name" "$desc F16 base written by septet gen-weights" "$MODELS_DIR/peer/$name"
      sets_run+=("$name")
      ;;
    smollm2)
      base="$MODELS_DIR/peer/smollm2-135m-f32.gguf"
      if [ ! -f "$PEER_SMOLLM" ]; then
        log "SmolLM2 part skipped: $PEER_SMOLLM not found (set PEER_SMOLLM)"
        continue
      fi
      if ! make_once "$base" "$SEPTET" quantize --type F32 -t "$PEER_THREADS" --force "$PEER_SMOLLM" \
        "${base%.gguf}.part.gguf"; then
        log "SmolLM2 part SKIPPED: 'septet quantize --type F32 $PEER_SMOLLM' failed (septet cannot read" \
          "that file's tensor types yet?); the F32 base must come from septet's own writer, so no" \
          "SmolLM2 numbers this run"
        continue
      fi
      # A cached base must be septet's own F32 output, not a file made some other way.
      python3 -c 'import gguf, sys; r = gguf.GGUFReader(sys.argv[1]);
sys.exit(0 if "septet.quantize.source" in r.fields and r.fields["general.file_type"].contents() == 0 else 1)' \
        "$base" 2>/dev/null || die "$base was not written by 'septet quantize --type F32'; delete it and rerun"
      quantize_all "$base" "$MODELS_DIR/peer/smollm2-135m"
      desc="SmolLM2-135M-Instruct, real weights, F32 base written by septet quantize from the shared Q4_1 GGUF"
      bench_set smollm2-135m "$desc" "$MODELS_DIR/peer/smollm2-135m"
      sets_run+=(smollm2-135m)
      ;;
    *) die "PEER_SETS: unknown set '$set' (synthetic, smollm2)" ;;
  esac
done
[ "${#sets_run[@]}" -gt 0 ] || die "nothing was benched"

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit (+ uncommitted changes)"
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
header="## septet vs llama.cpp (\`make benchmark-peer\`)

Date $(date -u +%Y-%m-%d), septet $commit, llama.cpp from llama-cpp-python ${PEER_VERSION:-0.3.36}
(\`$PEER_DIR/build/bin\`), CPU: ${cpu:-unknown}, $(nproc) cores.
\`PEER_PP=$PEER_PP PEER_TG=$PEER_TG PEER_REPS=$PEER_REPS PEER_THREADS=$PEER_THREADS make benchmark-peer\`:
\`septet bench -p $PEER_PP -n $PEER_TG -r 1 -t $PEER_THREADS\` and
\`llama-bench -p $PEER_PP -n $PEER_TG -r 1 -t $PEER_THREADS\` (each tool's own warm-up), once per round each.
Load average (1/5/15 min) before the benchmarks: $load_start;
after: $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
(other jobs on the machine slow both engines; llama.cpp's spinning thread pool suffers most when cores are shared)."
python3 scripts/peer_table.py --runs "$runs" --md "$PEER_OUT/peer.md" --json "$PEER_OUT/peer.json" \
  --threads "$PEER_THREADS" --header "$header"
log "wrote $PEER_OUT/peer.md and $PEER_OUT/peer.json (raw results in $PEER_OUT/raw)"
