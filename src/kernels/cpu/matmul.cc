#include "kernels/cpu/matmul.h"

#include "core/check.h"
#include "quant/registry.h"

namespace septet::cpu {

size_t ActivationRowBytes(DType w_type, int64_t cols) {
  const TypeTraits& act = GetTypeTraits(GetTypeTraits(w_type).vec_dot_type);
  return act.row_bytes(cols);
}

void MatMul(const WeightView& w, const float* x, int64_t m, float* y, MatMulScratch* scratch) {
  SEPTET_CHECK_MSG(w.layout == WeightLayout::kFile, "cpu::MatMul: the scalar reference reads the file layout only");
  const TypeTraits& wt = GetTypeTraits(w.type);
  SEPTET_DCHECK(w.row_bytes == wt.row_bytes(w.cols));
  const bool float_act = wt.vec_dot_type == DType::kF32;
  const void* act = x;
  size_t act_row_bytes = static_cast<size_t>(w.cols) * sizeof(float);
  if (!float_act) {
    const TypeTraits& at = GetTypeTraits(wt.vec_dot_type);
    act_row_bytes = at.row_bytes(w.cols);
    scratch->act.resize(act_row_bytes * static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      at.from_float(x + i * w.cols, scratch->act.data() + static_cast<size_t>(i) * act_row_bytes,
                    w.cols, nullptr);
    }
    act = scratch->act.data();
  }
  const uint8_t* act_bytes = static_cast<const uint8_t*>(act);
  for (int64_t i = 0; i < m; ++i) {
    const void* a = act_bytes + static_cast<size_t>(i) * act_row_bytes;
    float* yi = y + i * w.rows;
    for (int64_t r = 0; r < w.rows; ++r) yi[r] = wt.vec_dot(w.cols, w.row(r), a);
  }
}

void MatVec(const WeightView& w, const float* x, float* y, MatMulScratch* scratch) {
  MatMul(w, x, 1, y, scratch);
}

}  // namespace septet::cpu
