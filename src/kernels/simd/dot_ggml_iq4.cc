// ggml IQ4_NL / IQ4_XS x Q8_A kernels (formats and the scalar formula:
// quant/ggml_iq4.h).
//
// x86 (AVX2, AVX3, AVX3_DL), per 32 weights: the 16 code bytes broadcast to both
// 128-bit lanes, vpsrlvd by (0 | 4) and & 0x0F leave codes 0..15 in lane 0 and
// 16..31 in lane 1 (weight order, so activation blocks are used as loaded), and
// vpshufb of the level table gives the int8 levels L. The activation's sign goes
// onto the level (vpsignb(L, x): 0 where x is 0) and DotU8I8(|x|, L sign x)
// (vpmaddubsw pair sums <= 2 * 127 * 127, then vpmaddwd by 1; AVX3_DL: one
// vpdpbusd) gives int32 lanes summing to sum L x exactly. |x| is made once per
// activation block for a tile of 4 rows.
//   IQ4_NL: four blocks reduced together (HSum4x8), lane j = block mod 4:
//     s_j = fma(d * x_d, float(acc), s_j); a final group of 1..3 blocks runs the
//     same code with the missing lanes zero (d = x_d = acc = 0 adds +0).
//   IQ4_XS: per super-block the 8 sub-block sums (two HSum4x8), vpmulld by the
//     scales ls - 32 (unpacked by vpsrlvd from scales_l and scales_h), then the
//     same FMA for sub-blocks 0..3 and then 4..7 into the 4 lanes.
// The 4 lanes summed as (0 + 1) + (2 + 3). These are token_lanes-inl.h's FmaTerm
// and StoreRow steps with positions = sub-block mod 4, so on AVX3_DL MatMul is
// LevelsMatMul (the levels decoded once per row chunk, 16 tokens in the lanes of
// one vpdpbusd against the activations packed as codes + 128, c = sc 128 sum L
// taken off) from kLevelsMinTokens tokens, bit for bit MatVec per token; below
// that, and on the other targets, the matvec per token over 4-row tiles. These
// types were decoded to floats and dotted in f32 before (a generic dequantizing
// kernel, removed since), about a third of llama.cpp's speed on an IQ4_XS file.
//
// Portable fallback (SSE4, EMU128): scalar unpack of the levels, DotCodesI32,
// the same per-block formula.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_ggml_iq4.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/ggml_iq4.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr size_t kNlBytes = sizeof(quant::BlockIQ4_NL), kNlQs = offsetof(quant::BlockIQ4_NL, qs);
constexpr size_t kXsBytes = sizeof(quant::BlockIQ4_XS), kXsQs = offsetof(quant::BlockIQ4_XS, qs),
                 kXsScalesH = offsetof(quant::BlockIQ4_XS, scales_h),
                 kXsScalesL = offsetof(quant::BlockIQ4_XS, scales_l);
constexpr int kXsSubs = quant::kIq4XsBlockSize / quant::kQ8ABlockSize;
static_assert(offsetof(quant::BlockIQ4_NL, d) == 0 && offsetof(quant::BlockIQ4_XS, d) == 0);
static_assert(quant::kIq4NlBlockSize == quant::kQ8ABlockSize && kXsSubs == 8);

// The 6-bit scale of IQ4_XS sub-block ib, less 32 (quant::IQ4_XSVecDot's).
HWY_INLINE int XsScale(const uint8_t* blk, int ib) { return quant::IQ4_XSScale(blk, ib) - 32; }

#if SEPTET_SIMD_X86

struct Tables {
  __m256i sh, c15, levels;
};

Tables MakeTables() {
  Tables t;
  t.sh = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  t.c15 = _mm256_set1_epi8(15);
  t.levels = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIq4Levels)));
  return t;
}

// The 32 int8 levels of the 16 code bytes at qs, in weight order.
HWY_INLINE __m256i Levels(const Tables& t, const uint8_t* qs) {
  const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_shuffle_epi8(t.levels, _mm256_and_si256(_mm256_srlv_epi32(q, t.sh), t.c15));
}

// int32 lanes summing to sum L x over 32 weights; ax = |x|.
HWY_INLINE __m256i LevelDot(const Tables& t, const uint8_t* qs, __m256i x, __m256i ax) {
  return DotU8I8(ax, _mm256_sign_epi8(Levels(t, qs), x));
}

// ---- IQ4_NL ----

// Blocks [b0, b0 + cnt) (cnt <= 4) of rows row .. row + R - 1 into sum[r] (lane j:
// block b0 + j). Inlined with cnt = 4 in the main loop.
template <int R>
HWY_INLINE void NlGroup(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, int64_t b0,
                        int cnt, TileSweep* sweep, __m128* sum) {
  sweep->Step();
  const uint8_t* xblk = Q8ABlock(act, b0);
  __m256i x[4], ax[4];
  alignas(16) float xd[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int j = 0; j < 4; ++j) {
    x[j] = j < cnt ? LoadQ8ACodes(xblk, j) : _mm256_setzero_si256();
    ax[j] = _mm256_abs_epi8(x[j]);
    if (j < cnt) xd[j] = Q8AScale(xblk + j * kQ8ABytes);
  }
  const __m128 xd4 = _mm_load_ps(xd);
  for (int r = 0; r < R; ++r) {
    const uint8_t* wb = w.row(row + r) + b0 * kNlBytes;
    __m256i p[4];
    int16_t d16[4] = {0, 0, 0, 0};  // fp16 bits; built in a register below (a store and a
                                    // vector reload of them stalled on store forwarding)
    for (int j = 0; j < 4; ++j) {
      p[j] = j < cnt ? LevelDot(t, wb + j * kNlBytes + kNlQs, x[j], ax[j]) : _mm256_setzero_si256();
      if (j < cnt) d16[j] = static_cast<int16_t>(LoadU16(wb + j * kNlBytes));
    }
    const __m128 acc = _mm_cvtepi32_ps(HSum4x8(p[0], p[1], p[2], p[3]));
    const __m128 d4 = _mm_cvtph_ps(_mm_setr_epi16(d16[0], d16[1], d16[2], d16[3], 0, 0, 0, 0));
    sum[r] = _mm_fmadd_ps(_mm_mul_ps(d4, xd4), acc, sum[r]);
  }
}

template <int R>
HWY_INLINE void NlRows(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                       RowSpan span) {
  const int64_t nb = w.cols / quant::kIq4NlBlockSize;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  TileSweep sweep = RowTileSweep(w, row, R, span, (nb + 3) / 4);
  int64_t b0 = 0;
  for (; b0 + 4 <= nb; b0 += 4) NlGroup<R>(t, w, row, act, b0, 4, &sweep, sum);
  if (b0 < nb) NlGroup<R>(t, w, row, act, b0, static_cast<int>(nb - b0), &sweep, sum);
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

// ---- IQ4_XS ----

// The 8 scales ls - 32 of the super-block at blk, in int32 lanes.
HWY_INLINE __m256i XsScales8(const uint8_t* blk) {
  const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(LoadU32(blk + kXsScalesL))),
                                                        _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                      _mm256_set1_epi32(15));
  const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(LoadU16(blk + kXsScalesH)),
                                                        _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                      _mm256_set1_epi32(3));
  return _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
}

template <int R>
HWY_INLINE void XsRows(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                       RowSpan span) {
  const int64_t nsb = w.cols / quant::kIq4XsBlockSize;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  TileSweep sweep = RowTileSweep(w, row, R, span, nsb);
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* xblk = Q8ABlock(act, sb * kXsSubs);
    __m256i x[kXsSubs], ax[kXsSubs];
    for (int j = 0; j < kXsSubs; ++j) {
      x[j] = LoadQ8ACodes(xblk, j);
      ax[j] = _mm256_abs_epi8(x[j]);
    }
    __m128 xd_lo, xd_hi, unused;
    LoadQ8AMeta4(xblk, &xd_lo, &unused);
    LoadQ8AMeta4(xblk + 4 * kQ8ABytes, &xd_hi, &unused);
    sweep.Step();
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w.row(row + r) + sb * kXsBytes;
      __m256i p[kXsSubs];
      for (int j = 0; j < kXsSubs; ++j) p[j] = LevelDot(t, blk + kXsQs + 16 * j, x[j], ax[j]);
      const __m256i acc8 = _mm256_mullo_epi32(
          _mm256_set_m128i(HSum4x8(p[4], p[5], p[6], p[7]), HSum4x8(p[0], p[1], p[2], p[3])), XsScales8(blk));
      const __m256 accf = _mm256_cvtepi32_ps(acc8);
      const __m128 d = _mm_set1_ps(Fp16ToFloat(LoadU16(blk)));
      sum[r] = _mm_fmadd_ps(_mm_mul_ps(d, xd_lo), _mm256_castps256_ps128(accf), sum[r]);
      sum[r] = _mm_fmadd_ps(_mm_mul_ps(d, xd_hi), _mm256_extractf128_ps(accf, 1), sum[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

struct NlKernel {
  template <int R>
  static void Run(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                  RowSpan span) {
    NlRows<R>(t, w, row, act, y, span);
  }
};
struct XsKernel {
  template <int R>
  static void Run(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                  RowSpan span) {
    XsRows<R>(t, w, row, act, y, span);
  }
};

template <class K>
void MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Tables t = MakeTables();
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) K::template Run<4>(t, w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) K::template Run<1>(t, w, r, act, y + (r - r0), span);
}

#if HWY_TARGET == HWY_AVX3_DL
// One 32-weight sub-block for LevelsMatMul: its levels, sc and c = sc 128 sum L, d.
HWY_INLINE void DecodeSub(const Tables& t, const uint8_t* qs, int32_t sc, float d, int8_t* levels, int32_t* ints,
                          float* dd) {
  const __m256i l = Levels(t, qs);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(levels), l);
  ints[0] = sc;
  ints[1] = sc * 128 * SumI8(l);
  *dd = d;
}

void Iq4Gemm(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
             float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  LevelsMatMulAnyM<1, FmaTerm>(w, r0, r1, act, act_stride, m, y, y_stride,
                               [&](int64_t r, int8_t* levels, int32_t* ints, float* d) HWY_ATTR {
                                 const uint8_t* row = w.row(r);
                                 if (w.type == DType::kIQ4_NL) {
                                   for (int64_t b = 0; b < w.cols / quant::kIq4NlBlockSize; ++b) {
                                     const uint8_t* blk = row + b * kNlBytes;
                                     DecodeSub(t, blk + kNlQs, 1, Fp16ToFloat(LoadU16(blk)), levels + 32 * b,
                                               ints + 2 * b, d + b);
                                   }
                                   return;
                                 }
                                 for (int64_t sb = 0; sb < w.cols / quant::kIq4XsBlockSize; ++sb) {
                                   const uint8_t* blk = row + sb * kXsBytes;
                                   const float dx = Fp16ToFloat(LoadU16(blk));
                                   for (int j = 0; j < kXsSubs; ++j) {
                                     const int64_t s = sb * kXsSubs + j;
                                     DecodeSub(t, blk + kXsQs + 16 * j, XsScale(blk, j), dx, levels + 32 * s,
                                               ints + 2 * s, d + s);
                                   }
                                 }
                               });
}
#endif  // HWY_TARGET == HWY_AVX3_DL

#else  // portable fallback

// sum_l L[code_l] x_q[l] of the 32 weights of 16 code bytes.
int32_t LevelDotGeneric(const uint8_t* qs, const uint8_t* xb) {
  alignas(64) int8_t l[32];
  for (int k = 0; k < 16; ++k) {
    l[k] = quant::kIq4Levels[qs[k] & 15];
    l[k + 16] = quant::kIq4Levels[qs[k] >> 4];
  }
  return DotCodesI32(l, Q8ACodes(xb), 32);
}

float NlRowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t b = 0; b < n / quant::kIq4NlBlockSize; ++b) {
    const uint8_t* blk = wrow + b * kNlBytes;
    const uint8_t* xb = Q8ABlock(act, b);
    sum[b % 4] += (Fp16ToFloat(LoadU16(blk)) * Q8AScale(xb)) * static_cast<float>(LevelDotGeneric(blk + kNlQs, xb));
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

float XsRowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t sb = 0; sb < n / quant::kIq4XsBlockSize; ++sb) {
    const uint8_t* blk = wrow + sb * kXsBytes;
    const float d = Fp16ToFloat(LoadU16(blk));
    for (int j = 0; j < kXsSubs; ++j) {
      const uint8_t* xb = Q8ABlock(act, sb * kXsSubs + j);
      const int32_t acc = XsScale(blk, j) * LevelDotGeneric(blk + kXsQs + 16 * j, xb);
      sum[j % 4] += (d * Q8AScale(xb)) * static_cast<float>(acc);
    }
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

struct NlKernel {
  static float Row(const uint8_t* wrow, int64_t n, const uint8_t* act) { return NlRowGeneric(wrow, n, act); }
};
struct XsKernel {
  static float Row(const uint8_t* wrow, int64_t n, const uint8_t* act) { return XsRowGeneric(wrow, n, act); }
};

template <class K>
void MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecByRows(K::Row, w, r0, r1, act, y);
}

#endif  // SEPTET_SIMD_X86

// One switch per call on the block type.
void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  switch (w.type) {
    case DType::kIQ4_NL: return MatVecT<NlKernel>(w, r0, r1, act, y);
    case DType::kIQ4_XS: return MatVecT<XsKernel>(w, r0, r1, act, y);
    default: SEPTET_CHECK_MSG(false, "simd GgmlIq4 MatVec: not an IQ4_NL/IQ4_XS weight");
  }
}

// Prefill: the VNNI levels GEMM on AVX3_DL from kLevelsMinTokens tokens; otherwise
// the matvec per token over 4-row tiles (MatVec == MatMul per token, bit for bit,
// on every path).
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
#if HWY_TARGET == HWY_AVX3_DL
  if (m >= kLevelsMinTokens) return Iq4Gemm(w, r0, r1, act, act_stride, m, y, y_stride);
#endif
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(GgmlIq4, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(GgmlIq4)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
