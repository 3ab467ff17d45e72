// Q4_0 / Q4_1 x Q8_A kernels on the repacked layout WeightLayout::kLegacy4Rows16
// (kernels/simd/repack.h): 16 rows interleaved, an int32 lane per row of one
// 512-bit vector (AVX3_DL; AVX2 and AVX3 keep the rows of 8, dot_legacy_rows8.cc).
//
// Per block of the 16 rows: d (Q4_1: and m) of every lane (one vcvtph2ps each)
// and four 64-byte code loads, each two quads (& 15, (>> 4) & 15). Every token
// adds each quad with one vpdpbusd against its activation quad broadcast from
// memory; the float step per lane is the file kernels' (dot_ggml_legacy.cc, as
// the rows of 8 do it), in four lanes by block mod 4:
//   Q4_0: acc started at -8 sum(x), so float(acc) = float(sum u x) - 8 x_sum
//         exactly (|.| < 2^24), and s = fma(d x_d, float(acc), s)
//   Q4_1: acc = sum u x, s = fma(x_d, fma(d, float(acc), m x_sum), s)
//   y = (s_0 + s_1) + (s_2 + s_3)
// so every kernel here gives the file layout's AVX3_DL bits. MatMul runs tiles
// of up to 8 tokens over each group of 16 rows at any token count; other targets
// convert the rows back to the file layout (per call) and run the file kernels.
// A task's groups are one stream, swept GroupStreamPrefetchBytes() ahead into L2.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_legacy_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"  // kPlaneRows, FileRows, RunTokenTiles16, DotQuads16
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/ggml_legacy.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif

namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int64_t kRows = kPlaneRows;
static_assert(quant::kGgmlLegacyBlockSize == quant::kQ8ABlockSize);
#if HWY_TARGET == HWY_AVX3_DL

// Q4_0 (kMin false) or Q4_1.
template <bool kMinT>
struct Layout {
  static constexpr bool kMin = kMinT;
  static constexpr DType kType = kMin ? DType::kQ4_1 : DType::kQ4_0;
  static constexpr size_t kGroupBlockBytes = kRows * (kMin ? sizeof(quant::BlockQ4_1) : sizeof(quant::BlockQ4_0));
  static constexpr size_t kCodes = Legacy4Rows16CodeByte(kType, 0, 0, 0);
};

// Block b (position J) of the group block gb against T tokens into s[t][J].
template <class L, int T, int J>
HWY_INLINE void Block(const uint8_t* gb, int64_t b, const uint8_t* const (&act)[T], __m512 (&s)[T][4]) {
  const __m512i c0f = _mm512_set1_epi8(0x0F);
  const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb)));
  __m512i u[8];  // quads 0..7: weights 4 q .. 4 q + 3
  for (int c = 0; c < 4; ++c) {
    const __m512i v = _mm512_loadu_si512(gb + L::kCodes + 64 * c);
    u[c] = _mm512_and_si512(v, c0f);
    u[4 + c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), c0f);
  }
  for (int t = 0; t < T; ++t) {
    const uint8_t* xb = Q8ABlock(act[t], b);
    const __m512 a = _mm512_cvtepi32_ps(DotQuads16(_mm512_set1_epi32(L::kMin ? 0 : -8 * Q8ASum(xb)), u, Q8ACodes(xb)));
    const __m512 xd = _mm512_set1_ps(Q8AScale(xb));
    if constexpr (L::kMin) {
      const __m512 m = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb + 32)));
      const __m512 inner = _mm512_fmadd_ps(d, a, _mm512_mul_ps(m, _mm512_set1_ps(static_cast<float>(Q8ASum(xb)))));
      s[t][J] = _mm512_fmadd_ps(xd, inner, s[t][J]);
    } else {
      s[t][J] = _mm512_fmadd_ps(_mm512_mul_ps(d, xd), a, s[t][J]);
    }
  }
}

// Group g against tokens act[0 .. T - 1]: y16[t] = the 16 rows' outputs of token t.
// `sweep` (or null) steps once per 4 blocks.
template <class L, int T>
HWY_INLINE void GroupTokens(const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T], TileSweep* sweep,
                            __m512 (&y16)[T]) {
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  __m512 s[T][4];
  for (auto& st : s) {
    for (auto& v : st) v = _mm512_setzero_ps();
  }
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    if (sweep != nullptr) sweep->Step();
    const uint8_t* gb = group + static_cast<size_t>(b) * L::kGroupBlockBytes;
    Block<L, T, 0>(gb, b, act, s);
    Block<L, T, 1>(gb + L::kGroupBlockBytes, b + 1, act, s);
    Block<L, T, 2>(gb + 2 * L::kGroupBlockBytes, b + 2, act, s);
    Block<L, T, 3>(gb + 3 * L::kGroupBlockBytes, b + 3, act, s);
  }
  if (b < nb) {  // 1-3 final blocks
    if (sweep != nullptr) sweep->Step();
    const uint8_t* gb = group + static_cast<size_t>(b) * L::kGroupBlockBytes;
    Block<L, T, 0>(gb, b, act, s);
    if (b + 1 < nb) Block<L, T, 1>(gb + L::kGroupBlockBytes, b + 1, act, s);
    if (b + 2 < nb) Block<L, T, 2>(gb + 2 * L::kGroupBlockBytes, b + 2, act, s);
  }
  for (int t = 0; t < T; ++t) y16[t] = _mm512_add_ps(_mm512_add_ps(s[t][0], s[t][1]), _mm512_add_ps(s[t][2], s[t][3]));
}

// Rows [r0, r1) against m tokens (token t's Q8_A row at act + t act_stride), token
// t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class L, class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  RunTokenTiles16(w, r0, r1, act, act_stride, m, (nb + 3) / 4, y_of,
                  [&](int64_t g, const auto& a, TileSweep* sweep, auto& y16) HWY_ATTR {
                    GroupTokens<L>(w, g, a, sweep, y16);
                  });
}

template <class YOf>
void Run(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
         const YOf& y_of) {
  if (w.type == DType::kQ4_1) return RunGroups<Layout<true>>(w, r0, r1, act, act_stride, m, y_of);
  RunGroups<Layout<false>>(w, r0, r1, act, act_stride, m, y_of);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  Run(w, r0, r1, act, 0, 1, [&](int64_t, int64_t r) { return y + (r - r0); });
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  Run(w, r0, r1, act, act_stride, m, [&](int64_t t, int64_t r) { return y + t * y_stride + r; });
}

bool IsFastImpl() { return true; }

#else  // other targets (the policy gives AVX2 / AVX3 the rows of 8): the file layout's kernels

SEPTET_ROWS16_IN_FILE_LAYOUT(detail::GgmlLegacyMatVec, detail::GgmlLegacyMatMul)

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Legacy4Rows16, (w.type == DType::kQ4_0 || w.type == DType::kQ4_1) &&
                                                    w.layout == cpu::WeightLayout::kLegacy4Rows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Legacy4Rows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
