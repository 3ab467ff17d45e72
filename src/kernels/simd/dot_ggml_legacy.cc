// ggml legacy blocks (Q4_0, Q4_1, Q5_0, Q5_1) x Q8_A kernels (formats and the
// scalar formula: quant/ggml_legacy.h).
//
// AVX2, per 32-weight block: the 16 bytes of nibbles broadcast to both 128-bit
// lanes, vpsrlvd by (0 | 4) and & 0x0F leave codes 0..15 in lane 0 and 16..31
// in lane 1 -- the activation order, so activation blocks are used as loaded.
// Q5_0 / Q5_1 OR in the fifth bit (the 32 bits of qh spread to bytes: vpshufb,
// OR with a one-hole mask, compare with all-ones). Then DotU8I8 (codes <= 31:
// vpmaddubsw pair sums <= 7874, or one vpdpbusd): the exact int32 acc per block.
// Four blocks are reduced together (HSum4x8) and their float terms follow the
// scalar formula vectorised over the 4 blocks, with FMA; a final group of 1..3
// blocks runs the same code with the missing lanes zero (a zero scale, code sum
// and acc add +0). Groups of 4 rows share the activation loads.
//
// Portable fallback (SSE4, EMU128): scalar unpack of each block's codes, then
// DotCodesI32 and the same per-block formula.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_ggml_legacy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/ggml_legacy.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

static_assert(quant::kGgmlLegacyBlockSize == quant::kQ8ABlockSize);

// Byte layout of each block type: where d, m (affine types), qh (5-bit types)
// and qs sit; kOffset is c of the symmetric value d * (q - c).
struct Q4_0Layout {
  static constexpr size_t kBytes = sizeof(quant::BlockQ4_0), kQs = offsetof(quant::BlockQ4_0, qs), kQh = 0;
  static constexpr bool kMin = false, kHigh = false;
  static constexpr int kOffset = 8;
};
struct Q4_1Layout {
  static constexpr size_t kBytes = sizeof(quant::BlockQ4_1), kQs = offsetof(quant::BlockQ4_1, qs), kQh = 0;
  static constexpr bool kMin = true, kHigh = false;
  static constexpr int kOffset = 0;
};
struct Q5_0Layout {
  static constexpr size_t kBytes = sizeof(quant::BlockQ5_0), kQs = offsetof(quant::BlockQ5_0, qs),
                          kQh = offsetof(quant::BlockQ5_0, qh);
  static constexpr bool kMin = false, kHigh = true;
  static constexpr int kOffset = 16;
};
struct Q5_1Layout {
  static constexpr size_t kBytes = sizeof(quant::BlockQ5_1), kQs = offsetof(quant::BlockQ5_1, qs),
                          kQh = offsetof(quant::BlockQ5_1, qh);
  static constexpr bool kMin = true, kHigh = true;
  static constexpr int kOffset = 0;
};
static_assert(offsetof(quant::BlockQ4_0, d) == 0 && offsetof(quant::BlockQ4_1, d) == 0 &&
              offsetof(quant::BlockQ5_0, d) == 0 && offsetof(quant::BlockQ5_1, d) == 0);
static_assert(offsetof(quant::BlockQ4_1, m) == 2 && offsetof(quant::BlockQ5_1, m) == 2);

#if SEPTET_SIMD_X86

struct Tables {
  __m256i sh, c15, c16, spread, holes, ones;
};

Tables MakeTables() {
  Tables t;
  t.sh = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  t.c15 = _mm256_set1_epi8(15);
  t.c16 = _mm256_set1_epi8(16);
  // Byte j of the result <- byte j / 8 of qh; then bit j % 8 is tested.
  t.spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                              2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  t.holes = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);  // byte k: every bit but k
  t.ones = _mm256_set1_epi8(-1);
  return t;
}

// The 32 unsigned codes of the block at blk, in weight order.
template <class L>
HWY_INLINE __m256i Codes(const Tables& t, const uint8_t* blk) {
  const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + L::kQs)));
  __m256i c = _mm256_and_si256(_mm256_srlv_epi32(q, t.sh), t.c15);
  if constexpr (L::kHigh) {
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(LoadU32(blk + L::kQh))), t.spread);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(bytes, t.holes), t.ones);
    c = _mm256_or_si256(c, _mm256_and_si256(set, t.c16));
  }
  return c;
}

// Blocks [b0, b0 + cnt) (cnt <= 4) of rows row .. row + R - 1 into sum[r]
// (lane j: block b0 + j). Inlined with cnt = 4 in the main loop.
template <class L, int R>
HWY_INLINE void Group(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, int64_t b0,
                      int cnt, TileSweep* sweep, __m128* sum) {
  sweep->Step();
  const uint8_t* xblk = Q8ABlock(act, b0);
  __m256i x[4];
  __m128 xd4, xs4;
  if (cnt == 4) {
    for (int j = 0; j < 4; ++j) {
      x[j] = LoadQ8ACodes(xblk, j);
    }
    LoadQ8AMeta4(xblk, &xd4, &xs4);
  } else {
    alignas(16) float xd[4] = {0.0f, 0.0f, 0.0f, 0.0f}, xs[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int j = 0; j < 4; ++j) {
      x[j] = j < cnt ? LoadQ8ACodes(xblk, j) : _mm256_setzero_si256();
      if (j < cnt) {
        xd[j] = Q8AScale(xblk + j * kQ8ABytes);
        xs[j] = static_cast<float>(Q8ASum(xblk + j * kQ8ABytes));
      }
    }
    xd4 = _mm_load_ps(xd);
    xs4 = _mm_load_ps(xs);
  }
  // c * x_sum: exact (|c x_sum| <= 16 * 4064), so float(acc) - it is the exact int acc - c x_sum.
  const __m128 xsc4 = _mm_mul_ps(xs4, _mm_set1_ps(static_cast<float>(L::kOffset)));
  for (int r = 0; r < R; ++r) {
    const uint8_t* wb = w.row(row + r) + b0 * L::kBytes;
    __m256i p[4];
    uint32_t head[4];  // d | m << 16 of each block (m: the next two bytes, unused for symmetric types)
    for (int j = 0; j < 4; ++j) {
      p[j] = j < cnt ? DotU8I8(Codes<L>(t, wb + j * L::kBytes), x[j]) : _mm256_setzero_si256();
      head[j] = j < cnt ? LoadU32(wb + j * L::kBytes) : 0u;
    }
    const __m128i acc = HSum4x8(p[0], p[1], p[2], p[3]);
    const __m256 dm = _mm256_cvtph_ps(_mm_setr_epi32(static_cast<int>(head[0]), static_cast<int>(head[1]),
                                                     static_cast<int>(head[2]), static_cast<int>(head[3])));
    const __m128 lo = _mm256_castps256_ps128(dm), hi = _mm256_extractf128_ps(dm, 1);
    const __m128 d4 = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    if constexpr (L::kMin) {
      const __m128 m4 = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
      sum[r] = CombineAffine(acc, xd4, xs4, d4, m4, sum[r]);
    } else {
      sum[r] = _mm_fmadd_ps(_mm_mul_ps(d4, xd4), _mm_sub_ps(_mm_cvtepi32_ps(acc), xsc4), sum[r]);
    }
  }
}

template <class L, int R>
HWY_INLINE void RowsAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y,
                         RowSpan span) {
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  TileSweep sweep = RowTileSweep(w, row, R, span, (nb + 3) / 4);
  int64_t b0 = 0;
  for (; b0 + 4 <= nb; b0 += 4) Group<L, R>(t, w, row, act, b0, 4, &sweep, sum);
  if (b0 < nb) Group<L, R>(t, w, row, act, b0, static_cast<int>(nb - b0), &sweep, sum);
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

template <class L>
void MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Tables t = MakeTables();
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsAvx2<L, 4>(t, w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) RowsAvx2<L, 1>(t, w, r, act, y + (r - r0), span);
}

// Prefill and batches: the GEMM of token_lanes-inl.h on the decoded codes (affine
// for Q4_1 / Q5_1, symmetric with c = kOffset for Q4_0 / Q5_0), each block's d (and
// m) converted by F16C as above: the VNNI lanes on AVX3_DL, Lanes8U (4 or 5 bits)
// elsewhere.
template <class L>
void CodesGemm(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  CodesBitsMatMul<L::kHigh ? 5 : 4, std::conditional_t<L::kMin, Affine, Symmetric<L::kOffset>>>(w, r0, r1, act, act_stride, m, y, y_stride,
                              [&](int64_t r, uint8_t* codes, float* dm) HWY_ATTR {
                                const uint8_t* wr = w.row(r);
                                for (int64_t b = 0; b < nb; ++b) {
                                  const uint8_t* blk = wr + b * L::kBytes;
                                  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 32 * b), Codes<L>(t, blk));
                                  const uint32_t head = L::kMin ? LoadU32(blk) : LoadU16(blk);
                                  _mm_storel_pi(reinterpret_cast<__m64*>(dm + 2 * b),
                                                _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(head))));
                                }
                              });
}

#else  // portable fallback

template <class L>
float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  const int64_t nb = n / quant::kGgmlLegacyBlockSize;
  float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  alignas(64) uint8_t codes[32];
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wrow + b * L::kBytes;
    for (int k = 0; k < 16; ++k) {
      codes[k] = blk[L::kQs + k] & 0x0F;
      codes[k + 16] = blk[L::kQs + k] >> 4;
    }
    if constexpr (L::kHigh) {
      const uint32_t qh = LoadU32(blk + L::kQh);
      for (int k = 0; k < 32; ++k) codes[k] = static_cast<uint8_t>(codes[k] | ((qh >> k) & 1u) << 4);
    }
    const uint8_t* xb = Q8ABlock(act, b);
    const int32_t acc = DotCodesI32(codes, Q8ACodes(xb), 32);
    const float d = Fp16ToFloat(LoadU16(blk));
    if constexpr (L::kMin) {
      const float mn = Fp16ToFloat(LoadU16(blk + 2));
      sum[b % 4] += Q8AScale(xb) * (d * static_cast<float>(acc) + mn * static_cast<float>(Q8ASum(xb)));
    } else {
      sum[b % 4] += (d * Q8AScale(xb)) * static_cast<float>(acc - L::kOffset * Q8ASum(xb));
    }
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

template <class L>
void MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecByRows(RowGeneric<L>, w, r0, r1, act, y);
}


#endif  // SEPTET_SIMD_X86

// One switch per call on the block type.
void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  switch (w.type) {
    case DType::kQ4_0: return MatVecT<Q4_0Layout>(w, r0, r1, act, y);
    case DType::kQ4_1: return MatVecT<Q4_1Layout>(w, r0, r1, act, y);
    case DType::kQ5_0: return MatVecT<Q5_0Layout>(w, r0, r1, act, y);
    case DType::kQ5_1: return MatVecT<Q5_1Layout>(w, r0, r1, act, y);
    default: SEPTET_CHECK_MSG(false, "simd GgmlLegacy MatVec: not a Q4_0/Q4_1/Q5_0/Q5_1 weight");
  }
}

// Prefill: the GEMM on the decoded codes (on AVX2 / AVX3 from kCodesMinTokens
// tokens); otherwise the matvec per token over 4-row tiles (MatVec == MatMul per
// token, bit for bit, on every path).
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
#if SEPTET_SIMD_X86
  if (m >= kCodesMinTokens) {
    switch (w.type) {
      case DType::kQ4_0: return CodesGemm<Q4_0Layout>(w, r0, r1, act, act_stride, m, y, y_stride);
      case DType::kQ4_1: return CodesGemm<Q4_1Layout>(w, r0, r1, act, act_stride, m, y, y_stride);
      case DType::kQ5_0: return CodesGemm<Q5_0Layout>(w, r0, r1, act, act_stride, m, y, y_stride);
      case DType::kQ5_1: return CodesGemm<Q5_1Layout>(w, r0, r1, act, act_stride, m, y, y_stride);
      default: SEPTET_CHECK_MSG(false, "simd GgmlLegacy MatMul: not a Q4_0/Q4_1/Q5_0/Q5_1 weight");
    }
  }
#endif
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(GgmlLegacy, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(GgmlLegacy)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
