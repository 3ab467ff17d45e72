#include "quant/ggml_iq4.h"

#include "core/half.h"
#include "quant/ggml_util.h"

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

void DecodeIQ4_XS(const BlockIQ4_XS& b, float* out) {
  const float d = Fp16ToFloat(b.d);
  for (int ib = 0; ib < kIq4XsBlockSize / 32; ++ib) {
    const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | ((b.scales_h >> (2 * ib)) & 3) << 4;
    DecodeNibbles(d * static_cast<float>(ls - 32), b.qs + 16 * ib, out + 32 * ib);
  }
}

}  // namespace

size_t IQ4_NLRowBytesFn(int64_t n) { return ggml::RowBytes<BlockIQ4_NL>(n, kIq4NlBlockSize); }
void IQ4_NLDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockIQ4_NL, kIq4NlBlockSize, DecodeIQ4_NL>(src, dst, n);
}
float IQ4_NLVecDot(int64_t n, const void* w, const void* x) {
  return ggml::VecDot<BlockIQ4_NL, kIq4NlBlockSize, DecodeIQ4_NL>(n, w, x);
}

size_t IQ4_XSRowBytesFn(int64_t n) { return ggml::RowBytes<BlockIQ4_XS>(n, kIq4XsBlockSize); }
void IQ4_XSDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockIQ4_XS, kIq4XsBlockSize, DecodeIQ4_XS>(src, dst, n);
}
float IQ4_XSVecDot(int64_t n, const void* w, const void* x) {
  return ggml::VecDot<BlockIQ4_XS, kIq4XsBlockSize, DecodeIQ4_XS>(n, w, x);
}

}  // namespace septet::quant
