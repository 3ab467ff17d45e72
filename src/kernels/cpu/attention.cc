#include "kernels/cpu/attention.h"

#include "core/check.h"
#include "kernels/cpu/softmax.h"

namespace septet::cpu {

void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim,
                int64_t stride, float scale, float* scores, float* out) {
  SEPTET_DCHECK(n_pos > 0);
  for (int64_t t = 0; t < n_pos; ++t) {
    const float* kt = k + t * stride;
    double dot = 0.0;
    for (int64_t d = 0; d < head_dim; ++d) dot += static_cast<double>(q[d]) * kt[d];
    scores[t] = static_cast<float>(dot * scale);
  }
  Softmax(scores, n_pos);
  for (int64_t d = 0; d < head_dim; ++d) {
    double acc = 0.0;
    for (int64_t t = 0; t < n_pos; ++t) acc += static_cast<double>(scores[t]) * v[t * stride + d];
    out[d] = static_cast<float>(acc);
  }
}

}  // namespace septet::cpu
