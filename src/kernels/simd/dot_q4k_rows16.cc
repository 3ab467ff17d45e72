// Q4_K / Q5_K x Q8_A kernels on the repacked layouts WeightLayout::kQ4KRows16
// and kQ5KRows16 (kernels/simd/repack.h): 16 rows interleaved, an int32 lane per
// row of one 512-bit vector (AVX3_DL; AVX2 and AVX3 keep Q4_K in rows of 8,
// dot_q4k_rows8.cc, and Q5_K in the file layout).
//
// Per super-block of the 16 rows: d and dmin of every lane (one vcvtph2ps each)
// and the three packed scale words (one 64-byte load each). Per sub-block j (32
// weights, one activation block): its 6-bit scale and min unpacked lane-wise by
// shifts and masks (quant::KQuantScaleMin's rule), dl = d float(sc) and ml = dmin
// float(mn) as the file kernel forms them (dot_ggml_kquants.cc ScalesMins8), and
// its 8 code quads from the 8 code planes of its pair of sub-blocks (& 15 for
// sub-block 2 p, (>> 4) & 15 for 2 p + 1; Q5_K: the qh plane of the quad shifted
// so that bit j lands on bit 4, merged by one vpternlogd), so every quad is the
// codes u of the 16 rows. Every token adds each quad with one vpdpbusd against
// its activation quad broadcast from memory (two chains from 0): each lane ends
// with acc = sum u x, the file kernel's exact integer. The float steps per lane
// are the AVX2 / AVX3_DL file kernels' (AffineRowsAvx2 and KGemm; the rows of 8
// too), in four lanes by sub-block mod 4:
//   inner = fmsub(dl, float(acc), ml * float(x_sum))   (the product rounded)
//   s_(j mod 4) = fma(x_d, inner, s_(j mod 4))          (sub-blocks in order)
//   y = (s_0 + s_1) + (s_2 + s_3)
// with x_d and the integer x_sum the activation block's stored scale and sum, so
// every kernel here gives the file layout's AVX3_DL bits. MatVec and MatMul of up
// to 64 tokens run tiles of up to 8 over each group of 16 rows; longer calls run
// the file layout's GEMM on the rows decoded a group at a time (the same dl, ml
// and codes). Every other target converts the rows back to the file layout (per
// call) and runs the file kernels. A task's groups are one stream, swept
// GroupStreamPrefetchBytes() ahead into L2.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4k_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"  // kPlaneRows, FileRows, RunTokenTiles16, DotQuads16, StoreTransposed16
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/nibble_rows8-inl.h"  // DecodeNibbleRows
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "kernels/simd/token_lanes-inl.h"
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
constexpr int kSubs = quant::kQK / quant::kQ8ABlockSize;  // sub-blocks (activation blocks) per super-block
static_assert(kSubs == 8);

#if HWY_TARGET == HWY_AVX3_DL

// MatMul of up to this many tokens runs the tiles, longer calls the GEMM
// (simd_kernels_bench MatMul x 256 on one Zen 4 core, alternated medians: Q4_K
// 5632 x 2048 the tiles 23.8 ms, the GEMM on the decoded rows 20.8, the file
// layout's 20.1-20.5; 2048 x 5632 21.4, 21.5, 20.7-21.0; Q5_K 2048 x 5632 23.0,
// 21.3, 20.6-21.0. The tiles re-read every token tile's activations per group).
constexpr int64_t kTileTokensMax = 64;

// Q4_K (kHigh false) or Q5_K.
template <bool kHighT>
struct Layout {
  static constexpr bool kHigh = kHighT;
  static constexpr DType kType = kHigh ? DType::kQ5_K : DType::kQ4_K;
  static constexpr size_t kGroupBlockBytes = kRows * (kHigh ? sizeof(quant::BlockQ5_K) : sizeof(quant::BlockQ4_K));
  static constexpr size_t kCodes = Q4KRows16CodeByte(kType, 0, 0, 0, 0);
};

struct KConsts {
  __m512i c0f, c10;        // bytes: the low nibble, bit 4
  __m512i s3f, s0f, s30;   // dwords: 63, 15, 0x30
};
HWY_INLINE KConsts MakeKConsts() {
  return KConsts{_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x10), _mm512_set1_epi32(63), _mm512_set1_epi32(15),
                 _mm512_set1_epi32(0x30)};
}

// The 6-bit scale (kMin false) or min of sub-block J in every lane, from the
// scale words sw (bytes 0..3, 4..7, 8..11 of each row's scales[12]): J < 4 byte
// J (scale) or J + 4 (min) & 63; J >= 4 the low (scale) or high (min) nibble of
// byte J + 4 and, as bits 4 and 5, bits 6 and 7 of byte J - 4 (scale) or J (min).
template <int J, bool kMin>
HWY_INLINE __m512i ScaleMin(const KConsts& k, const __m512i (&sw)[3]) {
  constexpr int kAt = 8 * (J % 4);
  if constexpr (J < 4) return _mm512_and_si512(_mm512_srli_epi32(sw[kMin ? 1 : 0], kAt), k.s3f);
  const __m512i low = _mm512_and_si512(_mm512_srli_epi32(sw[2], kAt + (kMin ? 4 : 0)), k.s0f);
  return _mm512_ternarylogic_epi32(low, _mm512_srli_epi32(sw[kMin ? 1 : 0], kAt + 2), k.s30, kOrAnd);
}

// Bit J of each byte of a qh plane at bit 4 (the other bits masked after).
template <int J>
HWY_INLINE __m512i HighAt4(__m512i h) {
  if constexpr (J < 4) return _mm512_slli_epi16(h, 4 - J);
  if constexpr (J == 4) return h;
  if constexpr (J > 4) return _mm512_srli_epi16(h, J - 4);
}

// A group super-block's d, dmin (a lane per row) and its three scale words.
struct Head {
  __m512 d, dmin;
  __m512i sw[3];
};
HWY_INLINE Head LoadHead(const uint8_t* gb) {
  return Head{_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb))),
              _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb + 32))),
              {_mm512_loadu_si512(gb + Q4KRows16ScaleByte(0, 0, 0)),
               _mm512_loadu_si512(gb + Q4KRows16ScaleByte(1, 0, 0)),
               _mm512_loadu_si512(gb + Q4KRows16ScaleByte(2, 0, 0))}};
}

// Sub-block J of the group super-block gb decoded: dl, ml and the codes u[c] of
// quad c (weights 4 c .. 4 c + 3) of the 16 rows.
struct SubCodes {
  __m512 dl, ml;
  __m512i u[8];
};
template <class L, int J>
HWY_INLINE void DecodeSub(const KConsts& k, const uint8_t* gb, const Head& h, SubCodes* sc) {
  sc->dl = _mm512_mul_ps(h.d, _mm512_cvtepi32_ps(ScaleMin<J, false>(k, h.sw)));
  sc->ml = _mm512_mul_ps(h.dmin, _mm512_cvtepi32_ps(ScaleMin<J, true>(k, h.sw)));
  for (int c = 0; c < 8; ++c) {
    const __m512i v = _mm512_loadu_si512(gb + L::kCodes + 512 * (J / 2) + 64 * c);
    sc->u[c] = _mm512_and_si512(J % 2 == 0 ? v : _mm512_srli_epi16(v, 4), k.c0f);
    if constexpr (L::kHigh) {
      const __m512i hb = _mm512_loadu_si512(gb + Q5KRows16HighByte(c, 0, 0));
      sc->u[c] = _mm512_ternarylogic_epi32(sc->u[c], HighAt4<J>(hb), k.c10, kOrAnd);
    }
  }
}

// The sub-blocks J = 0 .. 7 of a super-block, in order, as a fold over J... (the
// helpers' templates are force-inlined; a generic lambda per sub-block was not,
// and MatVec 2048 x 2048 took 1.7x as long).
using Subs = std::make_integer_sequence<int, kSubs>;

// Sub-block J of the group super-block gb (super-block sb) against T tokens into s[t][J % 4].
template <class L, int T, int J>
HWY_INLINE void SubTokens(const KConsts& k, const uint8_t* gb, const Head& h, int64_t sb,
                          const uint8_t* const (&act)[T], __m512 (&s)[T][4]) {
  SubCodes sc;
  DecodeSub<L, J>(k, gb, h, &sc);
  for (int t = 0; t < T; ++t) {
    const uint8_t* xb = Q8ABlock(act[t], kSubs * sb + J);
    const __m512 a = _mm512_cvtepi32_ps(DotQuads16(_mm512_setzero_si512(), sc.u, Q8ACodes(xb)));
    const __m512 xs = _mm512_set1_ps(static_cast<float>(Q8ASum(xb)));
    const __m512 inner = _mm512_fmsub_ps(sc.dl, a, _mm512_mul_ps(sc.ml, xs));
    s[t][J % 4] = _mm512_fmadd_ps(_mm512_set1_ps(Q8AScale(xb)), inner, s[t][J % 4]);
  }
}
template <class L, int T, int... J>
HWY_INLINE void SuperTokens(const KConsts& k, const uint8_t* gb, int64_t sb, const uint8_t* const (&act)[T],
                            __m512 (&s)[T][4], std::integer_sequence<int, J...>) {
  const Head h = LoadHead(gb);
  (SubTokens<L, T, J>(k, gb, h, sb, act, s), ...);
}

// Group g against tokens act[0 .. T - 1]: y16[t] = the 16 rows' outputs of token t.
// `sweep` (or null) steps once per super-block.
template <class L, int T>
HWY_INLINE void GroupTokens(const KConsts& k, const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T],
                            TileSweep* sweep, __m512 (&y16)[T]) {
  const int64_t nsb = w.cols / quant::kQK;
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  __m512 s[T][4];
  for (auto& st : s) {
    for (auto& v : st) v = _mm512_setzero_ps();
  }
  for (int64_t sb = 0; sb < nsb; ++sb) {
    if (sweep != nullptr) sweep->Step();
    SuperTokens<L>(k, group + static_cast<size_t>(sb) * L::kGroupBlockBytes, sb, act, s, Subs());
  }
  for (int t = 0; t < T; ++t) y16[t] = _mm512_add_ps(_mm512_add_ps(s[t][0], s[t][1]), _mm512_add_ps(s[t][2], s[t][3]));
}

// Rows [r0, r1) against m tokens (token t's Q8_A row at act + t act_stride), token
// t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class L, class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const KConsts k = MakeKConsts();
  RunTokenTiles16(w, r0, r1, act, act_stride, m, w.cols / quant::kQK, y_of,
                  [&](int64_t g, const auto& a, TileSweep* sweep, auto& y16) HWY_ATTR {
                    GroupTokens<L>(k, w, g, a, sweep, y16);
                  });
}

// Sub-block J of the group super-block gb (sub-block s of the rows) decoded for
// the file layout's GEMM: lane i's codes (weight order) at codes + i nsub 32 + 32 s,
// its (dl, ml) at dm + (i nsub + s) 2 (KGemm's KAffine values, the floats above).
template <class L, int J>
HWY_INLINE void SubToRows(const KConsts& k, const uint8_t* gb, const Head& h, int64_t s, int64_t nsub,
                          uint8_t* codes, float* dm) {
  SubCodes sc;
  DecodeSub<L, J>(k, gb, h, &sc);
  alignas(64) float dl[kRows], ml[kRows];
  _mm512_store_ps(dl, sc.dl);
  _mm512_store_ps(ml, sc.ml);
  for (int64_t i = 0; i < kRows; ++i) {
    dm[(i * nsub + s) * 2] = dl[i];
    dm[(i * nsub + s) * 2 + 1] = ml[i];
  }
  const size_t lane_codes = static_cast<size_t>(nsub) * 32;
  StoreTransposed16({sc.u[0], sc.u[1], sc.u[2], sc.u[3]}, codes + 32 * s, lane_codes);
  StoreTransposed16({sc.u[4], sc.u[5], sc.u[6], sc.u[7]}, codes + 32 * s + 16, lane_codes);
}
template <class L, int... J>
HWY_INLINE void SuperToRows(const KConsts& k, const uint8_t* gb, int64_t sb, int64_t nsub, uint8_t* codes, float* dm,
                            std::integer_sequence<int, J...>) {
  const Head h = LoadHead(gb);
  (SubToRows<L, J>(k, gb, h, kSubs * sb + J, nsub, codes, dm), ...);
}

// Group g decoded for the GEMM: its 16 rows (lane i at codes + i nsub 32, dm + i nsub 2).
template <class L>
void DecodeGroupTo(const KConsts& k, const cpu::WeightView& w, int64_t g, uint8_t* codes, float* dm) {
  const int64_t nsb = w.cols / quant::kQK;
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  for (int64_t sb = 0; sb < nsb; ++sb) {
    SuperToRows<L>(k, group + static_cast<size_t>(sb) * L::kGroupBlockBytes, sb, nsb * kSubs, codes, dm, Subs());
  }
}

// Up to kTileTokensMax tokens: the tiles, each quad decoded once per tile of 8
// while the group's bytes stay in L1/L2. More (prefill): the file layout's GEMM
// (token_lanes-inl.h CodesBitsMatMul with KAffine, as KGemm) on the task's rows
// decoded a group at a time (converting them back to the file layout first cost
// 6-9 ms of the 21 at 2048 x 5632 x 256).
template <class L>
void MatMulRun(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               float* y, int64_t y_stride) {
  if (m <= kTileTokensMax) {
    return RunGroups<L>(w, r0, r1, act, act_stride, m, [&](int64_t t, int64_t r) { return y + t * y_stride + r; });
  }
  const KConsts k = MakeKConsts();
  const int64_t nsub = w.cols / quant::kQ8ABlockSize;
  const auto rows = [&](int64_t c0, int64_t c1, uint8_t* codes, float* dm) HWY_ATTR {
    DecodeNibbleRows<kRows>(c0, c1, nsub, codes, dm, [&](int64_t g, uint8_t* gc, float* gdm) HWY_ATTR {
      DecodeGroupTo<L>(k, w, g, gc, gdm);
    });
  };
  CodesBitsMatMul<L::kHigh ? 5 : 4, KAffine>(w, r0, r1, act, act_stride, m, y, y_stride,
                                              RowRangeDecode<decltype(rows)>{rows});
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const auto y_of = [&](int64_t, int64_t r) { return y + (r - r0); };
  if (w.type == DType::kQ5_K) return RunGroups<Layout<true>>(w, r0, r1, act, 0, 1, y_of);
  RunGroups<Layout<false>>(w, r0, r1, act, 0, 1, y_of);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  if (w.type == DType::kQ5_K) return MatMulRun<Layout<true>>(w, r0, r1, act, act_stride, m, y, y_stride);
  MatMulRun<Layout<false>>(w, r0, r1, act, act_stride, m, y, y_stride);
}

bool IsFastImpl() { return true; }

#else  // other targets (the policy keeps Q4_K in rows of 8 on AVX2 / AVX3, Q5_K in the file layout)

SEPTET_ROWS16_IN_FILE_LAYOUT(detail::GgmlKQuantsMatVec, detail::GgmlKQuantsMatMul)

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

// Two families, one implementation (MatVecImpl / MatMulImpl read w.type).
SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q4KRows16, w.type == DType::kQ4_K && w.layout == cpu::WeightLayout::kQ4KRows16)
SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q5KRows16, w.type == DType::kQ5_K && w.layout == cpu::WeightLayout::kQ5KRows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q4KRows16)
SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q5KRows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
