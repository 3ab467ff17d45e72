#include "quant/float_types.h"

#include <cstring>

#include "core/half.h"

namespace septet::quant {
namespace {

// Rows may start at any byte address (see formats.md), so element loads and
// stores go through memcpy: a misaligned float/uint16_t access is UB.
template <typename T>
T LoadAt(const void* base, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(base) + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}
template <typename T>
void StoreAt(void* base, int64_t i, T v) {
  std::memcpy(static_cast<unsigned char*>(base) + i * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

}  // namespace

void F32ToFloat(const void* src, float* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void F32FromFloat(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
float F32VecDot(int64_t n, const void* w, const void* x) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(LoadAt<float>(w, i)) * LoadAt<float>(x, i);
  return static_cast<float>(acc);
}

void F16ToFloat(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) StoreAt<float>(dst, i, Fp16ToFloat(LoadAt<uint16_t>(src, i)));
}
void F16FromFloat(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  for (int64_t i = 0; i < n; ++i) StoreAt<uint16_t>(dst, i, FloatToFp16(LoadAt<float>(src, i)));
}
float F16VecDot(int64_t n, const void* w, const void* x) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    acc += static_cast<double>(Fp16ToFloat(LoadAt<uint16_t>(w, i))) * LoadAt<float>(x, i);
  }
  return static_cast<float>(acc);
}

void Bf16ToFloat(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) StoreAt<float>(dst, i, septet::Bf16ToFloat(LoadAt<uint16_t>(src, i)));
}
void Bf16FromFloat(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  for (int64_t i = 0; i < n; ++i) StoreAt<uint16_t>(dst, i, FloatToBf16(LoadAt<float>(src, i)));
}
float Bf16VecDot(int64_t n, const void* w, const void* x) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    acc += static_cast<double>(septet::Bf16ToFloat(LoadAt<uint16_t>(w, i))) * LoadAt<float>(x, i);
  }
  return static_cast<float>(acc);
}

}  // namespace septet::quant
