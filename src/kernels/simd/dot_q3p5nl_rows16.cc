// Q3P5_NL x Q8_A kernels on the repacked layout WeightLayout::kQ3P5NLRows16
// (kernels/simd/repack.h): 16 rows interleaved, an int32 lane per row of one
// 512-bit vector (AVX3_DL).
//
// Per block of the 16 rows: D of every lane (one vcvtph2ps, times 2^-12) and the
// 8 signed 6-bit group scales, each a shift pair per lane from the two header
// loads; per sub-block three 64-byte plane loads and, per quad of 4 weights, the
// level indices 2 u (code_planes16-inl.h: shifts and masks) looked up by one
// vpshufb in a table of L[u] + 127 (unsigned: L >= -127). Every token then adds
// the quad to its group sum with one vpdpbusd against its activation quad
// broadcast from memory; the group sums start at -127 sum(x) of the group (per
// token, once per call), so each lane ends a group holding A_g = sum x L exactly,
// and isum_s = sc_2s A_2s + sc_2s+1 A_2s+1 (two vpmulld) is the integer of the
// file kernels. The float step per lane is theirs (dot_q3p5nl.cc):
//   s_j = fma(d_eff x_d,s, float(isum_s), s_j)  (j = sub-block s of the block)
//   y   = (s_0 + s_1) + (s_2 + s_3)
// so every kernel here gives the file layout's AVX3_DL bits. MatMul of up to 64
// tokens runs tiles of up to 8 over each group of 16 rows; longer calls the file
// layout's GEMM on rows decoded straight from the groups; other targets convert
// the rows back to the file layout (per call) and run the file kernels.
// A task's groups are one stream, swept GroupStreamPrefetchBytes() ahead into L2.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q3p5nl_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/q3p5_nl.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif

namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int64_t kRows = kPlaneRows;
constexpr int kBlock = quant::kQ3P5NLBlockSize;
constexpr int kSub = quant::kQ3P5NLSubBlockSize;
constexpr int kSubs = quant::kQ3P5NLSubBlocks;
constexpr size_t kGroupBlockBytes = kRows * sizeof(quant::BlockQ3P5NL);
constexpr int kLevelOffset = 127;  // L[u] + 127 in [0, 224]: vpdpbusd's unsigned operand
static_assert(kSubs == 4 && kSub == quant::kQ8ABlockSize && kGroupBlockBytes == 896);
static_assert(quant::kQ3P5NLLevels[0] == -kLevelOffset && quant::kQ3P5NLLevels[7] + kLevelOffset <= 255);

#if HWY_TARGET == HWY_AVX3_DL

struct NlConsts : PlaneConsts {
  __m512i levels;  // vpshufb table: entry 2 u = L[u] + 127 (odd entries unused)
};
HWY_INLINE NlConsts MakeNlConsts() {
  NlConsts k;
  static_cast<PlaneConsts&>(k) = MakePlaneConsts();
  alignas(64) uint8_t table[64];
  for (int p = 0; p < 64; ++p) {
    const int i = p % 16;
    table[p] = static_cast<uint8_t>(i % 2 == 0 ? quant::kQ3P5NLLevels[i / 2] + kLevelOffset : 0);
  }
  k.levels = _mm512_load_si512(table);
  return k;
}

// A group block's header decoded once: d_eff and the 8 group scales of every lane
// (those of groups a short block lacks are not read).
struct NlHead {
  __m512 d;
  __m512i sc[2 * kSubs];
};
HWY_INLINE __m512i Field6(__m512i v, int shift_left) {  // sign-extended 6 bits ending at bit 31 - shift_left
  return _mm512_srai_epi32(_mm512_slli_epi32(v, shift_left), 26);
}
HWY_INLINE void DecodeHead(const uint8_t* gb, int ns, NlHead* hd) {
  hd->d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb))),
                        _mm512_set1_ps(quant::kQ3P5NLDUnit));  // exact: a power of 2
  const __m512i a = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb + 32)));  // bits 0..15
  __m512i b;  // bits 16..47 of the scale field
  const int extra = Q3P5NLRows16ScaleExtra(ns);
  if (ns == kSubs) {
    b = _mm512_loadu_si512(gb + Q3P5NLRows16ScaleByte(kSubs, 0, 0));
  } else {
    alignas(64) uint32_t lanes[kRows] = {};
    for (int r = 0; r < kRows; ++r) std::memcpy(&lanes[r], gb + Q3P5NLRows16ScaleByte(ns, r, 0), static_cast<size_t>(extra));
    b = _mm512_load_si512(lanes);
  }
  hd->sc[0] = Field6(a, 26);
  hd->sc[1] = Field6(a, 20);
  hd->sc[2] = Field6(_mm512_or_si512(_mm512_srli_epi32(a, 12), _mm512_slli_epi32(b, 4)), 26);
  hd->sc[3] = Field6(b, 24);
  hd->sc[4] = Field6(b, 18);
  hd->sc[5] = Field6(b, 12);
  hd->sc[6] = Field6(b, 6);
  hd->sc[7] = _mm512_srai_epi32(b, 26);
}

template <int Q>
HWY_INLINE void QuadLevels(const NlConsts& k, const Planes& p, __m512i (&lv)[8]) {
  lv[Q] = _mm512_shuffle_epi8(k.levels, Codes<Q>(k, p.p0, p.p1, p.p2));
}

// Sub-block S (activation block j) of the group block gb against T tokens into s[t][S].
template <int T, int S>
HWY_INLINE void SubBlock(const NlConsts& k, const uint8_t* gb, const NlHead& hd, int64_t j,
                         const uint8_t* const (&act)[T], const HalfSums* const (&meta)[T], __m512 (&s)[T][kSubs]) {
  const Planes p = LoadPlanes(gb, S);
  __m512i lv[8];
  QuadLevels<0>(k, p, lv);
  QuadLevels<1>(k, p, lv);
  QuadLevels<2>(k, p, lv);
  QuadLevels<3>(k, p, lv);
  QuadLevels<4>(k, p, lv);
  QuadLevels<5>(k, p, lv);
  QuadLevels<6>(k, p, lv);
  QuadLevels<7>(k, p, lv);
  for (int t = 0; t < T; ++t) {
    const HalfSums& am = meta[t][j];
    const uint8_t* xq = reinterpret_cast<const uint8_t*>(Q8ACodes(Q8ABlock(act[t], j)));
    __m512i lo = _mm512_set1_epi32(am.lo), hi = _mm512_set1_epi32(am.hi);
    for (int q = 0; q < 4; ++q) {
      lo = _mm512_dpbusd_epi32(lo, lv[q], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q))));
      hi = _mm512_dpbusd_epi32(hi, lv[4 + q], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 16 + 4 * q))));
    }
    const __m512i isum =
        _mm512_add_epi32(_mm512_mullo_epi32(hd.sc[2 * S], lo), _mm512_mullo_epi32(hd.sc[2 * S + 1], hi));
    s[t][S] = _mm512_fmadd_ps(_mm512_mul_ps(hd.d, _mm512_set1_ps(am.xd)), _mm512_cvtepi32_ps(isum), s[t][S]);
  }
}

// Group g against tokens act[0 .. T - 1]: y16[t] = the 16 rows' outputs of token t.
// `sweep` (or null) steps once per block.
template <int T>
HWY_INLINE void GroupTokens(const NlConsts& k, const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T],
                            const HalfSums* const (&meta)[T], TileSweep* sweep, __m512 (&y16)[T]) {
  const int64_t nb = w.cols / kBlock;
  const int ns = static_cast<int>((w.cols % kBlock + kSub - 1) / kSub);
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  __m512 s[T][kSubs];
  for (auto& st : s) {
    for (auto& v : st) v = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    if (sweep != nullptr) sweep->Step();
    const uint8_t* gb = group + static_cast<size_t>(b) * kGroupBlockBytes;
    NlHead hd;
    DecodeHead(gb, kSubs, &hd);
    SubBlock<T, 0>(k, gb, hd, kSubs * b, act, meta, s);
    SubBlock<T, 1>(k, gb, hd, kSubs * b + 1, act, meta, s);
    SubBlock<T, 2>(k, gb, hd, kSubs * b + 2, act, meta, s);
    SubBlock<T, 3>(k, gb, hd, kSubs * b + 3, act, meta, s);
  }
  if (ns > 0) {  // a row's short final block: ns sub-blocks, the last maybe partial
    if (sweep != nullptr) sweep->Step();
    const uint8_t* gb = group + static_cast<size_t>(nb) * kGroupBlockBytes;
    NlHead hd;
    DecodeHead(gb, ns, &hd);
    SubBlock<T, 0>(k, gb, hd, kSubs * nb, act, meta, s);
    if (ns > 1) SubBlock<T, 1>(k, gb, hd, kSubs * nb + 1, act, meta, s);
    if (ns > 2) SubBlock<T, 2>(k, gb, hd, kSubs * nb + 2, act, meta, s);
    if (ns > 3) SubBlock<T, 3>(k, gb, hd, kSubs * nb + 3, act, meta, s);  // its last sub-block partial
  }
  for (int t = 0; t < T; ++t) y16[t] = _mm512_add_ps(_mm512_add_ps(s[t][0], s[t][1]), _mm512_add_ps(s[t][2], s[t][3]));
}

// Rows [r0, r1) against m tokens (token t's Q8_A row at act + t act_stride), token
// t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const NlConsts k = MakeNlConsts();
  const int64_t nsub = (w.cols + kSub - 1) / kSub;
  const int64_t nbs = (w.cols + kBlock - 1) / kBlock;
  const HalfSums* meta = FillHalfSums(act, act_stride, m, nsub, kLevelOffset);  // the groups' starting sums
  RunGroupTiles16(w, r0, r1, m, nbs, y_of,
                  [&](int64_t g, auto tokens, int64_t t0, TileSweep* sweep, auto& y16) HWY_ATTR {
                    constexpr int T = decltype(tokens)::value;
                    const uint8_t* a[T];
                    const HalfSums* mt[T];
                    for (int t = 0; t < T; ++t) {
                      a[t] = act + static_cast<size_t>(t0 + t) * act_stride;
                      mt[t] = meta + (t0 + t) * nsub;
                    }
                    GroupTokens<T>(k, w, g, a, mt, sweep, y16);
                  });
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, [&](int64_t, int64_t r) { return y + (r - r0); });
}

// Row `row` for the file GEMM (token_lanes-inl.h LevelsMatMul), as dot_q3p5nl.cc
// writes it from the file layout: per sub-block its 32 levels in weight order, the
// ints (sc_2s, sc_2s+1, sum_g sc_g 128 sum L_g) and d_eff. The row's 4 bytes of each
// plane decode with Codes' shifts and masks on 32-bit words (every field stays in
// its byte), then one vpshufb of the 32 level indices.
void DecodeRowLevels16(const cpu::WeightView& w, int64_t row, int8_t* levels, int32_t* ints, float* d) {
  alignas(32) int8_t table[32];
  for (int p = 0; p < 32; ++p) table[p] = (p % 2 == 0) ? quant::kQ3P5NLLevels[(p % 16) / 2] : 0;
  const __m256i tab = _mm256_load_si256(reinterpret_cast<const __m256i*>(table));
  const int64_t nb = w.cols / kBlock;
  const int ns = static_cast<int>((w.cols % kBlock + kSub - 1) / kSub);
  const uint8_t* group = w.data + static_cast<size_t>(row / kRows * kRows) * w.row_bytes;
  const int lane = static_cast<int>(row % kRows);
  constexpr uint32_t k0e = 0x0E0E0E0Eu, k06 = 0x06060606u, k08 = 0x08080808u;
  for (int64_t b = 0; b < nb + (ns > 0 ? 1 : 0); ++b) {
    const int nsb = b < nb ? kSubs : ns;
    const uint8_t* gb = group + static_cast<size_t>(b) * kGroupBlockBytes;
    const float d_eff = Fp16ToFloat(LoadU16(gb + 2 * lane)) * quant::kQ3P5NLDUnit;
    uint64_t field = LoadU16(gb + 32 + 2 * lane);
    uint8_t extra[4] = {};
    std::memcpy(extra, gb + Q3P5NLRows16ScaleByte(nsb, lane, 0), static_cast<size_t>(Q3P5NLRows16ScaleExtra(nsb)));
    for (int i = 0; i < 4; ++i) field |= static_cast<uint64_t>(extra[i]) << (16 + 8 * i);
    for (int s = 0; s < nsb; ++s) {
      const uint32_t p0 = LoadU32(gb + Q3P5Rows16PlaneByte(s, 0, lane, 0));
      const uint32_t p1 = LoadU32(gb + Q3P5Rows16PlaneByte(s, 1, lane, 0));
      const uint32_t p2 = LoadU32(gb + Q3P5Rows16PlaneByte(s, 2, lane, 0));
      const __m256i idx = _mm256_setr_epi32(
          static_cast<int>((p0 << 1) & k0e), static_cast<int>((p0 >> 2) & k0e), static_cast<int>((p1 << 1) & k0e),
          static_cast<int>((p1 >> 2) & k0e), static_cast<int>((p2 << 1) & k0e), static_cast<int>((p2 >> 4) & k0e),
          static_cast<int>(((p0 >> 5) & k06) | (p2 & k08)), static_cast<int>(((p1 >> 5) & k06) | ((p2 >> 1) & k08)));
      const __m256i l = _mm256_shuffle_epi8(tab, idx);
      const int64_t sb = b * kSubs + s;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(levels + 32 * sb), l);
      int32_t sum[2];
      HalfSumsI8(l, &sum[0], &sum[1]);
      int32_t sc[2];
      for (int h = 0; h < 2; ++h) {
        const int g = 2 * s + h;
        sc[h] = static_cast<int32_t>(static_cast<int64_t>(field << (58 - 6 * g)) >> 58);  // sign-extended 6 bits
      }
      ints[3 * sb] = sc[0];
      ints[3 * sb + 1] = sc[1];
      ints[3 * sb + 2] = sc[0] * 128 * sum[0] + sc[1] * 128 * sum[1];
      d[sb] = d_eff;
    }
  }
}

// Up to kGroupTokensMax tokens: RunGroups, each quad decoded once per tile of 8
// while the group's bytes stay in L1/L2 (simd_kernels_bench MatMul_Q3P5_NL_repacked
// 2048 x 2048 x 64, one Zen 4 core: 2372 us in tiles, 3096 on the file layout's
// GEMM). More (prefill): that GEMM (each row's levels decoded once per chunk, 16
// tokens in the lanes), its rows decoded straight from the rows of 16.
constexpr int64_t kGroupTokensMax = 64;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  if (m > kGroupTokensMax) {
    return LevelsMatMulAnyM<2, FmaTerm>(w, r0, r1, act, act_stride, m, y, y_stride,
                                        [&](int64_t row, int8_t* levels, int32_t* ints, float* d) HWY_ATTR {
                                          DecodeRowLevels16(w, row, levels, ints, d);
                                        });
  }
  RunGroups(w, r0, r1, act, act_stride, m, [&](int64_t t, int64_t r) { return y + t * y_stride + r; });
}

bool IsFastImpl() { return true; }

#else  // other targets (the policy gives them kQ3P5NLPlanes): the file layout's kernels

SEPTET_ROWS16_IN_FILE_LAYOUT(detail::Q3P5NLMatVec, detail::Q3P5NLMatMul)

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q3P5NLRows16,
                                 w.type == DType::kQ3P5_NL && w.layout == cpu::WeightLayout::kQ3P5NLRows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q3P5NLRows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
