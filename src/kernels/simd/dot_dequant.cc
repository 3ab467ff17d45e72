// Generic kernel for weight types dotted with float activations (vec_dot_type
// F32) that have no kernel of their own: the input-only ggml block formats
// Q2_K, Q3_K, IQ4_NL and IQ4_XS (quant/ggml_*.h; the other ggml types pair
// with Q8_A and have kernels of their own, dot_ggml_*.cc). Each weight row is decoded once by the
// registry's scalar to_float into a float buffer owned by the call, then dotted
// with each activation row in f32 lanes exactly as the F32 kernel does
// (FloatDotRow, common-inl.h). The decoded values are the scalar reference's, so
// against the reference vec_dot (double accumulation) the only difference is
// the f32 summation, bounded in simd_matvec_test.cc.
//
// The decode is scalar code: this path is there so every GGUF file septet can
// read also runs, not to be fast (a dedicated kernel per format would be).
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_dequant.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
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

float DotDecoded(const float* w, const float* x, int64_t n) {
  return FloatDotRow(x, n, [w](auto df, int64_t i) { return hn::LoadU(df, w + i); },
                     [w](int64_t i) { return w[i]; });
}

// y[t * y_stride + r - y_r0] for t < m, r0 <= r < r1: row r decoded once for all m tokens.
void Rows(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
          float* y, int64_t y_stride, int64_t y_r0) {
  const TypeTraits& t = CheckedTraits(w);
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = r0; r < r1; ++r) {
    t.to_float(w.row(r), row.data(), w.cols);
    for (int64_t k = 0; k < m; ++k) {
      const float* x = reinterpret_cast<const float*>(act + static_cast<size_t>(k) * act_stride);
      y[k * y_stride + r - y_r0] = DotDecoded(row.data(), x, w.cols);
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
