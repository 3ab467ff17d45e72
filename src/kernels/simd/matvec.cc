// MatVecRows / MatMulRows: one switch on the weight type to the per-family
// kernels (each dispatches once to the best Highway target). Types without a
// kernel of their own (the input-only ggml format Q2_K)
// take the generic dequantize-then-dot path, which CHECKs that they are dotted
// with F32.
#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"

namespace septet::simd {

DType ActivationType(const cpu::WeightView& w) {
  const bool q8b = w.layout == cpu::WeightLayout::kQ3P5Slots || w.layout == cpu::WeightLayout::kQ3P5Rows16;
  return q8b ? DType::kQ8_B : GetTypeTraits(w.type).vec_dot_type;
}

void MatVecRows(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  SEPTET_DCHECK(0 <= r0 && r0 <= r1 && r1 <= w.rows);
  if (r0 >= r1) return;
  if (w.layout == cpu::WeightLayout::kQ3P5Slots) return detail::Q3P5SlotsMatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ3P5Rows16) return detail::Q3P5Rows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ3P5NLRows16) return detail::Q3P5NLRows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ4NLRows16) return detail::Q4NLRows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ6KRows16) return detail::Q6KRows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ8_0Rows16) return detail::Q8_0Rows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kLegacy4Rows16) return detail::Legacy4Rows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ4KRows16) return detail::Q4KRows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ5KRows16) return detail::Q5KRows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ4TRows16) return detail::Q4TRows16MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kFloatPanels) return detail::FloatPanelsMatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ4GRows8) return detail::Q4GRows8MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kLegacy4Rows8) return detail::Legacy4Rows8MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ4KRows8) return detail::Q4KRows8MatVec(w, r0, r1, act, y);
  if (w.layout == cpu::WeightLayout::kQ3P5NLPlanes) {
    SEPTET_CHECK_MSG(w.type == DType::kQ3P5_NL, "simd::MatVecRows: the planes layout is Q3P5_NL's");
    return detail::Q3P5NLMatVec(w, r0, r1, act, y);
  }
  SEPTET_CHECK_MSG(w.layout == cpu::WeightLayout::kFile, "simd::MatVecRows: unknown weight layout");
  switch (w.type) {
    case DType::kQ3P5: return detail::Q3P5MatVec(w, r0, r1, act, y);
    case DType::kQ3P5_NL: return detail::Q3P5NLMatVec(w, r0, r1, act, y);
    case DType::kQ4_G: return detail::Q4GMatVec(w, r0, r1, act, y);
    case DType::kQ4_NL: return detail::Q4NLMatVec(w, r0, r1, act, y);
    case DType::kQ4_T: return detail::Q4TMatVec(w, r0, r1, act, y);
    case DType::kQ8_0: return detail::Q8_0MatVec(w, r0, r1, act, y);
    case DType::kQ3P5_SEED: return detail::Q3P5SeedMatVec(w, r0, r1, act, y);
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1: return detail::GgmlLegacyMatVec(w, r0, r1, act, y);
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: return detail::GgmlKQuantsMatVec(w, r0, r1, act, y);
    case DType::kIQ4_NL:
    case DType::kIQ4_XS: return detail::GgmlIq4MatVec(w, r0, r1, act, y);
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: return detail::FloatMatVec(w, r0, r1, act, y);
    default: SEPTET_CHECK_MSG(false, "simd::MatVecRows: no kernel for this weight type");
  }
}

void MatMulRows(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act,
                size_t act_stride, int64_t m, float* y, int64_t y_stride) {
  SEPTET_DCHECK(0 <= r0 && r0 <= r1 && r1 <= w.rows && m >= 0);
  if (r0 >= r1 || m == 0) return;
  if (w.layout == cpu::WeightLayout::kQ3P5Slots) {
    return detail::Q3P5SlotsMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ3P5Rows16) {
    return detail::Q3P5Rows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ3P5NLRows16) {
    return detail::Q3P5NLRows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ4NLRows16) {
    return detail::Q4NLRows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ6KRows16) {
    return detail::Q6KRows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ8_0Rows16) {
    return detail::Q8_0Rows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kLegacy4Rows16) {
    return detail::Legacy4Rows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ4KRows16) {
    return detail::Q4KRows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ5KRows16) {
    return detail::Q5KRows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ4TRows16) {
    return detail::Q4TRows16MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kFloatPanels) {
    return detail::FloatPanelsMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ4GRows8) {
    return detail::Q4GRows8MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kLegacy4Rows8) {
    return detail::Legacy4Rows8MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ4KRows8) {
    return detail::Q4KRows8MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  if (w.layout == cpu::WeightLayout::kQ3P5NLPlanes) {
    SEPTET_CHECK_MSG(w.type == DType::kQ3P5_NL, "simd::MatMulRows: the planes layout is Q3P5_NL's");
    return detail::Q3P5NLMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  }
  SEPTET_CHECK_MSG(w.layout == cpu::WeightLayout::kFile, "simd::MatMulRows: unknown weight layout");
  switch (w.type) {
    case DType::kQ3P5: return detail::Q3P5MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ3P5_NL: return detail::Q3P5NLMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ4_G: return detail::Q4GMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ4_NL: return detail::Q4NLMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ4_T: return detail::Q4TMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ8_0: return detail::Q8_0MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ3P5_SEED: return detail::Q3P5SeedMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1: return detail::GgmlLegacyMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: return detail::GgmlKQuantsMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kIQ4_NL:
    case DType::kIQ4_XS: return detail::GgmlIq4MatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: return detail::FloatMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
    default: SEPTET_CHECK_MSG(false, "simd::MatMulRows: no kernel for this weight type");
  }
}

}  // namespace septet::simd
