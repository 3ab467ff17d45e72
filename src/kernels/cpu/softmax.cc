#include "kernels/cpu/softmax.h"

#include <cmath>

#include "core/check.h"

namespace septet::cpu {

void Softmax(float* x, int64_t n) {
  SEPTET_DCHECK(n > 0);
  float max_v = x[0];
  for (int64_t i = 1; i < n; ++i) max_v = x[i] > max_v ? x[i] : max_v;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::exp(static_cast<double>(x[i]) - max_v);
    x[i] = static_cast<float>(e);
    sum += e;
  }
  const double inv = 1.0 / sum;
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(x[i] * inv);
}

}  // namespace septet::cpu
