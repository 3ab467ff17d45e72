// Q4_T x Q8_A kernels on the repacked layout WeightLayout::kQ4TRows16
// (kernels/simd/repack.h: kQ4NLRows16's bytes): 16 rows interleaved, an int32
// lane per row of one 512-bit vector (AVX3_DL).
//
// The trellis (quant/q4_t.h) in lanes. A 64-byte code plane holds quads c and
// c + 4 of a sub-block of the 16 rows (low and high nibbles), so in a quad's
// vector byte j of lane r is weight 4 q + j of row r, and the weights before it
// are the earlier bytes of the same lane, then those of quads q - 1 and q - 2
// (the previous sub-block's quads 6 and 7 before quad 0; zero at a row's start,
// its state 0). With G_q = each code's branch bit alone at bit 7 of its byte, one
// vpshldd of (G_q : G_(q-1)) or (G_(q-1) : G_(q-2)) moves the branch bits of
// weights k - d into bit 3 or 4 of weight k's byte, nothing else:
//   d = 2: (G_q : G_(q-1)) << 12 -> bit 3      d = 5: (G_(q-1) : G_(q-2)) << 4 -> bit 3
//   d = 3: (G_q : G_(q-1)) << 21 -> bit 4
// and the code (0..15: index i in bits 0..2, b_k in bit 3) XOR the first two, OR
// the third, is i + 8 y1 + 16 y0 (y1 = b_k ^ b_(k-2) ^ b_(k-5), y0 = b_(k-3)):
// one vpermb into a table of L[4 i + y0 + 2 y1] + 127 (unsigned for vpdpbusd).
// The rest is dot_q4nl_rows16.cc's: per token one vpdpbusd per quad against the
// activation quad broadcast from memory, started at -127 sum(x), so each lane
// ends a sub-block with acc_s = sum x L exactly and isum_s = sc_s acc_s; the float
// steps are the scalar reference's (quant::Q4TVecDot), so every kernel here gives
// the file layout's bits. MatMul of up to 64 tokens runs tiles of up to 8 over
// each group of 16 rows (a sub-block's levels decoded once a tile); longer calls,
// and every other target, convert the rows back to the file layout (per call)
// and run the file kernels (dot_q4t.cc).
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4t_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"  // kPlaneRows, FileRows
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/q4_blocks-inl.h"  // Q4Rows16Head
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/q4_t.h"
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
constexpr int kLevelOffset = 127;  // L + 127 in [0, 253]: vpdpbusd's unsigned operand
static_assert(kSubs == 4 && kSub == quant::kQ8ABlockSize && kBlockBytes == 68);
static_assert(quant::kQ4TLevels[0] == -kLevelOffset && quant::kQ4TLevels[31] + kLevelOffset <= 255);
static_assert(quant::kQ4TStateBits == 5, "the shifts below reach 5 weights back");

#if HWY_TARGET == HWY_AVX3_DL

struct TConsts {
  __m512i levels;  // vpermb table: entry i + 8 y1 + 16 y0 (+ 32: the same) = L[4 i + y0 + 2 y1] + 127
  __m512i c0f, c80;
};
HWY_INLINE TConsts MakeTConsts() {
  alignas(64) uint8_t table[64];
  for (int p = 0; p < 64; ++p) {
    const int i = p & 7, y1 = (p >> 3) & 1, y0 = (p >> 4) & 1;
    table[p] = static_cast<uint8_t>(quant::kQ4TLevels[4 * i + y0 + 2 * y1] + kLevelOffset);
  }
  return TConsts{_mm512_load_si512(table), _mm512_set1_epi8(0x0F), _mm512_set1_epi8(static_cast<char>(0x80))};
}

// The branch bits (at bit 7 of each byte) of the previous sub-block's quads 6 and
// 7 of the 16 rows: the trellis state carried from sub-block to sub-block.
struct History {
  __m512i g6, g7;
};

// Sub-block S (activation block j) of a group block against T tokens into s[t];
// *h the state before it, then after it.
template <int T, int S>
HWY_INLINE void SubBlock(const TConsts& k, const Q4Rows16Head& hd, int64_t j, History* h,
                         const uint8_t* const (&act)[T], __m512 (&s)[T]) {
  __m512i n[8], g[8];  // quad q: its codes (0..15) and its branch bits alone at bit 7
  for (int c = 0; c < 4; ++c) {
    const __m512i v = _mm512_loadu_si512(hd.codes + 256 * S + 64 * c);
    n[c] = _mm512_and_si512(v, k.c0f);
    n[4 + c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), k.c0f);
    g[c] = _mm512_and_si512(_mm512_slli_epi16(v, 4), k.c80);
    g[4 + c] = _mm512_and_si512(v, k.c80);
  }
  __m512i lv[8];
  for (int q = 0; q < 8; ++q) {
    const __m512i g1 = q >= 1 ? g[q - 1] : h->g7;
    const __m512i g2 = q >= 2 ? g[q - 2] : q == 1 ? h->g7 : h->g6;
    const __m512i b2 = _mm512_shldi_epi32(g[q], g1, 12);  // b_(k-2) at bit 3
    const __m512i b5 = _mm512_shldi_epi32(g1, g2, 4);     // b_(k-5) at bit 3
    const __m512i b3 = _mm512_shldi_epi32(g[q], g1, 21);  // b_(k-3) at bit 4
    // (n ^ b2 ^ b5) | b3: truth table of (A ^ B) | C over A = n ^ b2, B = b5, C = b3.
    const __m512i idx = _mm512_ternarylogic_epi32(_mm512_xor_si512(n[q], b2), b5, b3, 0xBE);
    lv[q] = _mm512_permutexvar_epi8(idx, k.levels);
  }
  h->g6 = g[6];
  h->g7 = g[7];
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
HWY_INLINE void GroupTokens(const TConsts& k, const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T],
                            TileSweep* sweep, __m512 (&y16)[T]) {
  const int64_t nb = w.cols / kBlock;
  const int ns = static_cast<int>((w.cols % kBlock + kSub - 1) / kSub);
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  for (auto& v : y16) v = _mm512_setzero_ps();
  History h{_mm512_setzero_si512(), _mm512_setzero_si512()};  // every row starts in state 0
  for (int64_t b = 0; b < nb; ++b) {
    if (sweep != nullptr) sweep->Step();
    Q4Rows16Head hd;
    DecodeQ4Rows16Head(group + static_cast<size_t>(b * kRows) * kBlockBytes, kSubs, &hd);
    SubBlock<T, 0>(k, hd, kSubs * b, &h, act, y16);
    SubBlock<T, 1>(k, hd, kSubs * b + 1, &h, act, y16);
    SubBlock<T, 2>(k, hd, kSubs * b + 2, &h, act, y16);
    SubBlock<T, 3>(k, hd, kSubs * b + 3, &h, act, y16);
  }
  if (ns > 0) {  // a row's short final block: ns sub-blocks, the last maybe partial (its padding comes last)
    if (sweep != nullptr) sweep->Step();
    Q4Rows16Head hd;
    DecodeQ4Rows16Head(group + static_cast<size_t>(nb * kRows) * kBlockBytes, ns, &hd);
    SubBlock<T, 0>(k, hd, kSubs * nb, &h, act, y16);
    if (ns > 1) SubBlock<T, 1>(k, hd, kSubs * nb + 1, &h, act, y16);
    if (ns > 2) SubBlock<T, 2>(k, hd, kSubs * nb + 2, &h, act, y16);
    if (ns > 3) SubBlock<T, 3>(k, hd, kSubs * nb + 3, &h, act, y16);
  }
}

// Rows [r0, r1) against m tokens (token t's Q8_A row at act + t act_stride), token
// t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const TConsts k = MakeTConsts();
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

// Up to kGroupTokensMax tokens: RunGroups. More (prefill): the file layout's
// MatMul (dot_q4t.cc: each row's levels decoded once, 16 tokens in the lanes) on
// the rows converted back per call, whose cost the long call amortizes.
constexpr int64_t kGroupTokensMax = 64;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  if (m > kGroupTokensMax) {
    return detail::Q4TMatMul(FileRows(w, r0, r1), 0, r1 - r0, act, act_stride, m, y + r0, y_stride);
  }
  RunGroups(w, r0, r1, act, act_stride, m, [&](int64_t t, int64_t r) { return y + t * y_stride + r; });
}

bool IsFastImpl() { return true; }

#else  // other targets (the policy keeps the file layout): the file layout's kernels

SEPTET_ROWS16_IN_FILE_LAYOUT(detail::Q4TMatVec, detail::Q4TMatMul)

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q4TRows16, w.type == DType::kQ4_T && w.layout == cpu::WeightLayout::kQ4TRows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q4TRows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
