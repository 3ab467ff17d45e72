#include "quant/q8_0.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/half.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

double BlockError(const float* w, const float* imp, int len, const BlockQ8_0& blk) {
  const float d = Fp16ToFloat(blk.d);
  double err = 0;
  for (int k = 0; k < len; ++k) {
    const double e = static_cast<double>(w[k]) - d * blk.qs[k];
    err += ImportanceAt(imp, k) * e * e;
  }
  return err;
}

BlockQ8_0 QuantizeBlock(const float* w, const float* imp, int len, Q8_0CandidatesFn errors) {
  float amax = 0.0f;
  for (int k = 0; k < len; ++k) amax = std::fmax(amax, std::fabs(w[k]));
  BlockQ8_0 best = Q8_0EncodeBlock(w, len, FloatToFp16(amax / kQ8_0MaxCode));
  if (!(amax > 0.0f)) return best;
  constexpr int kCands = 17;
  float d0[kCands];
  for (int j = 0; j < kCands; ++j) d0[j] = amax / (kQ8_0MaxCode + (-2.0f + 0.5f * static_cast<float>(j)));
  uint16_t d16[kCands];
  double err[kCands];
  errors(w, imp, len, d0, kCands, d16, err);
  double best_err = std::numeric_limits<double>::infinity();
  for (int j = 0; j < kCands; ++j) {
    if (err[j] < best_err) {
      best_err = err[j];
      best = Q8_0EncodeBlock(w, len, d16[j]);
    }
  }
  return best;
}

}  // namespace

BlockQ8_0 Q8_0EncodeBlock(const float* w, int len, uint16_t d_fp16) {
  BlockQ8_0 blk{};
  blk.d = d_fp16;
  const float d = Fp16ToFloat(d_fp16);
  for (int k = 0; k < len; ++k) {
    blk.qs[k] = static_cast<int8_t>(d > 0.0f ? RoundClamp(w[k] / d, -kQ8_0MaxCode, kQ8_0MaxCode) : 0);
  }
  return blk;
}

void Q8_0CandidateErrors(const float* w, const float* imp, int len, const float* d0, int n, uint16_t* d16,
                         double* err) {
  for (int j = 0; j < n; ++j) {
    double num = 0, den = 0;
    for (int k = 0; k < len; ++k) {
      const int q = RoundClamp(w[k] / d0[j], -kQ8_0MaxCode, kQ8_0MaxCode);
      num += ImportanceAt(imp, k) * w[k] * q;
      den += ImportanceAt(imp, k) * q * q;
    }
    const float d = den > 0 ? static_cast<float>(num / den) : d0[j];
    d16[j] = FloatToFp16(d > 0 ? d : d0[j]);
    err[j] = BlockError(w, imp, len, Q8_0EncodeBlock(w, len, d16[j]));
  }
}

void Q8_0QuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  Q8_0QuantizeRowWith(src, dst, n, importance, &Q8_0CandidateErrors);
}

void Q8_0QuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, Q8_0CandidatesFn errors) {
  CheckRowArgs(src, dst, n);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b * kQ8_0BlockSize < n; ++b) {
    const int64_t i0 = b * kQ8_0BlockSize;
    const int len = static_cast<int>(std::min<int64_t>(kQ8_0BlockSize, n - i0));
    StoreBlock(out + b * sizeof(BlockQ8_0),
               QuantizeBlock(src + i0, importance ? importance + i0 : nullptr, len, errors));
  }
}

void Q8_0DequantizeRow(const void* src, float* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  const uint8_t* in = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b * kQ8_0BlockSize < n; ++b) {
    const auto blk = LoadBlock<BlockQ8_0>(in + b * sizeof(BlockQ8_0));
    const float d = Fp16ToFloat(blk.d);
    const int64_t len = std::min<int64_t>(kQ8_0BlockSize, n - b * kQ8_0BlockSize);
    for (int64_t k = 0; k < len; ++k) dst[b * kQ8_0BlockSize + k] = d * blk.qs[k];
  }
}

float Q8_0VecDot(int64_t n, const void* w_row, const void* act_row) {
  CheckRowArgs(w_row, act_row, n);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t b = 0; b * kQ8_0BlockSize < n; ++b) {
    const auto wb = LoadBlock<BlockQ8_0>(w + b * sizeof(BlockQ8_0));
    const auto xb = LoadBlock<BlockQ8A>(x + b * sizeof(BlockQ8A));
    const int64_t len = std::min<int64_t>(kQ8_0BlockSize, n - b * kQ8_0BlockSize);
    int32_t acc = 0;
    for (int64_t k = 0; k < len; ++k) acc += int32_t{wb.qs[k]} * int32_t{xb.qs[k]};
    sum += (Fp16ToFloat(wb.d) * xb.d) * static_cast<float>(acc);
  }
  return sum;
}

size_t Q8_0RowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q8_0RowBytes(n);
}

}  // namespace septet::quant
