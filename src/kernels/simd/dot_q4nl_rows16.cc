// Q4_NL x Q8_A kernels on the repacked layout WeightLayout::kQ4NLRows16
// (kernels/simd/repack.h): 16 rows interleaved, an int32 lane per row of one
// 512-bit vector (AVX3_DL).
//
// Per block of the 16 rows: D of every lane (one vcvtph2ps, times 2^-10) and the
// 4 signed 4-bit sub-block scales (a shift pair per lane); per sub-block four
// 64-byte code loads, each two quads (& 15, (>> 4) & 15) looked up by vpshufb in
// a table of L[u] + 127 (unsigned: L >= -127). Every token adds each quad to its
// sub-block sum with one vpdpbusd against its activation quad broadcast from
// memory, the sum started at -127 sum(x) (the activation block's stored sum), so
// each lane ends the sub-block with acc_s = sum x L exactly and isum_s = sc_s
// acc_s (one vpmulld), the integer of the file kernels. The float step per lane
// is theirs (dot_q4nl.cc), one accumulator in block then sub-block order:
//   s = s + (d_eff x_d,s) float(isum_s)   (a product and an add, never fused)
// so every kernel here gives the file layout's bits. MatMul of up to 64 tokens
// runs tiles of up to 8 over each group of 16 rows; longer calls, and every other
// target, convert the rows back to the file layout (per call) and run the file
// kernels. A task's
// groups are one stream, swept GroupStreamPrefetchBytes() ahead into L2.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4nl_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"  // kPlaneRows, StoreLanes
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/q4_blocks-inl.h"  // Q4Rows16Head
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/q4_nl.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif

namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int64_t kRows = kPlaneRows;
constexpr int kBlock = quant::kQ4NLBlockSize;
constexpr int kSub = quant::kQ4NLSubBlockSize;
constexpr int kSubs = quant::kQ4NLSubBlocks;
constexpr size_t kBlockBytes = sizeof(quant::BlockQ4NL);
constexpr int kLevelOffset = 127;  // L[u] + 127 in [0, 228]: vpdpbusd's unsigned operand
static_assert(kSubs == 4 && kSub == quant::kQ8ABlockSize && kBlockBytes == 68);
static_assert(quant::kQ4NLLevels[0] == -kLevelOffset && quant::kQ4NLLevels[15] + kLevelOffset <= 255);

#if HWY_TARGET == HWY_AVX3_DL

struct NlConsts {
  __m512i levels;  // vpshufb table: entry u = L[u] + 127
  __m512i c0f;
};
HWY_INLINE NlConsts MakeNlConsts() {
  alignas(64) uint8_t table[64];
  for (int p = 0; p < 64; ++p) table[p] = static_cast<uint8_t>(quant::kQ4NLLevels[p % 16] + kLevelOffset);
  return NlConsts{_mm512_load_si512(table), _mm512_set1_epi8(0x0F)};
}

// Sub-block S (activation block j) of a group block against T tokens into s[t].
template <int T, int S>
HWY_INLINE void SubBlock(const NlConsts& k, const Q4Rows16Head& hd, int64_t j, const uint8_t* const (&act)[T],
                         __m512 (&s)[T]) {
  __m512i lv[8];  // quads 0..7: weights 4 q .. 4 q + 3 of the sub-block
  for (int c = 0; c < 4; ++c) {
    const __m512i v = _mm512_loadu_si512(hd.codes + 256 * S + 64 * c);
    lv[c] = _mm512_shuffle_epi8(k.levels, _mm512_and_si512(v, k.c0f));
    lv[4 + c] = _mm512_shuffle_epi8(k.levels, _mm512_and_si512(_mm512_srli_epi16(v, 4), k.c0f));
  }
  for (int t = 0; t < T; ++t) {
    const uint8_t* xb = Q8ABlock(act[t], j);
    const uint8_t* xq = reinterpret_cast<const uint8_t*>(Q8ACodes(xb));
    __m512i acc = _mm512_set1_epi32(-kLevelOffset * Q8ASum(xb)), acc2 = _mm512_setzero_si512();
    for (int q = 0; q < 8; q += 2) {
      acc = _mm512_dpbusd_epi32(acc, lv[q], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q))));
      acc2 = _mm512_dpbusd_epi32(acc2, lv[q + 1], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q + 4))));
    }
    const __m512i isum = _mm512_mullo_epi32(hd.sc[S], _mm512_add_epi32(acc, acc2));
    const __m512 term = _mm512_mul_ps(_mm512_mul_ps(hd.d, _mm512_set1_ps(Q8AScale(xb))), _mm512_cvtepi32_ps(isum));
    s[t] = _mm512_add_ps(s[t], NoContract(term));
  }
}

// Group g against tokens act[0 .. T - 1]: y16[t] = the 16 rows' outputs of token t.
// `sweep` (or null) steps once per block.
template <int T>
HWY_INLINE void GroupTokens(const NlConsts& k, const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T],
                            TileSweep* sweep, __m512 (&y16)[T]) {
  const int64_t nb = w.cols / kBlock;
  const int ns = static_cast<int>((w.cols % kBlock + kSub - 1) / kSub);
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  for (auto& v : y16) v = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    if (sweep != nullptr) sweep->Step();
    Q4Rows16Head hd;
    DecodeQ4Rows16Head(group + static_cast<size_t>(b * kRows) * kBlockBytes, kSubs, &hd);
    SubBlock<T, 0>(k, hd, kSubs * b, act, y16);
    SubBlock<T, 1>(k, hd, kSubs * b + 1, act, y16);
    SubBlock<T, 2>(k, hd, kSubs * b + 2, act, y16);
    SubBlock<T, 3>(k, hd, kSubs * b + 3, act, y16);
  }
  if (ns > 0) {  // a row's short final block: ns sub-blocks, the last maybe partial
    if (sweep != nullptr) sweep->Step();
    Q4Rows16Head hd;
    DecodeQ4Rows16Head(group + static_cast<size_t>(nb * kRows) * kBlockBytes, ns, &hd);
    SubBlock<T, 0>(k, hd, kSubs * nb, act, y16);
    if (ns > 1) SubBlock<T, 1>(k, hd, kSubs * nb + 1, act, y16);
    if (ns > 2) SubBlock<T, 2>(k, hd, kSubs * nb + 2, act, y16);
    if (ns > 3) SubBlock<T, 3>(k, hd, kSubs * nb + 3, act, y16);
  }
}

// Rows [r0, r1) against m tokens (token t's Q8_A row at act + t act_stride), token
// t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const NlConsts k = MakeNlConsts();
  const int64_t nbs = (w.cols + kBlock - 1) / kBlock;
  RunGroupTiles16(w, r0, r1, m, nbs, y_of,
                  [&](int64_t g, auto tokens, int64_t t0, TileSweep* sweep, auto& y16) HWY_ATTR {
                    constexpr int T = decltype(tokens)::value;
                    const uint8_t* a[T];
                    for (int t = 0; t < T; ++t) a[t] = act + static_cast<size_t>(t0 + t) * act_stride;
                    GroupTokens<T>(k, w, g, a, sweep, y16);
                  });
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, [&](int64_t, int64_t r) { return y + (r - r0); });
}

// Up to kGroupTokensMax tokens: RunGroups, each quad decoded once per tile of 8
// while the group's bytes stay in L1/L2 (simd_kernels_bench MatMul_Q4_NL_repacked
// 2048 x 2048 x 64, one Zen 4 core: 2277 us in tiles, 2723 on the rows converted back, 3034 on the file layout). More (prefill): the file layout's GEMM
// (each row's levels decoded once per chunk, 16 tokens in the lanes) on the rows
// converted back per call, whose cost the long call amortizes.
constexpr int64_t kGroupTokensMax = 64;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  if (m > kGroupTokensMax) {
    return detail::Q4NLMatMul(FileRows(w, r0, r1), 0, r1 - r0, act, act_stride, m, y + r0, y_stride);
  }
  RunGroups(w, r0, r1, act, act_stride, m, [&](int64_t t, int64_t r) { return y + t * y_stride + r; });
}

bool IsFastImpl() { return true; }

#else  // other targets (the policy keeps the file layout): the file layout's kernels

SEPTET_ROWS16_IN_FILE_LAYOUT(detail::Q4NLMatVec, detail::Q4NLMatMul)

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q4NLRows16, w.type == DType::kQ4_NL && w.layout == cpu::WeightLayout::kQ4NLRows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q4NLRows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
