// Generic kernel for weight types dotted with float activations (vec_dot_type
// F32) that have no kernel of their own: the input-only ggml block format Q2_K
// (quant/ggml_kquants.h; the other ggml types pair with Q8_A and have kernels
// of their own, dot_ggml_*.cc). Each weight row is decoded
// once into a float buffer owned by the call, then dotted with each activation
// row in f32 lanes exactly as the F32 kernel does (FloatTile, common-inl.h).
// The decoded values are the scalar reference's (to_float's), so against the
// reference vec_dot (double accumulation) the only difference is the f32
// summation, bounded in simd_matvec_test.cc.
//
// On x86 the rows are decoded in vectors, to the same floats: Q2_K with its 16
// scales and mins unpacked in vectors and 32 weights at a time from one shift
// and mask of the 2-bit plane, then d_s * float(q) - m_s as to_float rounds it.
// Elsewhere to_float. With the scalar decode TinyLlama's Q3_K_S (then on this
// path) ran at 0.85 t/s on 2 threads, 1/30 of llama.cpp; decoded in vectors about
// 0.3x; the integer kernels pairing Q3_K and IQ4 with Q8_A (dot_ggml_kquants.cc,
// dot_ggml_iq4.cc) close the rest for those types.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_dequant.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "quant/ggml_iq4.h"
#include "quant/ggml_kquants.h"
#include "quant/registry.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

const TypeTraits& CheckedTraits(const cpu::WeightView& w) {
  const TypeTraits& t = GetTypeTraits(w.type);
  SEPTET_CHECK_MSG(w.layout == cpu::WeightLayout::kFile && t.vec_dot_type == DType::kF32 && t.to_float != nullptr,
                   "simd dequant MatVec: the weight type has no kernel and is not dotted with F32 activations");
  return t;
}

#if SEPTET_SIMD_X86

// A row of whole Q2_K super-blocks to floats, bit for bit quant::Q2_KDequantizeRow:
// dl * float(q) - ml per weight with dl = d * float(scale & 15), ml = dmin *
// float(scale >> 4) per 16 weights. dl and dl * q are exact (an fp16 d times a 4-bit
// scale times a 2-bit code: at most 17 significant bits), so the one rounding is the
// subtraction's whether or not the compiler fuses it with the multiply.
void DecodeQ2_KRow(const uint8_t* row, int64_t n, float* out) {
  const __m256i three = _mm256_set1_epi8(3);
  for (int64_t sb = 0; sb < n / quant::kQK; ++sb) {
    const uint8_t* blk = row + sb * static_cast<int64_t>(sizeof(quant::BlockQ2_K));
    float* o = out + sb * quant::kQK;
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offsetof(quant::BlockQ2_K, scales)));
    const __m128i nib = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(sc, nib), hi = _mm_and_si128(_mm_srli_epi16(sc, 4), nib);
    const __m256 d = _mm256_set1_ps(Fp16ToFloat(LoadU16(blk + offsetof(quant::BlockQ2_K, d))));
    const __m256 dmin = _mm256_set1_ps(Fp16ToFloat(LoadU16(blk + offsetof(quant::BlockQ2_K, dmin))));
    alignas(32) float dl[16], ml[16];
    for (int h = 0; h < 2; ++h) {
      const __m256i l = _mm256_cvtepu8_epi32(h == 0 ? lo : _mm_srli_si128(lo, 8));
      const __m256i m = _mm256_cvtepu8_epi32(h == 0 ? hi : _mm_srli_si128(hi, 8));
      _mm256_store_ps(dl + 8 * h, _mm256_mul_ps(d, _mm256_cvtepi32_ps(l)));
      _mm256_store_ps(ml + 8 * h, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(m)));
    }
    for (int h = 0; h < 2; ++h) {
      const __m256i qs =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + offsetof(quant::BlockQ2_K, qs) + 32 * h));
      for (int j = 0; j < 4; ++j) {  // weights 128h + 32j + l: bits 2j of qs[32h + l]
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), three);
        const __m128i halves[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
        for (int k = 0; k < 2; ++k) {  // sub-block 8h + 2j + k
          const int s = 8 * h + 2 * j + k;
          const __m256 scale = _mm256_set1_ps(dl[s]), min = _mm256_set1_ps(ml[s]);
          float* dst = o + 16 * s;
          for (int e = 0; e < 2; ++e) {
            const __m128i c = e == 0 ? halves[k] : _mm_srli_si128(halves[k], 8);
            const __m256 p = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c)));
            _mm256_storeu_ps(dst + 8 * e, _mm256_sub_ps(p, min));
          }
        }
      }
    }
  }
}

#endif  // SEPTET_SIMD_X86

void DecodeRow(const TypeTraits& t, const uint8_t* row, int64_t n, float* out) {
#if SEPTET_SIMD_X86
  if (t.type == DType::kQ2_K) return DecodeQ2_KRow(row, n, out);
#endif
  t.to_float(row, out, n);
}

// y[t * y_stride + r - y_r0] for t < m, r0 <= r < r1: kTileRows rows decoded at a
// time, then dotted with each token as one FloatTile of those rows, so their FMA
// chains run side by side (one row's single chain was latency-bound: 40 % of a
// Q3_K token); each output is still FloatTile's one chain in index order, the same
// bits for any tile shape (common-inl.h).
constexpr int kTileRows = 4;
template <int R>
void DotTile(const float* rows, int64_t n, const float* x, float* y) {
  const float* xs[1] = {x};
  FloatTile<R, 1>([rows, n](auto df, int r, int64_t i) HWY_ATTR { return hn::LoadU(df, rows + r * n + i); },
                  [rows, n](int r, int64_t i) { return rows[r * n + i]; }, xs, n, y, 1);
}

void Rows(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
          float* y, int64_t y_stride, int64_t y_r0) {
  const TypeTraits& t = CheckedTraits(w);
  const int64_t n = w.cols;
  std::vector<float> rows(static_cast<size_t>(kTileRows * n));
  for (int64_t ra = r0; ra < r1; ra += kTileRows) {
    const int64_t nr = std::min<int64_t>(kTileRows, r1 - ra);
    for (int64_t i = 0; i < nr; ++i) DecodeRow(t, w.row(ra + i), n, rows.data() + i * n);
    for (int64_t k = 0; k < m; ++k) {
      const float* x = reinterpret_cast<const float*>(act + static_cast<size_t>(k) * act_stride);
      float* yk = y + k * y_stride + ra - y_r0;
      if (nr == kTileRows) {
        DotTile<kTileRows>(rows.data(), n, x, yk);
      } else {
        for (int64_t i = 0; i < nr; ++i) DotTile<1>(rows.data() + i * n, n, x, yk + i);
      }
    }
  }
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  Rows(w, r0, r1, act, 0, 1, y, 0, r0);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  Rows(w, r0, r1, act, act_stride, m, y, y_stride, 0);
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Dequant, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Dequant)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
