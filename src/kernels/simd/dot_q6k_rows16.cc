// Q6_K x Q8_A kernels on the repacked layout WeightLayout::kQ6KRows16
// (kernels/simd/repack.h): 16 rows interleaved, an int32 lane per row of one
// 512-bit vector (AVX3_DL).
//
// Per super-block of the 16 rows: d of every lane (one vcvtph2ps); per activation
// block j (32 weights) its two sub-block scales (a 16-byte load and vpmovsxbd
// each), four 64-byte loads of low nibbles (quads c and c + 4: & 15, >> 4 & 15)
// and two of high bits (four quads each: one shift, then one vpternlogd merges
// them as bits 4, 5), so every quad is the codes u in [0, 63] of the 16 rows.
// Every token adds each quad to its 16-weight half's sum with one vpdpbusd
// against its activation quad broadcast from memory, the sums started at -32
// sum(x) of the half (per token, once per call), so each lane ends with A_h =
// sum (u - 32) x exactly, and acc_j = sc_2j A_0 + sc_2j+1 A_1 (two vpmulld) is the
// integer of the file kernels. The float step per lane is the AVX2 / AVX3_DL file
// kernels' (dot_ggml_kquants.cc, four lanes by block mod 4):
//   s_(j mod 4) = fma(d x_d,j, float(acc_j), s_(j mod 4))   (blocks in order)
//   y = (s_0 + s_1) + (s_2 + s_3)
// so every kernel here gives the file layout's AVX3_DL bits. MatMul of up to 64
// tokens runs tiles of up to 8 over each group of 16 rows; longer calls, and
// every other target, convert the rows back to the file layout (per call) and run
// the file kernels. A task's groups are one stream, swept
// GroupStreamPrefetchBytes() ahead into L2.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q6k_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"  // kPlaneRows, RunGroupTiles16
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/ggml_kquants.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif

namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int64_t kRows = kPlaneRows;
constexpr int kBlocks = quant::kQK / quant::kQ8ABlockSize;  // activation blocks per super-block
constexpr size_t kGroupBlockBytes = kRows * sizeof(quant::BlockQ6_K);
constexpr int kOffset = 32;  // q = u - 32
static_assert(kBlocks == 8 && kGroupBlockBytes == 3360);

#if HWY_TARGET == HWY_AVX3_DL

struct Q6Consts {
  __m512i c0f, c30;
};

// vpternlogd immediate: A | (B & C).
inline constexpr int kOrAnd = 0xF8;

// High bits of quad K of a high plane at bits 4, 5 (the other bits masked below).
template <int K>
HWY_INLINE __m512i HighAt4(__m512i h) {
  if constexpr (K == 0) return _mm512_slli_epi16(h, 4);
  if constexpr (K == 1) return _mm512_slli_epi16(h, 2);
  if constexpr (K == 2) return h;
  if constexpr (K == 3) return _mm512_srli_epi16(h, 2);
}

// Activation block J of the group block gb (global block j) against T tokens into s[t][J % 4].
template <int T, int J>
HWY_INLINE void Block(const Q6Consts& k, const uint8_t* gb, __m512 d, int64_t j, const uint8_t* const (&act)[T],
                      const HalfSums* const (&meta)[T], __m512 (&s)[T][4]) {
  const __m512i sc_lo = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + 32 + 32 * J)));
  const __m512i sc_hi = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + 48 + 32 * J)));
  const __m512i h0 = _mm512_loadu_si512(gb + Q6KRows16HighByte(J, 0, 0, 0));
  const __m512i h1 = _mm512_loadu_si512(gb + Q6KRows16HighByte(J, 1, 0, 0));
  __m512i u[8];  // quads 0..7: weights 4 q .. 4 q + 3 of the block
  const auto quads = [&](auto cc) HWY_ATTR {
    constexpr int c = decltype(cc)::value;
    const __m512i v = _mm512_loadu_si512(gb + Q6KRows16LowByte(J, c, 0, 0));
    u[c] = _mm512_ternarylogic_epi32(_mm512_and_si512(v, k.c0f), HighAt4<c>(h0), k.c30, kOrAnd);
    u[4 + c] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(v, 4), k.c0f), HighAt4<c>(h1), k.c30,
                                         kOrAnd);
  };
  quads(std::integral_constant<int, 0>());
  quads(std::integral_constant<int, 1>());
  quads(std::integral_constant<int, 2>());
  quads(std::integral_constant<int, 3>());
  for (int t = 0; t < T; ++t) {
    const HalfSums& am = meta[t][j];
    const uint8_t* xq = reinterpret_cast<const uint8_t*>(Q8ACodes(Q8ABlock(act[t], j)));
    __m512i lo = _mm512_set1_epi32(am.lo), hi = _mm512_set1_epi32(am.hi);
    for (int q = 0; q < 4; ++q) {
      lo = _mm512_dpbusd_epi32(lo, u[q], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q))));
      hi = _mm512_dpbusd_epi32(hi, u[4 + q], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 16 + 4 * q))));
    }
    const __m512i acc = _mm512_add_epi32(_mm512_mullo_epi32(sc_lo, lo), _mm512_mullo_epi32(sc_hi, hi));
    s[t][J % 4] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(am.xd)), _mm512_cvtepi32_ps(acc), s[t][J % 4]);
  }
}

// Group g against tokens act[0 .. T - 1]: y16[t] = the 16 rows' outputs of token t.
// `sweep` (or null) steps once per super-block.
template <int T>
HWY_INLINE void GroupTokens(const Q6Consts& k, const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T],
                            const HalfSums* const (&meta)[T], TileSweep* sweep, __m512 (&y16)[T]) {
  const int64_t nsb = w.cols / quant::kQK;
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  __m512 s[T][4];
  for (auto& st : s) {
    for (auto& v : st) v = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nsb; ++b) {
    if (sweep != nullptr) sweep->Step();
    const uint8_t* gb = group + static_cast<size_t>(b) * kGroupBlockBytes;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb)));
    const int64_t j = kBlocks * b;
    Block<T, 0>(k, gb, d, j, act, meta, s);
    Block<T, 1>(k, gb, d, j + 1, act, meta, s);
    Block<T, 2>(k, gb, d, j + 2, act, meta, s);
    Block<T, 3>(k, gb, d, j + 3, act, meta, s);
    Block<T, 4>(k, gb, d, j + 4, act, meta, s);
    Block<T, 5>(k, gb, d, j + 5, act, meta, s);
    Block<T, 6>(k, gb, d, j + 6, act, meta, s);
    Block<T, 7>(k, gb, d, j + 7, act, meta, s);
  }
  for (int t = 0; t < T; ++t) y16[t] = _mm512_add_ps(_mm512_add_ps(s[t][0], s[t][1]), _mm512_add_ps(s[t][2], s[t][3]));
}

// Rows [r0, r1) against m tokens (token t's Q8_A row at act + t act_stride), token
// t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const Q6Consts k{_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x30)};
  const int64_t nblk = w.cols / quant::kQ8ABlockSize;
  const HalfSums* meta = FillHalfSums(act, act_stride, m, nblk, kOffset);  // -32 sum(x) of each half
  RunGroupTiles16(w, r0, r1, m, w.cols / quant::kQK, y_of,
                  [&](int64_t g, auto tokens, int64_t t0, TileSweep* sweep, auto& y16) HWY_ATTR {
                    constexpr int T = decltype(tokens)::value;
                    const uint8_t* a[T];
                    const HalfSums* mt[T];
                    for (int t = 0; t < T; ++t) {
                      a[t] = act + static_cast<size_t>(t0 + t) * act_stride;
                      mt[t] = meta + (t0 + t) * nblk;
                    }
                    GroupTokens<T>(k, w, g, a, mt, sweep, y16);
                  });
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, [&](int64_t, int64_t r) { return y + (r - r0); });
}

// Up to kGroupTokensMax tokens: RunGroups, each quad decoded once per tile of 8
// while the group's bytes stay in L1/L2. More (prefill): the file layout's GEMM
// (each row's codes decoded once per chunk, 16 tokens in the lanes) on the rows
// converted back per call, whose cost the long call amortizes.
constexpr int64_t kGroupTokensMax = 64;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  if (m > kGroupTokensMax) {
    return detail::GgmlKQuantsMatMul(FileRows(w, r0, r1), 0, r1 - r0, act, act_stride, m, y + r0, y_stride);
  }
  RunGroups(w, r0, r1, act, act_stride, m, [&](int64_t t, int64_t r) { return y + t * y_stride + r; });
}

bool IsFastImpl() { return true; }

#else  // other targets (the policy keeps the file layout): the file layout's kernels

SEPTET_ROWS16_IN_FILE_LAYOUT(detail::GgmlKQuantsMatVec, detail::GgmlKQuantsMatMul)

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q6KRows16, w.type == DType::kQ6_K && w.layout == cpu::WeightLayout::kQ6KRows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q6KRows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
