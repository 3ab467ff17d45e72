// Weighted fitting of an affine grid w ~= m + d * c, c in {0..max_code}: the
// (d, m) search shared by the asymmetric weight formats (Q4_G, Q3P5).
//
// Objective everywhere: E = sum_i imp_i * (w_i - deq_i)^2, imp = null means 1.
#pragma once

#include <cstdint>

#include "quant/quant_util.h"

namespace septet::quant {

struct AffineParams {
  float d = 0.0f;  // step, >= 0
  float m = 0.0f;  // value of code 0
};

// How a format stores (d, m): the search evaluates every candidate with the
// rounded (stored) values, exactly as the decoder will see them.
struct AffineGrid {
  int max_code;               // codes are 0..max_code
  float (*round_d)(float d);  // stored value of d (d >= 0)
  float (*round_m)(float m);  // stored value of m
};

// Nearest code for w given *stored* (d, m): clamp(round((w - m) / d), 0, max_code).
// d == 0 (a constant group) gives code 0. Inline: the searches call it per weight.
inline int NearestAffineCode(float w, float d, float m, int max_code) {
  if (!(d > 0.0f)) return 0;
  return RoundClamp((w - m) / d, 0, max_code);
}

// Weighted least squares for (d, m) with the codes c fixed (the 2x2 normal
// equations, solved in double). Returns false (out untouched) when the system is
// singular (all codes equal / all weights zero) or the solution has d < 0 or is
// not finite.
bool FitAffineLeastSquares(const float* w, const float* imp, const float* c, int n,
                           AffineParams* out);

// Weighted squared error of coding w with stored (d, m) and nearest codes.
double AffineError(const float* w, const float* imp, int n, float d, float m, int max_code);

// The search's two passes over the weights, for k candidates (d[j], m[j]) at once;
// each candidate's sums run over i in order, in the operations of the one-candidate
// functions above, so a SIMD twin with one candidate per lane gives the same bits
// (simd::AffineCodeSums, simd::AffineErrors):
//   codes: per candidate the sums of FitAffineLeastSquares that depend on the codes
//          c_i = NearestAffineCode(w_i, d[j], m[j], max_code): s1 = sum a c,
//          s2 = sum a c c, t1 = sum a c w (a = ImportanceAt(imp, i), in double);
//   errors: per candidate AffineError(w, imp, n, d[j], m[j], max_code).
void AffineCodeSums(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                    double* s1, double* s2, double* t1);
void AffineErrors(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                  double* err);
using AffineCodeSumsFn = void (*)(const float* w, const float* imp, int n, const float* d, const float* m, int k,
                                  int max_code, double* s1, double* s2, double* t1);
using AffineErrorsFn = void (*)(const float* w, const float* imp, int n, const float* d, const float* m, int k,
                                int max_code, double* err);
struct AffineSearchFns {
  AffineCodeSumsFn code_sums = &AffineCodeSums;
  AffineErrorsFn errors = &AffineErrors;
};

// The deterministic search: start from the min/max of the weights with imp > 0
// (all weights when none is), try range shrink/expand candidates
// d0 = (hi - lo) / (max_code + t), t = -1, -0.875, ..., +2, anchored at lo
// (m0 = lo) and at hi (m0 = hi - max_code * d0); for each take the nearest codes,
// refit (d, m) by weighted least squares with those codes fixed, and score it by
// AffineError at the stored precision. Returns the best refit (unrounded) params;
// ties keep the earlier candidate.
// `fns`: the passes (the scalar ones above, or their SIMD twins: the same result).
AffineParams SearchAffine(const float* w, const float* imp, int n, const AffineGrid& grid,
                          const AffineSearchFns& fns = AffineSearchFns{});

}  // namespace septet::quant
