#!/usr/bin/env bash
# GPU validation of the CUDA backend (issue #13), run on the GPU machine from the
# package scripts/gpu-package.sh made. Each step runs under a timeout and writes its
# log (packed into OUT_DIR/logs.tgz); a failing step does not stop the next one.
#
# usage: scripts/gpu-validate.sh PKG_DIR OUT_DIR STEP...
#   env      GPU, driver, CUDA libraries found, libraries the binaries miss
#   tests    septet_cuda_tests (all device tests but SmolLM2's)
#   smollm2  joins the SmolLM2 pieces (checks the SHA-256), runs its device tests and
#            `septet generate --backend cuda` on it
#   generate `septet generate --backend cuda` on stories260K (CLI end to end)
#   bench    gen-weights llama3-8b for $SHAPE_TYPES, then `septet bench --backend cuda`
#            (BENCH_FLAGS), one model per run
#   ncu      Nsight Compute on the Q3P5 decode matvec kernels (after bench)
set -uo pipefail
pkg=$(realpath "${1:?usage: gpu-validate.sh PKG_DIR OUT_DIR STEP...}")
dest=${2:?usage: gpu-validate.sh PKG_DIR OUT_DIR STEP...}
shift 2
# Unpacked package, SmolLM2 pieces and logs live outside the repository copy, so that a
# later call on the same (still warm) machine finds them: the device tool replaces the
# copy, and a 64 MiB transfer cannot take the package and the whole GGUF at once.
run=${RUN_DIR:-/tmp/septet-gpu-run}
out=$run/logs  # every log; after each step they are packed into OUT_DIR/logs.tgz (few files travel back)
mkdir -p "$run/pieces"
for f in "$pkg"/smollm2.part* "$pkg"/smollm2.sha256; do [ -e "$f" ] && cp "$f" "$run/pieces/"; done
SHAPE_TYPES=${SHAPE_TYPES:-"Q3P5 Q4_G Q8_0"}
BENCH_FLAGS=${BENCH_FLAGS:-"-p 512 -n 128 -b 1,8,32,128 -r 3 --bw-mib 2048"}
MODELS=${MODELS:-/tmp/septet-gpu-models}
mkdir -p "$out" "$dest" "$MODELS"
if [ ! -x "$run/bin/septet" ]; then
  mkdir -p "$run"
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$pkg/pkg.tar.xz" "$run" ||
    { echo "gpu-validate: cannot unpack $pkg/pkg.tar.xz" >&2; exit 1; }
fi
cudalibs=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/lib /usr/local/cuda*/targets/*/lib /usr/lib/x86_64-linux-gnu /opt \
  -maxdepth 6 -name 'libcublas.so.13*' 2>/dev/null | head -1)
export LD_LIBRARY_PATH="$run/lib${cudalibs:+:$(dirname "$cudalibs")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SEPTET_SHARED="$run/shared"
septet=$run/bin/septet

step() {  # step NAME SECONDS CMD...: runs CMD under a timeout, log in $out/NAME.log
  local name=$1 secs=$2
  shift 2
  local t0=$SECONDS
  timeout --kill-after=10 "$secs" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  printf '%-28s rc=%-3d %4ds\n' "$name" "$rc" $((SECONDS - t0)) | tee -a "$out/summary.txt"
  tar -C "$out" -czf "$dest/logs.tgz" .
  return $rc
}

for s in "$@"; do
  case $s in
    env)
      { date -u; nvidia-smi; nvidia-smi -q | grep -E 'Driver Version|CUDA Version|Product Name|Max Clocks' -A0;
        echo "cuBLAS: ${cudalibs:-not found}"; ldd "$septet" "$run/bin/septet_cuda_tests" | grep 'not found';
        nproc; free -g; } > "$out/env.log" 2>&1
      grep -E 'H200|Driver|cuBLAS|not found' "$out/env.log" | head ;;
    tests)
      step cuda_tests 150 "$run/bin/septet_cuda_tests" --gtest_filter='-*CudaSmolLM2*' \
        --gtest_output="xml:$out/cuda_tests.xml"
      grep -E '^\[  (FAILED|PASSED|SKIPPED) |^\[cuda|Failure|error' "$out/cuda_tests.log" | head -60 ;;
    smollm2)
      d=$run/shared/models/smollm2-135m-instruct
      cat "$run"/pieces/smollm2.part* > "$d/SmolLM2-135M-Instruct.Q4_1.gguf"
      (cd "$d" && sha256sum -c "$run/pieces/smollm2.sha256") 2>&1 | tee "$out/smollm2_join.log"
      step cuda_smollm2_tests 200 "$run/bin/septet_cuda_tests" --gtest_filter='*CudaSmolLM2*' \
        --gtest_output="xml:$out/cuda_smollm2_tests.xml"
      grep -E '^\[  (FAILED|PASSED|SKIPPED) |^\[cuda|Failure|error' "$out/cuda_smollm2_tests.log" | head -60
      step generate_smollm2 60 "$septet" generate -m "$d/SmolLM2-135M-Instruct.Q4_1.gguf" --backend cuda \
        -p "The capital of France is" -n 24 --temp 0 ;;
    generate)
      step generate_stories 60 "$septet" generate -m "$SEPTET_SHARED/models/stories260K/stories260K.bin" \
        --backend cuda -p "Once upon a time" -n 48 --temp 0 ;;
    bench)
      for t in $SHAPE_TYPES; do
        f=$MODELS/llama3-8b-$t.gguf
        [ -e "$f" ] || step "gen_$t" 120 "$septet" gen-weights --shape llama3-8b --type "$t" -o "$f" || continue
        # shellcheck disable=SC2086  # BENCH_FLAGS is a list of flags
        step "bench_$t" 180 "$septet" bench -m "$f" --backend cuda $BENCH_FLAGS -o md
        grep -E '^\||GB/s' "$out/bench_$t.log"
      done ;;
    ncu)  # the decode matvec alone: duration and DRAM throughput per kernel (Nsight Compute)
      ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
      f=$MODELS/llama3-8b-Q3P5.gguf
      [ -n "$ncu_bin" ] && [ -e "$f" ] &&
        step ncu_matvec 90 "$ncu_bin" --clock-control none --kernel-name regex:MatVecKernel --launch-skip 400 \
          --launch-count 14 \
          --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed \
          "$septet" bench -m "$f" --backend cuda -p 0 -n 4 -r 1 --bw-mib 0
      grep -E 'MatVecKernel|duration|dram__' "$out/ncu_matvec.log" | head -60 ;;
    *) echo "gpu-validate: unknown step $s" >&2 ;;
  esac
done
tar -C "$out" -czf "$dest/logs.tgz" .
cat "$out/summary.txt" 2>/dev/null
