// Q3P5_SEED (DType 201): the seed project's 3.5-bit layout, kept literally so
// its files load and so Q3P5 has a baseline.
//
// One row (one output channel) of n weights:
//   offset size                   field
//   0      4                      float scale
//   4      4                      float offset
//   8      ceil(7 ceil(n/2) / 8)  LSB-first bit stream of 7-bit pair codes: pair p
//                                 occupies bits [7p, 7p + 7) (bit b of the stream is
//                                 bit b % 8 of byte b / 8):
//                                   bits 0-3: q4 + 8 for weight 2p     (q4 in [-8, 7])
//                                   bits 4-6: q3 + 4 for weight 2p + 1 (q3 in [-4, 3])
//   row_bytes(n) = 8 + ceil(7 * ceil(n / 2) / 8). For odd n the last pair's 3-bit
//   field and the bits after the last pair are 0 (padding, never read).
//   bits per weight = 3.5 + 64 / n + padding: 3.515625 at n = 4096.
//
// Value: w = scale * (q + offset). The odd (3-bit) positions share the even
// positions' scale, so they reach only scale * ([-4, 3] + offset), half the
// range of the 4-bit positions: an odd-position weight outside that range is
// clamped to the nearest end (the seed's design; see docs/formats.md).
//
// vec_dot_type Q8_R (one activation scale per row):
//   acc = sum_i x_q[i] * q[i] over the WHOLE row in int32,
//   result = x_d * scale * (acc + offset * x_sum)
// i.e. "dequantized output = (int32 accumulator + offset) x scale". Because the
// accumulator spans the row, the row length is bounded: kQ3P5SeedMaxRowLength.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quant_util.h"

namespace septet::quant {

struct Q3P5SeedHeader {
  float scale;
  float offset;
};
static_assert(sizeof(Q3P5SeedHeader) == 8);

inline constexpr int kQ3P5SeedPairBits = 7;
inline constexpr int kQ3P5SeedMaxAbsCode = 8;  // |q4| <= 8 (q3 is smaller)

// |acc| <= sum_i |x_q[i]| |q[i]| <= 127 * 8 * n < 2^31 for n <= K_max.
// (Conservative: it charges every position the 4-bit bound 8. The odd positions
// reach only 4, but one bound for every position is simpler to state and check.)
inline constexpr int64_t kQ3P5SeedMaxRowLength = MaxInt32DotLength(kActMaxAbs, kQ3P5SeedMaxAbsCode);
static_assert(kQ3P5SeedMaxRowLength == 2113665);
static_assert(kQ3P5SeedMaxRowLength * kActMaxAbs * kQ3P5SeedMaxAbsCode <= kInt32Max);
static_assert((kQ3P5SeedMaxRowLength + 1) * kActMaxAbs * kQ3P5SeedMaxAbsCode > kInt32Max);
// Q8_R's int32 code sum allows longer rows, so K_max is the binding limit.
static_assert(kQ3P5SeedMaxRowLength <= MaxInt32DotLength(kActMaxAbs, 1));

constexpr size_t Q3P5SeedStreamBytes(int64_t n) {
  return static_cast<size_t>(CeilDiv(kQ3P5SeedPairBits * CeilDiv(n, 2), 8));
}
constexpr size_t Q3P5SeedRowBytes(int64_t n) { return sizeof(Q3P5SeedHeader) + Q3P5SeedStreamBytes(n); }
constexpr double Q3P5SeedRowBitsPerWeight(int64_t n) {
  return n <= 0 ? 0.0 : 8.0 * static_cast<double>(Q3P5SeedRowBytes(n)) / static_cast<double>(n);
}
inline constexpr double kQ3P5SeedBitsPerWeight4096 = Q3P5SeedRowBitsPerWeight(4096);
static_assert(kQ3P5SeedBitsPerWeight4096 == 3.5 + 64.0 / 4096);
static_assert(Q3P5SeedRowBytes(64) == 36 && Q3P5SeedRowBytes(172) == 84);

// ---- pair codes ----
// code7 = (q4 + 8) | (q3 + 4) << 4.
constexpr uint8_t Q3P5SeedPairCode(int q4, int q3) {
  return static_cast<uint8_t>((q4 + 8) | ((q3 + 4) << 4));
}
constexpr int Q3P5SeedQ4(uint8_t code7) { return (code7 & 0x0F) - 8; }
constexpr int Q3P5SeedQ3(uint8_t code7) { return ((code7 >> 4) & 0x07) - 4; }
// Write / read pair p of a stream (write clears the pair's 7 bits first). Touches
// only bytes [7p / 8, (7p + 6) / 8].
void Q3P5SeedPutPair(uint8_t* stream, int64_t p, uint8_t code7);
uint8_t Q3P5SeedGetPair(const uint8_t* stream, int64_t p);

// Nearest signed code of w for a given (scale, offset): q = clamp(round(w / scale
// - offset), lo, hi) with [lo, hi] = [-8, 7] at even i, [-4, 3] at odd i.
int Q3P5SeedNearestCode(float w, float scale, float offset, bool odd);
// Writes a whole row with the given (scale, offset) and nearest codes.
void Q3P5SeedEncodeRow(const float* src, int64_t n, float scale, float offset, void* dst);

// Quantizer (deterministic): with lo/hi the min/max of the weights with imp > 0,
// candidates scale = f * (hi - lo) / 15, f = 0.30, 0.35, ..., 1.20, each with the
// offset aligning lo to -8, hi to 7, or the midpoint to -0.5; each candidate is
// also refit by weighted least squares (w ~= scale * q + scale * offset with the
// codes fixed). Every candidate is scored by its actual weighted error.
void Q3P5SeedQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
void Q3P5SeedDequantizeRow(const void* src, float* dst, int64_t n);
// The integer core: sum_i x_q[i] * q[i] over n codes in int32. CHECK-fails for
// n > kQ3P5SeedMaxRowLength (the accumulator could overflow).
int32_t Q3P5SeedDotI32(const uint8_t* stream, const int8_t* x_q, int64_t n);
// act_row: Q8_R of the same n. CHECK-fails for n > kQ3P5SeedMaxRowLength.
float Q3P5SeedVecDot(int64_t n, const void* w_row, const void* act_row);
size_t Q3P5SeedRowBytesFn(int64_t n);

}  // namespace septet::quant
