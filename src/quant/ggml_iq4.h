// ggml's non-linear 4-bit formats IQ4_NL (DType 20) and IQ4_XS (23): each
// 4-bit code indexes a fixed table of 16 int8 levels (kIq4Levels, denser near
// zero, the shape of a bell-curved weight distribution), times a block scale.
// Input-only: read from GGUF, never written (ggml_util.h: rows are whole
// blocks); vec_dot_type is Q8_A.
//
// IQ4_NL  18 B per 32 weights = 4.5 bpw: d (fp16), qs[16].
//   Code j < 16 is the low nibble of qs[j], code j + 16 its high nibble.
//   w = d * kIq4Levels[code].
// IQ4_XS  136 B per 256 weights = 4.25 bpw: d (fp16), scales_h (uint16),
//   scales_l[4], qs[128]. Sub-block ib (0..7) of 32 weights has the 6-bit scale
//   ls = ((scales_l[ib / 2] >> 4 * (ib % 2)) & 15) | ((scales_h >> 2 * ib) & 3) << 4
//   and its codes in qs[16 ib .. 16 ib + 15] in the IQ4_NL nibble order.
//   w = (d * (ls - 32)) * kIq4Levels[code]   (the product in parentheses rounded first).
//
// vec_dot with Q8_A (q8_act.h): activation block a covers the 32 weights of one
// IQ4_NL block or IQ4_XS sub-block. Per activation block an exact int32, then
// float operations each rounded once, added in activation-block order:
//   IQ4_NL: acc = sum_l L[code_l] x_q[l], term = (d * x_d) * float(acc);
//   IQ4_XS: acc = (ls - 32) * sum_l L[code_l] x_q[l], term = (d * x_d) * float(acc),
//   |acc| <= 32 * 32 * 127 * 127 = kIq4MaxBlockAcc < 2^24: float(acc) is exact.
// In exact arithmetic each term is sum_l w_l x_d x_q[l] with w the exact d * L
// (IQ4_NL) or d * (ls - 32) * L (IQ4_XS: fp16 d times 6 and 7 bits, exact in
// float too, so it is the dequantizer's value).
#pragma once

#include <cstddef>
#include <cstdint>

namespace septet::quant {

inline constexpr int kIq4NlBlockSize = 32;
inline constexpr int kIq4XsBlockSize = 256;
inline constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

inline constexpr int64_t kIq4MaxBlockAcc = 32 * 32 * 127 * 127;
static_assert(kIq4MaxBlockAcc < (int64_t{1} << 24));

struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18, "ggml block_iq4_nl");

struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136, "ggml block_iq4_xs");

inline constexpr double kIQ4_NLBitsPerWeight = 8.0 * sizeof(BlockIQ4_NL) / kIq4NlBlockSize;
inline constexpr double kIQ4_XSBitsPerWeight = 8.0 * sizeof(BlockIQ4_XS) / kIq4XsBlockSize;
static_assert(kIQ4_NLBitsPerWeight == 4.5 && kIQ4_XSBitsPerWeight == 4.25);

// Row bytes, dequantization and the dot with the Q8_A activation row of n
// values; n must be a multiple of the block size (32 / 256; CHECKed).
size_t IQ4_NLRowBytesFn(int64_t n);
void IQ4_NLDequantizeRow(const void* src, float* dst, int64_t n);
float IQ4_NLVecDot(int64_t n, const void* w_row, const void* act_row);

size_t IQ4_XSRowBytesFn(int64_t n);
void IQ4_XSDequantizeRow(const void* src, float* dst, int64_t n);
float IQ4_XSVecDot(int64_t n, const void* w_row, const void* act_row);
// The 6-bit scale (0..63, before - 32) of sub-block ib (0..7) of the IQ4_XS block at `block` (any alignment).
int IQ4_XSScale(const uint8_t* block, int ib);

}  // namespace septet::quant
