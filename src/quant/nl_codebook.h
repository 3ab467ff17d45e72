// The per-block search shared by the non-uniform-level formats (Q3P5_NL, Q4_NL): weight k
// of a group with signed integer scale s decodes to d * float(s * L[u]). Each format's
// file supplies its codebook (levels, midpoints, padding code) and its layout; the steps
// here are the ones its header documents (1: the float scale per group, 3: the integer
// scale among round(t / d) and its neighbours, codes recomputed with the stored values).
#pragma once

#include <cstdint>

namespace septet::quant {

struct NlCodebook {
  const int8_t* levels;  // n levels, sorted, distinct, none 0
  const float* mids;     // the n - 1 midpoints of consecutive levels
  int n;
  int pad_code;  // the code of the level nearest 0 (padding weights, scale 0)
  int max_abs;   // max |levels|
};

inline float NlValue(const NlCodebook& cb, float d, int s, int u) {
  return d * static_cast<float>(s * cb.levels[u]);
}
// The code u minimising |w - NlValue(d, s, u)| (ties: the lower u); s == 0 or d == 0:
// cb.pad_code.
int NlNearestCode(const NlCodebook& cb, float w, float d, int s);
// For each of n float scales t[i] of a group w[0..len): err[i], the importance-weighted
// squared error (summed in float, k ascending) of the values t[i] L[u], u the code of w / t[i] against the
// midpoints, and lsq[i], the weighted least-squares scale for those codes (t[i] when the
// codes are all-zero-weighted). NlScaleErrors is the scalar reference; simd::NlScaleErrors
// (kernels/simd/nl_search.cc) computes the same bits with the candidates in lanes.
using NlScaleErrorsFn = void (*)(const NlCodebook& cb, const float* w, const float* imp, int len, const float* t,
                                 int n, double* err, float* lsq);
void NlScaleErrors(const NlCodebook& cb, const float* w, const float* imp, int len, const float* t, int n, double* err,
                   float* lsq);
// Step 1: the signed float scale t of a group w[0..len) with the lowest importance-weighted
// squared error over the candidates +-(max |w| / max_abs) f, f = 0.60, 0.65, ..., 1.40, each
// also refit by weighted least squares with its codes fixed (0 when every weight is 0).
// `errors` evaluates the candidates (either implementation: the same result).
float NlSearchScale(const NlCodebook& cb, const float* w, const float* imp, int len,
                    NlScaleErrorsFn errors = &NlScaleErrors);
// Step 3's evaluation: for each of n integer scales s[c], the codes of w[0..len)
// (NlNearestCode with d and s[c]) into codes[c len + k], and err[c], the
// importance-weighted squared error (in double, k ascending) of the values they decode
// to (err null: the codes only). NlStoredErrors is the scalar reference;
// simd::NlStoredErrors (kernels/simd/nl_search.cc) gives the same bits, weights in lanes.
using NlStoredErrorsFn = void (*)(const NlCodebook& cb, const float* w, const float* imp, int len, float d,
                                  const int* s, int n, double* err, uint8_t* codes);
void NlStoredErrors(const NlCodebook& cb, const float* w, const float* imp, int len, float d, const int* s, int n,
                    double* err, uint8_t* codes);
// The evaluations a format's quantizer runs its searches with (the scalar references by
// default; the quantizer passes the SIMD twins: the same bytes either way).
struct NlSearchFns {
  NlScaleErrorsFn scale_errors = &NlScaleErrors;
  NlStoredErrorsFn stored_errors = &NlStoredErrors;
};
// Step 3: the integer scale among round(t / d) (clamped to [smin, smax]) and its two
// neighbours with the lowest weighted error of the stored values (the first of equals,
// in that order); codes[0..len) receive its codes. d == 0: scale 0.
int NlChooseScale(const NlCodebook& cb, const float* w, const float* imp, int len, float d, float t, int smin, int smax,
                  uint8_t* codes, NlStoredErrorsFn stored = &NlStoredErrors);

// The refit's block step (quantize/refit.cc ProjectNL): with the other blocks of a row
// fixed, the block's values x = deff s (s its integer scales) have the error
// q(x) = xᵀ G x - 2 xᵀ e. For each candidate deff[c] (> 0 and finite), c < n:
//   s_i = clamp(round(start_i / deff)) (ties to even, into [sc_min, sc_max]), then three
//   sweeps of exact coordinate descent, i = 0 .. ng - 1 in turn where G_ii > 0:
//   s_i = clamp(round((e_i - sum_{j != i} G_ij x_j) / G_ii / deff)) (j ascending);
// q[c] = sum_i x_i (sum_j G_ij x_j - 2 e_i), and scales[c kNlMaxBlockGroups + i] = s_i
// (integers, as doubles). A sweep that moves no scale leaves every later one still, so
// three sweeps give the result of stopping at the first still one. In double, a
// multiply then an add per term (no FMA); simd::NlBlockScales gives the same bits.
inline constexpr int kNlMaxBlockGroups = 8;
struct NlBlockQuadratic {
  const double* g;      // ng x ng, row-major
  const double* e;      // ng
  const double* start;  // ng
  int ng;               // 1 .. kNlMaxBlockGroups
  int sc_min, sc_max;
};
void NlBlockScales(const NlBlockQuadratic& p, const double* deff, int n, double* q, double* scales);

}  // namespace septet::quant
