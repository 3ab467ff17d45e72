#!/usr/bin/env bash
# Measures, on the machine it runs on, the figures docs/benchmarks.md §0 (ninth session)
# uses to bound the AVX2 Q3P5 kernels: the core clock (a chain of dependent integer adds)
# and how many vpmaddubsw (with a memory operand, as the kernels issue it), vphaddd and
# vpermd one core issues per cycle. Benchmark tooling only (gcc, AVX2 machine); not part
# of the build or the tests. Usage: scripts/x86-issue-rates.sh   (about 10 s)
set -euo pipefail
grep -qw avx2 /proc/cpuinfo || { echo "x86-issue-rates: this CPU has no AVX2" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/rates.c" <<'EOF'
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 10 dependent adds per iteration: one per cycle on any x86 core. */
static double ClockGHz(void) {
  const long n = 200000000;
  long x = 0;
  const double t = Now();
  for (long i = 0; i < n; ++i) {
    __asm__ volatile(
        "add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
        "add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0"
        : "+r"(x));
  }
  return 10.0 * (double)n / (Now() - t) / 1e9;
}

_Alignas(64) static int8_t xs[64 * 32 * 32];

/* 32 vpmaddubsw with a memory operand and 32 vpaddw per iteration, 4 chains: the
   shape of the Q3P5 tiles (the pointer moves so nothing is hoisted). */
static __attribute__((noinline)) __m256i MaddubsMem(long n, __m256i c) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (long it = 0; it < n; ++it) {
    const int8_t* x = xs + 1024 * (it & 31);
    __asm__ volatile("" : "+r"(x));
    for (int q = 0; q < 32; q += 4) {
      a0 = _mm256_add_epi16(a0, _mm256_maddubs_epi16(c, _mm256_load_si256((const __m256i*)(x + 32 * q))));
      a1 = _mm256_add_epi16(a1, _mm256_maddubs_epi16(c, _mm256_load_si256((const __m256i*)(x + 32 * q + 32))));
      a2 = _mm256_add_epi16(a2, _mm256_maddubs_epi16(c, _mm256_load_si256((const __m256i*)(x + 32 * q + 64))));
      a3 = _mm256_add_epi16(a3, _mm256_maddubs_epi16(c, _mm256_load_si256((const __m256i*)(x + 32 * q + 96))));
    }
  }
  return _mm256_add_epi16(_mm256_add_epi16(a0, a1), _mm256_add_epi16(a2, a3));
}

/* 8 independent instructions per iteration on registers (throughput, not latency). */
#define EIGHT(op)                                                                           \
  __asm__ volatile(op " %%ymm8, %%ymm9, %%ymm0\n" op " %%ymm8, %%ymm9, %%ymm1\n"             \
                   op " %%ymm8, %%ymm9, %%ymm2\n" op " %%ymm8, %%ymm9, %%ymm3\n"             \
                   op " %%ymm8, %%ymm9, %%ymm4\n" op " %%ymm8, %%ymm9, %%ymm5\n"             \
                   op " %%ymm8, %%ymm9, %%ymm6\n" op " %%ymm8, %%ymm9, %%ymm7\n" ::          \
                       : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7")
#define RATE(name, op)                                                       \
  do {                                                                       \
    const long n = 50000000;                                                 \
    const double t = Now();                                                  \
    for (long i = 0; i < n; ++i) EIGHT(op);                                  \
    printf("%-34s %.2f per cycle\n", name, 8.0 * n / (Now() - t) / hz);      \
  } while (0)

int main(void) {
  const double ghz = ClockGHz(), hz = ghz * 1e9;
  printf("clock (dependent adds)             %.2f GHz\n", ghz);
  const long n = 20000000;
  const double t = Now();
  const __m256i r = MaddubsMem(n, _mm256_set1_epi8(3));
  printf("vpmaddubsw ymm, mem (+ vpaddw)     %.2f per cycle\n", 32.0 * n / (Now() - t) / hz);
  RATE("vpmaddubsw ymm, registers", "vpmaddubsw");
  RATE("vpmaddwd ymm, registers", "vpmaddwd");
  RATE("vphaddd ymm", "vphaddd");
  RATE("vpermd ymm", "vpermd");
  RATE("vpsrlvd ymm", "vpsrlvd");
  return _mm256_extract_epi16(r, 0) == 12345;
}
EOF
gcc -O2 -mavx2 -o "$dir/rates" "$dir/rates.c"
"$dir/rates"
