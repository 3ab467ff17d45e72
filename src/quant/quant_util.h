// Small helpers shared by the scalar reference codecs in src/quant/. Internal to
// the quant module; nothing here is a format.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/check.h"

namespace septet::quant {

inline constexpr int64_t kInt32Max = 2147483647;  // 2^31 - 1

// Every INT8 activation format (Q8_A, Q8_R) stores symmetric codes in [-127, 127]:
// -128 is never produced, so |x_q| <= 127 and negation never overflows.
inline constexpr int32_t kActMaxAbs = 127;

// Largest K such that any sum of K products x_i * q_i with |x_i| <= max_abs_x and
// |q_i| <= max_abs_q satisfies |sum| <= K * max_abs_x * max_abs_q <= 2^31 - 1,
// i.e. an int32 accumulator can never overflow. (The bound is reached exactly when
// every x_i = +-max_abs_x and every q_i = +-max_abs_q with matching signs.)
constexpr int64_t MaxInt32DotLength(int64_t max_abs_x, int64_t max_abs_q) {
  return kInt32Max / (max_abs_x * max_abs_q);
}

constexpr int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// std::nearbyint(v) in the default rounding mode (to nearest, ties to even), bit for
// bit (signed zeros, infinities and NaN included), without its libm call: x86-64's
// baseline has no roundss, so the quantizers' searches spent 15 % of their time in
// nearbyintf through the PLT. Below 2^23 in magnitude, adding and subtracting 2^23
// (with v's sign) leaves the nearest integer, ties to even; from 2^23 on every float
// is an integer already.
inline float RoundNearestEven(float v) {
  constexpr float kTwo23 = 8388608.0f;
  if (!(std::fabs(v) < kTwo23)) return v;  // integers, infinities, NaN
  const float t = std::copysign(kTwo23, v);
  return std::copysign((v + t) - t, v);
}
// The same for doubles (2^52): std::nearbyint(double) bit for bit, no libm call.
inline double RoundNearestEven(double v) {
  constexpr double kTwo52 = 4503599627370496.0;
  if (!(std::fabs(v) < kTwo52)) return v;  // integers, infinities, NaN
  const double t = std::copysign(kTwo52, v);
  return std::copysign((v + t) - t, v);
}

// Nearest integer (ties to even, the default FP rounding mode), clamped to [lo, hi].
// NaN maps to lo, so a float->int conversion is never undefined behaviour.
inline int RoundClamp(float v, int lo, int hi) {
  float r = RoundNearestEven(v);
  if (!(r >= static_cast<float>(lo))) return lo;  // also catches NaN
  if (r > static_cast<float>(hi)) return hi;
  return static_cast<int>(r);
}

inline float ImportanceAt(const float* importance, int64_t i) {
  return importance != nullptr ? importance[i] : 1.0f;
}

// Blocks are read and written through memcpy: rows may start at any address
// (a GGUF tensor offset, a sub-view), and a misaligned struct access is UB.
template <typename T>
T LoadBlock(const uint8_t* p, size_t bytes = sizeof(T)) {
  static_assert(std::is_trivially_copyable_v<T>);
  T t{};
  std::memcpy(&t, p, bytes);
  return t;
}
template <typename T>
void StoreBlock(uint8_t* p, const T& t, size_t bytes = sizeof(T)) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(p, &t, bytes);
}

// The preconditions every raw row function CHECKs (always on: one test per row,
// not per element). The validating entry points in checked.h report the same
// conditions as InvalidArgument instead.
inline void CheckRowArgs(const void* a, const void* b, int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  SEPTET_CHECK_MSG(n == 0 || (a != nullptr && b != nullptr), "null row pointer with n > 0");
}

}  // namespace septet::quant
