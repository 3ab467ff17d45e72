#include "quant/ggml_legacy.h"

#include "core/half.h"
#include "quant/ggml_util.h"

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

}  // namespace

size_t Q4_0RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ4_0>(n, kBlock); }
void Q4_0DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ4_0, kBlock, DecodeQ4_0>(src, dst, n);
}
float Q4_0VecDot(int64_t n, const void* w, const void* x) {
  return ggml::VecDot<BlockQ4_0, kBlock, DecodeQ4_0>(n, w, x);
}

size_t Q4_1RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ4_1>(n, kBlock); }
void Q4_1DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ4_1, kBlock, DecodeQ4_1>(src, dst, n);
}
float Q4_1VecDot(int64_t n, const void* w, const void* x) {
  return ggml::VecDot<BlockQ4_1, kBlock, DecodeQ4_1>(n, w, x);
}

size_t Q5_0RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ5_0>(n, kBlock); }
void Q5_0DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ5_0, kBlock, DecodeQ5_0>(src, dst, n);
}
float Q5_0VecDot(int64_t n, const void* w, const void* x) {
  return ggml::VecDot<BlockQ5_0, kBlock, DecodeQ5_0>(n, w, x);
}

size_t Q5_1RowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ5_1>(n, kBlock); }
void Q5_1DequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ5_1, kBlock, DecodeQ5_1>(src, dst, n);
}
float Q5_1VecDot(int64_t n, const void* w, const void* x) {
  return ggml::VecDot<BlockQ5_1, kBlock, DecodeQ5_1>(n, w, x);
}

}  // namespace septet::quant
