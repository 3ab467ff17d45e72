// Float-weight kernels: F32 / F16 / BF16 rows dotted with an F32 activation.
// Portable Highway on every target: weights promoted to f32 (F16 via F16C on
// AVX2), four independent f32 FMA accumulators, a remainder loop. The scalar
// reference accumulates in double, so results agree within the f32
// accumulation bound documented in simd_matvec_test.cc.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_float.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

float RowDot(DType type, const uint8_t* wrow, const float* x, int64_t n) {
  switch (type) {
    case DType::kF32: {
      const float* w = reinterpret_cast<const float*>(wrow);
      return FloatDotRow(x, n, [w](auto df, int64_t i) { return hn::LoadU(df, w + i); },
                    [wrow](int64_t i) { return LoadF32(wrow + 4 * i); });
    }
    case DType::kF16: {
      const hwy::float16_t* w = reinterpret_cast<const hwy::float16_t*>(wrow);
      return FloatDotRow(
          x, n,
          [w](auto df, int64_t i) {
            const hn::Rebind<hwy::float16_t, decltype(df)> dh;
            return hn::PromoteTo(df, hn::LoadU(dh, w + i));
          },
          [wrow](int64_t i) { return Fp16ToFloat(LoadU16(wrow + 2 * i)); });
    }
    case DType::kBF16: {
      const uint16_t* w = reinterpret_cast<const uint16_t*>(wrow);
      return FloatDotRow(
          x, n,
          [w](auto df, int64_t i) {
            // bf16 -> f32 is a 16-bit left shift of the bit pattern.
            const hn::RebindToUnsigned<decltype(df)> du32;
            const hn::Rebind<uint16_t, decltype(df)> du16;
            return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, w + i))));
          },
          [wrow](int64_t i) { return Bf16ToFloat(LoadU16(wrow + 2 * i)); });
    }
    default:
      SEPTET_CHECK_MSG(false, "simd float MatVec: weight type is not F32/F16/BF16");
      return 0.0f;
  }
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const float* x = reinterpret_cast<const float*>(act);
  for (int64_t r = r0; r < r1; ++r) y[r - r0] = RowDot(w.type, w.row(r), x, w.cols);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Float, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Float)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
