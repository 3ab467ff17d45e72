#include "kernels/cpu/hadamard.h"

#include <cmath>

#include "core/check.h"

namespace septet::cpu {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// y ← H_b · y on every run of b entries (unnormalised): stage by stage (span 1, 2,
// 4, ...), pairs in increasing index, the order simd::RotateInput keeps.
template <typename T>
void Butterflies(T* y, int64_t n, int64_t b) {
  for (int64_t o = 0; o < n; o += b) {
    T* v = y + o;
    for (int64_t len = 1; len < b; len *= 2) {
      for (int64_t i = 0; i < b; i += 2 * len) {
        T* lo = v + i;
        T* hi = v + i + len;
        for (int64_t j = 0; j < len; ++j) {
          const T a = lo[j], c = hi[j];
          lo[j] = a + c;
          hi[j] = a - c;
        }
      }
    }
  }
}

template <typename T>
void Scale(T* y, int64_t n, double inv_sqrt_b) {
  const T s = static_cast<T>(inv_sqrt_b);
  for (int64_t j = 0; j < n; ++j) y[j] *= s;
}

template <typename T>
void Signs(T* y, const std::vector<float>& s) {
  for (size_t j = 0; j < s.size(); ++j) y[j] *= static_cast<T>(s[j]);
}

}  // namespace

int64_t RotationBlock(int64_t n) {
  SEPTET_CHECK(n > 0);
  return n & -n;
}

float RotationSign(int64_t j) { return (SplitMix64(static_cast<uint64_t>(j)) >> 63) != 0 ? -1.0f : 1.0f; }

InputRotation::InputRotation(int64_t n)
    : n_(n),
      b_(RotationBlock(n)),
      inv_sqrt_b_(1.0 / std::sqrt(static_cast<double>(b_))),
      signs_(static_cast<size_t>(n)) {
  for (int64_t j = 0; j < n; ++j) signs_[static_cast<size_t>(j)] = RotationSign(j);
}

template <typename T>
void InputRotation::ApplyT(T* x) const {
  Signs(x, signs_);
  Butterflies(x, n_, b_);
  Scale(x, n_, inv_sqrt_b_);
}

void InputRotation::Apply(float* x) const { ApplyT(x); }
void InputRotation::Apply(double* x) const { ApplyT(x); }

void InputRotation::Undo(double* x) const {
  Butterflies(x, n_, b_);
  Scale(x, n_, inv_sqrt_b_);
  Signs(x, signs_);
}

}  // namespace septet::cpu
