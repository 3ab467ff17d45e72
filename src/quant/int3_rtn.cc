#include "quant/int3_rtn.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "quant/affine_fit.h"

namespace septet::quant {

Int3RtnParams Int3RtnFit(const float* w, int64_t len) {
  Int3RtnParams p;
  if (len <= 0) return p;
  float lo = w[0], hi = w[0];
  for (int64_t i = 1; i < len; ++i) {
    lo = std::fmin(lo, w[i]);
    hi = std::fmax(hi, w[i]);
  }
  p.m = Fp16ToFloat(FloatToFp16(lo));
  p.d = Fp16ToFloat(FloatToFp16((hi - lo) / kInt3RtnMaxCode));
  return p;
}

float Int3RtnSnap(float w, const Int3RtnParams& p) {
  const int c = NearestAffineCode(w, p.d, p.m, kInt3RtnMaxCode);
  return p.m + p.d * static_cast<float>(c);
}

void Int3RtnFakeQuantizeRow(const float* src, float* dst, int64_t n) {
  for (int64_t g0 = 0; g0 < n; g0 += kInt3RtnGroupSize) {
    const int64_t len = std::min<int64_t>(kInt3RtnGroupSize, n - g0);
    const Int3RtnParams p = Int3RtnFit(src + g0, len);
    for (int64_t i = 0; i < len; ++i) dst[g0 + i] = Int3RtnSnap(src[g0 + i], p);
  }
}

}  // namespace septet::quant
