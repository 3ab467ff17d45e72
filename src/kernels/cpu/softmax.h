// Numerically stable softmax in place: x[i] <- exp(x[i] - max) / sum_j exp(x[j] - max).
// The normaliser is accumulated in double (reference tier).
#pragma once

#include <cstdint>

namespace septet::cpu {

// x: [n], n >= 1. -inf entries become exactly 0 (used for masking).
void Softmax(float* x, int64_t n);

}  // namespace septet::cpu
