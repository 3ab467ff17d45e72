// Q8_0 x Q8_A kernels on the repacked layout WeightLayout::kQ8_0Rows16
// (kernels/simd/repack.h): 16 rows interleaved, an int32 lane per row of one
// 512-bit vector (AVX3_DL).
//
// Per block of the 16 rows: d of every lane (one vcvtph2ps) and eight 64-byte
// loads, each a quad of the 16 rows' codes plus 128 (the layout's unsigned
// bytes: no decode). Every token adds each quad with one vpdpbusd against its
// activation quad broadcast from memory, the sum started at -128 sum(x) (the
// activation block's stored sum), so each lane ends the block with acc = sum w x
// exactly, the integer of the file kernels, whose float step per lane this is
// (dot_q8.cc, four lanes by block mod 4):
//   s_(b mod 4) = fma(d x_d,b, float(acc_b), s_(b mod 4))   (blocks in order)
//   y = (s_0 + s_1) + (s_2 + s_3)
// so every kernel here gives the file layout's AVX3_DL bits. MatMul runs tiles of
// up to 8 tokens over each group of 16 rows; every other target converts the
// rows back to the file layout (per call) and runs the file kernels. A task's
// groups are one stream, swept GroupStreamPrefetchBytes() ahead into L2.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q8_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"  // kPlaneRows, FileRows, RunGroupTiles16
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/q8_0.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif

namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int64_t kRows = kPlaneRows;
constexpr size_t kGroupBlockBytes = kRows * sizeof(quant::BlockQ8_0);
static_assert(quant::kQ8_0BlockSize == quant::kQ8ABlockSize && kGroupBlockBytes == 544);
#if HWY_TARGET == HWY_AVX3_DL

// Block J % 4 (global block b) of the group block gb against T tokens into s[t][J % 4].
template <int T, int J>
HWY_INLINE void Block(const uint8_t* gb, int64_t b, const uint8_t* const (&act)[T], __m512 (&s)[T][4]) {
  const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb)));
  __m512i u[8];
  for (int q = 0; q < 8; ++q) u[q] = _mm512_loadu_si512(gb + Q8_0Rows16CodeByte(q, 0, 0));
  for (int t = 0; t < T; ++t) {
    const uint8_t* xb = Q8ABlock(act[t], b);
    const uint8_t* xq = reinterpret_cast<const uint8_t*>(Q8ACodes(xb));
    __m512i acc = _mm512_set1_epi32(-128 * Q8ASum(xb)), acc2 = _mm512_setzero_si512();
    for (int q = 0; q < 8; q += 2) {
      acc = _mm512_dpbusd_epi32(acc, u[q], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q))));
      acc2 = _mm512_dpbusd_epi32(acc2, u[q + 1], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q + 4))));
    }
    s[t][J % 4] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(Q8AScale(xb))),
                                  _mm512_cvtepi32_ps(_mm512_add_epi32(acc, acc2)), s[t][J % 4]);
  }
}

// Group g against tokens act[0 .. T - 1]: y16[t] = the 16 rows' outputs of token t.
// `sweep` (or null) steps once per 4 blocks.
template <int T>
HWY_INLINE void GroupTokens(const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T], TileSweep* sweep,
                            __m512 (&y16)[T]) {
  const int64_t nbs = static_cast<int64_t>(w.row_bytes / sizeof(quant::BlockQ8_0));
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  __m512 s[T][4];
  for (auto& st : s) {
    for (auto& v : st) v = _mm512_setzero_ps();
  }
  int64_t b = 0;
  for (; b + 4 <= nbs; b += 4) {
    if (sweep != nullptr) sweep->Step();
    const uint8_t* gb = group + static_cast<size_t>(b) * kGroupBlockBytes;
    Block<T, 0>(gb, b, act, s);
    Block<T, 1>(gb + kGroupBlockBytes, b + 1, act, s);
    Block<T, 2>(gb + 2 * kGroupBlockBytes, b + 2, act, s);
    Block<T, 3>(gb + 3 * kGroupBlockBytes, b + 3, act, s);
  }
  if (b < nbs) {  // 1-3 final blocks
    if (sweep != nullptr) sweep->Step();
    const uint8_t* gb = group + static_cast<size_t>(b) * kGroupBlockBytes;
    Block<T, 0>(gb, b, act, s);
    if (b + 1 < nbs) Block<T, 1>(gb + kGroupBlockBytes, b + 1, act, s);
    if (b + 2 < nbs) Block<T, 2>(gb + 2 * kGroupBlockBytes, b + 2, act, s);
  }
  for (int t = 0; t < T; ++t) y16[t] = _mm512_add_ps(_mm512_add_ps(s[t][0], s[t][1]), _mm512_add_ps(s[t][2], s[t][3]));
}

// Rows [r0, r1) against m tokens (token t's Q8_A row at act + t act_stride), token
// t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const int64_t nbs = static_cast<int64_t>(w.row_bytes / sizeof(quant::BlockQ8_0));
  RunGroupTiles16(w, r0, r1, m, (nbs + 3) / 4, y_of,
                  [&](int64_t g, auto tokens, int64_t t0, TileSweep* sweep, auto& y16) HWY_ATTR {
                    constexpr int T = decltype(tokens)::value;
                    const uint8_t* a[T];
                    for (int t = 0; t < T; ++t) a[t] = act + static_cast<size_t>(t0 + t) * act_stride;
                    GroupTokens<T>(w, g, a, sweep, y16);
                  });
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, [&](int64_t, int64_t r) { return y + (r - r0); });
}

// Any number of tokens: RunGroups, each quad loaded once per tile of 8 while the
// group's bytes stay in L1/L2. With no decode to amortize, converting the rows
// back for the file layout's GEMM did not pay even for prefill (SmolLM2 Q8_0
// pp512 alternated: 1029, 818, 943 t/s on the file layout, 723, 798, 829
// converting the rows back, 825, 988, 939 in tiles).
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  RunGroups(w, r0, r1, act, act_stride, m, [&](int64_t t, int64_t r) { return y + t * y_stride + r; });
}

bool IsFastImpl() { return true; }

#else  // other targets (the policy keeps the file layout): the file layout's kernels

SEPTET_ROWS16_IN_FILE_LAYOUT(detail::Q8_0MatVec, detail::Q8_0MatMul)

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q8_0Rows16, w.type == DType::kQ8_0 && w.layout == cpu::WeightLayout::kQ8_0Rows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q8_0Rows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
