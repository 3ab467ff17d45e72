// Q3P5_NL (DType 206): 3.5 bits per weight all-in for full blocks, like Q3P5, but
// spent on finer scales and non-uniform levels (docs/formats.md explains why).
//
// Block of 128 weights = 4 sub-blocks of 32 (code planes exactly as Q3P5's) and
// 8 groups of 16 (one signed scale each); 56 bytes = 448 bits, little-endian:
//   offset     size  field
//   12 s       8     sub[s].lo   low 2 bits of the 3-bit code u in [0, 7]:
//                                weight k of sub-block s -> byte k / 4, bits 2 (k % 4)
//   12 s + 8   4     sub[s].hi   bit 2 of u: weight k -> byte k / 8, bit k % 8
//   48         2     d           fp16 block scale D (any finite value; D = max |w| or so)
//   50         6     sc          8 six-bit two's-complement group scales in [-32, 31]:
//                                scale of group g (weights 16 g .. 16 g + 15) at bits
//                                [6 g, 6 g + 6) of the 48-bit little-endian field
//   bits: 128 * 3 codes + 16 + 8 * 6 = 448 = 3.5 * 128.
//
// Value of weight k with code u in group g:
//   w = d_eff * float(sc_g * L[u]),   d_eff = float(D) * 2^-12 (exact),
//   L = {-127, -82, -49, -21, 4, 29, 57, 97}  (kQ3P5NLLevels)
// sc_g * L[u] is an exact integer with |.| <= 32 * 127 = 4064, so D ~ max |w| of
// the block. The levels are a Lloyd-Max codebook for 8 levels, fitted to
// unit-variance Gaussian groups of 16 under a free signed scale per group
// (scripts/q3p5nl_codebook.py): asymmetric, and the scale's sign picks which
// side gets the longer tail.
//
// Tail: a final partial block of r < 128 weights is a *short block* of
// ns = ceil(r / 32) sub-blocks: 12 ns code bytes, then d, then the 2 ns scales
// of its groups in ceil(12 ns / 8) bytes (the full layout with the missing
// sub-blocks and scale bits cut out): 16, 29, 43 or 56 bytes for ns = 1..4.
// Padding weights have code 4 (level 4, the one nearest 0) and scales of groups
// with no weight are 0; neither is ever read by the dot products.
//   K = 64: 29 bytes = 3.625 bpw.  K = 576: 4 * 56 + 29 = 253 bytes = 3.514 bpw.
//
// vec_dot_type Q8_A (one activation block per sub-block s, groups 2s and 2s+1):
//   acc_g = sum_{k in g} x_q[k] * L[u_k]      (|acc_g| <= 16 * 127 * 127 = 258064)
//   isum_s = sc_{2s} acc_{2s} + sc_{2s+1} acc_{2s+1}   (|isum_s| <= 16516096, int32)
//   result += (d_eff * x_d) * float(isum_s), in block then sub-block order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/nl_codebook.h"
#include "quant/q3p5.h"
#include "quant/quant_util.h"

namespace septet::quant {

inline constexpr int kQ3P5NLBlockSize = 128;
inline constexpr int kQ3P5NLSubBlockSize = 32;  // = kQ8ABlockSize, one code sub-block
inline constexpr int kQ3P5NLSubBlocks = 4;
inline constexpr int kQ3P5NLGroupSize = 16;     // one scale
inline constexpr int kQ3P5NLGroups = kQ3P5NLBlockSize / kQ3P5NLGroupSize;
inline constexpr int kQ3P5NLScaleMin = -32, kQ3P5NLScaleMax = 31;
inline constexpr int kQ3P5NLPadCode = 4;
inline constexpr float kQ3P5NLDUnit = 1.0f / 4096.0f;  // d_eff = float(D) * kQ3P5NLDUnit
inline constexpr int8_t kQ3P5NLLevels[8] = {-127, -82, -49, -21, 4, 29, 57, 97};
inline constexpr int kQ3P5NLMaxAbsLevel = 127;

struct BlockQ3P5NL {
  Q3P5SubBlock sub[kQ3P5NLSubBlocks];
  uint16_t d;     // fp16 D
  uint8_t sc[6];  // 8 x 6-bit signed group scales
};
static_assert(sizeof(BlockQ3P5NL) == 56, "Q3P5_NL block: 448 bits for 128 weights");

inline constexpr double kQ3P5NLBitsPerWeight = 8.0 * sizeof(BlockQ3P5NL) / kQ3P5NLBlockSize;
static_assert(kQ3P5NLBitsPerWeight == 3.5);
static_assert(3 * kQ3P5NLBlockSize + 16 + 6 * kQ3P5NLGroups == 8 * sizeof(BlockQ3P5NL));

// int32 bounds: a group's sum of x_q * L, then two groups times their scales.
inline constexpr int32_t kQ3P5NLMaxGroupAcc = kQ3P5NLGroupSize * kActMaxAbs * kQ3P5NLMaxAbsLevel;
inline constexpr int32_t kQ3P5NLMaxSubBlockSum = 2 * kQ3P5NLMaxGroupAcc * 32;
static_assert(kQ3P5NLMaxGroupAcc == 258064 && kQ3P5NLMaxSubBlockSum == 16516096);
// An int16 pair sum of two products x_q * L (vpmaddubsw on |L| with the sign on x)
// cannot saturate: 2 * 127 * 127 = 32258 <= 32767.
static_assert(2 * kActMaxAbs * kQ3P5NLMaxAbsLevel <= 32767);

constexpr size_t Q3P5NLShortBlockBytes(int64_t r) {
  const int64_t ns = CeilDiv(r, kQ3P5NLSubBlockSize);
  return static_cast<size_t>(12 * ns + 2 + CeilDiv(12 * ns, 8));
}
static_assert(Q3P5NLShortBlockBytes(128) == sizeof(BlockQ3P5NL));
constexpr size_t Q3P5NLRowBytes(int64_t n) {
  const int64_t r = n % kQ3P5NLBlockSize;
  return static_cast<size_t>(n / kQ3P5NLBlockSize) * sizeof(BlockQ3P5NL) +
         (r > 0 ? Q3P5NLShortBlockBytes(r) : 0);
}
static_assert(Q3P5NLRowBytes(64) == 29 && Q3P5NLRowBytes(576) == 253 && Q3P5NLRowBytes(4096) == 1792);

// The fields of one block, decoded.
struct Q3P5NLParams {
  float d = 0;  // d_eff = float(D) * 2^-12
  int8_t sc[kQ3P5NLGroups] = {};
};
// Reads the block of r weights starting at p (short block when r < 128).
Q3P5NLParams Q3P5NLReadParams(const uint8_t* p, int r);
// Codes u in [0, 7] of the block's first 32 * ceil(r / 32) weights.
void Q3P5NLReadCodes(const uint8_t* p, int r, uint8_t* codes);
// Writes a block of r weights (Q3P5NLShortBlockBytes(r) bytes, or 56).
void Q3P5NLWriteBlock(uint16_t d16, const int8_t* sc, const uint8_t* codes, int r, uint8_t* dst);

// The code u minimising |w - d * float(s * L[u])| (the decoder's value; ties:
// the lower u). s == 0 or d == 0: every value is 0, code kQ3P5NLPadCode.
int Q3P5NLNearestCode(float w, float d, int s);
// The format's codebook (its levels and midpoints) for the NL searches (quant/nl_codebook.h).
const NlCodebook& Q3P5NLCodebook();
inline float Q3P5NLValue(float d, int s, int u) { return d * static_cast<float>(s * kQ3P5NLLevels[u]); }

// Quantizer (deterministic), per block:
//   1. per group, the signed float scale t minimising the importance-weighted
//      squared error: candidates +-(max |w| / 127) f on a grid of f, each refit by
//      weighted least squares with its codes fixed;
//   2. D = the nearest fp16 to 4096 max(max t / 31, max -t / 32) (so every
//      t / d_eff rounds into [-32, 31]);
//   3. per group, sc = round(t / d_eff) and its two neighbours, codes recomputed
//      with the stored values (Q3P5NLNearestCode); the lowest weighted error wins.
void Q3P5NLQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
// The same with the searches evaluated by `fns` (quant/nl_codebook.h; the
// same bytes whichever implementation): the quantizer passes the SIMD ones.
void Q3P5NLQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const NlSearchFns& fns);
void Q3P5NLDequantizeRow(const void* src, float* dst, int64_t n);
float Q3P5NLVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A
size_t Q3P5NLRowBytesFn(int64_t n);

}  // namespace septet::quant
