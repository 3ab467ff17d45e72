#!/usr/bin/env bash
# Measures, on the machine it runs on, the figures docs/benchmarks.md §0 (ninth session)
# uses to bound the AVX2 Q3P5 kernels: the core clock (a chain of dependent integer adds)
# and how many vpmaddubsw (with a memory operand, as the kernels issue it; and in the two
# ways the Q3P5 GEMM tile can broadcast its code quads), vphaddd and vpermd one core issues
# per cycle. Benchmark tooling only (gcc, AVX2 machine); not part
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
_Alignas(64) static int8_t cs[64 * 8];

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

/* The AVX2 Q3P5 GEMM tile's inner step, two ways: a code dword reaches every lane either
   by a vpbroadcastd from memory per quad (the tile until the tenth session) or by one
   vbroadcasti128 of 4 quads and a vpshufd per quad (after), each against 8 tokens' packed
   quads, 2 rows; 16 vpmaddubsw per iteration. */
static inline __m256i StepBcastMem(const int8_t* x, const int8_t* c) {
  __m256i p0 = _mm256_setzero_si256(), p1 = p0;
#pragma GCC unroll 8
  for (int q = 0; q < 8; ++q) {
    const __m256i xv = _mm256_load_si256((const __m256i*)(x + 32 * q));
    p0 = _mm256_add_epi16(p0, _mm256_maddubs_epi16(_mm256_set1_epi32(*(const int*)(c + 4 * q)), xv));
    p1 = _mm256_add_epi16(p1, _mm256_maddubs_epi16(_mm256_set1_epi32(*(const int*)(c + 32 + 4 * q)), xv));
  }
  return _mm256_add_epi16(p0, p1);
}
#define QUAD(q, imm)                                                                          \
  {                                                                                           \
    const __m256i xv = _mm256_load_si256((const __m256i*)(x + 32 * (q)));                    \
    p0 = _mm256_add_epi16(p0, _mm256_maddubs_epi16(_mm256_shuffle_epi32(ca, imm), xv));      \
    p1 = _mm256_add_epi16(p1, _mm256_maddubs_epi16(_mm256_shuffle_epi32(cb, imm), xv));      \
  }
static inline __m256i StepShuffle(const int8_t* x, const int8_t* c) {
  __m256i p0 = _mm256_setzero_si256(), p1 = p0;
  __m256i ca = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)c));
  __m256i cb = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)(c + 32)));
  QUAD(0, 0x00) QUAD(1, 0x55) QUAD(2, 0xAA) QUAD(3, 0xFF)
  ca = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)(c + 16)));
  cb = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)(c + 48)));
  QUAD(4, 0x00) QUAD(5, 0x55) QUAD(6, 0xAA) QUAD(7, 0xFF)
  return _mm256_add_epi16(p0, p1);
}
#define TILE(name, step)                                                                      \
  static __attribute__((noinline)) __m256i name(long n) {                                     \
    __m256i acc = _mm256_setzero_si256();                                                     \
    for (long it = 0; it < n; ++it) {                                                         \
      const int8_t* x = xs + 256 * (it & 7);                                                  \
      const int8_t* c = cs + 64 * (it & 7);                                                   \
      __asm__ volatile("" : "+r"(x), "+r"(c));                                                \
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(step(x, c), _mm256_set1_epi16(1)));      \
    }                                                                                         \
    return acc;                                                                               \
  }
TILE(TileBcastMem, StepBcastMem)
TILE(TileShuffle, StepShuffle)

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
  const long m = 10000000;
  double t2 = Now();
  const __m256i r2 = TileBcastMem(m);
  printf("tile: vpbroadcastd mem + vpmaddubsw %.2f vpmaddubsw per cycle\n", 16.0 * m / (Now() - t2) / hz);
  t2 = Now();
  const __m256i r3 = TileShuffle(m);
  printf("tile: vpshufd reg + vpmaddubsw     %.2f vpmaddubsw per cycle\n", 16.0 * m / (Now() - t2) / hz);
  RATE("vpmaddubsw ymm, registers", "vpmaddubsw");
  RATE("vpmaddwd ymm, registers", "vpmaddwd");
  RATE("vphaddd ymm", "vphaddd");
  RATE("vpermd ymm", "vpermd");
  RATE("vpsrlvd ymm", "vpsrlvd");
  return _mm256_extract_epi16(r, 0) + _mm256_extract_epi32(r2, 0) + _mm256_extract_epi32(r3, 0) == 12345;
}
EOF
gcc -O2 -mavx2 -o "$dir/rates" "$dir/rates.c"
"$dir/rates"
