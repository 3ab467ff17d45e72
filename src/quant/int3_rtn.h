// A plain round-to-nearest INT3 baseline, group 64, for comparisons only (it has
// no registry row and is never stored as its own type: the quantizer writes its
// dequantized values as F32 and reports the nominal bpw below).
//
// Per group of g = 64 weights (a final partial group of r < 64 weights is its own group):
//   lo = min w, hi = max w, d = fp16(hi - lo) / 7, m = fp16(lo),
//   c = clamp(round((w - m) / d), 0, 7), w^ = m + d * c.
// Nominal storage: 3 bits per weight + fp16 d and m per group, so
//   bits(n) = 3 n + 32 ceil(n / 64)  ->  3.5 bpw for n a multiple of 64
// (K = 172: 612 bits = 3.558 bpw). This is the "equal bits" neighbour of Q3P5:
// same 3-bit codes and the same 32 bits of scale per 64 weights, but no search,
// no importance and no 4-bit sub-block.
#pragma once

#include <cstdint>

namespace septet::quant {

inline constexpr int kInt3RtnGroupSize = 64;
inline constexpr int kInt3RtnMaxCode = 7;

// The nominal all-in bits of one row of n weights.
constexpr int64_t Int3RtnRowBits(int64_t n) {
  return n <= 0 ? 0 : 3 * n + 32 * ((n + kInt3RtnGroupSize - 1) / kInt3RtnGroupSize);
}
constexpr double Int3RtnRowBitsPerWeight(int64_t n) {
  return n <= 0 ? 0.0 : static_cast<double>(Int3RtnRowBits(n)) / static_cast<double>(n);
}
static_assert(Int3RtnRowBits(64) == 224 && Int3RtnRowBits(172) == 612);

struct Int3RtnParams {
  float d = 0;  // stored (fp16-rounded) step, >= 0
  float m = 0;  // stored (fp16-rounded) value of code 0
};

// Min/max parameters of one group of len weights.
Int3RtnParams Int3RtnFit(const float* w, int64_t len);
// The grid value nearest to w for the given stored params.
float Int3RtnSnap(float w, const Int3RtnParams& p);
// Quantize and dequantize a row in one go: dst[i] = w^_i.
void Int3RtnFakeQuantizeRow(const float* src, float* dst, int64_t n);

}  // namespace septet::quant
