#include "quant/float_types.h"

#include <cstring>

#include "core/half.h"

namespace septet::quant {

void F32ToFloat(const void* src, float* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void F32FromFloat(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
float F32VecDot(int64_t n, const void* w, const void* x) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(acc);
}

void F16ToFloat(const void* src, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFloat(s[i]);
}
void F16FromFloat(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  uint16_t* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = FloatToFp16(src[i]);
}
float F16VecDot(int64_t n, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(Fp16ToFloat(a[i])) * b[i];
  return static_cast<float>(acc);
}

void Bf16ToFloat(const void* src, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = septet::Bf16ToFloat(s[i]);
}
void Bf16FromFloat(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  uint16_t* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = FloatToBf16(src[i]);
}
float Bf16VecDot(int64_t n, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(septet::Bf16ToFloat(a[i])) * b[i];
  return static_cast<float>(acc);
}

}  // namespace septet::quant
