#include "kernels/attention.h"

#include "core/check.h"
#include "kernels/kv_rows.h"
#include "kernels/simd/simd_ops.h"

namespace septet::kernels {

void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out) {
  SEPTET_DCHECK(n_pos > 0);
  simd::AttendHead(q, k, v, n_pos, head_dim, stride, scale, scores, out);
}

void AttendHeadKv(const float* q, const KvHead& k, const KvHead& v, int64_t n_pos, int64_t head_dim, float scale,
                  float* scores, float* row_buf, float* out) {
  SEPTET_DCHECK(n_pos > 0 && k.type == v.type && k.row_stride == v.row_stride);
  if (k.type == DType::kF32) {
    const int64_t stride = static_cast<int64_t>(k.row_stride / sizeof(float));
    AttendHead(q, reinterpret_cast<const float*>(k.base) + k.first, reinterpret_cast<const float*>(v.base) + v.first,
               n_pos, head_dim, stride, scale, scores, out);
    return;
  }
  for (int64_t t = 0; t < n_pos; ++t) {
    KvRowToFloat(k.type, k.base + static_cast<size_t>(t) * k.row_stride, k.first, head_dim, row_buf);
    scores[t] = simd::Dot(q, row_buf, head_dim) * scale;
  }
  simd::Softmax(scores, n_pos);
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t t = 0; t < n_pos; ++t) {
    KvRowToFloat(v.type, v.base + static_cast<size_t>(t) * v.row_stride, v.first, head_dim, row_buf);
    simd::Axpy(scores[t], row_buf, out, head_dim);
  }
}

void AttendGroupKv(const float* q, int64_t q_stride, int64_t n_q, const KvHead& k, const KvHead& v, int64_t n_pos,
                   int64_t head_dim, float scale, float* scores, float* row_buf, float* out, int64_t out_stride) {
  SEPTET_DCHECK(n_pos > 0 && n_q > 0 && k.type == v.type && k.row_stride == v.row_stride);
  if (k.type == DType::kF32) {
    const int64_t stride = static_cast<int64_t>(k.row_stride / sizeof(float));
    simd::AttendGroup(q, q_stride, n_q, reinterpret_cast<const float*>(k.base) + k.first,
                      reinterpret_cast<const float*>(v.base) + v.first, n_pos, head_dim, stride, scale, scores, out,
                      out_stride);
    return;
  }
  for (int64_t g = 0; g < n_q; ++g) {
    AttendHeadKv(q + g * q_stride, k, v, n_pos, head_dim, scale, scores + g * n_pos, row_buf, out + g * out_stride);
  }
}

}  // namespace septet::kernels
