// ggml's legacy 32-weight block formats Q4_0 (DType 2), Q4_1 (3), Q5_0 (6) and
// Q5_1 (7). Input-only: septet reads them from GGUF files (ggml_util.h: rows
// are whole blocks) and never writes them. vec_dot_type Q8_A: one activation
// block per weight block (below).
//
// Every block covers 32 weights. Code j of a block (0 <= j < 16) sits in the
// low nibble of qs[j], code j + 16 in its high nibble. The 5-bit formats add a
// fifth bit: bit j of the little-endian uint32 in qh[4] belongs to code j.
// d and m are fp16; q is the unsigned code.
//
//   type  bytes  layout                        value                 bpw
//   Q4_0  18     d, qs[16]                     d * (q - 8)           4.5
//   Q4_1  20     d, m, qs[16]                  d * q + m             5.0
//   Q5_0  22     d, qh[4], qs[16]              d * (q - 16)          5.5
//   Q5_1  24     d, m, qh[4], qs[16]           d * q + m             6.0
//
// The float operations are exactly those above, in that order (one product,
// then one sum for Q4_1/Q5_1), which is what ggml's and gguf-py's dequantizers
// compute: the fixture test (ggml_types_test.cc) compares bit for bit.
//
// vec_dot with Q8_A (q8_act.h; block b of the weights meets activation block
// b, fields x_d, x_sum, x_q): per block, the exact int32 of the unsigned codes
//   acc = sum_k q[k] * x_q[k]     (|acc| <= 32 * 127 * 31 = 125984),
// then, in float, each operation rounded once, in this order:
//   Q4_0, Q5_0: term = (d * x_d) * float(acc - c * x_sum), c = 8 or 16
//               (|acc - c x_sum| <= 32 * 127 * 16 = 65024: the int and float are exact)
//   Q4_1, Q5_1: term = x_d * (d * float(acc) + m * float(x_sum))
// and result = the float sum of the terms in block order. Each term equals
// sum_k w[k] * x_d * x_q[k] in exact arithmetic (w[k] the exact d * (q - c) or
// d * q + m).
#pragma once

#include <cstddef>
#include <cstdint>

namespace septet::quant {

inline constexpr int kGgmlLegacyBlockSize = 32;

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18, "ggml block_q4_0");

struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20, "ggml block_q4_1");

struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22, "ggml block_q5_0");

struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24, "ggml block_q5_1");

inline constexpr double kQ4_0BitsPerWeight = 8.0 * sizeof(BlockQ4_0) / kGgmlLegacyBlockSize;
inline constexpr double kQ4_1BitsPerWeight = 8.0 * sizeof(BlockQ4_1) / kGgmlLegacyBlockSize;
inline constexpr double kQ5_0BitsPerWeight = 8.0 * sizeof(BlockQ5_0) / kGgmlLegacyBlockSize;
inline constexpr double kQ5_1BitsPerWeight = 8.0 * sizeof(BlockQ5_1) / kGgmlLegacyBlockSize;
static_assert(kQ4_0BitsPerWeight == 4.5 && kQ4_1BitsPerWeight == 5.0);
static_assert(kQ5_0BitsPerWeight == 5.5 && kQ5_1BitsPerWeight == 6.0);

// Per type: row bytes (ceil(n / 32) blocks), dequantization, and the dot with
// the Q8_A activation row of the same n. n must be a multiple of 32 (CHECKed).
size_t Q4_0RowBytesFn(int64_t n);
void Q4_0DequantizeRow(const void* src, float* dst, int64_t n);
float Q4_0VecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

size_t Q4_1RowBytesFn(int64_t n);
void Q4_1DequantizeRow(const void* src, float* dst, int64_t n);
float Q4_1VecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

size_t Q5_0RowBytesFn(int64_t n);
void Q5_0DequantizeRow(const void* src, float* dst, int64_t n);
float Q5_0VecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

size_t Q5_1RowBytesFn(int64_t n);
void Q5_1DequantizeRow(const void* src, float* dst, int64_t n);
float Q5_1VecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A

}  // namespace septet::quant
