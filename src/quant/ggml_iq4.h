// ggml's non-linear 4-bit formats IQ4_NL (DType 20) and IQ4_XS (23): each
// 4-bit code indexes a fixed table of 16 int8 levels (kIq4Levels, denser near
// zero, the shape of a bell-curved weight distribution), times a block scale.
// Input-only: read from GGUF, never written (ggml_util.h: rows are whole
// blocks); vec_dot_type is F32.
//
// IQ4_NL  18 B per 32 weights = 4.5 bpw: d (fp16), qs[16].
//   Code j < 16 is the low nibble of qs[j], code j + 16 its high nibble.
//   w = d * kIq4Levels[code].
// IQ4_XS  136 B per 256 weights = 4.25 bpw: d (fp16), scales_h (uint16),
//   scales_l[4], qs[128]. Sub-block ib (0..7) of 32 weights has the 6-bit scale
//   ls = ((scales_l[ib / 2] >> 4 * (ib % 2)) & 15) | ((scales_h >> 2 * ib) & 3) << 4
//   and its codes in qs[16 ib .. 16 ib + 15] in the IQ4_NL nibble order.
//   w = (d * (ls - 32)) * kIq4Levels[code]   (the product in parentheses rounded first).
#pragma once

#include <cstddef>
#include <cstdint>

namespace septet::quant {

inline constexpr int kIq4NlBlockSize = 32;
inline constexpr int kIq4XsBlockSize = 256;
inline constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

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

// Row bytes, dequantization and the dot with n float activations; n must be a
// multiple of the block size (32 / 256; CHECKed).
size_t IQ4_NLRowBytesFn(int64_t n);
void IQ4_NLDequantizeRow(const void* src, float* dst, int64_t n);
float IQ4_NLVecDot(int64_t n, const void* w_row, const void* act_row);

size_t IQ4_XSRowBytesFn(int64_t n);
void IQ4_XSDequantizeRow(const void* src, float* dst, int64_t n);
float IQ4_XSVecDot(int64_t n, const void* w_row, const void* act_row);

}  // namespace septet::quant
