// Q4_G (DType 202): asymmetric INT4, group of 128 weights, fp16 scale and min.
//
//   offset size  field
//   0      2     uint16_t d       fp16 step (>= 0)
//   2      2     uint16_t m       fp16 value of code 0 (the group minimum, refit)
//   4      64    uint8_t  qs[64]  codes u in [0, 15]: weight k -> qs[k / 2],
//                                 low nibble for even k, high nibble for odd k
//   68 bytes per 128 weights = 4.25 bits per weight, scale and min included.
//   Value: w = m + d * u.
//
// Tail: a final partial group of r < 128 weights is a *short group* of
// ns = ceil(r / 32) sub-blocks, 4 + 16 * ns bytes (the same layout truncated
// after qs[16 * ns - 1]); padding weights inside it have code 0.
//   K = 64:  36 bytes = 4.5 bpw;  K = 172: 68 + 36 = 104 bytes = 4.837 bpw.
//
// vec_dot_type Q8_A (four activation blocks per full group): for each 32-weight
// sub-block s with activation block (x_d, x_sum, x_q):
//   acc_s = sum_k x_q[k] * u[k] in int32 (|acc_s| <= 32 * 127 * 15 = 60960),
//   result += x_d * (d * acc_s + m * x_sum).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/affine_fit.h"
#include "quant/quant_util.h"

namespace septet::quant {

inline constexpr int kQ4GBlockSize = 128;
inline constexpr int kQ4GSubBlockSize = 32;  // = kQ8ABlockSize: one activation block each
inline constexpr int kQ4GMaxCode = 15;

struct BlockQ4G {
  uint16_t d;  // fp16
  uint16_t m;  // fp16
  uint8_t qs[kQ4GBlockSize / 2];
};
static_assert(sizeof(BlockQ4G) == 68, "Q4_G block: 2 fp16 + 64 bytes of nibbles");

inline constexpr double kQ4GBitsPerWeight = 8.0 * sizeof(BlockQ4G) / kQ4GBlockSize;
static_assert(kQ4GBitsPerWeight == 4.25);

inline constexpr int64_t kQ4GMaxAccLength = MaxInt32DotLength(kActMaxAbs, kQ4GMaxCode);
static_assert(kQ4GMaxAccLength == 1127288 && kQ4GSubBlockSize <= kQ4GMaxAccLength);

constexpr size_t Q4GShortBlockBytes(int64_t r) {
  return 4 + 16 * static_cast<size_t>(CeilDiv(r, kQ4GSubBlockSize));
}
// Sub-blocks of a row's final short group (0 when n is a multiple of 128).
constexpr int Q4GShortSubBlocks(int64_t n) {
  return static_cast<int>(CeilDiv(n % kQ4GBlockSize, kQ4GSubBlockSize));
}
constexpr size_t Q4GRowBytes(int64_t n) {
  const int64_t r = n % kQ4GBlockSize;
  return static_cast<size_t>(n / kQ4GBlockSize) * sizeof(BlockQ4G) +
         (r > 0 ? Q4GShortBlockBytes(r) : 0);
}
constexpr double Q4GRowBitsPerWeight(int64_t n) {
  return n <= 0 ? 0.0 : 8.0 * static_cast<double>(Q4GRowBytes(n)) / static_cast<double>(n);
}
static_assert(Q4GRowBytes(64) == 36 && Q4GRowBytes(172) == 104);
static_assert(Q4GShortSubBlocks(128) == 0 && Q4GShortSubBlocks(172) == 2 && Q4GShortSubBlocks(576) == 2);

// Encode `len` (<= 128) weights with given stored fp16 (d, m): nearest codes
// u = clamp(round((w - m) / d), 0, 15); padding codes are 0.
BlockQ4G Q4GEncodeBlock(const float* w, int len, uint16_t d_fp16, uint16_t m_fp16);
int Q4GCode(const BlockQ4G& blk, int k);

// Quantizer: SearchAffine (affine_fit.h) with codes 0..15 and fp16 (d, m), then
// the nearest codes for the stored (rounded) d and m.
void Q4GQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
// The same with SearchAffine's passes through `fns` (simd's twins give the same bytes).
void Q4GQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const AffineSearchFns& fns);
void Q4GDequantizeRow(const void* src, float* dst, int64_t n);
float Q4GVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A
size_t Q4GRowBytesFn(int64_t n);

}  // namespace septet::quant
