#include "kernels/attention.h"

#include "core/check.h"
#include "kernels/simd/simd_ops.h"

namespace septet::kernels {

void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out) {
  SEPTET_DCHECK(n_pos > 0);
  simd::AttendHead(q, k, v, n_pos, head_dim, stride, scale, scores, out);
}

}  // namespace septet::kernels
