// Per-target helpers shared by the kernel families of src/kernels/simd/.
// Included once per Highway target (foreach_target.h), hence the toggle guard
// instead of #pragma once.

#if defined(SEPTET_KERNELS_SIMD_COMMON_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_COMMON_INL_H_
#undef SEPTET_KERNELS_SIMD_COMMON_INL_H_
#else
#define SEPTET_KERNELS_SIMD_COMMON_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hwy/highway.h"
#include "kernels/cpu/weight_view.h"
#include "kernels/simd/prefetch.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/q8_act.h"

#if SEPTET_SIMD_X86
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows and activation blocks may start at any byte address: scalar fields are
// read through memcpy (compiles to a plain load).
HWY_INLINE uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
HWY_INLINE uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
HWY_INLINE float LoadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// Q8_A activation block i of a row: {float d; int16 sum; int8 qs[32]; pad}.
inline constexpr size_t kQ8ABytes = sizeof(quant::BlockQ8A);
inline constexpr size_t kQ8AQsOffset = offsetof(quant::BlockQ8A, qs);
static_assert(kQ8ABytes == 40 && kQ8AQsOffset == 6 && offsetof(quant::BlockQ8A, sum) == 4);
HWY_INLINE const uint8_t* Q8ABlock(const uint8_t* act, int64_t i) {
  return act + static_cast<size_t>(i) * kQ8ABytes;
}
HWY_INLINE float Q8AScale(const uint8_t* blk) { return LoadF32(blk); }
HWY_INLINE int32_t Q8ASum(const uint8_t* blk) {
  int16_t s;
  std::memcpy(&s, blk + 4, 2);
  return s;
}
HWY_INLINE const int8_t* Q8ACodes(const uint8_t* blk) {
  return reinterpret_cast<const int8_t*>(blk + kQ8AQsOffset);
}

// Portable exact integer dot sum_k u[k] * x[k] of n codes (n a multiple of
// 16): widened to int32, so exact for any |u|, |x| < 2^8 and n < 2^15.
template <typename TU>
HWY_INLINE int32_t DotCodesI32(const TU* u, const int8_t* x, int n) {
  const hn::ScalableTag<int32_t> d32;
  const hn::Rebind<TU, decltype(d32)> du;
  const hn::Rebind<int8_t, decltype(d32)> dx;
  const size_t N = hn::Lanes(d32);
  auto acc = hn::Zero(d32);
  for (int k = 0; k < n; k += static_cast<int>(N)) {
    const auto a = hn::PromoteTo(d32, hn::LoadU(du, u + k));
    const auto b = hn::PromoteTo(d32, hn::LoadU(dx, x + k));
    acc = hn::Add(acc, hn::Mul(a, b));
  }
  return hn::GetLane(hn::SumOfLanes(d32, acc));
}

// Float dot products in f32 lanes (dot_float.cc), as register
// tiles of R rows x T tokens. Every (row, token) output is one FMA chain over the
// vectors of the row in index order (acc += w[i, i + N) * x[i, i + N), i = 0, N,
// 2N, ...), then SumOfLanes(acc), then the scalar tail in index order. The tile
// only decides how many such chains run side by side (a weight vector serves T
// tokens, an activation vector R rows, and R x T chains hide the FMA latency), so
// every tile shape gives every output the same bits: MatVec (T = 1) and MatMul
// agree by construction. One chain sums n products in f32, so
// |simd - exact| <= gamma_{n+2} sum |w x| (the bound simd_matvec_test.cc checks).
// load(df, r, i): f32 weights [i, i + Lanes) of tile row r; scalar(r, i): weight i.
// Output (r, t) goes to y[t * y_stride + r].
template <int R, int T, class LoadW, class ScalarW>
HWY_INLINE void FloatTile(const LoadW& load, const ScalarW& scalar, const float* const* x, int64_t n, float* y,
                          int64_t y_stride) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t vec_end = n / N * N;
  V acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(df);
  }
  for (int64_t i = 0; i < vec_end; i += N) {
    V wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load(df, r, i);
    for (int t = 0; t < T; ++t) {
      const V xv = hn::LoadU(df, x[t] + i);
      for (int r = 0; r < R; ++r) acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float sum = hn::GetLane(hn::SumOfLanes(df, acc[r][t]));
      for (int64_t i = vec_end; i < n; ++i) {
        sum += scalar(r, i) * LoadF32(reinterpret_cast<const uint8_t*>(x[t] + i));  // x may be misaligned
      }
      y[t * y_stride + r] = sum;
    }
  }
}

// The generic row loops every kernel family shares:
//   MatVecByRows:     y[r - r0] = row_dot(row r, cols, act) for r in [r0, r1);
//   MatMulByRowTiles: the matvec over m activation rows (act_stride bytes apart,
//                     outputs y_stride apart), 4 weight rows at a time so a row
//                     tile stays cache-resident across the tokens. Each output is
//                     still computed by the same matvec, so the order changes nothing.
template <class RowDot>
HWY_INLINE void MatVecByRows(const RowDot& row_dot, const cpu::WeightView& w, int64_t r0, int64_t r1,
                             const uint8_t* act, float* y) {
  for (int64_t r = r0; r < r1; ++r) y[r - r0] = row_dot(w.row(r), w.cols, act);
}
template <class MatVec>
HWY_INLINE void MatMulByRowTiles(const MatVec& matvec, const cpu::WeightView& w, int64_t r0, int64_t r1,
                                 const uint8_t* act, size_t act_stride, int64_t m, float* y, int64_t y_stride) {
  for (int64_t ra = r0; ra < r1; ra += 4) {
    const int64_t rb = r1 < ra + 4 ? r1 : ra + 4;
    for (int64_t t = 0; t < m; ++t) {
      matvec(w, ra, rb, act + static_cast<size_t>(t) * act_stride, y + t * y_stride + ra);
    }
  }
}

// A MatMul of row tiles that each run kT tokens at a time: for rows [r0, r1) in
// tiles of 4 (then single rows), tile(R, row, act[kT], y[kT]) for every whole kT
// tokens and one(R, row, act, y) for the tokens left over, R a
// std::integral_constant<int, 4 or 1>; y[k] points at token k's output of `row`.
template <int kT, class Tile, class One>
HWY_INLINE void RowTilesByTokens(int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m, float* y,
                                 int64_t y_stride, const Tile& tile, const One& one) {
  const auto run = [&](auto rows, int64_t r) HWY_ATTR {
    const uint8_t* a[kT];
    float* yt[kT];
    int64_t t = 0;
    for (; t + kT <= m; t += kT) {
      for (int i = 0; i < kT; ++i) {
        a[i] = act + static_cast<size_t>(t + i) * act_stride;
        yt[i] = y + (t + i) * y_stride + r;
      }
      tile(rows, r, a, yt);
    }
    for (; t < m; ++t) one(rows, r, act + static_cast<size_t>(t) * act_stride, y + t * y_stride + r);
  };
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) run(std::integral_constant<int, 4>(), r);
  for (; r < r1; ++r) run(std::integral_constant<int, 1>(), r);
}

#if SEPTET_SIMD_X86
// ---- AVX2 building blocks (256-bit integer dot products) ----
// u8 x s8 products summed in pairs (vpmaddubsw), then pairs of int16 summed into
// int32 with weight `w16` (vpmaddwd). Exact as long as each pair sum fits int16:
// |u| <= 15, |x| <= 127 gives <= 3810; Q8_0 (|u| <= 127 via sign transfer) 32258.
HWY_INLINE __m256i MulAddU8I8(__m256i u, __m256i x, __m256i w16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), w16);
}

// 8 x 8 transpose of dwords: on return r[q] holds dword q of the 8 inputs, in
// input order (the GEMMs' activation packs: token t's quad q to lane t).
HWY_INLINE void Transpose8x8Epi32(__m256i (&r)[8]) {
  __m256i u[8], v[8];
  for (int t = 0; t < 8; t += 2) {  // per 128-bit half: [a0 b0 a1 b1], [a2 b2 a3 b3]
    u[t] = _mm256_unpacklo_epi32(r[t], r[t + 1]);
    u[t + 1] = _mm256_unpackhi_epi32(r[t], r[t + 1]);
  }
  for (int t = 0; t < 8; t += 4) {  // v[t + j]: dwords j (low half) and j + 4 (high) of inputs t .. t + 3
    v[t] = _mm256_unpacklo_epi64(u[t], u[t + 2]);
    v[t + 1] = _mm256_unpackhi_epi64(u[t], u[t + 2]);
    v[t + 2] = _mm256_unpacklo_epi64(u[t + 1], u[t + 3]);
    v[t + 3] = _mm256_unpackhi_epi64(u[t + 1], u[t + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2x128_si256(v[j], v[j + 4], 0x20);
    r[j + 4] = _mm256_permute2x128_si256(v[j], v[j + 4], 0x31);
  }
}

// The sums of the 16 signed bytes in each 128-bit half of v: vpsadbw adds 8
// bytes of v + 128 per 64-bit lane, less 16 * 128 per half.
HWY_INLINE void HalfSumsI8(__m256i v, int32_t* lo, int32_t* hi) {
  const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(v, _mm256_set1_epi8(-128)), _mm256_setzero_si256());
  const __m128i a = _mm256_castsi256_si128(sad), b = _mm256_extracti128_si256(sad, 1);
  *lo = static_cast<int32_t>(_mm_cvtsi128_si64(a) + _mm_extract_epi64(a, 1)) - 16 * 128;
  *hi = static_cast<int32_t>(_mm_cvtsi128_si64(b) + _mm_extract_epi64(b, 1)) - 16 * 128;
}
// The sum of the 32 signed bytes of v.
HWY_INLINE int32_t SumI8(__m256i v) {
  int32_t lo, hi;
  HalfSumsI8(v, &lo, &hi);
  return lo + hi;
}

// v unchanged, but opaque to the optimiser: a product passed through it cannot
// be contracted with the following add into an FMA (GCC does that to the
// _mm_mul_ps / _mm_add_ps operators at -ffp-contract=fast, its default).
template <class V>
HWY_INLINE V NoContract(V v) {
  asm("" : "+v"(v));
  return v;
}

// Per-thread scratch (a thread_local inside an accessor) is reached through a
// HWY_NOINLINE accessor called once per kernel call: inlined, GCC recomputes the
// thread_local's address at each use in a -fPIC build, a __tls_get_addr call
// inside the loops (with a vzeroupper and every live vector spilled around it;
// the AVX2 Q3P5 matvec's group loop had one per 8 row-blocks).

// Software prefetch of a weight stream, kWeightPrefetchBytes ahead of the byte
// being decoded (prefetches never fault, so running past the end is harmless).
// Without it the decode and the memory stream barely overlap. The distance was
// chosen by `septet bench` tg on the TinyLlama shape (docs/benchmarks.md §0),
// and the best one depends on the CPU more than on the target: on the Intel
// Xeon VM (AVX3_DL) 4 and 8 KiB decoded alike and 12-16 KiB 5-17 % faster in
// every format (Q3P5 29-31 -> 34-36 t/s); on AMD Zen 4 (AVX3_DL too) 16 KiB was
// the slower one (Q3P5 45-53 t/s against 49-59 at 4 KiB and 52-63 at 2 KiB,
// Q4_NL 32-42 against 36-47; 0 KiB 41-44); on AMD Zen 3 (AVX2) 2, 4 and 8 KiB
// decoded alike. So the AVX-512 targets take 16 KiB on Intel and 4 KiB on other
// CPUs (prefetch.h, chosen once at start-up), the others 4 KiB.
// -DSEPTET_WEIGHT_PREFETCH=N sets every target's distance (for such sweeps).
#if defined(SEPTET_WEIGHT_PREFETCH)
inline constexpr int64_t kWeightPrefetchBytes = SEPTET_WEIGHT_PREFETCH;
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
inline const int64_t& kWeightPrefetchBytes = detail::kAvx512WeightPrefetchBytes;
#else
inline constexpr int64_t kWeightPrefetchBytes = 4096;
#endif
HWY_INLINE void PrefetchWeights(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kWeightPrefetchBytes), _MM_HINT_T0);
}

// The first cache-line boundary at or after p (a scratch vector's data() is only
// 16-byte aligned; give it 63 bytes more). Packed activation tiles start there, so
// that no 64-byte load of them straddles two lines: on AMD Zen 4 a misaligned
// token-lanes pack made the Q4_K GEMM 1.4x slower.
HWY_INLINE uint8_t* Align64(uint8_t* p) { return p + ((64 - reinterpret_cast<uintptr_t>(p) % 64) % 64); }

// A kernel that walks a tile of `rows` rows together, block by block, reads the
// same blocks of the following tiles next, not the next bytes of a row: its
// prefetch distance is a whole number of tiles, at least kWeightPrefetchBytes.
// (kWeightPrefetchBytes into the row itself lands inside the tile whenever the
// rows are longer than that divided by `rows`: measured, Q8_0 MatVec on the
// TinyLlama shape decoded 28 % faster with this distance.) Such kernels sweep the
// tile that far ahead line by line (TileSweep, tile_sweep.h).
HWY_INLINE size_t TilePrefetchBytes(int rows, size_t row_bytes) {
  const size_t tile = static_cast<size_t>(rows) * row_bytes;
  if (tile == 0) return static_cast<size_t>(kWeightPrefetchBytes);
  return (static_cast<size_t>(kWeightPrefetchBytes) + tile - 1) / tile * tile;
}

// The weight bytes of rows [r0, r1): what one matvec task walks.
HWY_INLINE RowSpan SpanOf(const cpu::WeightView& w, int64_t r0, int64_t r1) { return RowSpan{w.row(r0), w.row(r1)}; }

// The prefetch sweep of the tile of `rows` rows at `row`, in a task over `span`, in
// `steps` steps: the tile TilePrefetchBytes ahead, within the span (SweepAhead);
// into L2 only (PrefetchLine::far) when that is at least kFarPrefetchBytes and
// twice kWeightPrefetchBytes. One AMD Zen 4 core, MatVec from DRAM, prefetcht1
// against prefetcht0 for every sweep, alternated twice: 4-row tiles 17-47 KiB
// ahead 25-35 % faster (Q8_0 14336 x 4096: 4041, 4807 -> 2746, 3065 us; Q6_K and
// Q4_K 4096 x 14336: 3392, 5037 -> 2548, 3317 and 2752, 2724 -> 2067, 2474), tiles
// 7-9 KiB ahead 5-20 % slower (Q4_K 14336 x 4096, Q3_K), the Q3P5 pair 3-5 %.
inline constexpr size_t kFarPrefetchBytes = 16 << 10;
// The row-interleaved layouts (rows of 8: nibble_rows8-inl.h; Q3P5 rows of 16:
// dot_q3p5_rows16.cc) read their groups as one contiguous stream, swept this far
// ahead into L2 (prefetcht1). Measured alternated on an AMD Zen 4 VM: TinyLlama
// Q3P5 rows of 16, -t 2 tg64 against the slot layout (54.1, 53.4, 54.6 t/s): the
// vendor distance (4 KiB) at prefetcht0 54.5, 51.8, 40.1; 8 KiB 47.0, 47.2, 44.2;
// 16 KiB into L2 59.5, 57.8, 54.3; 32 KiB 57.8, 60.8, 55.4. Rows of 8, one core
// from DRAM, 4 KiB at prefetcht0 -> 16 KiB into L2: MatVec_Q4_K_repacked 5632 x
// 2048 401, 438 -> 317, 316 us; MatVec_Q4_0_repacked 14336 x 4096 1733, 2191 ->
// 1166, 1001 us; TinyLlama llama.cpp Q4_0 file -t 1 tg32 25.6, 23.3, 23.8 -> 28.7,
// 26.8, 28.2 t/s (at -t 2 level within the VM's swings).
// (A function: kWeightPrefetchBytes is chosen at start-up on AVX-512.)
HWY_INLINE size_t GroupStreamPrefetchBytes() {
  return std::max(kFarPrefetchBytes, static_cast<size_t>(kWeightPrefetchBytes));
}

HWY_INLINE TileSweep RowTileSweep(const cpu::WeightView& w, int64_t row, int rows, RowSpan span, int64_t steps) {
  const size_t ahead = TilePrefetchBytes(rows, w.row_bytes);
  const bool far = ahead >= kFarPrefetchBytes && ahead >= 2 * static_cast<size_t>(kWeightPrefetchBytes);
  return SweepAhead(w.row(row), static_cast<size_t>(rows) * w.row_bytes, ahead, span, steps, PrefetchLine{far});
}

#if HWY_TARGET == HWY_AVX3_DL
// acc + vpdpbusd(u, s) on 256 bits (lane i += sum_j u[4i + j] s[4i + j], u unsigned,
// s signed), always in the EVEX encoding (AVX512_VNNI + VL). Highway 1.0.3's
// AVX3_DL pass enables "avxvnni" as well, and GCC then encodes
// _mm256_dpbusd_epi32 in the VEX form of AVX-VNNI, which Zen 4 and Ice Lake do
// not have although they run AVX3_DL (Highway dispatches it on AVX512_VNNI): an
// illegal instruction there. Every 256-bit VNNI dot of the kernels goes through
// this; ctest Isa.NoVexVnni (cmake/check_no_vex_vnni.cmake) checks the binaries.
HWY_INLINE __m256i Dpbusd256(__m256i acc, __m256i u, __m256i s) {
  asm("%{evex%} vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "vm"(s));
  return acc;
}
#endif

// Lane i = sum of the 4 products u[4i + j] * x[4i + j] (u unsigned, x signed), in
// int32. AVX3_DL: one vpdpbusd; elsewhere vpmaddubsw + vpmaddwd by 1. The same
// exact integers (within MulAddU8I8's int16 pair bound) on every target.
HWY_INLINE __m256i DotU8I8(__m256i u, __m256i x) {
#if HWY_TARGET == HWY_AVX3_DL
  return Dpbusd256(_mm256_setzero_si256(), u, x);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
#endif
}

// [sum(a0), sum(a1), sum(a2), sum(a3)] of four int32x8 vectors.
// Unpack/add tree instead of vphaddd (several uops each on Zen 3).
HWY_INLINE __m128i HSum4x8(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
  const __m256i t0 = _mm256_add_epi32(_mm256_unpacklo_epi32(a0, a1), _mm256_unpackhi_epi32(a0, a1));
  const __m256i t1 = _mm256_add_epi32(_mm256_unpacklo_epi32(a2, a3), _mm256_unpackhi_epi32(a2, a3));
  const __m256i h = _mm256_add_epi32(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// sum(a) broadcast to the 4 lanes of the result.
HWY_INLINE __m128i HSumBroadcast8(__m256i a) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));     // + swap 64-bit halves
  return _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));  // + swap adjacent lanes
}

// The 32 codes of Q8_A block j counted from the block at xblk.
HWY_INLINE __m256i LoadQ8ACodes(const uint8_t* xblk, int j) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(Q8ACodes(xblk + j * kQ8ABytes)));
}

// Scales and code sums of the 4 consecutive Q8_A blocks at blk.
HWY_INLINE void LoadQ8AMeta4(const uint8_t* blk, __m128* xd4, __m128* xs4) {
  *xd4 = _mm_setr_ps(Q8AScale(blk), Q8AScale(blk + kQ8ABytes), Q8AScale(blk + 2 * kQ8ABytes),
                     Q8AScale(blk + 3 * kQ8ABytes));
  *xs4 = _mm_cvtepi32_ps(_mm_setr_epi32(Q8ASum(blk), Q8ASum(blk + kQ8ABytes),
                                        Q8ASum(blk + 2 * kQ8ABytes), Q8ASum(blk + 3 * kQ8ABytes)));
}

// One 128-weight block of an affine format (Q3P5, Q4_G) into the per-lane
// partial sums: lane s += x_d[s] * (step * acc[s] + min * x_sum[s]).
// Explicit FMAs, so the compiler has nothing to contract and MatVec / MatMul
// produce the same bits.
HWY_INLINE __m128 CombineAffine(__m128i acc4, __m128 xd4, __m128 xs4, __m128 step4, __m128 min4,
                                __m128 sum4) {
  const __m128 inner = _mm_fmadd_ps(step4, _mm_cvtepi32_ps(acc4), _mm_mul_ps(min4, xs4));
  return _mm_fmadd_ps(xd4, inner, sum4);
}

// Fixed-order horizontal sum: (s0 + s1) + (s2 + s3).
HWY_INLINE float HSum4f(__m128 s) {
  alignas(16) float v[4];
  _mm_store_ps(v, s);
  return (v[0] + v[1]) + (v[2] + v[3]);
}

// Two fp16 bit patterns -> floats (F16C is part of Highway's AVX2 target).
HWY_INLINE __m128 Fp16Pair(uint16_t a, uint16_t b) {
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(uint32_t{a} | (uint32_t{b} << 16))));
}
#endif  // SEPTET_SIMD_X86

// quant::RoundClamp(v, lo, hi) per lane, as a float (the quantizer searches' codes):
// rounding to nearest even by the add-and-subtract of 2^23 (quant_util.h's
// RoundNearestEven), then NaN or below lo -> lo, above hi -> hi.
template <class DF, class V = hn::Vec<DF>>
HWY_INLINE V RoundClampF(DF df, V v, float lo, float hi) {
  const V two23 = hn::Set(df, 8388608.0f), vlo = hn::Set(df, lo), vhi = hn::Set(df, hi);
  const V t = hn::CopySign(two23, v);
  const V rounded = hn::CopySign(hn::Sub(hn::Add(v, t), t), v);
  V r = hn::IfThenElse(hn::Lt(hn::Abs(v), two23), rounded, v);  // integers, infinities, NaN kept
  r = hn::IfThenElse(hn::Ge(r, vlo), r, vlo);                    // NaN -> lo
  return hn::IfThenElse(hn::Gt(r, vhi), vhi, r);
}

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_COMMON_INL_H_
