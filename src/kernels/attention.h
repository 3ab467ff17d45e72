// Fast-tier attention of one query head over the KV cache (same contract as
// cpu::AttendHead, which is its reference): simd::AttendHead, one dispatched
// call with SIMD dot products for the scores (4 keys interleaved), the SIMD
// softmax, and the value sum as per-element FMA chains over the positions.
#pragma once

#include <cstdint>

namespace septet::kernels {

void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out);

}  // namespace septet::kernels
