// ggml's k-quants Q2_K (DType 10), Q3_K (11), Q4_K (12), Q5_K (13), Q6_K (14):
// super-blocks of 256 weights cut into sub-blocks of 16 or 32, each with a
// small integer scale (and min) multiplied by the fp16 super-block scale d (and
// dmin). Input-only: read from GGUF, never written, but for Q6_K (ggml_util.h:
// rows are whole super-blocks); vec_dot_type is Q8_A.
//
// Weight e (0 <= e < 256) of a super-block, with l = e % 32:
//
// Q2_K  84 B = 2.625 bpw: scales[16], qs[64], d, dmin.
//   q = (qs[32 * (e / 128) + l] >> 2 * (e / 32 % 4)) & 3;  sub-block s = e / 16,
//   sc = scales[s] & 15, mn = scales[s] >> 4.
//   w = (d * sc) * q - (dmin * mn).
// Q3_K  110 B = 3.4375 bpw: hmask[32], qs[64], scales[12], d.
//   low = (qs[32 * (e / 128) + l] >> 2 * (e / 32 % 4)) & 3, high = bit e / 32 of
//   hmask[l]; q = low - (high ? 0 : 4) in [-4, 3]. Sub-block s = e / 16 has a
//   6-bit scale: low nibble from scales[s] (s < 8) or scales[s - 8] >> 4, top two
//   bits = (scales[8 + s % 4] >> 2 * (s / 4)) & 3.
//   w = (d * (scale - 32)) * q.
// Q4_K  144 B = 4.5 bpw: d, dmin, scales[12], qs[128].
//   q = (qs[32 * (e / 64) + l] >> 4 * (e / 32 % 2)) & 15; sub-block j = e / 32
//   has a 6-bit scale sc and min mn packed in scales[12]:
//     j < 4: sc = scales[j] & 63,  mn = scales[j + 4] & 63;
//     j >= 4: sc = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4,
//             mn = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4.
//   w = (d * sc) * q - (dmin * mn).
// Q5_K  176 B = 5.5 bpw: d, dmin, scales[12], qh[32], qs[128].
//   As Q4_K, plus bit j = e / 32 of qh[l] as bit 4 of q (q in [0, 31]).
// Q6_K  210 B = 6.5625 bpw: ql[128], qh[64], scales[16] (int8), d.
//   With h = e / 128, r = e % 128: low four bits (ql[64 h + r % 64] >> 4 * (r / 64))
//   & 15, top two bits (qh[32 h + l] >> 2 * (r / 32)) & 3; q = that 6-bit value - 32.
//   w = (d * scales[e / 16]) * q.
//
// The parenthesised products are rounded to float first, exactly as ggml's and
// gguf-py's dequantizers do (bit-exact against gguf-py: ggml_types_test.cc).
//
// vec_dot with Q8_A (q8_act.h): activation block a = 8 * (super-block) + e / 32
// (fields x_d, x_sum, x_q) covers the 32 weights e of one 32-weight sub-block
// (Q4_K, Q5_K) or of two 16-weight sub-blocks (Q3_K, Q6_K). Per activation block, an
// exact int32, then float operations each rounded once, in this order:
//   Q4_K, Q5_K (sub-block j): acc = sum_l q * x_q (|acc| <= 32*127*31 = 125984),
//     dl = d * float(sc), ml = dmin * float(mn)   (the dequantizer's own values),
//     term = x_d * (dl * float(acc) - ml * float(x_sum)).
//   Q6_K (sub-blocks s = 2a', 2a' + 1 of the block, a' = a % 8):
//     acc = scales[s] * sum_{l<16} (q - 32) x_q + scales[s+1] * sum_{l>=16} (q - 32) x_q,
//     |acc| <= 2 * 16 * 127 * 32 * 128 = 16646144 < 2^24 (kQ6_KMaxBlockAcc), so
//     float(acc) is exact; term = (d * x_d) * float(acc).
//   Q3_K: as Q6_K with q in [-4, 3] and the scales scale - 32 in [-32, 31]:
//     |acc| <= 2 * 16 * 127 * 4 * 32 = 520192 (kQ3_KMaxBlockAcc).
//   Q2_K (sub-blocks s = 2a', 2a' + 1): acc = sum_s sc_s sum_{l in s} q x_q,
//     mins = sum_s mn_s sum_{l in s} x_q (|acc| <= 2 * 15 * 16 * 3 * 127, |mins| <=
//     2 * 15 * 16 * 127), term = x_d * (d * float(acc) - dmin * float(mins)).
// result = the float sum of the terms in activation-block order. In exact
// arithmetic each equals sum_e w_e * x_d * x_q with w_e the exact
// d*sc*q - dmin*mn (Q2_K; Q4_K/Q5_K with dl, ml as rounded above) or d*sc*q
// (Q3_K, Q6_K).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quant_util.h"

namespace septet::quant {

inline constexpr int kQK = 256;  // weights per k-quant super-block

// Q6_K's int32 per activation block: two 16-code sums of |q - 32| <= 32 times
// |x_q| <= 127, each times an int8 scale (|scale| <= 128). Below 2^24, so its
// float conversion is exact.
inline constexpr int64_t kQ6_KMaxBlockAcc = 2 * 16 * int64_t{kActMaxAbs} * 32 * 128;
static_assert(kQ6_KMaxBlockAcc == 16646144 && kQ6_KMaxBlockAcc < (int64_t{1} << 24));
// Q3_K's: codes |q| <= 4, scales |scale - 32| <= 32.
inline constexpr int64_t kQ3_KMaxBlockAcc = 2 * 16 * int64_t{kActMaxAbs} * 4 * 32;
static_assert(kQ3_KMaxBlockAcc == 520192);

struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84, "ggml block_q2_K");

struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110, "ggml block_q3_K");

struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144, "ggml block_q4_K");

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176, "ggml block_q5_K");

struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "ggml block_q6_K");

inline constexpr double kQ2_KBitsPerWeight = 8.0 * sizeof(BlockQ2_K) / kQK;
inline constexpr double kQ3_KBitsPerWeight = 8.0 * sizeof(BlockQ3_K) / kQK;
inline constexpr double kQ4_KBitsPerWeight = 8.0 * sizeof(BlockQ4_K) / kQK;
inline constexpr double kQ5_KBitsPerWeight = 8.0 * sizeof(BlockQ5_K) / kQK;
inline constexpr double kQ6_KBitsPerWeight = 8.0 * sizeof(BlockQ6_K) / kQK;
static_assert(kQ2_KBitsPerWeight == 2.625 && kQ3_KBitsPerWeight == 3.4375);
static_assert(kQ4_KBitsPerWeight == 4.5 && kQ5_KBitsPerWeight == 5.5 && kQ6_KBitsPerWeight == 6.5625);

// Q4_K / Q5_K: the 6-bit scale and min of sub-block j (0..7) from scales[12].
void KQuantScaleMin(const uint8_t* scales, int j, int* sc, int* mn);
// Q3_K: the 6-bit scale of 16-weight group s (0..15) from scales[12], less 32.
int Q3_KScale(const uint8_t* scales, int s);

// Q6_K: the 6-bit code (0..63, the stored value before - 32) of weight e.
int Q6_KCode(const BlockQ6_K& b, int e);

// Per type: row bytes (ceil(n / 256) super-blocks), dequantization, and the
// dot with the activation row (Q8_A of n values). n must be a multiple of 256 (CHECKed).
size_t Q2_KRowBytesFn(int64_t n);
void Q2_KDequantizeRow(const void* src, float* dst, int64_t n);
float Q2_KVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

size_t Q3_KRowBytesFn(int64_t n);
void Q3_KDequantizeRow(const void* src, float* dst, int64_t n);
float Q3_KVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

size_t Q4_KRowBytesFn(int64_t n);
void Q4_KDequantizeRow(const void* src, float* dst, int64_t n);
float Q4_KVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

size_t Q5_KRowBytesFn(int64_t n);
void Q5_KDequantizeRow(const void* src, float* dst, int64_t n);
float Q5_KVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

size_t Q6_KRowBytesFn(int64_t n);
void Q6_KDequantizeRow(const void* src, float* dst, int64_t n);
// Q6_K is also written (output heads, `septet quantize --type Q6_K`): each 16-weight
// sub-block's signed scale searched and refitted by least squares under `importance`
// (null: uniform), the 16 scales in int8 under one fp16 d (formats.md).
void Q6_KQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
float Q6_KVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

}  // namespace septet::quant
