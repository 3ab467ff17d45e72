// Scaled dot-product attention of one query head over a cached key/value run
// (causal masking is the caller's choice of n_pos):
//   s[t]   = (q . k_t) * scale,           t < n_pos
//   p      = softmax(s)
//   out[d] = sum_t p[t] * v_t[d],         d < head_dim
#pragma once

#include <cstdint>

namespace septet::cpu {

// q: [head_dim]. k, v: n_pos rows of head_dim floats, row t at k + t * stride
// (stride = kv_dim of the cache, the pointers already offset to this KV head).
// scores: scratch [n_pos]. out: [head_dim].
void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim,
                int64_t stride, float scale, float* scores, float* out);

}  // namespace septet::cpu
