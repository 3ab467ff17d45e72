// Fast-tier attention of one query head over the KV cache (same contract as
// cpu::AttendHead, which is its reference): simd::AttendHead, one dispatched
// call with SIMD dot products for the scores (4 keys interleaved), the SIMD
// softmax, and the value sum as per-element FMA chains over the positions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace septet::kernels {

void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out);

// One head's keys or values in a typed KV cache (kernels/kv_rows.h): position t's
// head_dim values are elements [first, first + head_dim) of the row at
// base + t * row_stride.
struct KvHead {
  const uint8_t* base = nullptr;
  size_t row_stride = 0;  // bytes between positions
  int64_t first = 0;      // the head's first element in the row
  DType type = DType::kF32;
};

// AttendHead over a typed cache: each key / value row is converted to float
// (into row_buf[head_dim]) right before its dot / axpy, so the arithmetic is
// AttendHead's on the dequantized values, bit for bit. F32 goes straight to
// AttendHead.
void AttendHeadKv(const float* q, const KvHead& k, const KvHead& v, int64_t n_pos, int64_t head_dim, float scale,
                  float* scores, float* row_buf, float* out);

// AttendHeadKv for the n_q query heads of one GQA group (they read the same
// keys and values): head g reads q + g q_stride, writes out + g out_stride and
// gets AttendHeadKv's bits. scores holds n_q rows of n_pos. An F32 cache runs
// simd::AttendGroup (the heads share each key and value block while it is in
// L1); a typed cache runs the heads one after the other.
void AttendGroupKv(const float* q, int64_t q_stride, int64_t n_q, const KvHead& k, const KvHead& v, int64_t n_pos,
                   int64_t head_dim, float scale, float* scores, float* row_buf, float* out, int64_t out_stride);

}  // namespace septet::kernels
