// The AVX2 decode of the 3-bit code planes Q3P5 and Q3P5_NL share (per 32-weight
// sub-block: lo[8], two bits a weight; hi[4], one bit a weight; quant/q3p5.h), used
// by dot_q3p5.cc and dot_q3p5nl.cc on the file layout. Included once per target
// after common-inl.h, hence the toggle guard.
//
// One 16-byte broadcast load of the sub-block; lo: vpshufb puts lo byte b' of
// 16-weight half c into dword j of lane c, vpsrlvd shifts dword j right by 2j, & 3;
// hi: vpshufb puts the hi byte holding each weight's bit in place, then
// (& bit) == bit, & 4. The codes come out in the order "128-bit lane c, dword j,
// byte b' = weight 16c + 4b' + j"; `px` permutes an activation block the same way.

#if defined(SEPTET_KERNELS_SIMD_CODE_PLANES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_CODE_PLANES_INL_H_
#undef SEPTET_KERNELS_SIMD_CODE_PLANES_INL_H_
#else
#define SEPTET_KERNELS_SIMD_CODE_PLANES_INL_H_
#endif

#include <cstdint>

#include "kernels/simd/common-inl.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

#if SEPTET_SIMD_X86

struct PlaneTables {
  __m256i t_lo, sh_lo, t_hi, m_hi, c3, c4, px;
};

HWY_INLINE PlaneTables MakePlaneTables() {
  // Position p = 16c + 4j + b' of a decoded sub-block holds weight 16c + 4b' + j.
  alignas(32) int8_t t_lo[32], t_hi[32], m_hi[32], px[32];
  for (int p = 0; p < 32; ++p) {
    const int c = p / 16, j = (p % 16) / 4, b = p % 4;
    t_lo[p] = static_cast<int8_t>(4 * c + b);               // lo byte (16c + 4b + j) / 4
    t_hi[p] = static_cast<int8_t>(8 + 2 * c + b / 2);       // hi byte (16c + 4b + j) / 8, at +8
    m_hi[p] = static_cast<int8_t>(1 << (4 * (b % 2) + j));  // bit (16c + 4b + j) % 8
    px[p] = static_cast<int8_t>(4 * b + j);                 // activation code of that weight
  }
  const auto load = [](const int8_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); };
  PlaneTables t;
  t.t_lo = load(t_lo);
  t.t_hi = load(t_hi);
  t.m_hi = load(m_hi);
  t.px = load(px);
  t.sh_lo = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  t.c3 = _mm256_set1_epi8(3);
  t.c4 = _mm256_set1_epi8(4);
  return t;
}

// u in [0, 7] of the 32 weights of the sub-block at `sub` (12 bytes; reads 16: the
// caller makes sure 4 more bytes of its block follow).
HWY_INLINE __m256i DecodeCodePlanes(const PlaneTables& t, const uint8_t* sub) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sub)));
  const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(v, t.t_lo), t.sh_lo), t.c3);
  const __m256i hb = _mm256_and_si256(_mm256_shuffle_epi8(v, t.t_hi), t.m_hi);
  return _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(hb, t.m_hi), t.c4));
}

#endif  // SEPTET_SIMD_X86

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_CODE_PLANES_INL_H_ toggle
