// The input rotation of rotated models (`septet quantize --rotate`; metadata
// "septet.rotation" = "hadamard-v1"; docs/formats.md §Rotation).
//
// For a vector x of n entries, with b = the largest power of two dividing n:
//   T(x):  y_j = s_j · x_j                         (s_j = ±1, RotationSign(j))
//          each run y[o, o + b), o = 0, b, 2b, ...:  y ← H_b · y / √b
// H_b is the Sylvester-Hadamard matrix (H_1 = [1], H_2k = [[H_k, H_k], [H_k, -H_k]]),
// so T is orthogonal: T = (I_{n/b} ⊗ H_b/√b) · diag(s), Tᵀ = diag(s) · (I_{n/b} ⊗ H_b/√b).
//
// A rotated model stores W' = W · Tᵀ for every matmul weight of a layer (each row
// w' = T(w)), and the forward pass feeds it T(x): W'·T(x) = W·TᵀT·x = W·x. The rows
// of W' mix b consecutive inputs with random signs, so one large input channel no
// longer sets the scale of its whole quantization block (QuIP#, QuaRot). T costs
// n·log2(b) additions per vector.
#pragma once

#include <cstdint>
#include <vector>

namespace septet::cpu {

// b of the definition above (1 for odd n).
int64_t RotationBlock(int64_t n);
// s_j: +1 or -1, the top bit of SplitMix64(j) (1 → -1).
float RotationSign(int64_t j);

// T for one length n (its signs computed once).
class InputRotation {
 public:
  explicit InputRotation(int64_t n);
  int64_t size() const { return n_; }
  int64_t block() const { return b_; }
  const float* signs() const { return signs_.data(); }
  float scale() const { return static_cast<float>(inv_sqrt_b_); }
  double scale_double() const { return inv_sqrt_b_; }  // Apply(double*)'s scale
  // x ← T(x) in place: the signs, the butterflies in float, then one multiply by
  // float(1/√b) (the forward pass's).
  void Apply(float* x) const;
  // The same in double (the quantizer's, for weights and H).
  void Apply(double* x) const;
  // x ← Tᵀ(x) = T⁻¹(x), back to the unrotated basis.
  void Undo(double* x) const;

 private:
  template <typename T>
  void ApplyT(T* x) const;

  int64_t n_ = 0;
  int64_t b_ = 1;
  double inv_sqrt_b_ = 1.0;  // 1/√b, rounded to the element type where applied
  std::vector<float> signs_;
};

}  // namespace septet::cpu
