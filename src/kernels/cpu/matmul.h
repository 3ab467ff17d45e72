// y = W x for a weight matrix of any registry type (reference tier).
//
// The activation row is first converted to the weight type's `vec_dot_type`
// with that type's from_float (float weights: vec_dot_type is F32 and x is used
// as is), then each output is one registry vec_dot:
//   y[r] = vec_dot(cols, W.row(r), act(x))
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/weight_view.h"

namespace septet::cpu {

// Reusable buffer for the converted activation rows; grows on demand.
struct MatMulScratch {
  std::vector<uint8_t> act;
};

// Bytes one activation row of `cols` values takes in w_type's vec_dot_type.
size_t ActivationRowBytes(DType w_type, int64_t cols);

// x: [w.cols], y: [w.rows].
void MatVec(const WeightView& w, const float* x, float* y, MatMulScratch* scratch);

// x: [m][w.cols] (row-major), y: [m][w.rows]. Same numbers as m MatVec calls.
void MatMul(const WeightView& w, const float* x, int64_t m, float* y, MatMulScratch* scratch);

}  // namespace septet::cpu
