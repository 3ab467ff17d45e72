#include "quant/affine_fit.h"

#include <cmath>
#include <limits>
#include <vector>

#include "quant/quant_util.h"

namespace septet::quant {

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

AffineParams SearchAffine(const float* w, const float* imp, int n, const AffineGrid& grid) {
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
  AffineParams best{(hi - lo) / static_cast<float>(L), lo};
  double best_err = std::numeric_limits<double>::infinity();
  std::vector<float> codes(static_cast<size_t>(n));
  constexpr int kSteps = 25;  // t = -1 .. +2 in steps of 1/8
  for (int anchor = 0; anchor < 2; ++anchor) {
    for (int j = 0; j < kSteps; ++j) {
      const float t = -1.0f + 0.125f * static_cast<float>(j);
      const float d0 = (hi - lo) / (static_cast<float>(L) + t);
      const float m0 = anchor == 0 ? lo : hi - static_cast<float>(L) * d0;
      for (int i = 0; i < n; ++i) {
        codes[static_cast<size_t>(i)] = static_cast<float>(NearestAffineCode(w[i], d0, m0, L));
      }
      AffineParams p{d0, m0};
      FitAffineLeastSquares(w, imp, codes.data(), n, &p);  // keeps (d0, m0) if singular
      const double err = AffineError(w, imp, n, grid.round_d(p.d), grid.round_m(p.m), L);
      if (err < best_err) {
        best_err = err;
        best = p;
      }
    }
  }
  return best;
}

}  // namespace septet::quant
