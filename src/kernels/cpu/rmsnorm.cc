#include "kernels/cpu/rmsnorm.h"

#include <cmath>

#include "core/check.h"

namespace septet::cpu {

void RmsNorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  SEPTET_DCHECK(n > 0);
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps));
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(static_cast<double>(x[i]) * scale * weight[i]);
  }
}

}  // namespace septet::cpu
