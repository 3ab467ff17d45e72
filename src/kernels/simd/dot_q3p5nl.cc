// Q3P5_NL x Q8_A matrix-vector and matrix-matrix kernels (format: quant/q3p5_nl.h)
// on the file layout and on the load-time kQ3P5NLPlanes layout (repack.h).
//
// AVX2 path, per 32-weight sub-block s (12 bytes: lo[8] 2-bit plane, hi[4] bit
// plane, Q3P5's code planes), on the file layout:
//   * u in [0, 7] decoded by code_planes-inl.h (one 16-byte broadcast load,
//     vpshufb + vpsrlvd for lo, vpshufb + test for hi), leaving the weights in
//     the order "lane c, dword j, byte b' = weight 16c + 4b' + j": 128-bit lane
//     c holds group 2s + c; the activation block is permuted the same way (one
//     vpshufb per token and block, shared by the rows of a tile);
//   * L = vpshufb(levels, u), |L| = vpabsb(L); the weight's sign goes onto the
//     activation (vpsignb(x, L); no level is 0), vpmaddubsw(|L|, x * sign L)
//     gives int16 pair sums x_q L (<= 2 * 127 * 127: no saturation);
//   * vpmaddwd against the group scales, sc_{2s} in lane 0 and sc_{2s+1} in
//     lane 1, gives int32 lanes whose sum is the header's isum_s exactly.
// On kQ3P5NLPlanes the full blocks' level indices of all four sub-blocks come
// from nine shifts and masks (repack.h) in weight order, so the activation
// needs no permutation; the rest is the same, and so are the bits of the result
// (the int32 sums are exact either way). Short blocks keep the file layout.
// The 8 six-bit scales are unpacked once per block: vpshufb puts a 16-bit
// window holding scale g in int16 lane g, vpmullw by 2^(10 - offset) moves the
// field to the top, vpsraw 10 sign-extends it. Per block the 4 sub-block sums
// go to 4 float lanes, sum += (d_eff * x_d) * float(isum_s) (one multiply, one
// FMA; exact integers, so every target and tile gives the same bits). The
// short final block runs the same code with its missing sub-blocks' sums and
// activation scales set to 0 (their terms are exactly 0). MatMul decodes a tile
// of 4 rows once per block for up to 32 tokens, then does MatVec's operations
// per token; on AVX3_DL, from kLevelsMinTokens tokens, it is token_lanes-inl.h's
// LevelsMatMul: each row's levels decoded once per chunk into weight order, 16
// tokens in the lanes of one vpdpbusd, per lane the same integers and the same
// FMA per sub-block position (FmaTerm).
//
// Portable fallback (SSE4, EMU128, other ISAs): the scalar block readers, w =
// sc * L as int16 codes, DotCodesI32 per sub-block, the same float steps.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q3p5nl.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/simd/code_planes-inl.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"
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

constexpr int kBlock = quant::kQ3P5NLBlockSize;
constexpr size_t kBlockBytes = sizeof(quant::BlockQ3P5NL);
constexpr int kSubs = quant::kQ3P5NLSubBlocks;
constexpr int kSub = quant::kQ3P5NLSubBlockSize;
static_assert(kBlock == kSubs * kSub && kSub == quant::kQ8ABlockSize && kSubs == 4);
static_assert(offsetof(quant::BlockQ3P5NL, d) == 48 && offsetof(quant::BlockQ3P5NL, sc) == 50);

#if SEPTET_SIMD_X86

// Sub-blocks of the final partial block of a row of n weights (0: none).
int TailSubs(int64_t n) { return static_cast<int>((n % kBlock + kSub - 1) / kSub); }

// The code-plane tables (code_planes-inl.h), the levels and the scale unpacking.
struct Tables : PlaneTables {
  __m256i levels, levels3, sc_win, sc_mul, sh_b, c15;
  __m256i sc_sel[kSubs];
  __m128 d_unit;
};

__m256i Load32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

Tables MakeTables() {
  // vpshufb reads index bits 0-3: levels[i] = L[i & 7] (bit 3 of a planes index
  // is another code's bit); levels3 for i3 of the planes layout, whose bit 2 is
  // not u3's: u3 = (i & 3) | (i >> 3) << 2.
  alignas(32) int8_t levels[32], levels3[32];
  for (int p = 0; p < 32; ++p) {
    const int i = p % 16;
    levels[p] = quant::kQ3P5NLLevels[i & 7];
    levels3[p] = quant::kQ3P5NLLevels[(i & 3) | ((i >> 3) << 2)];
  }
  // The scales: the 8 bytes at block offset 48 (d, then the 48-bit field sc)
  // broadcast to every 64-bit lane. Scale g, bits [6g, 6g + 6) of sc, lies in
  // the 16-bit window at sc byte w = min(6g / 8, 4), at bit o = 6g - 8w.
  alignas(32) int8_t sc_win[32];
  alignas(32) int16_t sc_mul[16];
  for (int g = 0; g < 8; ++g) {
    const int w = std::min(6 * g / 8, 4), o = 6 * g - 8 * w;
    for (int lane = 0; lane < 2; ++lane) {
      sc_win[16 * lane + 2 * g] = static_cast<int8_t>(2 + w);
      sc_win[16 * lane + 2 * g + 1] = static_cast<int8_t>(3 + w);
      sc_mul[8 * lane + g] = static_cast<int16_t>(1 << (10 - o));  // field to bits [10, 16)
    }
  }
  Tables t;
  static_cast<PlaneTables&>(t) = MakePlaneTables();
  t.levels = Load32(levels);
  t.levels3 = Load32(levels3);
  t.sh_b = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  t.c15 = _mm256_set1_epi8(15);
  t.sc_win = Load32(sc_win);
  t.sc_mul = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sc_mul));
  // Sub-block s: int16 lanes of 128-bit lane c = scale 2s + c.
  for (int s = 0; s < kSubs; ++s) {
    alignas(32) int8_t sel[32];
    for (int p = 0; p < 32; ++p) sel[p] = static_cast<int8_t>(2 * (2 * s + p / 16) + p % 2);
    t.sc_sel[s] = Load32(sel);
  }
  t.d_unit = _mm_set1_ps(quant::kQ3P5NLDUnit);
  return t;
}

// u in [0, 7] of the 32 weights of the sub-block at `sub` (reads 16 bytes, which
// stay inside the block for every sub-block of a full or short block).
HWY_INLINE __m256i DecodeSub(const Tables& t, const uint8_t* sub) { return DecodeCodePlanes(t, sub); }

// A sub-block's levels: L[u] (signed) and |L[u]|.
struct Levels {
  __m256i l, abs;
};
HWY_INLINE Levels LevelsOf(__m256i table, __m256i u) {
  const __m256i l = _mm256_shuffle_epi8(table, u);
  return Levels{l, _mm256_abs_epi8(l)};
}

// The levels of the four sub-blocks of a full block: file layout (code planes,
// in code_planes-inl.h's permuted order) or kQ3P5NLPlanes (weight order).
template <bool kPlanes>
HWY_INLINE void DecodeLevels(const Tables& t, const uint8_t* blk, Levels lv[kSubs]) {
  if constexpr (kPlanes) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    const __m256i bs = _mm256_srlv_epi32(
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32))), t.sh_b);
    lv[0] = LevelsOf(t.levels, _mm256_and_si256(a, t.c15));
    lv[1] = LevelsOf(t.levels, _mm256_and_si256(_mm256_srli_epi16(a, 3), t.c15));
    lv[2] = LevelsOf(t.levels, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 6), t.c3),
                                               _mm256_and_si256(bs, t.c4)));
    lv[3] = LevelsOf(t.levels3, _mm256_and_si256(bs, t.c15));
  } else {
    for (int s = 0; s < kSubs; ++s) lv[s] = LevelsOf(t.levels, DecodeSub(t, blk + 12 * s));
  }
}

// Int32 lanes summing to isum_s = sc_{2s} acc_{2s} + sc_{2s+1} acc_{2s+1}.
HWY_INLINE __m256i SubDot(const Levels& lv, __m256i x, __m256i sc) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(lv.abs, _mm256_sign_epi8(x, lv.l)), sc);
}

// A block's d_eff (4 lanes) and its 8 scales as int16 (both 128-bit lanes).
struct BlockScales {
  __m256i sc16;
  __m128 d4;
};
// q: the 8 bytes d, sc[6] in its low 64 bits.
HWY_INLINE BlockScales ScalesOf(const Tables& t, __m128i q) {
  const __m256i v = _mm256_broadcastq_epi64(q);
  BlockScales bs;
  bs.sc16 = _mm256_srai_epi16(_mm256_mullo_epi16(_mm256_shuffle_epi8(v, t.sc_win), t.sc_mul), 10);
  bs.d4 = _mm_mul_ps(_mm_broadcastss_ps(_mm_cvtph_ps(q)), t.d_unit);  // exact: a power of 2
  return bs;
}
HWY_INLINE __m128i FieldsFull(const uint8_t* blk) {
  return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + offsetof(quant::BlockQ3P5NL, d)));
}
// A short block of ns sub-blocks: d at 12 ns, then ceil(12 ns / 8) scale bytes,
// the block's last. One 8-byte load ending at the block's end (it starts at
// 12 ns + len - 8 >= 0 for ns >= 1: inside the block) shifted down to the
// fields; the bytes above them, the scales of absent groups, read as 0.
HWY_INLINE __m128i FieldsShort(const uint8_t* blk, int ns) {
  const int len = 2 + (12 * ns + 7) / 8;
  uint64_t v;
  std::memcpy(&v, blk + 12 * ns + len - 8, 8);
  return _mm_cvtsi64_si128(static_cast<int64_t>(v >> (8 * (8 - len))));
}
HWY_INLINE __m256i ScaleOfSub(const Tables& t, const BlockScales& bs, int s) {
  return _mm256_shuffle_epi8(bs.sc16, t.sc_sel[s]);
}

// Activation block group (ns <= 4 Q8_A blocks) in decode order, and x_d; the
// absent blocks of a short group read as 0 (codes and scales).
struct PreparedX {
  __m256i xp[kSubs];
  __m128 xd4;
};

// `permute`: in the file layout's decode order (else in weight order, for kQ3P5NLPlanes).
HWY_INLINE void PrepareX(const Tables& t, const uint8_t* xblk, int ns, bool permute, PreparedX* px) {
  for (int s = 0; s < kSubs; ++s) {
    px->xp[s] = _mm256_setzero_si256();
    if (s >= ns) continue;  // never read past the row's last activation block
    const __m256i x = Load32(Q8ACodes(xblk + s * kQ8ABytes));
    px->xp[s] = permute ? _mm256_shuffle_epi8(x, t.px) : x;
  }
  // The scales in registers (four stores and a 16-byte load of them would stall on
  // store forwarding once per token and block).
  const auto scale = [&](int s) { return s < ns ? Q8AScale(xblk + s * kQ8ABytes) : 0.0f; };
  px->xd4 = _mm_setr_ps(scale(0), scale(1), scale(2), scale(3));
}

// The one float step of every path: lane s += (d_eff * x_d[s]) * float(isum_s).
// An explicit FMA, so MatVec and MatMul give the same bits.
HWY_INLINE __m128 AddTerms(const BlockScales& bs, const PreparedX& px, const __m256i a[kSubs], __m128 sum) {
  const __m128i isum = HSum4x8(a[0], a[1], a[2], a[3]);
  return _mm_fmadd_ps(_mm_mul_ps(bs.d4, px.xd4), _mm_cvtepi32_ps(isum), sum);
}

// A block decoded for the dot products: its levels, its scales in their int16
// lanes per sub-block, d_eff. MatVec decodes each block once per token; MatMul once
// per row tile and block (the short block once per row tile) for up to kTT tokens.
struct DecodedBlock {
  Levels lv[kSubs];
  __m256i sc[kSubs];
  BlockScales bs;
};

template <bool kPlanes>
HWY_INLINE void DecodeBlock(const Tables& t, const uint8_t* blk, DecodedBlock* db) {
  db->bs = ScalesOf(t, FieldsFull(blk));
  DecodeLevels<kPlanes>(t, blk, db->lv);
  for (int s = 0; s < kSubs; ++s) db->sc[s] = ScaleOfSub(t, db->bs, s);
}

// A row's short final block of ns sub-blocks (file layout in both layouts).
HWY_INLINE void DecodeShortBlock(const Tables& t, const uint8_t* blk, int ns, DecodedBlock* db) {
  db->bs = ScalesOf(t, FieldsShort(blk, ns));
  for (int s = 0; s < kSubs; ++s) {
    db->lv[s] = s < ns ? LevelsOf(t.levels, DecodeSub(t, blk + 12 * s)) : Levels{};
    db->sc[s] = ScaleOfSub(t, db->bs, s);
  }
}

// One token's terms of a decoded block (its first ns sub-blocks): the integer and
// float steps of both MatVec and MatMul, so the two give the same bits.
HWY_INLINE __m128 AddDecoded(const DecodedBlock& db, const PreparedX& px, int ns, __m128 sum) {
  __m256i a[kSubs];
  for (int s = 0; s < kSubs; ++s) a[s] = s < ns ? SubDot(db.lv[s], px.xp[s], db.sc[s]) : _mm256_setzero_si256();
  return AddTerms(db.bs, px, a, sum);
}

template <bool kPlanes, int R>
HWY_INLINE void RowsAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                         RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  PreparedX px;
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (ns > 0));
  for (int64_t b = 0; b < nb; ++b) {
    PrepareX(t, Q8ABlock(act, b * kSubs), kSubs, !kPlanes, &px);
    sweep.Step();
    for (int r = 0; r < R; ++r) {
      DecodedBlock db;
      DecodeBlock<kPlanes>(t, w.row(row + r) + b * kBlockBytes, &db);
      sum[r] = AddDecoded(db, px, kSubs, sum[r]);
    }
  }
  if (ns > 0) {  // the short final block
    sweep.Step();
    PrepareX(t, Q8ABlock(act, nb * kSubs), ns, true, &px);
    for (int r = 0; r < R; ++r) {
      DecodedBlock db;
      DecodeShortBlock(t, w.row(row + r) + nb * kBlockBytes, ns, &db);
      sum[r] = AddDecoded(db, px, ns, sum[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

template <bool kPlanes>
void MatVecLayout(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Tables t = MakeTables();
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsAvx2<kPlanes, 4>(t, w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) RowsAvx2<kPlanes, 1>(t, w, r, act, y + (r - r0), span);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  if (w.layout == cpu::WeightLayout::kQ3P5NLPlanes) return MatVecLayout<true>(w, r0, r1, act, y);
  MatVecLayout<false>(w, r0, r1, act, y);
}

// Prefill: a tile of R rows is decoded once per block (codes to levels, scales
// to their int16 lanes) and reused for a tile of up to kTT tokens; per row and
// token the integers and the float step are AddDecoded's (MatVec's bits).
constexpr int kTT = 32;

template <bool kPlanes, int R>
HWY_INLINE void RowTileMatMul(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act,
                              size_t act_stride, int64_t m, float* y, int64_t y_stride, RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (ns > 0));  // stepped on the first token tile
  __m128 sum[R][kTT];
  DecodedBlock dec[R], tail[R];
  PreparedX px;
  for (int r = 0; r < R && ns > 0; ++r) DecodeShortBlock(t, w.row(row + r) + nb * kBlockBytes, ns, &tail[r]);
  for (int64_t ta = 0; ta < m; ta += kTT) {
    const int nt = static_cast<int>(std::min<int64_t>(kTT, m - ta));
    for (int r = 0; r < R; ++r) {
      for (int k = 0; k < nt; ++k) sum[r][k] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      if (ta == 0) sweep.Step();
      for (int r = 0; r < R; ++r) DecodeBlock<kPlanes>(t, w.row(row + r) + b * kBlockBytes, &dec[r]);
      for (int k = 0; k < nt; ++k) {
        PrepareX(t, Q8ABlock(act + static_cast<size_t>(ta + k) * act_stride, b * kSubs), kSubs, !kPlanes, &px);
        for (int r = 0; r < R; ++r) sum[r][k] = AddDecoded(dec[r], px, kSubs, sum[r][k]);
      }
    }
    if (ns > 0 && ta == 0) sweep.Step();
    for (int k = 0; k < nt; ++k) {
      const uint8_t* a = act + static_cast<size_t>(ta + k) * act_stride;
      if (ns > 0) {  // the short final block, decoded once per row tile
        PrepareX(t, Q8ABlock(a, nb * kSubs), ns, true, &px);
        for (int r = 0; r < R; ++r) sum[r][k] = AddDecoded(tail[r], px, ns, sum[r][k]);
      }
      for (int r = 0; r < R; ++r) y[(ta + k) * y_stride + row + r] = HSum4f(sum[r][k]);
    }
  }
}

template <bool kPlanes>
void MatMulLayout(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                  float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowTileMatMul<kPlanes, 4>(t, w, r, act, act_stride, m, y, y_stride, span);
  for (; r < r1; ++r) RowTileMatMul<kPlanes, 1>(t, w, r, act, act_stride, m, y, y_stride, span);
}

#if HWY_TARGET == HWY_AVX3_DL
// A sub-block's levels in weight order (the file layout's decode order undone by
// the activation permutation, its own inverse) for the VNNI lanes
// (token_lanes-inl.h LevelsMatMul), with the scales of its two groups of 16,
// sum_g sc_g 128 (sum of L over group g), and d_eff (group 2s + h: 128-bit half h).
HWY_INLINE void PutSubLevels(__m256i l, const int16_t* sc2, float d_eff, int8_t* levels, int32_t* ints,
                             float* d) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(levels), l);
  int32_t sum[2];
  HalfSumsI8(l, &sum[0], &sum[1]);
  ints[0] = sc2[0];
  ints[1] = sc2[1];
  ints[2] = sc2[0] * 128 * sum[0] + sc2[1] * 128 * sum[1];
  *d = d_eff;
}

// Row `row` for LevelsMatMul: full blocks by DecodeLevels (either layout), the
// short block by DecodeSub; the scales of both by ScalesOf.
template <bool kPlanes>
void DecodeRowLevels(const Tables& t, const cpu::WeightView& w, int64_t row, int8_t* levels, int32_t* ints,
                     float* d) {
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const uint8_t* wr = w.row(row);
  alignas(32) int16_t sc[16];
  const auto scales = [&](__m128i fields) HWY_ATTR {
    const BlockScales bs = ScalesOf(t, fields);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sc), bs.sc16);
    return _mm_cvtss_f32(bs.d4);
  };
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wr + b * kBlockBytes;
    const float de = scales(FieldsFull(blk));
    Levels lv[kSubs];
    DecodeLevels<kPlanes>(t, blk, lv);
    for (int s = 0; s < kSubs; ++s) {
      const int64_t sb = b * kSubs + s;
      const __m256i l = kPlanes ? lv[s].l : _mm256_shuffle_epi8(lv[s].l, t.px);
      PutSubLevels(l, sc + 2 * s, de, levels + 32 * sb, ints + 3 * sb, d + sb);
    }
  }
  if (ns == 0) return;
  const uint8_t* blk = wr + nb * kBlockBytes;
  const float de = scales(FieldsShort(blk, ns));
  for (int s = 0; s < ns; ++s) {
    const int64_t sb = nb * kSubs + s;
    const __m256i l = _mm256_shuffle_epi8(LevelsOf(t.levels, DecodeSub(t, blk + 12 * s)).l, t.px);
    PutSubLevels(l, sc + 2 * s, de, levels + 32 * sb, ints + 3 * sb, d + sb);
  }
}

template <bool kPlanes>
void LanesLayout(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                 float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  LevelsMatMulAnyM<2, FmaTerm>(w, r0, r1, act, act_stride, m, y, y_stride,
                               [&](int64_t row, int8_t* levels, int32_t* ints, float* d) HWY_ATTR {
                                 DecodeRowLevels<kPlanes>(t, w, row, levels, ints, d);
                               });
}
#endif  // HWY_TARGET == HWY_AVX3_DL

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  const bool planes = w.layout == cpu::WeightLayout::kQ3P5NLPlanes;
#if HWY_TARGET == HWY_AVX3_DL
  if (m >= kLevelsMinTokens) {
    return planes ? LanesLayout<true>(w, r0, r1, act, act_stride, m, y, y_stride)
                  : LanesLayout<false>(w, r0, r1, act, act_stride, m, y, y_stride);
  }
#endif
  if (planes) return MatMulLayout<true>(w, r0, r1, act, act_stride, m, y, y_stride);
  MatMulLayout<false>(w, r0, r1, act, act_stride, m, y, y_stride);
}

#else  // portable fallback: the scalar block readers, SIMD integer dot

// planes: the row's full blocks are in the kQ3P5NLPlanes layout (each converted
// back to the file layout first).
float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act, bool planes) {
  float sum[kSubs] = {0.0f, 0.0f, 0.0f, 0.0f};
  alignas(64) uint8_t file_block[kBlockBytes];
  alignas(64) uint8_t codes[kBlock];
  alignas(64) int16_t wq[kBlock];  // sc_g * L[u], |.| <= 4064
  for (int64_t i0 = 0, b = 0; i0 < n; i0 += kBlock, ++b) {
    const int len = static_cast<int>(std::min<int64_t>(kBlock, n - i0));
    const int ns = (len + kSub - 1) / kSub;
    const uint8_t* blk = wrow + b * kBlockBytes;  // only the last block may be short
    if (planes && len == kBlock) {
      Q3P5NLPlanesToBlock(blk, file_block);
      blk = file_block;
    }
    const quant::Q3P5NLParams p = quant::Q3P5NLReadParams(blk, len);
    quant::Q3P5NLReadCodes(blk, len, codes);
    for (int k = 0; k < kSub * ns; ++k) {
      wq[k] = static_cast<int16_t>(p.sc[k / quant::kQ3P5NLGroupSize] * quant::kQ3P5NLLevels[codes[k]]);
    }
    for (int s = 0; s < ns; ++s) {
      const uint8_t* xb = Q8ABlock(act, b * kSubs + s);
      const int32_t isum = DotCodesI32(wq + kSub * s, Q8ACodes(xb), kSub);
      sum[s] += (p.d * Q8AScale(xb)) * static_cast<float>(isum);
    }
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

float RowFile(const uint8_t* wrow, int64_t n, const uint8_t* act) { return RowGeneric(wrow, n, act, false); }
float RowPlanes(const uint8_t* wrow, int64_t n, const uint8_t* act) { return RowGeneric(wrow, n, act, true); }

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecByRows(w.layout == cpu::WeightLayout::kQ3P5NLPlanes ? RowPlanes : RowFile, w, r0, r1, act, y);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

#endif  // SEPTET_SIMD_X86

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Q3P5NL, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q3P5NL)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
