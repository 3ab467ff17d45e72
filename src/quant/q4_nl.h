// Q4_NL (DType 207): 4.25 bits per weight all-in for full blocks, Q4_G's size,
// spent on non-uniform levels and a signed scale per 32 (docs/formats.md).
//
// Block of 128 weights = 4 sub-blocks of 32 (one signed scale each); 68 bytes
// = 544 bits, little-endian:
//   offset  size  field
//   0       64    qs   4-bit codes u in [0, 15]: weight k (0..127) of the block ->
//                      byte k % 64, low nibble for k < 64, high nibble for k >= 64
//   64      2     d    fp16 block scale D (any finite value; D = max |w| or so)
//   66      2     sc   4 four-bit two's-complement scales in [-8, 7]: scale of
//                      sub-block s (weights 32 s .. 32 s + 31) at bits [4 s, 4 s + 4)
//                      of the 16-bit little-endian field
//   bits: 128 * 4 codes + 16 + 4 * 4 = 544 = 4.25 * 128.
//
// Value of weight k with code u in sub-block s:
//   w = d_eff * float(sc_s * L[u]),   d_eff = float(D) * 2^-10 (exact),
//   L = {-127, -103, -84, -68, -54, -41, -29, -16, -4, 8, 20, 32, 46, 60, 77, 101}
// sc_s * L[u] is an exact integer with |.| <= 8 * 127 = 1016, so D ~ max |w| of
// the block. The levels are a Lloyd-Max codebook for 16 levels fitted to
// unit-variance Gaussian groups of 32 under a free signed scale per group
// (scripts/q3p5nl_codebook.py --format q4nl), as Q3P5_NL's are for 8 levels.
//
// Tail: a final partial block of r < 128 weights is a *short block* of
// ns = ceil(r / 32) sub-blocks: 16 ns code bytes (weight k -> byte k % (16 ns),
// low nibble for k < 16 ns, high nibble otherwise: the full rule with 64 = 16 * 4
// replaced by 16 ns), then d, then the ns scales in ceil(ns / 2) bytes: 19, 35,
// 52 or 68 bytes for ns = 1..4. Padding weights have code kQ4NLPadCode (level
// -4, the one nearest 0); no dot product reads them.
//   K = 64: 35 bytes = 4.375 bpw.  K = 576: 4 * 68 + 35 = 307 bytes = 4.264 bpw.
//
// vec_dot_type Q8_A (one activation block per sub-block s):
//   acc_s = sum_{k in s} x_q[k] * L[u_k]   (|acc_s| <= 32 * 127 * 127 = 516128)
//   isum_s = sc_s * acc_s                   (|isum_s| <= 4129024 < 2^24, int32)
//   result += (d_eff * x_d) * float(isum_s), in block then sub-block order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/nl_codebook.h"
#include "quant/q8_act.h"
#include "quant/quant_util.h"

namespace septet::quant {

inline constexpr int kQ4NLBlockSize = 128;
inline constexpr int kQ4NLSubBlockSize = 32;  // = kQ8ABlockSize, one scale
inline constexpr int kQ4NLSubBlocks = 4;
inline constexpr int kQ4NLScaleMin = -8, kQ4NLScaleMax = 7;
inline constexpr int kQ4NLPadCode = 8;
inline constexpr float kQ4NLDUnit = 1.0f / 1024.0f;  // d_eff = float(D) * kQ4NLDUnit
inline constexpr int8_t kQ4NLLevels[16] = {-127, -103, -84, -68, -54, -41, -29, -16,
                                           -4,   8,    20,  32,  46,  60,  77,  101};
inline constexpr int kQ4NLMaxAbsLevel = 127;

struct BlockQ4NL {
  uint8_t qs[kQ4NLBlockSize / 2];
  uint16_t d;     // fp16 D
  uint8_t sc[2];  // 4 x 4-bit signed sub-block scales
};
static_assert(sizeof(BlockQ4NL) == 68, "Q4_NL block: 544 bits for 128 weights");

inline constexpr double kQ4NLBitsPerWeight = 8.0 * sizeof(BlockQ4NL) / kQ4NLBlockSize;
static_assert(kQ4NLBitsPerWeight == 4.25);
static_assert(4 * kQ4NLBlockSize + 16 + 4 * kQ4NLSubBlocks == 8 * sizeof(BlockQ4NL));

// int32 bounds: a sub-block's sum of x_q * L, then times its scale.
inline constexpr int32_t kQ4NLMaxSubBlockAcc = kQ4NLSubBlockSize * kActMaxAbs * kQ4NLMaxAbsLevel;
inline constexpr int32_t kQ4NLMaxSubBlockSum = kQ4NLMaxSubBlockAcc * -kQ4NLScaleMin;
static_assert(kQ4NLMaxSubBlockAcc == 516128 && kQ4NLMaxSubBlockSum == 4129024);
static_assert(kQ4NLMaxSubBlockSum < (1 << 24), "isum_s converts to float exactly");
// An int16 pair sum of two products x_q * L (vpmaddubsw on |L| with the sign on x)
// cannot saturate: 2 * 127 * 127 = 32258 <= 32767.
static_assert(2 * kActMaxAbs * kQ4NLMaxAbsLevel <= 32767);

constexpr size_t Q4NLShortBlockBytes(int64_t r) {
  const int64_t ns = CeilDiv(r, kQ4NLSubBlockSize);
  return static_cast<size_t>(16 * ns + 2 + CeilDiv(ns, 2));
}
static_assert(Q4NLShortBlockBytes(128) == sizeof(BlockQ4NL));
constexpr size_t Q4NLRowBytes(int64_t n) {
  const int64_t r = n % kQ4NLBlockSize;
  return static_cast<size_t>(n / kQ4NLBlockSize) * sizeof(BlockQ4NL) + (r > 0 ? Q4NLShortBlockBytes(r) : 0);
}
static_assert(Q4NLRowBytes(64) == 35 && Q4NLRowBytes(576) == 307 && Q4NLRowBytes(4096) == 2176);

// The fields of one block, decoded.
struct Q4NLParams {
  float d = 0;  // d_eff = float(D) * 2^-10
  int8_t sc[kQ4NLSubBlocks] = {};
};
// Reads the block of r weights starting at p (short block when r < 128).
Q4NLParams Q4NLReadParams(const uint8_t* p, int r);
// Codes u in [0, 15] of the block's first 32 * ceil(r / 32) weights.
void Q4NLReadCodes(const uint8_t* p, int r, uint8_t* codes);
// Writes a block of r weights (Q4NLShortBlockBytes(r) bytes, or 68); codes of
// the padding weights (k >= r) are written as kQ4NLPadCode.
void Q4NLWriteBlock(uint16_t d16, const int8_t* sc, const uint8_t* codes, int r, uint8_t* dst);

// The code u minimising |w - d * float(s * L[u])| (the decoder's value; ties:
// the lower u). s == 0 or d == 0: every value is 0, code kQ4NLPadCode.
int Q4NLNearestCode(float w, float d, int s);
// The format's codebook (its levels and midpoints) for the NL searches (quant/nl_codebook.h).
const NlCodebook& Q4NLCodebook();
inline float Q4NLValue(float d, int s, int u) { return d * static_cast<float>(s * kQ4NLLevels[u]); }

// Quantizer (deterministic), per block:
//   1. per sub-block, the signed float scale t minimising the importance-weighted
//      squared error: candidates +-(max |w| / 127) f on a grid of f, each refit by
//      weighted least squares with its codes fixed;
//   2. D = the nearest fp16 to 1024 max(max t / 7, max -t / 8) (so every
//      t / d_eff rounds into [-8, 7]);
//   3. per sub-block, sc = round(t / d_eff) and its two neighbours, codes
//      recomputed with the stored values (Q4NLNearestCode); the lowest weighted
//      error wins.
void Q4NLQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
// The same with the searches evaluated by `fns` (quant/nl_codebook.h; the
// same bytes whichever implementation): the quantizer passes the SIMD ones.
void Q4NLQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const NlSearchFns& fns);
void Q4NLDequantizeRow(const void* src, float* dst, int64_t n);
float Q4NLVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

// The container's reference decode and vec_dot with Q8_A for a format that reads
// its codes as int8 levels its own way: level_of(u) gives the level of the next
// weight of the row from its code u, called once per weight in row order
// (Q4_NL: L[u]; Q4_T, quant/q4_t.h: through its trellis). Q4_NL's integer and
// float steps (see the header comment).
template <class LevelOf>
void Q4NLContainerDequantize(const void* src, float* dst, int64_t n, LevelOf level_of) {
  CheckRowArgs(src, dst, n);
  const uint8_t* w = static_cast<const uint8_t*>(src);
  for (int64_t i0 = 0; i0 < n; i0 += kQ4NLBlockSize) {
    const int r = static_cast<int>(n - i0 < kQ4NLBlockSize ? n - i0 : kQ4NLBlockSize);
    uint8_t u[kQ4NLBlockSize];
    Q4NLReadCodes(w, r, u);
    const Q4NLParams p = Q4NLReadParams(w, r);
    for (int k = 0; k < r; ++k) dst[i0 + k] = p.d * static_cast<float>(p.sc[k / kQ4NLSubBlockSize] * level_of(u[k]));
    w += Q4NLShortBlockBytes(r);
  }
}
template <class LevelOf>
float Q4NLContainerVecDot(int64_t n, const void* w_row, const void* act_row, LevelOf level_of) {
  CheckRowArgs(w_row, act_row, n);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t i0 = 0; i0 < n; i0 += kQ4NLBlockSize) {
    const int r = static_cast<int>(n - i0 < kQ4NLBlockSize ? n - i0 : kQ4NLBlockSize);
    uint8_t u[kQ4NLBlockSize];
    Q4NLReadCodes(w, r, u);
    const Q4NLParams p = Q4NLReadParams(w, r);
    for (int s = 0; s * kQ4NLSubBlockSize < r; ++s) {  // one Q8_A block per sub-block
      const auto xb = LoadBlock<BlockQ8A>(x + (i0 / kQ8ABlockSize + s) * sizeof(BlockQ8A));
      const int k_end = r - s * kQ4NLSubBlockSize < kQ4NLSubBlockSize ? r - s * kQ4NLSubBlockSize : kQ4NLSubBlockSize;
      int32_t acc = 0;
      for (int k = 0; k < k_end; ++k) acc += int32_t{xb.qs[k]} * level_of(u[s * kQ4NLSubBlockSize + k]);
      const int32_t isum = p.sc[s] * acc;
      sum += (p.d * xb.d) * static_cast<float>(isum);
    }
    w += Q4NLShortBlockBytes(r);
  }
  return sum;
}
size_t Q4NLRowBytesFn(int64_t n);

}  // namespace septet::quant
