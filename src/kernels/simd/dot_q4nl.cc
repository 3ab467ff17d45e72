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

struct Tables {
  __m256i levels, c15;
  __m128i d_pick;  // the low 16 bits of each int32 lane to the low 64 bits (vpshufb)
  __m128 d_unit;
};

Tables MakeTables() {
  Tables t;
  t.levels = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kQ4NLLevels)));
  t.c15 = _mm256_set1_epi8(15);
  t.d_pick = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  t.d_unit = _mm_set1_ps(quant::kQ4NLDUnit);
  return t;
}

// The row's short final block: its sub-block count (0: none), its bytes, and
// where each half sub-block's codes lie (the 16 bytes at off[s][h], shifted
// right by the int32 lanes of shift[s]: 128-bit lane h for half h).
struct TailLayout {
  int ns = 0;
  int bytes = 0;
  int off[kSubs][2] = {};
  __m256i shift[kSubs];
};

TailLayout MakeTailLayout(int64_t cols) {
  TailLayout tl;
  const int r = static_cast<int>(cols % kBlock);
  tl.ns = static_cast<int>(quant::CeilDiv(r, kSub));
  tl.bytes = r > 0 ? static_cast<int>(quant::Q4NLShortBlockBytes(r)) : 0;
  const int run = 16 * std::max(tl.ns, 1);  // code bytes of the block
  for (int s = 0; s < kSubs; ++s) {
    int sh[2];
    for (int h = 0; h < 2; ++h) {
      const int k = kSub * s + 16 * h;
      tl.off[s][h] = k % run;
      sh[h] = 4 * std::min(k / run, 1);  // s >= ns: never read
    }
    tl.shift[s] = _mm256_setr_epi32(sh[0], sh[0], sh[0], sh[0], sh[1], sh[1], sh[1], sh[1]);
  }
  return tl;
}

// L[u] (int8, weight order) of sub-block s of a full block: the low (s < 2) or
// high nibbles of the 32 bytes at 32 (s % 2).
HWY_INLINE __m256i FullSubLevels(const Tables& t, const uint8_t* blk, int s) {
  __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 * (s % 2)));
  if (s >= 2) q = _mm256_srli_epi16(q, 4);
  return _mm256_shuffle_epi8(t.levels, _mm256_and_si256(q, t.c15));
}

// L[u] of sub-block s < ns of the short block: its halves from their 16-byte runs.
HWY_INLINE __m256i ShortSubLevels(const Tables& t, const TailLayout& tl, const uint8_t* blk, int s) {
  const __m256i v = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + tl.off[s][0]))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + tl.off[s][1])), 1);
  return _mm256_shuffle_epi8(t.levels, _mm256_and_si256(_mm256_srlv_epi32(v, tl.shift[s]), t.c15));
}

// A tile of R <= 4 rows' block fields: per sub-block s the rows' scales sc_s in
// int32 lanes, and d_eff, both in lane r for row r (0 in the lanes of absent rows).
struct TileFields {
  __m128i sc[kSubs];
  __m128 d4;
};

// q[r]: row r's D in bits [0, 16) and its scale field in bits [16, 32) (the
// absent sub-blocks' nibbles of a short block are 0 or never used).
template <int R>
HWY_INLINE TileFields DecodeFields(const Tables& t, const uint32_t q[R]) {
  const auto lane = [&](int r) { return r < R ? static_cast<int>(q[r]) : 0; };
  const __m128i v = _mm_setr_epi32(lane(0), lane(1), lane(2), lane(3));
  TileFields f;
  f.d4 = _mm_mul_ps(_mm_cvtph_ps(_mm_shuffle_epi8(v, t.d_pick)), t.d_unit);  // exact: a power of 2
  // Nibble s to bits [28, 32), then sign-extended.
  f.sc[0] = _mm_srai_epi32(_mm_slli_epi32(v, 12), 28);
  f.sc[1] = _mm_srai_epi32(_mm_slli_epi32(v, 8), 28);
  f.sc[2] = _mm_srai_epi32(_mm_slli_epi32(v, 4), 28);
  f.sc[3] = _mm_srai_epi32(v, 28);
  return f;
}

template <int R>
HWY_INLINE TileFields FullFields(const Tables& t, const cpu::WeightView& w, int64_t row, int64_t b) {
  uint32_t q[R];
  for (int r = 0; r < R; ++r) q[r] = LoadU32(w.row(row + r) + b * kBlockBytes + offsetof(quant::BlockQ4NL, d));
  return DecodeFields<R>(t, q);
}

// D and the ceil(ns / 2) scale bytes are a short block's last 2 + ceil(ns / 2)
// <= 4 bytes: one 4-byte load ending at its end (it starts at >= 15: inside),
// shifted down to them.
template <int R>
HWY_INLINE TileFields ShortFields(const Tables& t, const TailLayout& tl, const cpu::WeightView& w, int64_t row,
                                  int64_t nb) {
  const int len = 2 + (tl.ns + 1) / 2;
  uint32_t q[R];
  for (int r = 0; r < R; ++r) q[r] = LoadU32(w.row(row + r) + nb * kBlockBytes + tl.bytes - 4) >> (8 * (4 - len));
  return DecodeFields<R>(t, q);
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

// The activation blocks of ns <= 4 sub-blocks: codes as stored and their
// absolute values (shared by the rows of a tile), and each x_d in every lane.
struct PreparedX {
  __m256i x[kSubs], ax[kSubs];
  __m128 xd[kSubs];
};

HWY_INLINE void PrepareX(const uint8_t* xblk, int ns, PreparedX* px) {
  for (int s = 0; s < kSubs; ++s) {  // never read past the row's last activation block
    const bool in = s < ns;
    px->x[s] = in ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(Q8ACodes(xblk + s * kQ8ABytes)))
                  : _mm256_setzero_si256();
    px->ax[s] = _mm256_abs_epi8(px->x[s]);
    px->xd[s] = _mm_set1_ps(in ? Q8AScale(xblk + s * kQ8ABytes) : 0.0f);
  }
}

// One token's terms of a tile's block (its first ns sub-blocks) added to the
// rows' running sums (lane r: row r): the integer and float steps of MatVec and
// MatMul, per lane the scalar reference's sum += (d_eff * x_d) * float(isum_s)
// for s = 0 .. ns - 1. lv(r, s): L[u] of row r, sub-block s (decoded on the
// spot by MatVec, stored by MatMul).
template <int R, class LevelsOf>
HWY_INLINE __m128 AddTile(const TileFields& f, const LevelsOf& lv, const PreparedX& px, int ns, __m128 sum) {
  for (int s = 0; s < ns; ++s) {
    __m256i a[4];
    for (int r = 0; r < 4; ++r) {
      if (r >= R) {
        a[r] = _mm256_setzero_si256();
        continue;
      }
      a[r] = DotU8I8(px.ax[s], _mm256_sign_epi8(lv(r, s), px.x[s]));  // |x| * (L sign x) = x L
    }
    const __m128i isum = _mm_mullo_epi32(HSum4x8(a[0], a[1], a[2], a[3]), f.sc[s]);
    const __m128 term = _mm_mul_ps(_mm_mul_ps(f.d4, px.xd[s]), _mm_cvtepi32_ps(isum));
    sum = _mm_add_ps(sum, NoContract(term));
  }
  return sum;
}

template <int R>
HWY_INLINE __m128 AddDecoded(const DecodedTile<R>& dt, const PreparedX& px, int ns, __m128 sum) {
  return AddTile<R>(dt.f, [&dt](int r, int s) HWY_ATTR { return dt.lv[r][s]; }, px, ns, sum);
}

// Lanes 0 .. R - 1 of v to y[0 .. R - 1].
template <int R>
HWY_INLINE void StoreRows(__m128 v, float* y) {
  if constexpr (R == 4) {
    _mm_storeu_ps(y, v);
  } else {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, v);
    for (int r = 0; r < R; ++r) y[r] = lanes[r];
  }
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
