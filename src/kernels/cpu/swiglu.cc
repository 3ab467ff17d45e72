#include "kernels/cpu/swiglu.h"

#include <cmath>

namespace septet::cpu {

void SiluMul(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    // g / (1 + e^-g) overflows e^-g for g < -709 in double; the quotient is then 0,
    // which is also what the limit gives.
    const double silu = g / (1.0 + std::exp(-g));
    out[i] = static_cast<float>(silu * up[i]);
  }
}

}  // namespace septet::cpu
