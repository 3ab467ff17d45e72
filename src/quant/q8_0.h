// Q8_0 (DType 8): the ggml-compatible 8-bit weight block, symmetric, fp16 scale.
//
//   offset size  field
//   0      2     uint16_t d       fp16 scale (little-endian)
//   2      32    int8_t   qs[32]  codes q in [-127, 127]
//   34 bytes per 32 weights = 8.5 bits per weight, the scale included.
//   Value: w = d * q. A final partial block is zero-padded (codes past n are 0):
//   row_bytes(n) = ceil(n / 32) * 34.
//
// vec_dot_type Q8_A (one activation block per weight block):
//   result = sum_b (d_w * d_x) * acc_b,  acc_b = sum_k q_w[k] * x_q[k] in int32,
//   |acc_b| <= 32 * 127 * 127 = 516128 (far below 2^31; see kQ8_0MaxAccLength).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quant_util.h"

namespace septet::quant {

inline constexpr int kQ8_0BlockSize = 32;
inline constexpr int kQ8_0MaxCode = 127;  // |q| <= 127

struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[kQ8_0BlockSize];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block: fp16 scale + 32 int8 (ggml block_q8_0)");

inline constexpr double kQ8_0BitsPerWeight = 8.0 * sizeof(BlockQ8_0) / kQ8_0BlockSize;
static_assert(kQ8_0BitsPerWeight == 8.5);

// Longest int32 accumulation of q_w * x_q that cannot overflow; the kernel's
// accumulators span one 32-weight block.
inline constexpr int64_t kQ8_0MaxAccLength = MaxInt32DotLength(kActMaxAbs, kQ8_0MaxCode);
static_assert(kQ8_0MaxAccLength == 133144 && kQ8_0BlockSize <= kQ8_0MaxAccLength);

constexpr size_t Q8_0RowBytes(int64_t n) {
  return static_cast<size_t>(CeilDiv(n, kQ8_0BlockSize)) * sizeof(BlockQ8_0);
}

// Encode one block's `len` (<= 32) weights with a given stored fp16 scale:
// q = clamp(round(w / d), -127, 127); codes past len are 0.
BlockQ8_0 Q8_0EncodeBlock(const float* w, int len, uint16_t d_fp16);

// Quantizer: per block, candidates d = amax / (127 + t), t = -2, -1.5, ..., +6,
// each refit by weighted least squares (d = sum imp w q / sum imp q^2) with its
// codes fixed, rounded to fp16, re-encoded; the lowest weighted error wins.
void Q8_0QuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
// For n candidate scales d0[i] of one block w[0..len) (len <= 32, d0[i] > 0): the
// least-squares refit of d0[i]'s codes, as fp16 (d16[i]), and the weighted error of the
// block encoded with it (err[i], double). Q8_0CandidateErrors is the scalar reference;
// simd::Q8_0CandidateErrors (kernels/simd/q8_search.cc) gives the same bits.
using Q8_0CandidatesFn = void (*)(const float* w, const float* imp, int len, const float* d0, int n, uint16_t* d16,
                                  double* err);
void Q8_0CandidateErrors(const float* w, const float* imp, int len, const float* d0, int n, uint16_t* d16,
                         double* err);
// Q8_0QuantizeRow with the candidates evaluated by `errors` (the same bytes).
void Q8_0QuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, Q8_0CandidatesFn errors);
void Q8_0DequantizeRow(const void* src, float* dst, int64_t n);
// act_row: Q8_A of the same n.
float Q8_0VecDot(int64_t n, const void* w_row, const void* act_row);
size_t Q8_0RowBytesFn(int64_t n);

}  // namespace septet::quant
