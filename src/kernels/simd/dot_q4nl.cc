// Q4_NL x Q8_A matrix-vector and matrix-matrix kernels (format: quant/q4_nl.h),
// file layout. Every target returns the scalar reference's bits
// (quant::Q4NLVecDot): the integers are exact and the float steps are its own,
// in its order.
//
// AVX2 path. A full block's codes are two 32-byte loads a (bytes 0..31) and
// b (32..63): & 15 gives sub-blocks 0 (a) and 1 (b), (>> 4) & 15 sub-blocks 2
// (a) and 3 (b), each in weight order, so the activation is used as loaded.
// Rows go in tiles of 4, one float lane per row. Per sub-block s, |x| =
// vpabsb(x) once for the tile; per row:
//   * L = vpshufb(levels, u); the activation's sign goes onto the level
//     (vpsignb(L, x): 0 where x is 0), vpmaddubsw(|x|, L * sign x) gives int16
//     pair sums x_q L (<= 2 * 127 * 127: no saturation), vpmaddwd by 1
//     (AVX3_DL: one vpdpbusd) int32 lanes summing to acc_s;
// then per sub-block for the 4 rows at once:
//   * HSum4x8 of the 4 rows' vectors: acc_s in int32 lane r (row r); vpmulld by
//     the rows' scales sc_s (each row's 32-bit d | sc << 16 in lane r; vpslld
//     by 12 - 4 s, vpsrad 28) gives isum_s exactly;
//   * t = (d_eff * x_d) * float(isum_s): vmulps of the rows' d_eff (vpshufb +
//     vcvtph2ps, times 2^-10: exact) by x_d broadcast, vcvtdq2ps, vmulps; then
//     sum += t (vaddps): per lane the scalar's multiply, multiply, add, one
//     rounded add per sub-block in block then sub-block order. The product
//     passes an empty asm first (NoContract), so the compiler cannot fuse it
//     with the add into an FMA.
// The short final block (ns = ceil(r / 32) sub-blocks, 16 ns code bytes) is
// read per half sub-block: weights 32 s + 16 h .. + 15 are the 16 bytes at
// (32 s + 16 h) % (16 ns), nibble (32 s + 16 h) / (16 ns); only its ns terms
// are added. Padding weights of a partial sub-block meet the activation's zero
// padding (Q8_A codes past n are 0), so the integers equal the scalar's sum
// over k < r. MatVec decodes each sub-block where it uses it; MatMul decodes a
// tile of 4 rows once per block (levels and |levels| as int8, scales, d_eff;
// the short block once per row tile) for up to 32 tokens, then runs the same
// integer and float steps per token. On AVX3_DL, from kLevelsMinTokens tokens,
// MatMul is token_lanes-inl.h's LevelsMatMul instead: each row's levels decoded
// once per chunk (the vpshufb above), 16 tokens in the lanes of one vpdpbusd,
// and per lane the same integers and float steps (SeqTerm).
//
// Portable fallback (SSE4, EMU128, other ISAs): the scalar block readers, the
// levels as int8, DotCodesI32 per sub-block, the scalar's float expression (on
// x86 these targets have no FMA to contract it into).
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4nl.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/q4_blocks-inl.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/q4_nl.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kBlock = quant::kQ4NLBlockSize;
constexpr size_t kBlockBytes = sizeof(quant::BlockQ4NL);
constexpr int kSubs = quant::kQ4NLSubBlocks;
constexpr int kSub = quant::kQ4NLSubBlockSize;
static_assert(kBlock == kSubs * kSub && kSub == quant::kQ8ABlockSize && kSubs == 4);
static_assert(offsetof(quant::BlockQ4NL, d) == 64 && offsetof(quant::BlockQ4NL, sc) == 66);

#if SEPTET_SIMD_X86

struct Tables : Q4BlockTables {
  __m256i levels;
};

Tables MakeTables() {
  Tables t;
  static_cast<Q4BlockTables&>(t) = MakeQ4BlockTables();
  t.levels = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kQ4NLLevels)));
  return t;
}

// L[u] (int8, weight order) of sub-block s of a full block.
HWY_INLINE __m256i FullSubLevels(const Tables& t, const uint8_t* blk, int s) {
  return _mm256_shuffle_epi8(t.levels, FullSubCodes(t, blk, s));
}

// L[u] of sub-block s < ns of the short block.
HWY_INLINE __m256i ShortSubLevels(const Tables& t, const TailLayout& tl, const uint8_t* blk, int s) {
  return _mm256_shuffle_epi8(t.levels, ShortSubCodes(t, tl, blk, s));
}

// A tile's block decoded once for many tokens (MatMul; and the short block).
template <int R>
struct DecodedTile {
  __m256i lv[R][kSubs];  // L[u]
  TileFields f;
};

template <int R>
HWY_INLINE void DecodeBlock(const Tables& t, const cpu::WeightView& w, int64_t row, int64_t b, DecodedTile<R>* dt) {
  for (int r = 0; r < R; ++r) {
    for (int s = 0; s < kSubs; ++s) dt->lv[r][s] = FullSubLevels(t, w.row(row + r) + b * kBlockBytes, s);
  }
  dt->f = FullFields<R>(t, w, row, b);
}

template <int R>
HWY_INLINE void DecodeShortBlock(const Tables& t, const TailLayout& tl, const cpu::WeightView& w, int64_t row,
                                 int64_t nb, DecodedTile<R>* dt) {
  for (int r = 0; r < R; ++r) {
    for (int s = 0; s < kSubs; ++s) {
      dt->lv[r][s] = s < tl.ns ? ShortSubLevels(t, tl, w.row(row + r) + nb * kBlockBytes, s) : _mm256_setzero_si256();
    }
  }
  dt->f = ShortFields<R>(t, tl, w, row, nb);
}

template <int R>
HWY_INLINE __m128 AddDecoded(const DecodedTile<R>& dt, const PreparedX& px, int ns, __m128 sum) {
  return AddTile<R>(dt.f, [&dt](int r, int s) HWY_ATTR { return dt.lv[r][s]; }, px, ns, sum);
}

template <int R>
HWY_INLINE void RowsAvx2(const Tables& t, const TailLayout& tl, const cpu::WeightView& w, int64_t row,
                         const uint8_t* act, float* y, RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  __m128 sum = _mm_setzero_ps();
  PreparedX px;
  DecodedTile<R> dt;
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (tl.ns > 0));
  for (int64_t b = 0; b < nb; ++b) {
    PrepareX(Q8ABlock(act, b * kSubs), kSubs, &px);
    sweep.Step();
    const uint8_t* blk0 = w.row(row) + b * kBlockBytes;
    const auto lv = [&](int r, int s) HWY_ATTR { return FullSubLevels(t, blk0 + r * w.row_bytes, s); };
    sum = AddTile<R>(FullFields<R>(t, w, row, b), lv, px, kSubs, sum);
  }
  if (tl.ns > 0) {  // the short final block
    sweep.Step();
    PrepareX(Q8ABlock(act, nb * kSubs), tl.ns, &px);
    DecodeShortBlock(t, tl, w, row, nb, &dt);
    sum = AddDecoded(dt, px, tl.ns, sum);
  }
  StoreRows<R>(sum, y);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Tables t = MakeTables();
  const TailLayout tl = MakeTailLayout(w.cols);
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsAvx2<4>(t, tl, w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) RowsAvx2<1>(t, tl, w, r, act, y + (r - r0), span);
}

// Prefill: a tile of R rows is decoded once per block and reused for a tile of
// up to kTT tokens; per token the integers and the float steps are AddTile's
// (MatVec's bits, the scalar's).
constexpr int kTT = 32;

template <int R>
HWY_INLINE void RowTileMatMul(const Tables& t, const TailLayout& tl, const cpu::WeightView& w, int64_t row,
                              const uint8_t* act, size_t act_stride, int64_t m, float* y, int64_t y_stride,
                              RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  const int ns = tl.ns;
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (ns > 0));  // stepped on the first token tile
  __m128 sum[kTT];
  DecodedTile<R> dec, tail;
  PreparedX px;
  if (ns > 0) DecodeShortBlock(t, tl, w, row, nb, &tail);
  for (int64_t ta = 0; ta < m; ta += kTT) {
    const int nt = static_cast<int>(std::min<int64_t>(kTT, m - ta));
    for (int k = 0; k < nt; ++k) sum[k] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      if (ta == 0) sweep.Step();
      DecodeBlock(t, w, row, b, &dec);
      for (int k = 0; k < nt; ++k) {
        PrepareX(Q8ABlock(act + static_cast<size_t>(ta + k) * act_stride, b * kSubs), kSubs, &px);
        sum[k] = AddDecoded(dec, px, kSubs, sum[k]);
      }
    }
    if (ns > 0 && ta == 0) sweep.Step();
    for (int k = 0; k < nt; ++k) {
      if (ns > 0) {  // the short final block, decoded once per row tile
        PrepareX(Q8ABlock(act + static_cast<size_t>(ta + k) * act_stride, nb * kSubs), ns, &px);
        sum[k] = AddDecoded(tail, px, ns, sum[k]);
      }
      StoreRows<R>(sum[k], y + (ta + k) * y_stride + row);
    }
  }
}

#if HWY_TARGET == HWY_AVX3_DL
// Row `row` for the VNNI lanes (token_lanes-inl.h LevelsMatMul): per sub-block
// its 32 levels in weight order, sc_s and sc_s 128 (sum of L), and d_eff. Full
// blocks by FullSubLevels, the short block's ns sub-blocks by ShortSubLevels.
void DecodeRowLevels(const Tables& t, const TailLayout& tl, const cpu::WeightView& w, int64_t row, int8_t* levels,
                     int32_t* ints, float* d) {
  const int64_t nb = w.cols / kBlock;
  const uint8_t* wr = w.row(row);
  const auto put = [&](int64_t sb, __m256i lv, int sc, float de) HWY_ATTR {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(levels + 32 * sb), lv);
    ints[2 * sb] = sc;
    ints[2 * sb + 1] = sc * 128 * SumI8(lv);
    d[sb] = de;
  };
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wr + b * kBlockBytes;
    const quant::Q4NLParams p = quant::Q4NLReadParams(blk, kBlock);
    for (int s = 0; s < kSubs; ++s) put(b * kSubs + s, FullSubLevels(t, blk, s), p.sc[s], p.d);
  }
  if (tl.ns == 0) return;
  const uint8_t* blk = wr + nb * kBlockBytes;
  const quant::Q4NLParams p = quant::Q4NLReadParams(blk, static_cast<int>(w.cols % kBlock));
  for (int s = 0; s < tl.ns; ++s) put(nb * kSubs + s, ShortSubLevels(t, tl, blk, s), p.sc[s], p.d);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  const TailLayout tl = MakeTailLayout(w.cols);
#if HWY_TARGET == HWY_AVX3_DL
  if (m >= kLevelsMinTokens) {
    return LevelsMatMulAnyM<1, SeqTerm>(w, r0, r1, act, act_stride, m, y, y_stride,
                                        [&](int64_t row, int8_t* levels, int32_t* ints, float* d) HWY_ATTR {
                                          DecodeRowLevels(t, tl, w, row, levels, ints, d);
                                        });
  }
#endif
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowTileMatMul<4>(t, tl, w, r, act, act_stride, m, y, y_stride, span);
  for (; r < r1; ++r) RowTileMatMul<1>(t, tl, w, r, act, act_stride, m, y, y_stride, span);
}

#else  // portable fallback: the scalar block readers, SIMD integer dot

float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  float sum = 0.0f;
  alignas(64) uint8_t codes[kBlock];
  alignas(64) int8_t lv[kBlock];
  const uint8_t* blk = wrow;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int len = static_cast<int>(std::min<int64_t>(kBlock, n - i0));
    const int ns = static_cast<int>(quant::CeilDiv(len, kSub));
    const quant::Q4NLParams p = quant::Q4NLReadParams(blk, len);
    quant::Q4NLReadCodes(blk, len, codes);
    for (int k = 0; k < kSub * ns; ++k) lv[k] = quant::kQ4NLLevels[codes[k]];
    for (int s = 0; s < ns; ++s) {  // padding weights meet zero activation codes
      const uint8_t* xb = Q8ABlock(act, i0 / kSub + s);
      const int32_t isum = p.sc[s] * DotCodesI32(lv + kSub * s, Q8ACodes(xb), kSub);
      sum += (p.d * Q8AScale(xb)) * static_cast<float>(isum);
    }
    blk += quant::Q4NLShortBlockBytes(len);
  }
  return sum;
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecByRows(RowGeneric, w, r0, r1, act, y);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

#endif  // SEPTET_SIMD_X86

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Q4NL, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q4NL)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
