// RMSNorm (Zhang & Sennrich 2019), the LLaMA pre-norm:
//   out[i] = x[i] / sqrt(mean_j(x[j]^2) + eps) * weight[i],   i < n
// The sum of squares is accumulated in double (reference tier).
#pragma once

#include <cstdint>

namespace septet::cpu {

// x, weight, out: [n]. `out` may alias `x`.
void RmsNorm(float* out, const float* x, const float* weight, int64_t n, float eps);

}  // namespace septet::cpu
