#include "quant/affine_fit.h"

#include <cmath>
#include <limits>

#include "quant/quant_util.h"

namespace septet::quant {

namespace {

// The 2x2 normal equations from their sums (FitAffineLeastSquares' second half).
bool SolveAffine(double s0, double s1, double s2, double t0, double t1, AffineParams* out) {
  const double det = s0 * s2 - s1 * s1;
  // Singular (or numerically so): the codes do not determine a slope.
  if (!(s0 > 0) || !(det > 1e-9 * s0 * s2)) return false;
  const double d = (s0 * t1 - s1 * t0) / det;
  const double m = (t0 - d * s1) / s0;
  if (!(d >= 0) || !std::isfinite(d) || !std::isfinite(m)) return false;
  out->d = static_cast<float>(d);
  out->m = static_cast<float>(m);
  return true;
}

}  // namespace

bool FitAffineLeastSquares(const float* w, const float* imp, const float* c, int n,
                           AffineParams* out) {
  double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
  for (int i = 0; i < n; ++i) {
    const double a = ImportanceAt(imp, i);
    s0 += a;
    s1 += a * c[i];
    s2 += a * c[i] * c[i];
    t0 += a * w[i];
    t1 += a * c[i] * w[i];
  }
  return SolveAffine(s0, s1, s2, t0, t1, out);
}

double AffineError(const float* w, const float* imp, int n, float d, float m, int max_code) {
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const int c = NearestAffineCode(w[i], d, m, max_code);
    const float deq = m + d * static_cast<float>(c);  // exactly what the decoders compute
    const double e = static_cast<double>(w[i]) - deq;
    err += ImportanceAt(imp, i) * e * e;
  }
  return err;
}

void AffineCodeSums(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                    double* s1, double* s2, double* t1) {
  for (int j = 0; j < k; ++j) {
    double a1 = 0, a2 = 0, b1 = 0;
    for (int i = 0; i < n; ++i) {
      const double a = ImportanceAt(imp, i);
      const float c = static_cast<float>(NearestAffineCode(w[i], d[j], m[j], max_code));
      a1 += a * c;
      a2 += a * c * c;
      b1 += a * c * w[i];
    }
    s1[j] = a1;
    s2[j] = a2;
    t1[j] = b1;
  }
}

void AffineErrors(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                  double* err) {
  for (int j = 0; j < k; ++j) err[j] = AffineError(w, imp, n, d[j], m[j], max_code);
}

AffineParams SearchAffine(const float* w, const float* imp, int n, const AffineGrid& grid,
                          const AffineSearchFns& fns) {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -lo;
  for (int i = 0; i < n; ++i) {
    if (imp != nullptr && !(imp[i] > 0.0f)) continue;
    lo = std::fmin(lo, w[i]);
    hi = std::fmax(hi, w[i]);
  }
  if (lo > hi) {  // no weight has positive importance: fall back to all of them
    for (int i = 0; i < n; ++i) {
      lo = std::fmin(lo, w[i]);
      hi = std::fmax(hi, w[i]);
    }
  }
  if (n == 0 || !(hi > lo)) return AffineParams{0.0f, n == 0 ? 0.0f : lo};

  const int L = grid.max_code;
  // The candidates: t = -1 .. +2 in steps of 1/8, anchored at lo, then at hi.
  constexpr int kSteps = 25, kCands = 2 * kSteps;
  float d0[kCands], m0[kCands];
  for (int anchor = 0; anchor < 2; ++anchor) {
    for (int j = 0; j < kSteps; ++j) {
      const float t = -1.0f + 0.125f * static_cast<float>(j);
      const int c = anchor * kSteps + j;
      d0[c] = (hi - lo) / (static_cast<float>(L) + t);
      m0[c] = anchor == 0 ? lo : hi - static_cast<float>(L) * d0[c];
    }
  }
  // Each candidate's nearest codes, refit by weighted least squares with them fixed
  // (FitAffineLeastSquares' sums: s0 and t0 do not depend on the codes).
  double s0 = 0, t0 = 0;
  for (int i = 0; i < n; ++i) {
    const double a = ImportanceAt(imp, i);
    s0 += a;
    t0 += a * w[i];
  }
  double s1[kCands], s2[kCands], t1[kCands];
  fns.code_sums(w, imp, n, d0, m0, kCands, L, s1, s2, t1);
  AffineParams p[kCands];
  float ds[kCands], ms[kCands];
  for (int c = 0; c < kCands; ++c) {
    p[c] = AffineParams{d0[c], m0[c]};
    SolveAffine(s0, s1[c], s2[c], t0, t1[c], &p[c]);  // keeps (d0, m0) if singular
    ds[c] = grid.round_d(p[c].d);
    ms[c] = grid.round_m(p[c].m);
  }
  // Scored at the stored precision; ties keep the earlier candidate.
  double err[kCands];
  fns.errors(w, imp, n, ds, ms, kCands, L, err);
  AffineParams best{(hi - lo) / static_cast<float>(L), lo};
  double best_err = std::numeric_limits<double>::infinity();
  for (int c = 0; c < kCands; ++c) {
    if (err[c] < best_err) {
      best_err = err[c];
      best = p[c];
    }
  }
  return best;
}

}  // namespace septet::quant
