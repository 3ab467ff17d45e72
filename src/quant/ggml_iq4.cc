#include "quant/ggml_iq4.h"

#include <cstddef>
#include <cstring>

#include "core/half.h"
#include "quant/ggml_util.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

// 32 weights from 16 bytes of codes: low nibbles first, then high nibbles.
void DecodeNibbles(float d, const uint8_t* qs, float* out) {
  for (int j = 0; j < 16; ++j) {
    out[j] = d * static_cast<float>(kIq4Levels[qs[j] & 15]);
    out[j + 16] = d * static_cast<float>(kIq4Levels[qs[j] >> 4]);
  }
}

void DecodeIQ4_NL(const BlockIQ4_NL& b, float* out) { DecodeNibbles(Fp16ToFloat(b.d), b.qs, out); }

int XsScale(const BlockIQ4_XS& b, int ib) { return IQ4_XSScale(reinterpret_cast<const uint8_t*>(&b), ib); }

void DecodeIQ4_XS(const BlockIQ4_XS& b, float* out) {
  const float d = Fp16ToFloat(b.d);
  for (int ib = 0; ib < kIq4XsBlockSize / 32; ++ib) {
    const int ls = XsScale(b, ib);
    DecodeNibbles(d * static_cast<float>(ls - 32), b.qs + 16 * ib, out + 32 * ib);
  }
}

// sum_l kIq4Levels[code_l] * x_q[l] over the 32 weights of 16 code bytes (exact:
// |.| <= 32 * 127 * 127 = kIq4MaxBlockAcc / 32).
int32_t LevelDot(const uint8_t* qs, const BlockQ8A& xb) {
  int32_t acc = 0;
  for (int j = 0; j < 16; ++j) {
    acc += kIq4Levels[qs[j] & 15] * int32_t{xb.qs[j]} + kIq4Levels[qs[j] >> 4] * int32_t{xb.qs[j + 16]};
  }
  return acc;
}

}  // namespace

int IQ4_XSScale(const uint8_t* block, int ib) {
  uint16_t high;
  std::memcpy(&high, block + offsetof(BlockIQ4_XS, scales_h), 2);
  return ((block[offsetof(BlockIQ4_XS, scales_l) + ib / 2] >> (4 * (ib % 2))) & 15) | ((high >> (2 * ib)) & 3) << 4;
}

size_t IQ4_NLRowBytesFn(int64_t n) { return ggml::RowBytes<BlockIQ4_NL>(n, kIq4NlBlockSize); }
void IQ4_NLDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockIQ4_NL, kIq4NlBlockSize, DecodeIQ4_NL>(src, dst, n);
}
float IQ4_NLVecDot(int64_t n, const void* w_row, const void* act_row) {
  ggml::CheckWholeBlockRow(w_row, act_row, n, kIq4NlBlockSize);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kIq4NlBlockSize; ++b) {
    const auto blk = LoadBlock<BlockIQ4_NL>(w + b * sizeof(BlockIQ4_NL));
    const auto xb = LoadBlock<BlockQ8A>(x + b * sizeof(BlockQ8A));
    sum += (Fp16ToFloat(blk.d) * xb.d) * static_cast<float>(LevelDot(blk.qs, xb));
  }
  return sum;
}

size_t IQ4_XSRowBytesFn(int64_t n) { return ggml::RowBytes<BlockIQ4_XS>(n, kIq4XsBlockSize); }
void IQ4_XSDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockIQ4_XS, kIq4XsBlockSize, DecodeIQ4_XS>(src, dst, n);
}
float IQ4_XSVecDot(int64_t n, const void* w_row, const void* act_row) {
  ggml::CheckWholeBlockRow(w_row, act_row, n, kIq4XsBlockSize);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kIq4XsBlockSize; ++b) {
    const auto blk = LoadBlock<BlockIQ4_XS>(w + b * sizeof(BlockIQ4_XS));
    const float d = Fp16ToFloat(blk.d);
    for (int ib = 0; ib < kIq4XsBlockSize / 32; ++ib) {
      const auto xb = LoadBlock<BlockQ8A>(x + (b * (kIq4XsBlockSize / 32) + ib) * sizeof(BlockQ8A));
      const int32_t acc = (XsScale(blk, ib) - 32) * LevelDot(blk.qs + 16 * ib, xb);
      sum += (d * xb.d) * static_cast<float>(acc);
    }
  }
  return sum;
}

}  // namespace septet::quant
