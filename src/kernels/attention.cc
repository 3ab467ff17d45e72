#include "kernels/attention.h"

#include <algorithm>

#include "core/check.h"
#include "kernels/simd/simd_ops.h"

namespace septet::kernels {

void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out) {
  SEPTET_DCHECK(n_pos > 0);
  for (int64_t t = 0; t < n_pos; ++t) scores[t] = simd::Dot(q, k + t * stride, head_dim) * scale;
  simd::Softmax(scores, n_pos);
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t t = 0; t < n_pos; ++t) simd::Axpy(scores[t], v + t * stride, out, head_dim);
}

}  // namespace septet::kernels
