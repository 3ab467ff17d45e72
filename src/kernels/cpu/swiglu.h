// The SwiGLU gate of the LLaMA feed-forward block:
//   out[i] = silu(gate[i]) * up[i],   silu(g) = g / (1 + exp(-g))
#pragma once

#include <cstdint>

namespace septet::cpu {

// gate, up, out: [n]. `out` may alias `gate` or `up`.
void SiluMul(float* out, const float* gate, const float* up, int64_t n);

}  // namespace septet::cpu
