#include "quant/nl_codebook.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "quant/quant_util.h"

namespace septet::quant {
namespace {

// The number of midpoints below y. The midpoints ascend, so for n a power of 2 it is
// a binary search of log2(n) steps, each a compare and a conditional add (no branch:
// y is random); NaN compares false everywhere, 0 as the count gives.
int SearchCode(const NlCodebook& cb, float y) {
  if ((cb.n & (cb.n - 1)) == 0) {
    int u = 0;
    for (int step = cb.n / 2; step > 0; step /= 2) u += cb.mids[u + step - 1] < y ? step : 0;
    return u;
  }
  int u = 0;
  for (int i = 0; i + 1 < cb.n; ++i) u += cb.mids[i] < y;
  return u;
}

// Weighted error of group weights w[0..len) at float scale t (values t * L[u]);
// `lsq` returns the least-squares scale for the codes found. In float (16 terms or 32: a
// sum's rounding is far below the differences between candidates that matter).
double FloatScaleError(const NlCodebook& cb, const float* w, const float* imp, int len, float t, float* lsq) {
  const float inv = 1.0f / t;
  float err = 0, num = 0, den = 0;
  for (int k = 0; k < len; ++k) {
    const float l = cb.levels[SearchCode(cb, w[k] * inv)];
    const float a = ImportanceAt(imp, k), e = w[k] - t * l;
    err += a * e * e;
    num += a * w[k] * l;
    den += a * l * l;
  }
  *lsq = den > 0 ? num / den : t;
  return err;
}

}  // namespace

int NlNearestCode(const NlCodebook& cb, float w, float d, int s) {
  if (s == 0 || !(d != 0)) return cb.pad_code;
  int best = 0;
  float best_e = std::fabs(w - NlValue(cb, d, s, 0));
  for (int u = 1; u < cb.n; ++u) {
    const float e = std::fabs(w - NlValue(cb, d, s, u));
    if (e < best_e) best_e = e, best = u;
  }
  return best;
}

void NlScaleErrors(const NlCodebook& cb, const float* w, const float* imp, int len, const float* t, int n, double* err,
                   float* lsq) {
  for (int i = 0; i < n; ++i) err[i] = FloatScaleError(cb, w, imp, len, t[i], &lsq[i]);
}

float NlSearchScale(const NlCodebook& cb, const float* w, const float* imp, int len, NlScaleErrorsFn errors) {
  float amax = 0;
  for (int k = 0; k < len; ++k) {
    if (ImportanceAt(imp, k) > 0) amax = std::max(amax, std::fabs(w[k]));
  }
  if (!(amax > 0) || !std::isfinite(amax)) return 0.0f;
  float best_t = 0;
  double best = 0;
  for (int k = 0; k < len; ++k) best += static_cast<double>(ImportanceAt(imp, k)) * w[k] * w[k];  // t = 0
  // The 34 candidates, then the least-squares refit of each (where it is a usable
  // scale), each batch evaluated at once; then chosen in the order candidate, its refit.
  constexpr int kSteps = 17, kCands = 2 * kSteps;
  float t0[kCands], t1[kCands], t1_used[kCands], unused[kCands];
  double e0[kCands], e1[kCands];
  int c = 0;
  for (const float sign : {1.0f, -1.0f}) {
    for (int i = 0; i < kSteps; ++i) {
      t0[c++] = sign * amax / static_cast<float>(cb.max_abs) * (0.6f + 0.05f * static_cast<float>(i));
    }
  }
  errors(cb, w, imp, len, t0, kCands, e0, t1);
  // Neighbouring candidates often code the group alike and so refit to the same scale
  // (a third of them on SmolLM2): each distinct run is evaluated once (the same inputs
  // give the same error).
  int n1 = 0, at[kCands];
  bool usable[kCands];
  for (int i = 0; i < kCands; ++i) {  // without branches: whether a candidate repeats is random
    usable[i] = t1[i] != 0 && std::isfinite(t1[i]);
    const bool fresh = n1 == 0 || t1_used[n1 - 1] != t1[i];
    t1_used[n1] = t1[i];  // kept only when counted
    n1 += usable[i] && fresh;
    at[i] = n1 - 1;
  }
  errors(cb, w, imp, len, t1_used, n1, e1, unused);
  for (int i = 0; i < kCands; ++i) {
    if (e0[i] < best) best = e0[i], best_t = t0[i];
    if (usable[i] && e1[at[i]] < best) best = e1[at[i]], best_t = t1[i];
  }
  return best_t;
}

void NlStoredErrors(const NlCodebook& cb, const float* w, const float* imp, int len, float d, const int* s, int n,
                    double* err, uint8_t* codes) {
  for (int c = 0; c < n; ++c) {
    double e2 = 0;
    for (int k = 0; k < len; ++k) {
      const int u = NlNearestCode(cb, w[k], d, s[c]);
      codes[c * len + k] = static_cast<uint8_t>(u);
      const double e = static_cast<double>(w[k]) - NlValue(cb, d, s[c], u);
      e2 += ImportanceAt(imp, k) * e * e;
    }
    if (err != nullptr) err[c] = e2;
  }
}

int NlChooseScale(const NlCodebook& cb, const float* w, const float* imp, int len, float d, float t, int smin, int smax,
                  uint8_t* codes, NlStoredErrorsFn stored) {
  SEPTET_CHECK_MSG(len >= 0 && len <= 128, "NlChooseScale: a group holds at most 128 weights");
  const int s0 = d > 0 ? RoundClamp(t / d, smin, smax) : 0;
  int cand[3] = {s0, 0, 0}, n = 1;
  for (const int s : {s0 - 1, s0 + 1}) {
    if (s >= smin && s <= smax && d != 0) cand[n++] = s;
  }
  double err[3];
  uint8_t trial[3 * 128];
  stored(cb, w, imp, len, d, cand, n, err, trial);
  int best = 0;
  for (int c = 1; c < n; ++c) {
    if (err[c] < err[best]) best = c;
  }
  std::memcpy(codes, trial + best * len, static_cast<size_t>(len));
  return cand[best];
}

void NlBlockScales(const NlBlockQuadratic& p, const double* deff, int n, double* q, double* scales) {
  SEPTET_CHECK_MSG(p.ng >= 1 && p.ng <= kNlMaxBlockGroups, "NlBlockScales: 1 .. 8 groups per block");
  const int ng = p.ng;
  const auto G = [&](int i, int j) { return p.g[i * ng + j]; };
  for (int c = 0; c < n; ++c) {
    const double d = deff[c];
    double* s = scales + c * kNlMaxBlockGroups;
    double x[kNlMaxBlockGroups];
    // + 0.0: a scale of -0 is stored as 0, and its value deff s is then +0.
    const auto put = [&](int i, double want) {
      s[i] = std::clamp<double>(RoundNearestEven(want / d), p.sc_min, p.sc_max) + 0.0;
      x[i] = d * s[i];
    };
    for (int i = 0; i < ng; ++i) put(i, p.start[i]);
    for (int sweep = 0; sweep < 3; ++sweep) {
      for (int i = 0; i < ng; ++i) {
        const double gii = G(i, i);
        if (!(gii > 0)) continue;
        double num = p.e[i];
        for (int j = 0; j < ng; ++j) {
          if (j != i) num -= G(i, j) * x[j];
        }
        put(i, num / gii);
      }
    }
    double qc = 0;
    for (int i = 0; i < ng; ++i) {
      double gx = 0;
      for (int j = 0; j < ng; ++j) gx += G(i, j) * x[j];
      qc += x[i] * (gx - 2.0 * p.e[i]);
    }
    q[c] = qc;
  }
}

}  // namespace septet::quant
