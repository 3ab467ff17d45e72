// ggml k-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) x Q8_A kernels (formats and the scalar
// formula: quant/ggml_kquants.h). A 256-weight super-block meets 8 activation
// blocks; every 32 consecutive weights are one activation block's.
//
// AVX2, Q4_K / Q5_K: each 32 bytes of qs hold two 32-weight sub-blocks in
// weight order (low nibbles: sub-block 2c, high: 2c + 1): & 0x0F and
// (>> 4) & 0x0F; Q5_K ORs in bit j of qh[l] as bit 4 (one shift + mask per
// sub-block). DotU8I8 (codes <= 31) gives the exact int32 acc per sub-block.
// The 6-bit scales and mins are unpacked by two byte shuffles and masks
// (UnpackScaleMinV), dl = d * sc and ml = dmin * mn in 8 float lanes (the dequantizer's
// values), then per super-block the terms x_d * (dl * acc - ml * x_sum) of the
// 8 sub-blocks at once (fmsub), added into 4 lanes (sub-block mod 4: two FMAs, the
// GEMM's positions, so that its tiles keep 4 rows x 4 sums in registers).
//
// AVX2, Q6_K: each activation block's 32 six-bit codes are one 32-byte load of
// ql (nibble select) OR'd with a 2-bit field of qh moved to bits 4..5. With u =
// the code in [0, 63], vpmaddubsw(u, x) - vpmaddubsw(32, x) is sum (u - 32) x
// per pair in int16 (|.| <= 8128, the first term <= 16002; the 32 * x pair sums
// are made once per activation block and shared by the rows), and vpmaddwd by 1
// the sums of 4 weights in int32; AVX3_DL: one vpdpbusd from -32 sum x gives the
// same. Two levels of vphaddd leave the 16 sums of 16 weights, and two vpmulld by
// the int8 scales in that order the exact acc of each block (one vpmulld per 8
// activation blocks, not a scale shuffle and multiply per block); sum += (d *
// x_d) * float(acc) into 4 lanes (block mod 4). Q3_K takes the same path
// (Sub16RowsAvx2) with u = 2-bit field | hmask bit << 2 in [0, 7] (q = u - 4:
// vpdpbusd from -4 sum x) and its 6-bit scales less 32, unpacked in a register;
// it decoded rows to floats before (a generic dequantizing kernel), 1/3 of
// llama.cpp's speed on a Q3_K_S file.
//
// Groups of 4 rows share the activation loads. Portable fallback (SSE4,
// EMU128): scalar unpack, DotCodesI32, the same per-block formulas.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_ggml_kquants.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
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

constexpr int kSubs = quant::kQK / quant::kQ8ABlockSize;  // activation blocks per super-block
static_assert(kSubs == 8);

// Byte layouts.
struct Q4_KLayout {
  static constexpr size_t kBytes = sizeof(quant::BlockQ4_K), kScales = offsetof(quant::BlockQ4_K, scales),
                          kQs = offsetof(quant::BlockQ4_K, qs), kQh = 0;
  static constexpr bool kHigh = false;
};
struct Q5_KLayout {
  static constexpr size_t kBytes = sizeof(quant::BlockQ5_K), kScales = offsetof(quant::BlockQ5_K, scales),
                          kQs = offsetof(quant::BlockQ5_K, qs), kQh = offsetof(quant::BlockQ5_K, qh);
  static constexpr bool kHigh = true;
};
static_assert(offsetof(quant::BlockQ4_K, d) == 0 && offsetof(quant::BlockQ4_K, dmin) == 2);
static_assert(offsetof(quant::BlockQ5_K, d) == 0 && offsetof(quant::BlockQ5_K, dmin) == 2);
constexpr size_t kQ6Bytes = sizeof(quant::BlockQ6_K), kQ6Qh = offsetof(quant::BlockQ6_K, qh),
                 kQ6Scales = offsetof(quant::BlockQ6_K, scales), kQ6D = offsetof(quant::BlockQ6_K, d);
static_assert(offsetof(quant::BlockQ6_K, ql) == 0);

// The 8 six-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K / Q5_K
// scales[12], as quant::KQuantScaleMin gives them.
HWY_INLINE void UnpackScaleMin(const uint8_t* scales, uint8_t out[16]) {
  uint32_t u[4];
  std::memcpy(u, scales, 12);
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  u[3] = ((u[2] >> 4) & kLow4) | (((u[1] >> 6) & kLow2) << 4);  // mins 4..7
  const uint32_t mins_lo = u[1] & kLow6;                          // mins 0..3
  u[1] = (u[2] & kLow4) | (((u[0] >> 6) & kLow2) << 4);           // scales 4..7
  u[2] = mins_lo;
  u[0] &= kLow6;  // scales 0..3
  std::memcpy(out, u, 16);
}

#if SEPTET_SIMD_X86

// UnpackScaleMin in a register: bytes 0..7 the scales, 8..15 the mins. scales[12]
// is followed in its block by qs, so the 16-byte load stays inside the block. Out
// byte j < 4: s[j] & 63; 4..7: (s[j + 4] & 15) | (s[j - 4] >> 6) << 4; 8..11: s[j - 4]
// & 63; 12..15: (s[j - 4] >> 4) | (s[j - 8] >> 6) << 4 (KQuantScaleMin's rule). A
// scalar unpack stored to memory and reloaded as a vector cost a store-forwarding
// stall a super-block.
HWY_INLINE __m128i UnpackScaleMinV(const uint8_t* scales) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales));
  const __m128i low = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
  const __m128i top = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
  const __m128i lo6 = _mm_and_si128(low, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
  const __m128i hi4 =
      _mm_and_si128(_mm_srli_epi16(low, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15));
  const __m128i top2 = _mm_and_si128(_mm_srli_epi16(top, 2), _mm_set1_epi8(0x30));
  return _mm_or_si128(_mm_or_si128(lo6, hi4), top2);
}

// dl = d * sc and ml = dmin * mn of the 8 sub-blocks of the Q4_K / Q5_K block at
// blk (d, dmin first), in 8 float lanes: the matvec's values and the GEMM's.
template <class L>
HWY_INLINE void ScalesMins8(const uint8_t* blk, __m256* dl8, __m256* ml8) {
  const __m128i smv = UnpackScaleMinV(blk + L::kScales);
  const __m128 dm = Fp16Pair(LoadU16(blk), LoadU16(blk + 2));
  *dl8 = _mm256_mul_ps(_mm256_broadcastss_ps(dm), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(smv)));
  *ml8 = _mm256_mul_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dm)),
                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(smv, 8))));
}

struct Tables {
  __m256i one8, c3, c4, c15, c16, c48, c32, one16;
  __m128i sc_lohi;  // Q6_K: scale bytes 0 2 4 6 1 3 5 7 8 10 12 14 9 11 13 15
};

Tables MakeTables() {
  Tables t;
  t.one8 = _mm256_set1_epi8(1);
  t.c3 = _mm256_set1_epi8(3);
  t.c4 = _mm256_set1_epi8(4);
  t.c15 = _mm256_set1_epi8(15);
  t.c16 = _mm256_set1_epi8(16);
  t.c48 = _mm256_set1_epi8(48);
  t.c32 = _mm256_set1_epi8(32);
  t.one16 = _mm256_set1_epi16(1);
  t.sc_lohi = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15);
  return t;
}

// x_d and float(x_sum) of the 8 activation blocks at xblk.
HWY_INLINE void LoadQ8AMeta8(const uint8_t* xblk, __m256* xd8, __m256* xs8) {
  __m128 d0, s0, d1, s1;
  LoadQ8AMeta4(xblk, &d0, &s0);
  LoadQ8AMeta4(xblk + 4 * kQ8ABytes, &d1, &s1);
  *xd8 = _mm256_set_m128(d1, d0);
  *xs8 = _mm256_set_m128(s1, s0);
}

HWY_INLINE __m256i Combine(__m128i lo, __m128i hi) { return _mm256_set_m128i(hi, lo); }

// sum + a * b of the 8 blocks of a super-block into 4 lanes: block j and then
// block j + 4 into lane j (block mod 4, the GEMM tiles' positions), two FMAs.
HWY_INLINE __m128 AddBlockTerms(__m256 a, __m256 b, __m128 sum) {
  sum = _mm_fmadd_ps(_mm256_castps256_ps128(a), _mm256_castps256_ps128(b), sum);
  return _mm_fmadd_ps(_mm256_extractf128_ps(a, 1), _mm256_extractf128_ps(b, 1), sum);
}

// ---- Q4_K / Q5_K ----

// Bit j of each qh byte moved to bit 4 (a 16-bit shift: bit 4 of each byte
// comes from bit j of the same byte).
template <int J>
HWY_INLINE __m256i HighBit(__m256i qh, __m256i c16) {
  if constexpr (J < 4) {
    return _mm256_and_si256(_mm256_slli_epi16(qh, 4 - J), c16);
  } else if constexpr (J == 4) {
    return _mm256_and_si256(qh, c16);
  } else {
    return _mm256_and_si256(_mm256_srli_epi16(qh, J - 4), c16);
  }
}

// The codes of sub-blocks 2C (lo) and 2C + 1 (hi) of the super-block at blk.
template <class L, int C>
HWY_INLINE void PairCodes(const Tables& t, const uint8_t* blk, __m256i qh, __m256i* lo, __m256i* hi) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + L::kQs + 32 * C));
  *lo = _mm256_and_si256(v, t.c15);
  *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), t.c15);
  if constexpr (L::kHigh) {
    *lo = _mm256_or_si256(*lo, HighBit<2 * C>(qh, t.c16));
    *hi = _mm256_or_si256(*hi, HighBit<2 * C + 1>(qh, t.c16));
  }
}

// Sub-blocks 2C and 2C + 1 of the super-block at blk against their activation blocks.
template <class L, int C>
HWY_INLINE void SubPair(const Tables& t, const uint8_t* blk, __m256i qh, const uint8_t* xblk, __m256i* p) {
  __m256i lo, hi;
  PairCodes<L, C>(t, blk, qh, &lo, &hi);
  p[2 * C] = DotU8I8(lo, LoadQ8ACodes(xblk, 2 * C));
  p[2 * C + 1] = DotU8I8(hi, LoadQ8ACodes(xblk, 2 * C + 1));
}

template <class L, int R>
HWY_INLINE void AffineRowsAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act,
                               float* y, RowSpan span) {
  const int64_t nsb = w.cols / quant::kQK;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  TileSweep sweep = RowTileSweep(w, row, R, span, nsb);
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* xblk = Q8ABlock(act, sb * kSubs);
    __m256 xd8, xs8;
    LoadQ8AMeta8(xblk, &xd8, &xs8);
    sweep.Step();
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w.row(row + r) + sb * L::kBytes;
      __m256 dl8, ml8;
      ScalesMins8<L>(blk, &dl8, &ml8);
      __m256i qh = _mm256_setzero_si256();
      if constexpr (L::kHigh) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + L::kQh));
      __m256i p[kSubs];
      SubPair<L, 0>(t, blk, qh, xblk, p);
      SubPair<L, 1>(t, blk, qh, xblk, p);
      SubPair<L, 2>(t, blk, qh, xblk, p);
      SubPair<L, 3>(t, blk, qh, xblk, p);
      const __m256 acc = _mm256_cvtepi32_ps(Combine(HSum4x8(p[0], p[1], p[2], p[3]), HSum4x8(p[4], p[5], p[6], p[7])));
      const __m256 inner = _mm256_fmsub_ps(dl8, acc, _mm256_mul_ps(ml8, xs8));
      sum[r] = AddBlockTerms(xd8, inner, sum[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

// ---- Q3_K and Q6_K: signed codes, one int8 scale per 16 weights ----

// The codes u in [0, 63] of activation blocks 4H .. 4H + 3 of the super-block at blk.
struct Q6Sub16 {
  static constexpr size_t kBytes = kQ6Bytes, kD = kQ6D, kDmin = 0;
  static constexpr int kOffset = 32;  // q = u - 32
  static constexpr bool kMins = false;
  template <int H>
  static HWY_INLINE void Codes(const Tables& t, const uint8_t* blk, __m256i u[4]) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * H));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * H + 32));
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ6Qh + 32 * H));
    u[0] = _mm256_or_si256(_mm256_and_si256(a, t.c15), _mm256_and_si256(_mm256_slli_epi16(hb, 4), t.c48));
    u[1] = _mm256_or_si256(_mm256_and_si256(b, t.c15), _mm256_and_si256(_mm256_slli_epi16(hb, 2), t.c48));
    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), t.c15), _mm256_and_si256(hb, t.c48));
    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), t.c15),
                           _mm256_and_si256(_mm256_srli_epi16(hb, 2), t.c48));
  }
  // The 16 int8 scales in weight order.
  static HWY_INLINE __m128i Scales(const uint8_t* blk) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ6Scales));
  }
};

// Q3_K (hmask[32], qs[64], scales[12], d): the code of weight l of activation
// block j = 4H + k is u = ((qs[32 H + l] >> 2k) & 3) | bit j of hmask[l] as bit 2,
// in [0, 7], q = u - 4.
struct Q3Sub16 {
  static constexpr size_t kBytes = sizeof(quant::BlockQ3_K), kD = offsetof(quant::BlockQ3_K, d), kDmin = 0;
  static constexpr int kOffset = 4;
  static constexpr bool kMins = false;
  static constexpr size_t kQs = offsetof(quant::BlockQ3_K, qs), kHmask = offsetof(quant::BlockQ3_K, hmask),
                          kScales = offsetof(quant::BlockQ3_K, scales);
  // Bit J of each hmask byte moved to bit 2 (16-bit shifts: bit 2 of a byte comes
  // from bit J of the same byte).
  template <int J>
  static HWY_INLINE __m256i High(__m256i hm, __m256i c4) {
    if constexpr (J < 2) {
      return _mm256_and_si256(_mm256_slli_epi16(hm, 2 - J), c4);
    } else if constexpr (J == 2) {
      return _mm256_and_si256(hm, c4);
    } else {
      return _mm256_and_si256(_mm256_srli_epi16(hm, J - 2), c4);
    }
  }
  template <int H>
  static HWY_INLINE void Codes(const Tables& t, const uint8_t* blk, __m256i u[4]) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * H));
    const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kHmask));
    u[0] = _mm256_or_si256(_mm256_and_si256(q, t.c3), High<4 * H>(hm, t.c4));
    u[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2), t.c3), High<4 * H + 1>(hm, t.c4));
    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), t.c3), High<4 * H + 2>(hm, t.c4));
    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 6), t.c3), High<4 * H + 3>(hm, t.c4));
  }
  // The 16 scales less 32 in weight order (quant::Q3_KVecDot's): scale s has its
  // low 4 bits in byte s % 8 (low nibble for s < 8, high above) and its top 2 in
  // byte 8 + s % 4 at bit 2 (s / 4). The 12 bytes are loaded as 8 + 4 (d follows
  // them, and the row may end there).
  static HWY_INLINE __m128i Scales(const uint8_t* blk) {
    const uint8_t* sc = blk + kScales;
    const __m128i v = _mm_insert_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc)),
                                       static_cast<int>(LoadU32(sc + 8)), 2);
    const __m128i nib = _mm_set1_epi8(15);
    const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(v, nib), _mm_and_si128(_mm_srli_epi16(v, 4), nib));
    const __m128i hsrc = _mm_shuffle_epi8(v, _mm_setr_epi8(8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11));
    const __m128i high = _mm_and_si128(_mm_srlv_epi32(hsrc, _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
    return _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
  }
};

// The offset column kOffset * (sum of each 4 activation codes) for block j: AVX3_DL
// -kOffset * sum per int32 lane (vpdpbusd starts from it), else kOffset * (x_2i +
// x_2i+1) per int16 lane.
template <class S>
HWY_INLINE __m256i OffsetSums(const Tables& t, const uint8_t* xblk, int j) {
  static_assert(S::kOffset == 32 || S::kOffset == 4);
  const __m256i off = S::kOffset == 32 ? t.c32 : t.c4;
#if HWY_TARGET == HWY_AVX3_DL
  return _mm256_sub_epi32(_mm256_setzero_si256(), Dpbusd256(_mm256_setzero_si256(), off, LoadQ8ACodes(xblk, j)));
#else
  return _mm256_maddubs_epi16(off, LoadQ8ACodes(xblk, j));
#endif
}

// The 8 sums of 4 products of each of 8 activation blocks (p[j]: lanes 0-3 the
// first 16 weights, 4-7 the second) to the 8 block sums sc_2j A_2j + sc_2j+1
// A_2j+1, exact. Two levels of vphaddd leave the 16-weight sums, 128-bit half 0 the
// first halves of blocks 4h .. 4h + 3 and half 1 their second halves: v[h] = [A_0
// A_1 A_2 A_3 | B_0 B_1 B_2 B_3]. Times the int8 scales in that order (sc_lh: 0 2 4
// 6 1 3 5 7, 8 10 ...: SixteenSums), the halves added: each block's sum, in block
// order (one vpmulld per 8 blocks; scaling each block's lanes cost a scale shuffle
// each).
HWY_INLINE __m256i SixteenSums(const __m256i* q) {
  return _mm256_hadd_epi32(_mm256_hadd_epi32(q[0], q[1]), _mm256_hadd_epi32(q[2], q[3]));
}
HWY_INLINE __m128i Fold(__m256i x) { return _mm_add_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1)); }
HWY_INLINE __m256i ScaledSums(__m256i s16_0, __m256i s16_1, __m128i sc_lh) {
  const __m256i v0 = _mm256_mullo_epi32(s16_0, _mm256_cvtepi8_epi32(sc_lh));
  const __m256i v1 = _mm256_mullo_epi32(s16_1, _mm256_cvtepi8_epi32(_mm_srli_si128(sc_lh, 8)));
  return Combine(Fold(v0), Fold(v1));
}
HWY_INLINE __m256i ScaledBlockSums(const __m256i* p, __m128i sc_lh) {
  return ScaledSums(SixteenSums(p), SixteenSums(p + 4), sc_lh);
}

template <class S, int H>
HWY_INLINE void Sub16Half(const Tables& t, const uint8_t* blk, const uint8_t* xblk, const __m256i* xoff,
                          __m256i* p) {
  __m256i u[4];
  S::template Codes<H>(t, blk, u);
  for (int k = 0; k < 4; ++k) {
    const int j = 4 * H + k;
    // sum (u - off) x per 4 weights (lanes 0-3 the sub-block 2j, 4-7 2j + 1),
    // scaled after the reduction below. AVX3_DL: vpdpbusd from -off sum x; else
    // vpmaddubsw pair sums (<= 16002) less off x (int16, exact), paired by vpmaddwd.
    // With no offset (Q2_K), DotU8I8 alone.
    if constexpr (S::kOffset == 0) {
      p[j] = DotU8I8(u[k], LoadQ8ACodes(xblk, j));
    } else {
#if HWY_TARGET == HWY_AVX3_DL
      p[j] = Dpbusd256(xoff[j], u[k], LoadQ8ACodes(xblk, j));
#else
      p[j] = _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(u[k], LoadQ8ACodes(xblk, j)), xoff[j]), t.one16);
#endif
    }
  }
}

// Q3_K / Q6_K: x_d d (sum of the scaled 16-weight sums) per activation block;
// Q2_K (S::kMins): x_d (d acc - dmin mins), the activation sums of each 16
// weights made once per super-block for the rows (DotU8I8 by ones, the same tree)
// and scaled by the 4-bit mins in vpmulld as acc by the scales. Either term is
// added into 4 lanes (block mod 4, two FMAs: the GEMM's positions).
template <class S, int R>
HWY_INLINE void Sub16RowsAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act,
                              float* y, RowSpan span) {
  const int64_t nsb = w.cols / quant::kQK;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  TileSweep sweep = RowTileSweep(w, row, R, span, nsb);
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* xblk = Q8ABlock(act, sb * kSubs);
    __m256 xd8, xs8;
    LoadQ8AMeta8(xblk, &xd8, &xs8);
    __m256i xoff[kSubs], xs16[2];
    if constexpr (S::kMins) {
      __m256i xsum[kSubs];
      for (int j = 0; j < kSubs; ++j) xsum[j] = DotU8I8(t.one8, LoadQ8ACodes(xblk, j));
      xs16[0] = SixteenSums(xsum);
      xs16[1] = SixteenSums(xsum + 4);
    } else {
      for (int j = 0; j < kSubs; ++j) xoff[j] = OffsetSums<S>(t, xblk, j);
    }
    sweep.Step();
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w.row(row + r) + sb * S::kBytes;
      __m256i p[kSubs];
      Sub16Half<S, 0>(t, blk, xblk, xoff, p);
      Sub16Half<S, 1>(t, blk, xblk, xoff, p);
      const __m256 acc = _mm256_cvtepi32_ps(ScaledBlockSums(p, _mm_shuffle_epi8(S::Scales(blk), t.sc_lohi)));
      if constexpr (S::kMins) {
        const __m256 mins =
            _mm256_cvtepi32_ps(ScaledSums(xs16[0], xs16[1], _mm_shuffle_epi8(S::Mins(blk), t.sc_lohi)));
        const __m128 dm = Fp16Pair(LoadU16(blk + S::kD), LoadU16(blk + S::kDmin));
        const __m256 inner = _mm256_fmsub_ps(_mm256_broadcastss_ps(dm), acc,
                                             _mm256_mul_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dm)), mins));
        sum[r] = AddBlockTerms(xd8, inner, sum[r]);
      } else {
        const __m256 dxd = _mm256_mul_ps(_mm256_set1_ps(Fp16ToFloat(LoadU16(blk + S::kD))), xd8);
        sum[r] = AddBlockTerms(dxd, acc, sum[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

// ---- Q2_K: codes q in [0, 3], a 4-bit scale and min per 16 weights ----
// Per activation block the exact acc = sum_h sc_h sum q x and mins = sum_h mn_h sum
// x over its two 16-weight halves h (Sub16RowsAvx2 with S::kMins).
struct Q2Sub16 {
  static constexpr size_t kBytes = sizeof(quant::BlockQ2_K), kD = offsetof(quant::BlockQ2_K, d),
                          kDmin = offsetof(quant::BlockQ2_K, dmin);
  static constexpr size_t kScales = offsetof(quant::BlockQ2_K, scales), kQs = offsetof(quant::BlockQ2_K, qs);
  static constexpr int kOffset = 0;  // q = u
  static constexpr bool kMins = true;
  template <int H>
  static HWY_INLINE void Codes(const Tables& t, const uint8_t* blk, __m256i u[4]) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * H));
    u[0] = _mm256_and_si256(q, t.c3);
    u[1] = _mm256_and_si256(_mm256_srli_epi16(q, 2), t.c3);
    u[2] = _mm256_and_si256(_mm256_srli_epi16(q, 4), t.c3);
    u[3] = _mm256_and_si256(_mm256_srli_epi16(q, 6), t.c3);
  }
  // The 16 scales (low nibbles) and mins (high nibbles) in weight order.
  static HWY_INLINE __m128i Scales(const uint8_t* blk) {
    return _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kScales)), _mm_set1_epi8(15));
  }
  static HWY_INLINE __m128i Mins(const uint8_t* blk) {
    return _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kScales)), 4),
                         _mm_set1_epi8(15));
  }
};

// Rows(t, w, row, act, y) for R = 4 and R = 1.
struct Q4_KRows {
  template <int R>
  static void Run(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                  RowSpan span) {
    AffineRowsAvx2<Q4_KLayout, R>(t, w, row, act, y, span);
  }
};
struct Q5_KRows {
  template <int R>
  static void Run(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                  RowSpan span) {
    AffineRowsAvx2<Q5_KLayout, R>(t, w, row, act, y, span);
  }
};
template <class S>
struct Sub16Rows {
  template <int R>
  static void Run(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                  RowSpan span) {
    Sub16RowsAvx2<S, R>(t, w, row, act, y, span);
  }
};
using Q2_KRows = Sub16Rows<Q2Sub16>;
using Q3_KRows = Sub16Rows<Q3Sub16>;
using Q6_KRows = Sub16Rows<Q6Sub16>;

template <class K>
void MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Tables t = MakeTables();
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) K::template Run<4>(t, w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) K::template Run<1>(t, w, r, act, y + (r - r0), span);
}

// Prefill and batches, Q4_K / Q5_K: the GEMM of token_lanes-inl.h (KAffine) on the
// decoded codes, with dl = d sc and ml = dmin mn per sub-block formed as above (F16C
// d, dmin; one float multiply each): the VNNI lanes on AVX3_DL, Lanes8U (4 or 5
// bits) elsewhere.
template <class L, int C>
HWY_INLINE void StorePairCodes(const Tables& t, const uint8_t* blk, __m256i qh, uint8_t* codes) {
  __m256i lo, hi;
  PairCodes<L, C>(t, blk, qh, &lo, &hi);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 64 * C), lo);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 64 * C + 32), hi);
}

template <class L>
void KGemm(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
           float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  const int64_t nsb = w.cols / quant::kQK;
  CodesBitsMatMul<L::kHigh ? 5 : 4, KAffine>(w, r0, r1, act, act_stride, m, y, y_stride,
                           [&](int64_t r, uint8_t* codes, float* dm) HWY_ATTR {
                             for (int64_t sb = 0; sb < nsb; ++sb) {
                               const uint8_t* blk = w.row(r) + sb * L::kBytes;
                               // dl, ml of the 8 sub-blocks (as the matvec), interleaved.
                               __m256 dl8, ml8;
                               ScalesMins8<L>(blk, &dl8, &ml8);
                               const __m256 lo = _mm256_unpacklo_ps(dl8, ml8), hi = _mm256_unpackhi_ps(dl8, ml8);
                               float* out = dm + 2 * sb * kSubs;
                               _mm256_storeu_ps(out, _mm256_permute2f128_ps(lo, hi, 0x20));
                               _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
                               __m256i qh = _mm256_setzero_si256();
                               if constexpr (L::kHigh) {
                                 qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + L::kQh));
                               }
                               uint8_t* c = codes + sb * quant::kQK;
                               StorePairCodes<L, 0>(t, blk, qh, c);
                               StorePairCodes<L, 1>(t, blk, qh, c);
                               StorePairCodes<L, 2>(t, blk, qh, c);
                               StorePairCodes<L, 3>(t, blk, qh, c);
                             }
                           });
}
// Q2_K / Q3_K / Q6_K: the activations packed as codes + 128 (unsigned) against the
// row's signed codes q = u - off, so each 16-weight half h of an activation block
// gives A_h = -128 sum q + sum (x + 128) q = sum x q exactly; then acc = sc_2j A_lo
// + sc_2j+1 A_hi (|.| <= kQ6_KMaxBlockAcc), the integer the matvec forms, and s_j =
// fma(d * x_d, float(acc), s_j) over 4 positions (block mod 4; Q2_K: the mins term
// too, Sub16Tile). Per row and super-block: d, then the int8 scales and the
// corrections -128 sum q of its 16 halves, both in the order of the matvec's
// vphaddd tree (index 8g + 4h + k: block 4g + k, half h).
// AVX3_DL sums each quad by vpdpbusd; AVX2 / AVX3 (Lanes8) by vpmaddubsw into
// int16 pair sums (|.| <= 2 * 255 * |q|max), kSub16Widen(S) quads of them added
// in int16 before one vpmaddwd by ones widens them: the same exact A_h.
template <class S>
inline constexpr int kSub16Widen = S::kOffset == 32 ? 2 : 4;  // Q6_K |q| <= 32: 2 * 2 * 255 * 32 = 32640
struct Sub16Super {
  float d, dmin;                    // dmin, mn: Q2_K only
  int32_t sc[16], corr[16], mn[16];
};
struct Sub16Scratch {
  std::vector<uint8_t> x;         // packed token tiles
  std::vector<int8_t> codes;      // [row of chunk][block][32]: u - off
  std::vector<Sub16Super> super;  // [row of chunk][super-block]
};
HWY_NOINLINE Sub16Scratch& Sub16ScratchOfThread() {  // noinline: see common-inl.h
  thread_local Sub16Scratch s;
  return s;
}

// R rows x one token tile (PositionTile: 4 positions, block mod 4, the matvec's lanes).
// Q2_K (S::kMins) also needs the activation sum of each 16 weights per token: from
// the packed x + 128 by vpdpbusd with ones, once for the R rows, less 16 * 128.
template <class S, class L, int R>
HWY_INLINE void Sub16Tile(const int8_t* codes, const Sub16Super* sup, int64_t nblk, const uint8_t* xp, int nt,
                          float* y, int64_t y_stride, int64_t ra) {
  using P = LanePack<L, false>;
  const int64_t nsb = nblk / kSubs;
  PositionTile<L, R, 4>(nblk, nt, y, y_stride, ra, [&](size_t b, auto jc, auto& s) HWY_ATTR {
    constexpr int j = decltype(jc)::value;
    const int lo = 8 * static_cast<int>((b / 4) % 2) + j, hi = lo + 4;  // block b's halves in Sub16Super order
    const uint8_t* xb = xp + b * P::kBlockBytes;
    typename L::VI xsum[2];
    if constexpr (S::kMins) {
      for (int h = 0; h < 2; ++h) {
        xsum[h] = L::Set1(-16 * 128);
#if HWY_TARGET == HWY_AVX3_DL
        for (int q = 4 * h; q < 4 * h + 4; ++q) {
          xsum[h] = L::Dot(xsum[h], L::Load(xb + P::kQuadBytes * q), L::Set1(0x01010101));
        }
#else
        __m256i p16 = _mm256_setzero_si256();  // pair sums of x + 128 <= 510, 4 quads
        for (int q = 4 * h; q < 4 * h + 4; ++q) {
          p16 = _mm256_add_epi16(p16, _mm256_maddubs_epi16(L::Load(xb + P::kQuadBytes * q), _mm256_set1_epi8(1)));
        }
        xsum[h] = _mm256_add_epi32(xsum[h], _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
#endif
      }
    }
    typename L::VI acc[R][2];
    for (int r = 0; r < R; ++r) {
      const Sub16Super& p = sup[r * nsb + static_cast<int64_t>(b / kSubs)];
      acc[r][0] = L::Set1(p.corr[lo]);
      acc[r][1] = L::Set1(p.corr[hi]);
    }
    const auto code_quad = [&](int r, int q) HWY_ATTR {
      int32_t wq;
      std::memcpy(&wq, codes + (static_cast<size_t>(r * nblk) + b) * 32 + 4 * q, 4);
      return L::Set1(wq);
    };
#if HWY_TARGET == HWY_AVX3_DL
    for (int q = 0; q < kLaneQuads; ++q) {
      const typename L::VI xq = L::Load(xb + P::kQuadBytes * q);
      for (int r = 0; r < R; ++r) acc[r][q / 4] = L::Dot(acc[r][q / 4], xq, code_quad(r, q));
    }
#else
    constexpr int kWiden = kSub16Widen<S>;
    static_assert(kWiden * 2 * 255 * (S::kOffset > 3 ? S::kOffset : 3) <= 32767 && 4 % kWiden == 0);
    for (int q0 = 0; q0 < kLaneQuads; q0 += kWiden) {
      __m256i p16[R];
      for (int r = 0; r < R; ++r) p16[r] = _mm256_setzero_si256();
      for (int q = q0; q < q0 + kWiden; ++q) {
        const __m256i xq = L::Load(xb + P::kQuadBytes * q);
        for (int r = 0; r < R; ++r) p16[r] = _mm256_add_epi16(p16[r], _mm256_maddubs_epi16(xq, code_quad(r, q)));
      }
      for (int r = 0; r < R; ++r) {
        acc[r][q0 / 4] = _mm256_add_epi32(acc[r][q0 / 4], _mm256_madd_epi16(p16[r], _mm256_set1_epi16(1)));
      }
    }
#endif
    const typename L::VF xd = L::LoadF(xb + P::kScaleAt);
    for (int r = 0; r < R; ++r) {
      const Sub16Super& p = sup[r * nsb + static_cast<int64_t>(b / kSubs)];
      const typename L::VI a = L::AddI(L::MulLo(acc[r][0], L::Set1(p.sc[lo])), L::MulLo(acc[r][1], L::Set1(p.sc[hi])));
      if constexpr (S::kMins) {  // x_d * (d acc - dmin mins), as Sub16RowsAvx2
        const typename L::VI mins =
            L::AddI(L::MulLo(xsum[0], L::Set1(p.mn[lo])), L::MulLo(xsum[1], L::Set1(p.mn[hi])));
        s[r][j] = L::Fma(xd, L::Fmsub(L::Set1F(p.d), L::ToF(a), L::Mul(L::Set1F(p.dmin), L::ToF(mins))), s[r][j]);
      } else {
        s[r][j] = L::Fma(L::Mul(L::Set1F(p.d), xd), L::ToF(a), s[r][j]);
      }
    }
  });
}

// The set-up of one row: the codes u - off of every block, and per super-block d,
// the scales in Sub16Super order (the matvec's shuffle) and the corrections from
// vpsadbw sums (each 128-bit half of a block's sad is one half's two sums of 8).
template <class S, int G>
HWY_INLINE void Sub16GemmGroup(const Tables& t, const uint8_t* blk, int8_t* codes, Sub16Super& p) {
  const __m256i off = _mm256_set1_epi8(S::kOffset), zero = _mm256_setzero_si256();
  __m256i u[4], h[4];
  S::template Codes<G>(t, blk, u);
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + (4 * G + k) * 32), _mm256_sub_epi8(u[k], off));
    const __m256i sad = _mm256_sad_epu8(u[k], zero);  // qwords: sums of codes 0-7, 8-15 | 16-23, 24-31
    h[k] = _mm256_add_epi64(sad, _mm256_bsrli_epi128(sad, 8));  // qword 0 of each 128-bit half: that half's sum
  }
  // dwords [k0 k1 x x | ...] then [k0 k1 k2 k3 | the same for half 1]: sum u of each 16.
  const __m256i h01 = _mm256_or_si256(h[0], _mm256_slli_epi64(h[1], 32));
  const __m256i h23 = _mm256_or_si256(h[2], _mm256_slli_epi64(h[3], 32));
  const __m256i su = _mm256_unpacklo_epi64(h01, h23);
  const __m256i corr =
      _mm256_mullo_epi32(_mm256_sub_epi32(su, _mm256_set1_epi32(16 * S::kOffset)), _mm256_set1_epi32(-128));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.corr + 8 * G), corr);
}

template <class S>
HWY_INLINE void Sub16GemmRow(const Tables& t, const uint8_t* row, int64_t nsb, int8_t* codes, Sub16Super* sup) {
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* blk = row + sb * S::kBytes;
    Sub16Super& p = sup[sb];
    p.d = Fp16ToFloat(LoadU16(blk + S::kD));  // as the matvec
    const __m128i sc_lh = _mm_shuffle_epi8(S::Scales(blk), t.sc_lohi);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.sc), _mm256_cvtepi8_epi32(sc_lh));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.sc + 8), _mm256_cvtepi8_epi32(_mm_srli_si128(sc_lh, 8)));
    if constexpr (S::kMins) {
      p.dmin = Fp16ToFloat(LoadU16(blk + S::kDmin));
      const __m128i mn_lh = _mm_shuffle_epi8(S::Mins(blk), t.sc_lohi);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.mn), _mm256_cvtepi8_epi32(mn_lh));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.mn + 8), _mm256_cvtepi8_epi32(_mm_srli_si128(mn_lh, 8)));
    }
    int8_t* c = codes + sb * kSubs * 32;
    Sub16GemmGroup<S, 0>(t, blk, c, p);
    Sub16GemmGroup<S, 1>(t, blk, c, p);
  }
}

inline constexpr int64_t kSub16GemmMinTokens = 5;
template <class S, class L>
void Sub16Gemm(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               float* y, int64_t y_stride) {
  constexpr int kRows = 4;  // 4 rows x (2 int sums + 4 float positions) stay in registers
  const Tables t = MakeTables();
  const int64_t nsb = w.cols / quant::kQK, nblk = nsb * kSubs;
  const int64_t chunk = ChunkRows<kRows>(128 << 10, static_cast<size_t>(nblk) * 32);
  Sub16Scratch& sc = Sub16ScratchOfThread();
  sc.codes.resize(static_cast<size_t>(chunk * nblk) * 32);
  sc.super.resize(static_cast<size_t>(chunk * nsb));
  TokenLanesMatMul<L, false, kRows>(
      act, act_stride, m, nblk, r0, r1, chunk, 0x80808080u, &sc.x, y, y_stride,
      [&](int64_t c0, int64_t c1) HWY_ATTR {
        for (int64_t r = c0; r < c1; ++r) {
          Sub16GemmRow<S>(t, w.row(r), nsb, sc.codes.data() + static_cast<size_t>((r - c0) * nblk) * 32,
                          sc.super.data() + static_cast<size_t>((r - c0) * nsb));
        }
      },
      [&](auto rows, int64_t r, int64_t c0, const uint8_t* xp, int nt, float* yt) HWY_ATTR {
        Sub16Tile<S, L, decltype(rows)::value>(sc.codes.data() + static_cast<size_t>((r - c0) * nblk) * 32,
                                            sc.super.data() + static_cast<size_t>((r - c0) * nsb), nblk, xp, nt, yt,
                                            y_stride, r);
      });
}

// Q2_K / Q3_K / Q6_K: on AVX3_DL 16 tokens a tile from 9 tokens, 8 from
// kSub16GemmMinTokens; AVX2 / AVX3 tiles of 8 from kSub16GemmMinTokens; below that
// the matvec per token (simd_kernels_bench MatMul_Q6_K 2048 x 2048, one Zen 4 core,
// 2-row tiles: the 8-token tile 0.66-0.74 ms however full, the matvec about 0.14 ms
// a token).
template <class S>
bool Sub16MatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                 int64_t m, float* y, int64_t y_stride) {
  if (m < kSub16GemmMinTokens) return false;
#if HWY_TARGET == HWY_AVX3_DL
  if (m > Lanes8::kT) {
    Sub16Gemm<S, Lanes16>(w, r0, r1, act, act_stride, m, y, y_stride);
    return true;
  }
#endif
  Sub16Gemm<S, Lanes8>(w, r0, r1, act, act_stride, m, y, y_stride);
  return true;
}

#else  // portable fallback

// Lane j of sum: activation block j of each super-block; the same lane tree as AVX2.
HWY_INLINE float SumLanes(const float* s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

template <class L>
float AffineRowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  float sum[4] = {};
  alignas(64) uint8_t codes[32];
  for (int64_t sb = 0; sb < n / quant::kQK; ++sb) {
    const uint8_t* blk = wrow + sb * L::kBytes;
    const float d = Fp16ToFloat(LoadU16(blk)), dmin = Fp16ToFloat(LoadU16(blk + 2));
    uint8_t sm[16];
    UnpackScaleMin(blk + L::kScales, sm);
    for (int j = 0; j < kSubs; ++j) {
      const uint8_t* qs = blk + L::kQs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        int q = (qs[l] >> (4 * (j % 2))) & 15;
        if constexpr (L::kHigh) q |= ((blk[L::kQh + l] >> j) & 1) << 4;
        codes[l] = static_cast<uint8_t>(q);
      }
      const uint8_t* xb = Q8ABlock(act, sb * kSubs + j);
      const int32_t acc = DotCodesI32(codes, Q8ACodes(xb), 32);
      const float dl = d * static_cast<float>(sm[j]), ml = dmin * static_cast<float>(sm[8 + j]);
      sum[j % 4] += Q8AScale(xb) * (dl * static_cast<float>(acc) - ml * static_cast<float>(Q8ASum(xb)));
    }
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// Q3_K / Q6_K: the signed codes of activation block j into q[32] and the scale
// of 16-weight sub-block s, as quant::Q3_KVecDot / Q6_KVecDot read them.
struct Q3Generic {
  static constexpr size_t kBytes = sizeof(quant::BlockQ3_K), kD = offsetof(quant::BlockQ3_K, d);
  static void Codes(const uint8_t* blk, int j, int8_t* q) {
    const uint8_t* qs = blk + offsetof(quant::BlockQ3_K, qs) + 32 * (j / 4);
    const uint8_t* hm = blk + offsetof(quant::BlockQ3_K, hmask);
    for (int l = 0; l < 32; ++l) {
      q[l] = static_cast<int8_t>(((qs[l] >> (2 * (j % 4))) & 3) + ((hm[l] >> j) & 1) * 4 - 4);
    }
  }
  static int Scale(const uint8_t* blk, int s) { return quant::Q3_KScale(blk + offsetof(quant::BlockQ3_K, scales), s); }
};
struct Q6Generic {
  static constexpr size_t kBytes = kQ6Bytes, kD = kQ6D;
  static void Codes(const uint8_t* blk, int j, int8_t* q) {
    const int h = j / 4, k = j % 4;
    for (int l = 0; l < 32; ++l) {
      const int low = (blk[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
      const int high = (blk[kQ6Qh + 32 * h + l] >> (2 * k)) & 3;
      q[l] = static_cast<int8_t>((low | high << 4) - 32);
    }
  }
  static int Scale(const uint8_t* blk, int s) { return static_cast<int8_t>(blk[kQ6Scales + s]); }
};

template <class S>
float Sub16RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  float sum[4] = {};
  alignas(64) int8_t codes[32];
  for (int64_t sb = 0; sb < n / quant::kQK; ++sb) {
    const uint8_t* blk = wrow + sb * S::kBytes;
    const float d = Fp16ToFloat(LoadU16(blk + S::kD));
    for (int j = 0; j < kSubs; ++j) {
      S::Codes(blk, j, codes);
      const uint8_t* xb = Q8ABlock(act, sb * kSubs + j);
      const int32_t acc = S::Scale(blk, 2 * j) * DotCodesI32(codes, Q8ACodes(xb), 16) +
                          S::Scale(blk, 2 * j + 1) * DotCodesI32(codes + 16, Q8ACodes(xb) + 16, 16);
      sum[j % 4] += (d * Q8AScale(xb)) * static_cast<float>(acc);
    }
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

struct Q4_KRows {
  static float Row(const uint8_t* wrow, int64_t n, const uint8_t* act) { return AffineRowGeneric<Q4_KLayout>(wrow, n, act); }
};
struct Q5_KRows {
  static float Row(const uint8_t* wrow, int64_t n, const uint8_t* act) { return AffineRowGeneric<Q5_KLayout>(wrow, n, act); }
};
struct Q3_KRows {
  static float Row(const uint8_t* wrow, int64_t n, const uint8_t* act) { return Sub16RowGeneric<Q3Generic>(wrow, n, act); }
};
struct Q2_KRows {
  static float Row(const uint8_t* wrow, int64_t n, const uint8_t* act) {
    constexpr size_t kBytes = sizeof(quant::BlockQ2_K);
    float sum[kSubs] = {};
    alignas(64) uint8_t codes[32];
    const int8_t ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    for (int64_t sb = 0; sb < n / quant::kQK; ++sb) {
      const uint8_t* blk = wrow + sb * kBytes;
      const uint8_t* sc = blk + offsetof(quant::BlockQ2_K, scales);
      const float d = Fp16ToFloat(LoadU16(blk + offsetof(quant::BlockQ2_K, d)));
      const float dmin = Fp16ToFloat(LoadU16(blk + offsetof(quant::BlockQ2_K, dmin)));
      for (int j = 0; j < kSubs; ++j) {
        const uint8_t* qs = blk + offsetof(quant::BlockQ2_K, qs) + 32 * (j / 4);
        for (int l = 0; l < 32; ++l) codes[l] = static_cast<uint8_t>((qs[l] >> (2 * (j % 4))) & 3);
        const uint8_t* xb = Q8ABlock(act, sb * kSubs + j);
        int32_t acc = 0, mins = 0;
        for (int h = 0; h < 2; ++h) {
          const int s = 2 * j + h;
          acc += (sc[s] & 15) * DotCodesI32(codes + 16 * h, Q8ACodes(xb) + 16 * h, 16);
          mins += (sc[s] >> 4) * DotCodesI32(ones, Q8ACodes(xb) + 16 * h, 16);
        }
        sum[j] += Q8AScale(xb) * (d * static_cast<float>(acc) - dmin * static_cast<float>(mins));
      }
    }
    return SumLanes(sum);
  }
};
struct Q6_KRows {
  static float Row(const uint8_t* wrow, int64_t n, const uint8_t* act) { return Sub16RowGeneric<Q6Generic>(wrow, n, act); }
};

template <class K>
void MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecByRows(K::Row, w, r0, r1, act, y);
}

#endif  // SEPTET_SIMD_X86

// One switch per call on the block type.
void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  switch (w.type) {
    case DType::kQ2_K: return MatVecT<Q2_KRows>(w, r0, r1, act, y);
    case DType::kQ3_K: return MatVecT<Q3_KRows>(w, r0, r1, act, y);
    case DType::kQ4_K: return MatVecT<Q4_KRows>(w, r0, r1, act, y);
    case DType::kQ5_K: return MatVecT<Q5_KRows>(w, r0, r1, act, y);
    case DType::kQ6_K: return MatVecT<Q6_KRows>(w, r0, r1, act, y);
    default: SEPTET_CHECK_MSG(false, "simd GgmlKQuants MatVec: not a Q2_K/Q3_K/Q4_K/Q5_K/Q6_K weight");
  }
}

// Prefill: Q2_K / Q3_K / Q4_K / Q5_K / Q6_K on AVX3_DL take the VNNI GEMM, Q4_K / Q5_K on AVX2 /
// AVX3 the Lanes8U GEMM from kCodesMinTokens tokens; otherwise the matvec is re-run
// per token over 4-row tiles (MatVec == MatMul per token, bit for bit, on every path).
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
#if HWY_TARGET == HWY_AVX3_DL
  if (w.type == DType::kQ4_K) return KGemm<Q4_KLayout>(w, r0, r1, act, act_stride, m, y, y_stride);
  if (w.type == DType::kQ5_K) return KGemm<Q5_KLayout>(w, r0, r1, act, act_stride, m, y, y_stride);
  if (w.type == DType::kQ2_K && Sub16MatMul<Q2Sub16>(w, r0, r1, act, act_stride, m, y, y_stride)) return;
  if (w.type == DType::kQ3_K && Sub16MatMul<Q3Sub16>(w, r0, r1, act, act_stride, m, y, y_stride)) return;
  if (w.type == DType::kQ6_K && Sub16MatMul<Q6Sub16>(w, r0, r1, act, act_stride, m, y, y_stride)) return;
#elif SEPTET_SIMD_X86
  if (w.type == DType::kQ4_K && m >= kCodesMinTokens) return KGemm<Q4_KLayout>(w, r0, r1, act, act_stride, m, y, y_stride);
  if (w.type == DType::kQ5_K && m >= kCodesMinTokens) return KGemm<Q5_KLayout>(w, r0, r1, act, act_stride, m, y, y_stride);
  if (w.type == DType::kQ2_K && Sub16MatMul<Q2Sub16>(w, r0, r1, act, act_stride, m, y, y_stride)) return;
  if (w.type == DType::kQ3_K && Sub16MatMul<Q3Sub16>(w, r0, r1, act, act_stride, m, y, y_stride)) return;
  if (w.type == DType::kQ6_K && Sub16MatMul<Q6Sub16>(w, r0, r1, act, act_stride, m, y, y_stride)) return;
#endif
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(GgmlKQuants, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(GgmlKQuants)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
