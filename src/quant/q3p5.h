// Q3P5 (DType 200): septet's main weight format, exactly 3.5 bits per weight
// all-in for full blocks (docs/formats.md explains the design).
//
// Block of 128 weights = 4 sub-blocks of 32; 56 bytes = 448 bits, little-endian:
//   offset     size  field
//   0          4     uint32_t hdr   bits  0-14  d   : step, an fp16 without its sign bit (d >= 0)
//                                   bits 15-16  sel : the sub-block stored at 4 bits
//                                   bits 17-31  m   : value of code 0, the top 15 bits of an
//                                                     fp16 (sign, 5 exponent, 9 mantissa bits;
//                                                     the dropped mantissa LSB reads as 0)
//   4 + 12 s   8     sub[s].lo      low 2 bits of the 3-bit code u in [0, 7]:
//                                   weight k of sub-block s -> byte k / 4, bits 2 (k % 4)
//   12 + 12 s  4     sub[s].hi      bit 2 of u: weight k -> byte k / 8, bit k % 8
//   52         4     ext            extra LSB e of the 32 weights of sub-block sel:
//                                   weight k -> byte k / 8, bit k % 8
//   bits: 32 header + 128 * 3 codes + 32 ext = 448 = 3.5 * 128.
//
// Values, with h = d / 2 and the "half-step code" v:
//   sub-blocks s != sel: v = 2u      (3 bits, step d),   w = m + d * u  = m + h * v
//   sub-block  sel:      v = 2u + e  (4 bits, step d/2), w = m + (d/2) * v
// Signed view: q3 = u - 4 in [-4, 3], q4 = v - 8 in [-8, 7] (one 4+3-bit pair per
// 7 bits in the upgraded sub-block, 3+3 elsewhere).
//
// Tail: a final partial block of r < 128 weights is a *short block* of
// ns = ceil(r / 32) sub-blocks: hdr + 12 * ns bytes (the full layout truncated
// after sub[ns - 1]), NO ext plane, sel bits 0; padding weights are code 0.
//   K = 64:  28 bytes = 3.5 bpw.  K = 172: 56 + 28 = 84 bytes = 3.907 bpw.
//
// vec_dot_type Q8_A (one activation block per sub-block): per sub-block s,
//   acc_s = sum_k x_q[k] * v[k] in int32 (|acc_s| <= 32 * 127 * 15 = 60960),
//   result += x_d * (h * acc_s + m * x_sum).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/affine_fit.h"
#include "quant/quant_util.h"

namespace septet::quant {

inline constexpr int kQ3P5BlockSize = 128;
inline constexpr int kQ3P5SubBlockSize = 32;  // = kQ8ABlockSize
inline constexpr int kQ3P5SubBlocks = kQ3P5BlockSize / kQ3P5SubBlockSize;
inline constexpr int kQ3P5MaxCode3 = 7;   // u
inline constexpr int kQ3P5MaxCode4 = 15;  // v = 2u + e in sub-block sel
inline constexpr int kQ3P5HeaderBytes = 4;

struct Q3P5SubBlock {
  uint8_t lo[8];  // 2 low bits of u, 4 weights per byte
  uint8_t hi[4];  // bit 2 of u, 8 weights per byte
};
static_assert(sizeof(Q3P5SubBlock) == 12);

struct BlockQ3P5 {
  uint32_t hdr;
  Q3P5SubBlock sub[kQ3P5SubBlocks];
  uint8_t ext[4];
};
static_assert(sizeof(BlockQ3P5) == 56, "Q3P5 block: 448 bits for 128 weights");

inline constexpr double kQ3P5BitsPerWeight = 8.0 * sizeof(BlockQ3P5) / kQ3P5BlockSize;
static_assert(kQ3P5BitsPerWeight == 3.5);
static_assert(32 + 3 * kQ3P5BlockSize + kQ3P5SubBlockSize == 8 * sizeof(BlockQ3P5));

// int32 accumulation per sub-block: |x_q * v| <= 127 * 15.
inline constexpr int64_t kQ3P5MaxAccLength = MaxInt32DotLength(kActMaxAbs, kQ3P5MaxCode4);
static_assert(kQ3P5MaxAccLength == 1127288 && kQ3P5SubBlockSize <= kQ3P5MaxAccLength);

constexpr size_t Q3P5ShortBlockBytes(int64_t r) {
  return kQ3P5HeaderBytes + sizeof(Q3P5SubBlock) * static_cast<size_t>(CeilDiv(r, kQ3P5SubBlockSize));
}
constexpr size_t Q3P5RowBytes(int64_t n) {
  const int64_t r = n % kQ3P5BlockSize;
  return static_cast<size_t>(n / kQ3P5BlockSize) * sizeof(BlockQ3P5) +
         (r > 0 ? Q3P5ShortBlockBytes(r) : 0);
}
constexpr double Q3P5RowBitsPerWeight(int64_t n) {
  return n <= 0 ? 0.0 : 8.0 * static_cast<double>(Q3P5RowBytes(n)) / static_cast<double>(n);
}
static_assert(Q3P5RowBytes(64) == 28 && Q3P5RowBitsPerWeight(64) == 3.5);
static_assert(Q3P5RowBytes(172) == 84);  // stories260K ffn: 3.907 bpw

// ---- header fields ----
struct Q3P5Params {
  float d = 0;  // stored step
  float m = 0;  // stored offset
  int sel = 0;
};
uint16_t Q3P5EncodeD(float d);  // 15-bit field: nearest fp16 of d >= 0, sign dropped
uint16_t Q3P5EncodeM(float m);  // 15-bit field: nearest fp16 with 9 mantissa bits, >> 1
float Q3P5DecodeD(uint16_t d15);
float Q3P5DecodeM(uint16_t m15);
uint32_t Q3P5PackHeader(uint16_t d15, int sel, uint16_t m15);
Q3P5Params Q3P5UnpackHeader(uint32_t hdr);
// Stored value of d / m (encode then decode).
inline float Q3P5RoundD(float d) { return Q3P5DecodeD(Q3P5EncodeD(d)); }
inline float Q3P5RoundM(float m) { return Q3P5DecodeM(Q3P5EncodeM(m)); }

// ---- code planes ----
// codes[k], k < 32 * ns: the sub-block's own code, u in [0, 7], or v in [0, 15]
// in sub-block sel (only when ns == 4; a short block has no ext plane).
void Q3P5PackCodes(const uint8_t* codes, int ns, int sel, BlockQ3P5* blk);
void Q3P5UnpackCodes(const BlockQ3P5& blk, int ns, uint8_t* codes);

// Nearest code of w for stored (d, m): u = clamp(round((w - m) / d), 0, 7), or in
// the upgraded sub-block v = clamp(round((w - m) / (d / 2)), 0, 15).
int Q3P5NearestCode(float w, float d, float m, bool upgraded);

// Encode r (<= 128) weights with the given stored fields and sel (sel must be 0
// for a short block, r <= 96): header + nearest codes. Bytes past the block's
// length (ext of a short block) are 0.
BlockQ3P5 Q3P5EncodeBlock(const float* w, int r, uint16_t d15, uint16_t m15, int sel);

// ---- rows ----
// Quantizer (deterministic), per block:
//   1. SearchAffine (affine_fit.h) over 3-bit codes 0..7;
//   2. full blocks: sel = the sub-block whose upgrade to step d/2 cuts the
//      weighted squared error most (ties: lowest s);
//   3. weighted least-squares refit of (d, m) with the mixed codes fixed;
//   4. round d and m to their stored 15-bit fields, recompute nearest codes with
//      the stored values; keep this or the un-refit (step 1) params re-coded the
//      same way, whichever has the lower weighted error.
void Q3P5QuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
// The same with SearchAffine's passes through `fns` (simd's twins give the same bytes).
void Q3P5QuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const AffineSearchFns& fns);
void Q3P5DequantizeRow(const void* src, float* dst, int64_t n);
float Q3P5VecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A
// The same dot against Q8_B activations (blocks of 128, quant/q8_act.h): the
// reference of the CPU kernels on the repacked layout. Per Q3P5 block, one int32
// sum acc = sum_k x_q,k c_k (c = v in sub-block sel, 2 u elsewhere; |acc| <=
// kQ3P5MaxBlockAcc) and one term x_d (h acc + m x_sum), summed in block order.
float Q3P5VecDotQ8B(int64_t n, const void* w_row, const void* act_row);
inline constexpr int32_t kQ3P5MaxBlockAcc = kQ3P5BlockSize * kActMaxAbs * kQ3P5MaxCode4;
static_assert(kQ3P5MaxBlockAcc == 243840 && kQ3P5BlockSize <= kQ3P5MaxAccLength);
size_t Q3P5RowBytesFn(int64_t n);

}  // namespace septet::quant
