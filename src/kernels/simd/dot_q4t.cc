// Q4_T x Q8_A matrix-vector and matrix-matrix kernels (format: quant/q4_t.h),
// file layout. Every target returns the scalar reference's bits
// (quant::Q4TVecDot): the integers are exact and the float steps are its own,
// in its order, sum += (d_eff * x_d) * float(isum_s).
//
// Decode, 32 weights (a sub-block) at a time in row order, the row's last 5
// branch bits carried in a scalar: the codes' branch bits (bit 3) become a 32-bit
// mask B; with the history h (bits b_(k0-5) .. b_(k0-1)) the window
// W = B << 5 | h gives every weight's
//   y1 = W >> 5 ^ W >> 3 ^ W   (b_k ^ b_(k-2) ^ b_(k-5))   and   y0 = W >> 2 (b_(k-3))
// in one scalar step each; back in lanes they complete the table index
// t = 4 (c & 3) + y0 + 2 y1, and the level is L[t] or L[16 + t] as bit 2 of c says
// (two 16-byte table lookups and a select: L[4 i + z]).
//
// x86 (AVX2, AVX3, AVX3_DL): the codes come as Q4_NL's kernels read them and
// the levels go through Q4_NL's tiles of 4 rows (q4_blocks-inl.h: vpsignb,
// vpmaddubsw, HSum4x8, vpmulld by the scales, the float steps in the rows' lanes,
// kept from FMA contraction); the masks are vpmovmskb and a byte spread (AVX2) or
// mask registers (AVX3, AVX3_DL). MatVec decodes each sub-block where it uses it;
// MatMul decodes a tile of 4 rows once per block for up to 32 tokens, and on
// AVX3_DL from kLevelsMinTokens tokens runs token_lanes-inl.h's LevelsMatMul (each
// row's levels decoded once, 16 tokens in the lanes of one vpdpbusd, the same
// integers and float steps: SeqTerm).
// Portable targets (SSE4, EMU128, SCALAR, other ISAs): the same decode in Highway
// lanes (StoreMaskBits / LoadMaskBits; HWY_SCALAR in scalar code), DotCodesI32
// per sub-block; MatMul decodes each row once. Short final blocks: the codes at
// Q4_NL's short-block places; padding weights meet the activation's zero codes.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4t.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/q4_blocks-inl.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/q4_t.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kBlock = quant::kQ4NLBlockSize;
constexpr int kSub = quant::kQ4NLSubBlockSize;
constexpr int kSubs = quant::kQ4NLSubBlocks;
static_assert(kBlock == kSubs * kSub && kSub == quant::kQ8ABlockSize && kSubs == 4);
static_assert(sizeof(quant::BlockQ4NL) == 68);

#if SEPTET_SIMD_X86
// x86 MatVec: Q4_NL's tiles of 4 rows (q4_blocks-inl.h AddTile: vpsignb,
// vpmaddubsw, HSum4x8, vpmulld by the scales, the scalar's float steps in the
// rows' lanes), the levels of each row's sub-blocks decoded in order with the
// row's own branch-bit history.
struct TrellisTables {
  __m256i lo, hi, c3, c4, c8, one, two;
#if HWY_TARGET == HWY_AVX2
  __m256i spread, bitsel;  // a 32-bit mask to bytes: byte k <- byte k / 8, then its bit k % 8
#endif
};
TrellisTables MakeTrellisTables() {
  TrellisTables t;
  t.lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kQ4TLevels)));
  t.hi = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kQ4TLevels + 16)));
  t.c3 = _mm256_set1_epi8(3);
  t.c4 = _mm256_set1_epi8(4);
  t.c8 = _mm256_set1_epi8(8);
  t.one = _mm256_set1_epi8(1);
  t.two = _mm256_set1_epi8(2);
#if HWY_TARGET == HWY_AVX2
  t.spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  t.bitsel = _mm256_set1_epi64x(0x8040201008040201LL);
#endif
  return t;
}

// The int8 levels of the 32 codes c (one sub-block, weight order), *hist the
// row's last 5 branch bits (updated): Levels32's steps with x86 masks.
HWY_INLINE __m256i TrellisLevels(const TrellisTables& t, __m256i c, uint32_t* hist) {
#if HWY_TARGET == HWY_AVX2
  const uint32_t b = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_slli_epi16(c, 4)));  // bit 3 -> bit 7
#else
  const uint32_t b = _mm256_test_epi8_mask(c, t.c8);
#endif
  const uint64_t win = (uint64_t{b} << quant::kQ4TStateBits) | *hist;
  const uint32_t y1 = static_cast<uint32_t>((win >> 5) ^ (win >> 3) ^ win);
  const uint32_t y0 = static_cast<uint32_t>(win >> 2);
  *hist = static_cast<uint32_t>(win >> 32) & (quant::kQ4TStates - 1);
  __m256i idx = _mm256_slli_epi16(_mm256_and_si256(c, t.c3), 2);  // 4 (c & 3) < 16: no carry between bytes
#if HWY_TARGET == HWY_AVX2
  const auto bytes = [&](uint32_t m) HWY_ATTR {
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m)), t.spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, t.bitsel), t.bitsel);
  };
  idx = _mm256_or_si256(idx, _mm256_and_si256(bytes(y0), t.one));
  idx = _mm256_or_si256(idx, _mm256_and_si256(bytes(y1), t.two));
  return _mm256_blendv_epi8(_mm256_shuffle_epi8(t.lo, idx), _mm256_shuffle_epi8(t.hi, idx), _mm256_slli_epi16(c, 5));
#else
  idx = _mm256_mask_add_epi8(idx, y0, idx, t.one);
  idx = _mm256_mask_add_epi8(idx, y1, idx, t.two);
  return _mm256_mask_blend_epi8(_mm256_test_epi8_mask(c, t.c4), _mm256_shuffle_epi8(t.lo, idx),
                                _mm256_shuffle_epi8(t.hi, idx));
#endif
}

template <int R>
HWY_INLINE void RowsX86(const Q4BlockTables& t, const TrellisTables& tt, const TailLayout& tl,
                        const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y, RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  __m128 sum = _mm_setzero_ps();
  PreparedX px;
  uint32_t hist[R] = {};
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (tl.ns > 0));
  for (int64_t b = 0; b < nb; ++b) {
    PrepareX(Q8ABlock(act, b * kSubs), kSubs, &px);
    sweep.Step();
    const uint8_t* blk0 = w.row(row) + b * kQ4BlockBytes;
    const auto lv = [&](int r, int s) HWY_ATTR {
      return TrellisLevels(tt, FullSubCodes(t, blk0 + r * w.row_bytes, s), &hist[r]);
    };
    sum = AddTile<R>(FullFields<R>(t, w, row, b), lv, px, kSubs, sum);
  }
  if (tl.ns > 0) {  // the short final block
    sweep.Step();
    PrepareX(Q8ABlock(act, nb * kSubs), tl.ns, &px);
    const uint8_t* blk0 = w.row(row) + nb * kQ4BlockBytes;
    const auto lv = [&](int r, int s) HWY_ATTR {
      return TrellisLevels(tt, ShortSubCodes(t, tl, blk0 + r * w.row_bytes, s), &hist[r]);
    };
    sum = AddTile<R>(ShortFields<R>(t, tl, w, row, nb), lv, px, tl.ns, sum);
  }
  StoreRows<R>(sum, y);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Q4BlockTables t = MakeQ4BlockTables();
  const TrellisTables tt = MakeTrellisTables();
  const TailLayout tl = MakeTailLayout(w.cols);
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsX86<4>(t, tt, tl, w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) RowsX86<1>(t, tt, tl, w, r, act, y + (r - r0), span);
}
// Prefill: a tile of R rows decoded once per block (each row's history from
// its start, per tile of kTT tokens) and reused for the tile's tokens, per token
// AddTile's integer and float steps (MatVec's bits).
constexpr int kTT = 32;

template <int R>
HWY_INLINE void RowTileMatMul(const Q4BlockTables& t, const TrellisTables& tt, const TailLayout& tl,
                              const cpu::WeightView& w, int64_t row, const uint8_t* act, size_t act_stride, int64_t m,
                              float* y, int64_t y_stride, RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  const int ns = tl.ns;
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (ns > 0));  // stepped on the first token tile
  __m128 sum[kTT];
  __m256i lv[R][kSubs];
  PreparedX px;
  const auto stored = [&lv](int r, int s) HWY_ATTR { return lv[r][s]; };
  for (int64_t ta = 0; ta < m; ta += kTT) {
    const int nt = static_cast<int>(std::min<int64_t>(kTT, m - ta));
    for (int k = 0; k < nt; ++k) sum[k] = _mm_setzero_ps();
    uint32_t hist[R] = {};
    for (int64_t b = 0; b <= nb; ++b) {
      const bool tail = b == nb;
      if (tail && ns == 0) break;
      if (ta == 0) sweep.Step();
      const uint8_t* blk0 = w.row(row) + b * kQ4BlockBytes;
      const int nsb = tail ? ns : kSubs;
      for (int r = 0; r < R; ++r) {
        for (int s = 0; s < nsb; ++s) {
          const uint8_t* blk = blk0 + r * w.row_bytes;
          lv[r][s] = TrellisLevels(tt, tail ? ShortSubCodes(t, tl, blk, s) : FullSubCodes(t, blk, s), &hist[r]);
        }
      }
      const TileFields f = tail ? ShortFields<R>(t, tl, w, row, nb) : FullFields<R>(t, w, row, b);
      for (int k = 0; k < nt; ++k) {
        PrepareX(Q8ABlock(act + static_cast<size_t>(ta + k) * act_stride, b * kSubs), nsb, &px);
        sum[k] = AddTile<R>(f, stored, px, nsb, sum[k]);
      }
    }
    for (int k = 0; k < nt; ++k) StoreRows<R>(sum[k], y + (ta + k) * y_stride + row);
  }
}

void RowTilesMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                    float* y, int64_t y_stride) {
  const Q4BlockTables t = MakeQ4BlockTables();
  const TrellisTables tt = MakeTrellisTables();
  const TailLayout tl = MakeTailLayout(w.cols);
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowTileMatMul<4>(t, tt, tl, w, r, act, act_stride, m, y, y_stride, span);
  for (; r < r1; ++r) RowTileMatMul<1>(t, tt, tl, w, r, act, act_stride, m, y, y_stride, span);
}
#if HWY_TARGET == HWY_AVX3_DL
// Row `row`'s levels (32 per sub-block), and per sub-block sc_s, sc_s 128 (sum of
// its levels) and d_eff: token_lanes-inl.h's row decoder.
void DecodeRowLevels(const Q4BlockTables& t, const TrellisTables& tt, const TailLayout& tl, const cpu::WeightView& w,
                     int64_t row, int8_t* levels, int32_t* ints, float* d) {
  const int64_t nb = w.cols / kBlock;
  uint32_t hist = 0;
  const auto put = [&](int64_t sb, __m256i lv, int sc, float de) HWY_ATTR {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(levels + kSub * sb), lv);
    ints[2 * sb] = sc;
    ints[2 * sb + 1] = sc * 128 * SumI8(lv);
    d[sb] = de;
  };
  for (int64_t b = 0; b <= nb; ++b) {
    const bool tail = b == nb;
    if (tail && tl.ns == 0) break;
    const uint8_t* blk = w.row(row) + b * kQ4BlockBytes;
    const quant::Q4NLParams p = quant::Q4NLReadParams(blk, tail ? static_cast<int>(w.cols % kBlock) : kBlock);
    for (int s = 0; s < (tail ? tl.ns : kSubs); ++s) {
      put(b * kSubs + s, TrellisLevels(tt, tail ? ShortSubCodes(t, tl, blk, s) : FullSubCodes(t, blk, s), &hist),
          p.sc[s], p.d);
    }
  }
}
#endif  // HWY_TARGET == HWY_AVX3_DL

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
#if HWY_TARGET == HWY_AVX3_DL
  if (m >= kLevelsMinTokens) {
    const Q4BlockTables t = MakeQ4BlockTables();
    const TrellisTables tt = MakeTrellisTables();
    const TailLayout tl = MakeTailLayout(w.cols);
    return LevelsMatMulAnyM<1, SeqTerm>(w, r0, r1, act, act_stride, m, y, y_stride,
                                        [&](int64_t row, int8_t* levels, int32_t* ints, float* d) HWY_ATTR {
                                          DecodeRowLevels(t, tt, tl, w, row, levels, ints, d);
                                        });
  }
#endif
  RowTilesMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
}

#else  // portable targets: Highway lanes for the decode, DotCodesI32 per sub-block

using D8 = hn::CappedTag<uint8_t, kSub>;

// sum + (d x_d) float(isum): the scalar reference's two roundings, the product
// kept from being contracted into an FMA with the add (GCC's default
// -ffp-contract=fast would on the FMA targets; the reference has no FMA).
HWY_INLINE float AddTerm(float sum, float d, float xd, int32_t isum) {
  float term = (d * xd) * static_cast<float>(isum);
  asm("" : "+m"(term));
  return sum + term;
}

// L[0 .. 15] and L[16 .. 31] as bytes: the level of code c with subset z is
// (c & 4 ? hi : lo)[4 (c & 3) + z].
struct LevelTables {
  alignas(16) uint8_t lo[16], hi[16];
};
LevelTables MakeLevelTables() {
  LevelTables t;
  std::memcpy(t.lo, quant::kQ4TLevels, 16);
  std::memcpy(t.hi, quant::kQ4TLevels + 16, 16);
  return t;
}

// The int8 levels of 32 consecutive weights whose codes codes_at(d8, k) gives
// (lanes k .. k + N), the row's branch-bit history *hist updated.
template <class CodesAt>
HWY_INLINE void Levels32(const LevelTables& lt, const CodesAt& codes_at, uint32_t* hist, int8_t* lv) {
  const D8 d8;
  const size_t N = hn::Lanes(d8);
  const auto b_bit = hn::Set(d8, 8), i_bit = hn::Set(d8, 4), low2 = hn::Set(d8, 3);
  uint32_t b = 0;
  alignas(64) uint8_t c32[kSub];
  if (N >= 8) {  // whole mask bytes
    uint8_t bits[8] = {};
    for (size_t k = 0; k < kSub; k += N) hn::StoreMaskBits(d8, hn::TestBit(codes_at(d8, k), b_bit), bits + k / 8);
    std::memcpy(&b, bits, 4);
  } else {  // HWY_SCALAR: one lane at a time
    for (size_t k = 0; k < kSub; k += N) hn::StoreU(codes_at(d8, k), d8, c32 + k);
    for (int k = 0; k < kSub; ++k) b |= static_cast<uint32_t>(c32[k] >> 3) << k;
  }
  const uint64_t win = (uint64_t{b} << quant::kQ4TStateBits) | *hist;
  const uint32_t y1 = static_cast<uint32_t>((win >> 5) ^ (win >> 3) ^ win);
  const uint32_t y0 = static_cast<uint32_t>(win >> 2);
  *hist = static_cast<uint32_t>(win >> 32) & (quant::kQ4TStates - 1);
  if (N < 8) {
    for (int k = 0; k < kSub; ++k) {
      const int t = 4 * (c32[k] & 3) + ((y0 >> k) & 1) + 2 * ((y1 >> k) & 1);
      lv[k] = static_cast<int8_t>((c32[k] & 4) != 0 ? lt.hi[t] : lt.lo[t]);
    }
    return;
  }
  uint8_t y0b[8] = {}, y1b[8] = {};
  std::memcpy(y0b, &y0, 4);
  std::memcpy(y1b, &y1, 4);
  const auto lo = hn::LoadDup128(d8, lt.lo), hi = hn::LoadDup128(d8, lt.hi);
  const auto one = hn::Set(d8, 1), two = hn::Set(d8, 2);
  for (size_t k = 0; k < kSub; k += N) {
    const auto c = codes_at(d8, k);
    auto t = hn::ShiftLeft<2>(hn::And(c, low2));
    t = hn::Or(t, hn::IfThenElseZero(hn::LoadMaskBits(d8, y0b + k / 8), one));
    t = hn::Or(t, hn::IfThenElseZero(hn::LoadMaskBits(d8, y1b + k / 8), two));
    const auto v = hn::IfThenElse(hn::TestBit(c, i_bit), hn::TableLookupBytes(hi, t), hn::TableLookupBytes(lo, t));
    hn::StoreU(v, d8, reinterpret_cast<uint8_t*>(lv + k));
  }
}

// Calls fn(sb, levels of the sub-block (32), sc_s, d_eff) for every sub-block of
// the row in order (the short block's ns).
template <class Fn>
HWY_INLINE void ForEachSubBlock(const LevelTables& lt, const uint8_t* wrow, int64_t n, const Fn& fn) {
  uint32_t hist = 0;
  alignas(64) int8_t lv[kSub];
  alignas(64) uint8_t codes[kBlock];
  const uint8_t* blk = wrow;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int len = static_cast<int>(std::min<int64_t>(kBlock, n - i0));
    const int ns = static_cast<int>(quant::CeilDiv(len, kSub));
    const quant::Q4NLParams p = quant::Q4NLReadParams(blk, len);
    if (len < kBlock) quant::Q4NLReadCodes(blk, len, codes);
    for (int s = 0; s < ns; ++s) {
      if (len == kBlock) {  // weight 32 s + k: byte 32 (s % 2) + k, high nibble for s >= 2
        const uint8_t* src = blk + kSub * (s % 2);
        const int shift = s >= 2 ? 4 : 0;
        Levels32(
            lt,
            [&](D8 d8, size_t k) HWY_ATTR {
              return hn::And(hn::ShiftRightSame(hn::LoadU(d8, src + k), shift), hn::Set(d8, 15));
            },
            &hist, lv);
      } else {
        const uint8_t* src = codes + kSub * s;
        Levels32(lt, [&](D8 d8, size_t k) HWY_ATTR { return hn::LoadU(d8, src + k); }, &hist, lv);
      }
      fn(i0 / kSub + s, static_cast<const int8_t*>(lv), p.sc[s], p.d);
    }
    blk += quant::Q4NLShortBlockBytes(len);
  }
}

float RowDot(const LevelTables& lt, const uint8_t* wrow, int64_t n, const uint8_t* act) {
  float sum = 0.0f;
  ForEachSubBlock(lt, wrow, n, [&](int64_t sb, const int8_t* lv, int sc, float d) HWY_ATTR {
    const uint8_t* xb = Q8ABlock(act, sb);
    sum = AddTerm(sum, d, Q8AScale(xb), sc * DotCodesI32(lv, Q8ACodes(xb), kSub));
  });
  return sum;
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const LevelTables lt = MakeLevelTables();
  for (int64_t r = r0; r < r1; ++r) y[r - r0] = RowDot(lt, w.row(r), w.cols, act);
}

HWY_NOINLINE std::vector<int8_t>& RowLevelsOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<int8_t> levels;
  return levels;
}

// Each row decoded once, then MatVec's integer and float steps per token.
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  const LevelTables lt = MakeLevelTables();
  const int64_t nsb = quant::CeilDiv(w.cols, kSub);
  std::vector<int8_t>& levels = RowLevelsOfThread();
  levels.resize(static_cast<size_t>(nsb * kSub));
  std::vector<int32_t> sc(static_cast<size_t>(nsb));
  std::vector<float> de(static_cast<size_t>(nsb));
  for (int64_t r = r0; r < r1; ++r) {
    ForEachSubBlock(lt, w.row(r), w.cols, [&](int64_t sb, const int8_t* lv, int s, float d) HWY_ATTR {
      std::memcpy(levels.data() + kSub * sb, lv, kSub);
      sc[static_cast<size_t>(sb)] = s;
      de[static_cast<size_t>(sb)] = d;
    });
    for (int64_t t = 0; t < m; ++t) {
      const uint8_t* x = act + static_cast<size_t>(t) * act_stride;
      float sum = 0.0f;
      for (int64_t sb = 0; sb < nsb; ++sb) {
        const uint8_t* xb = Q8ABlock(x, sb);
        sum = AddTerm(sum, de[static_cast<size_t>(sb)], Q8AScale(xb),
                      sc[static_cast<size_t>(sb)] * DotCodesI32(levels.data() + kSub * sb, Q8ACodes(xb), kSub));
      }
      y[t * y_stride + r] = sum;
    }
  }
}

#endif  // SEPTET_SIMD_X86

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Q4T, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q4T)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
