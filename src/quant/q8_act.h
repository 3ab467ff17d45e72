// INT8 activation formats. They exist only in memory (is_activation_only): the
// matmul quantizes the activation vector x once, then every weight row's vec_dot
// runs an integer dot product against it. Both are symmetric, codes in [-127, 127]
// (never -128, so |x_q| <= 127 is the bound every overflow derivation uses).
//
// Q8_A (DType 203): blocks of 32, paired with Q8_0, Q4_G and Q3P5.
//   offset size  field
//   0      4     float   d      scale: d = max|x| / 127 over the block (0 for an all-zero block)
//   4      2     int16_t sum    sum of the 32 codes (|sum| <= 32*127 = 4064, fits int16)
//   6      32    int8_t  qs[32] q = round(x / d), ties to even, in [-127, 127]
//   38     2     padding (struct alignment 4) -> sizeof = 40 bytes, 10 bits per value
//   x ~= d * q. A final partial block is zero-padded: codes past n are 0, and d and
//   sum cover only the real values. row_bytes(n) = ceil(n / 32) * 40.
//
// Q8_B (DType 205): blocks of 128, the CPU kernels' pairing for Q3P5 in the
// repacked layout (kernels/simd/simd_ops.h ActivationType): one scale per Q3P5
// block, so the prefill GEMM converts and scales one int32 sum per 128 weights.
//   offset size  field
//   0      4     float   d      d = max|x| / 127 over the block
//   4      2     int16_t sum    sum of the 128 codes (|sum| <= 128*127 = 16256, fits int16)
//   6      2     zero padding
//   8      128   int8_t  qs[128] q = round(x / d), ties to even, in [-127, 127]
//   sizeof = 136 bytes, 8.5 bits per value. A final partial block is zero-padded
//   as in Q8_A. row_bytes(n) = ceil(n / 128) * 136.
//
// Q8_R (DType 204): one scale per whole row, paired with Q3P5_SEED.
//   offset size  field
//   0      4     float   d      d = max|x| / 127 over the row
//   4      4     int32_t sum    sum of the n codes (|sum| <= 127 n; n <= kQ8RMaxRowLength)
//   8      n     int8_t  q[n]   q = round(x / d) in [-127, 127]
//   8+n    pad   zero bytes up to a multiple of 4
//   row_bytes(n) = 8 + 4 * ceil(n / 4); 8.015625 bits per value at n = 4096.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quant_util.h"

namespace septet::quant {

// ---- Q8_A ----
inline constexpr int kQ8ABlockSize = 32;

struct BlockQ8A {
  float d;
  int16_t sum;
  int8_t qs[kQ8ABlockSize];
};
static_assert(sizeof(BlockQ8A) == 40, "Q8_A block: 4 + 2 + 32 bytes + 2 bytes alignment padding");

inline constexpr double kQ8ABitsPerWeight = 8.0 * sizeof(BlockQ8A) / kQ8ABlockSize;
static_assert(kQ8ABitsPerWeight == 10.0);
// The per-block code sum must fit its int16 field.
static_assert(kQ8ABlockSize * kActMaxAbs <= 32767);

constexpr size_t Q8ARowBytes(int64_t n) {
  return static_cast<size_t>(CeilDiv(n, kQ8ABlockSize)) * sizeof(BlockQ8A);
}

// Ignores `importance` (activations have no rounding objective to weight).
void Q8AQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
void Q8ADequantizeRow(const void* src, float* dst, int64_t n);
size_t Q8ARowBytesFn(int64_t n);

// ---- Q8_B ----
inline constexpr int kQ8BBlockSize = 128;

struct BlockQ8B {
  float d;
  int16_t sum;
  int16_t pad;
  int8_t qs[kQ8BBlockSize];
};
static_assert(sizeof(BlockQ8B) == 136, "Q8_B block: 4 + 2 + 2 + 128 bytes");
static_assert(offsetof(BlockQ8B, qs) == 8);

inline constexpr double kQ8BBitsPerWeight = 8.0 * sizeof(BlockQ8B) / kQ8BBlockSize;
static_assert(kQ8BBitsPerWeight == 8.5);
static_assert(kQ8BBlockSize * kActMaxAbs <= 32767);

constexpr size_t Q8BRowBytes(int64_t n) {
  return static_cast<size_t>(CeilDiv(n, kQ8BBlockSize)) * sizeof(BlockQ8B);
}

void Q8BQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
void Q8BDequantizeRow(const void* src, float* dst, int64_t n);
size_t Q8BRowBytesFn(int64_t n);

// ---- Q8_R ----
struct Q8RHeader {
  float d;
  int32_t sum;
};
static_assert(sizeof(Q8RHeader) == 8);

// The row code sum is an int32: |sum| <= 127 * n <= 2^31 - 1.
inline constexpr int64_t kQ8RMaxRowLength = MaxInt32DotLength(kActMaxAbs, 1);
static_assert(kQ8RMaxRowLength == 16909320);

constexpr size_t Q8RRowBytes(int64_t n) {
  return sizeof(Q8RHeader) + 4 * static_cast<size_t>(CeilDiv(n, 4));
}
constexpr double Q8RRowBitsPerWeight(int64_t n) {
  return n <= 0 ? 0.0 : 8.0 * static_cast<double>(Q8RRowBytes(n)) / static_cast<double>(n);
}
// The registry's figure (row formats are quoted at n = 4096).
inline constexpr double kQ8RBitsPerWeight4096 = Q8RRowBitsPerWeight(4096);
static_assert(kQ8RBitsPerWeight4096 == 8.015625);

// CHECK-fails for n > kQ8RMaxRowLength.
void Q8RQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
void Q8RDequantizeRow(const void* src, float* dst, int64_t n);
size_t Q8RRowBytesFn(int64_t n);

}  // namespace septet::quant
