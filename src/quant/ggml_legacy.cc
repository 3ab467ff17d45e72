#include "quant/ggml_legacy.h"

#include "core/half.h"
#include "quant/ggml_util.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

constexpr int kBlock = kGgmlLegacyBlockSize;

// The 32 four-bit codes of qs[16]: low nibbles first, then high nibbles.
void Nibbles(const uint8_t* qs, int* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0x0F;
    q[j + 16] = qs[j] >> 4;
  }
}

// Adds bit j of the little-endian qh[4] as bit 4 of code j.
void AddHighBits(const uint8_t* qh, int* q) {
  const uint32_t bits = uint32_t{qh[0]} | uint32_t{qh[1]} << 8 | uint32_t{qh[2]} << 16 | uint32_t{qh[3]} << 24;
  for (int j = 0; j < 32; ++j) q[j] |= static_cast<int>((bits >> j) & 1u) << 4;
}

void DecodeQ4_0(const BlockQ4_0& b, float* out) {
  int q[kBlock];
  Nibbles(b.qs, q);
  const float d = Fp16ToFloat(b.d);
  for (int j = 0; j < kBlock; ++j) out[j] = d * static_cast<float>(q[j] - 8);
}

void DecodeQ4_1(const BlockQ4_1& b, float* out) {
  int q[kBlock];
  Nibbles(b.qs, q);
  const float d = Fp16ToFloat(b.d), m = Fp16ToFloat(b.m);
  for (int j = 0; j < kBlock; ++j) out[j] = d * static_cast<float>(q[j]) + m;
}

void DecodeQ5_0(const BlockQ5_0& b, float* out) {
  int q[kBlock];
  Nibbles(b.qs, q);
  AddHighBits(b.qh, q);
  const float d = Fp16ToFloat(b.d);
  for (int j = 0; j < kBlock; ++j) out[j] = d * static_cast<float>(q[j] - 16);
}

void DecodeQ5_1(const BlockQ5_1& b, float* out) {
  int q[kBlock];
  Nibbles(b.qs, q);
  AddHighBits(b.qh, q);
  const float d = Fp16ToFloat(b.d), m = Fp16ToFloat(b.m);
  for (int j = 0; j < kBlock; ++j) out[j] = d * static_cast<float>(q[j]) + m;
}

// The 32 unsigned codes of a block (low nibbles, then high, plus the fifth bit).
void CodesOf(const BlockQ4_0& b, int* q) { Nibbles(b.qs, q); }
void CodesOf(const BlockQ4_1& b, int* q) { Nibbles(b.qs, q); }
void CodesOf(const BlockQ5_0& b, int* q) {
  Nibbles(b.qs, q);
  AddHighBits(b.qh, q);
}
void CodesOf(const BlockQ5_1& b, int* q) {
  Nibbles(b.qs, q);
  AddHighBits(b.qh, q);
}

// Symmetric blocks (Q4_0, Q5_0: value d * (q - c)) and affine ones (Q4_1,
// Q5_1: d * q + m); the term formulas of ggml_legacy.h.
template <int c, class Block>
float SymmetricTerm(const Block& b, const BlockQ8A& x, int32_t acc) {
  return (Fp16ToFloat(b.d) * x.d) * static_cast<float>(acc - c * int32_t{x.sum});
}
template <class Block>
float AffineTerm(const Block& b, const BlockQ8A& x, int32_t acc) {
  return x.d * (Fp16ToFloat(b.d) * static_cast<float>(acc) + Fp16ToFloat(b.m) * static_cast<float>(x.sum));
}

// The Q8_A dot: Term(block, activation block, exact acc) per block, summed in
// float in block order.
template <class Block, float (*Term)(const Block&, const BlockQ8A&, int32_t)>
float Q8ADot(int64_t n, const void* w_row, const void* act_row) {
  ggml::CheckWholeBlockRow(w_row, act_row, n, kBlock);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  int q[kBlock];
  for (int64_t b = 0; b < n / kBlock; ++b) {
    const auto blk = LoadBlock<Block>(w + b * sizeof(Block));
    const auto xb = LoadBlock<BlockQ8A>(x + b * sizeof(BlockQ8A));
    CodesOf(blk, q);
    int32_t acc = 0;
    for (int k = 0; k < kBlock; ++k) acc += q[k] * int32_t{xb.qs[k]};
    sum += Term(blk, xb, acc);
  }
  return sum;
}

}  // namespace

size_t Q4_0RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ4_0>(n, kBlock); }
void Q4_0DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ4_0, kBlock, DecodeQ4_0>(src, dst, n);
}
float Q4_0VecDot(int64_t n, const void* w, const void* x) {
  return Q8ADot<BlockQ4_0, SymmetricTerm<8, BlockQ4_0>>(n, w, x);
}

size_t Q4_1RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ4_1>(n, kBlock); }
void Q4_1DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ4_1, kBlock, DecodeQ4_1>(src, dst, n);
}
float Q4_1VecDot(int64_t n, const void* w, const void* x) {
  return Q8ADot<BlockQ4_1, AffineTerm<BlockQ4_1>>(n, w, x);
}

size_t Q5_0RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ5_0>(n, kBlock); }
void Q5_0DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ5_0, kBlock, DecodeQ5_0>(src, dst, n);
}
float Q5_0VecDot(int64_t n, const void* w, const void* x) {
  return Q8ADot<BlockQ5_0, SymmetricTerm<16, BlockQ5_0>>(n, w, x);
}

size_t Q5_1RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ5_1>(n, kBlock); }
void Q5_1DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ5_1, kBlock, DecodeQ5_1>(src, dst, n);
}
float Q5_1VecDot(int64_t n, const void* w, const void* x) {
  return Q8ADot<BlockQ5_1, AffineTerm<BlockQ5_1>>(n, w, x);
}

}  // namespace septet::quant
