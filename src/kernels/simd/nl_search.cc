// The NL scale search's candidate evaluation (quant/nl_codebook.h) in SIMD: one
// candidate scale per lane, bit-identical to the scalar quant::NlScaleErrors on
// every target. Per lane: y = w * (1 / t) in float; the level of y as the lowest
// level plus the steps of the midpoints below it (small integers: exact in float,
// the level the reference's binary search picks); then the reference's float
// sums in its order (separate multiplies and adds, no FMA).
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/nl_search.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/simd_ops.h"
#include "quant/nl_codebook.h"

HWY_BEFORE_NAMESPACE();
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
constexpr int kMaxLevels = 16;
constexpr int kMaxStoredLen = 128;  // NlStoredErrors' longest group
constexpr int kChains = 4;          // NlStoredErrors' candidates summed side by side

// The level of y in every lane: the lowest level plus the steps of the midpoints below y.
template <class DF, class VF>
HWY_INLINE VF LevelOf(DF df, VF y, const quant::NlCodebook& cb, const float* step) {
  VF l = hn::Set(df, static_cast<float>(cb.levels[0]));
  for (int m = 0; m + 1 < cb.n; ++m) {
    l = hn::Add(l, hn::IfThenElseZero(hn::Lt(hn::Set(df, cb.mids[m]), y), hn::Set(df, step[m])));
  }
  return l;
}

// One weight's terms of the three sums, in the reference's order (a: its importance,
// wf: the weight, vt: the candidates, l: their levels), in float.
template <class VF>
HWY_INLINE void AddTerms(VF a, VF wf, VF vt, VF l, VF* verr, VF* vnum, VF* vden) {
  const VF e = hn::Sub(wf, hn::Mul(vt, l));
  *verr = hn::Add(*verr, hn::Mul(hn::Mul(a, e), e));
  *vnum = hn::Add(*vnum, hn::Mul(hn::Mul(a, wf), l));
  *vden = hn::Add(*vden, hn::Mul(hn::Mul(a, l), l));
}

void NlScaleErrorsT(const quant::NlCodebook& cb, const float* w, const float* imp, int len, const float* t, int n,
                    double* err, float* lsq) {
  SEPTET_CHECK_MSG(cb.n >= 2 && cb.n <= kMaxLevels, "NL codebook: 2 .. 16 levels");
  const hn::ScalableTag<float> df;
  using VF = hn::Vec<decltype(df)>;
  constexpr size_t kMaxLanes = hn::MaxLanes(hn::ScalableTag<float>());
  const int nl = static_cast<int>(hn::Lanes(df));
  float step[kMaxLevels - 1];
  for (int m = 0; m + 1 < cb.n; ++m) step[m] = static_cast<float>(cb.levels[m + 1] - cb.levels[m]);
  for (int i0 = 0; i0 < n; i0 += nl) {
    const int cnt = std::min(nl, n - i0);
    HWY_ALIGN float tt[kMaxLanes], inv[kMaxLanes];
    for (int i = 0; i < nl; ++i) {
      tt[i] = i < cnt ? t[i0 + i] : 1.0f;
      inv[i] = 1.0f / tt[i];  // the reference's inverse, per candidate
    }
    const VF vinv = hn::Load(df, inv), vt = hn::Load(df, tt);
    VF verr = hn::Zero(df), vnum = hn::Zero(df), vden = hn::Zero(df);
    for (int k = 0; k < len; ++k) {
      const VF wf = hn::Set(df, w[k]);
      const VF l = LevelOf(df, hn::Mul(wf, vinv), cb, step);
      AddTerms(hn::Set(df, imp != nullptr ? imp[k] : 1.0f), wf, vt, l, &verr, &vnum, &vden);
    }
    HWY_ALIGN float se[kMaxLanes], sn[kMaxLanes], sd[kMaxLanes];
    hn::Store(verr, df, se);
    hn::Store(vnum, df, sn);
    hn::Store(vden, df, sd);
    for (int i = 0; i < cnt; ++i) {
      err[i0 + i] = se[i];
      lsq[i0 + i] = sd[i] > 0 ? sn[i] / sd[i] : tt[i];
    }
  }
}

// quant::NlStoredErrors with the weights in lanes: per lane the reference's nearest-code
// scan (the same float values d * float(s L[u]), |w - value| compared strictly in code
// order: the lowest code of equals), then the error terms in double, summed in weight
// order as the reference sums them (the candidates' sums side by side).
void NlStoredErrorsT(const quant::NlCodebook& cb, const float* w, const float* imp, int len, float d, const int* s,
                     int n, double* err, uint8_t* codes) {
  SEPTET_CHECK_MSG(cb.n >= 2 && cb.n <= kMaxLevels, "NL codebook: 2 .. 16 levels");
  SEPTET_CHECK_MSG(len >= 0 && len <= kMaxStoredLen, "NlStoredErrors: a group holds at most 128 weights");
  const hn::ScalableTag<float> df;
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;  // as many float lanes as double ones
  using VF = hn::Vec<decltype(df)>;
  constexpr size_t kLanes = hn::MaxLanes(hn::ScalableTag<float>());
  const int nf = static_cast<int>(hn::Lanes(df)), nd = static_cast<int>(hn::Lanes(dd));
  HWY_ALIGN float wb[kMaxStoredLen + kLanes] = {}, ab[kMaxStoredLen + kLanes] = {};
  HWY_ALIGN float val[kMaxStoredLen + kLanes], ub[kMaxStoredLen + kLanes];
  HWY_ALIGN double terms[kChains][kMaxStoredLen + kLanes];
  std::copy(w, w + len, wb);
  for (int k = 0; k < len; ++k) ab[k] = imp != nullptr ? imp[k] : 1.0f;
  // The error loop reads val in whole vectors past len; the padding path writes only
  // [0, len), so the tail is set once here (those lanes are computed, never summed).
  std::fill(val + len, val + len + kLanes, 0.0f);
  for (int c0 = 0; c0 < n; c0 += kChains) {
    const int nc = std::min(kChains, n - c0);
    for (int c = 0; c < nc; ++c) {
      const int sc = s[c0 + c];
      uint8_t* cc = codes + (c0 + c) * len;
      if (sc == 0 || !(d != 0)) {  // NlNearestCode's padding code
        std::fill(cc, cc + len, static_cast<uint8_t>(cb.pad_code));
        std::fill(val, val + len, quant::NlValue(cb, d, sc, cb.pad_code));
      } else {
        float vu[kMaxLevels];
        for (int u = 0; u < cb.n; ++u) vu[u] = quant::NlValue(cb, d, sc, u);
        for (int k0 = 0; k0 < len; k0 += nf) {
          const VF x = hn::Load(df, wb + k0);
          VF bv = hn::Set(df, vu[0]), best = hn::Abs(hn::Sub(x, bv)), bu = hn::Zero(df);
          for (int u = 1; u < cb.n; ++u) {
            const VF v = hn::Set(df, vu[u]), e = hn::Abs(hn::Sub(x, v));
            const auto lt = hn::Lt(e, best);
            best = hn::IfThenElse(lt, e, best);
            bv = hn::IfThenElse(lt, v, bv);
            bu = hn::IfThenElse(lt, hn::Set(df, static_cast<float>(u)), bu);
          }
          hn::Store(bv, df, val + k0);
          hn::Store(bu, df, ub + k0);
        }
        for (int k = 0; k < len; ++k) cc[k] = static_cast<uint8_t>(ub[k]);
      }
      if (err == nullptr) continue;
      for (int k0 = 0; k0 < len; k0 += nd) {
        const auto e = hn::Sub(hn::PromoteTo(dd, hn::Load(dfh, wb + k0)), hn::PromoteTo(dd, hn::Load(dfh, val + k0)));
        hn::Store(hn::Mul(hn::Mul(hn::PromoteTo(dd, hn::Load(dfh, ab + k0)), e), e), dd, terms[c] + k0);
      }
    }
    if (err == nullptr) continue;
    double e2[kChains] = {};
    for (int k = 0; k < len; ++k) {
      for (int c = 0; c < nc; ++c) e2[c] += terms[c][k];
    }
    std::copy(e2, e2 + nc, err + c0);
  }
}

// quant::NlBlockScales with one candidate step per lane: every lane performs the
// reference's double operations in its order (the rounding by the same 2^52 sum), so
// each candidate's scales and error are the same bits. Two vectors of candidates go
// side by side (each step is a chain of dependent divisions and sums; two chains fill
// the units one leaves idle), and the sweeps stop when one moves no scale in any lane
// (a lane that did not move stays still in every later sweep: the reference's result).
template <int NV>
HWY_INLINE void BlockScalesVectors(const quant::NlBlockQuadratic& p, const double* deff, int c0, int n, double* q,
                                   double* scales) {
  const hn::ScalableTag<double> dd;
  using VD = hn::Vec<decltype(dd)>;
  constexpr size_t kMaxLanes = hn::MaxLanes(hn::ScalableTag<double>());
  constexpr int kG = quant::kNlMaxBlockGroups;
  const int nl = static_cast<int>(hn::Lanes(dd)), ng = p.ng;
  const VD lo = hn::Set(dd, static_cast<double>(p.sc_min)), hi = hn::Set(dd, static_cast<double>(p.sc_max));
  const VD two52 = hn::Set(dd, 4503599627370496.0), zero = hn::Zero(dd);
  const auto G = [&](int i, int j) { return hn::Set(dd, p.g[i * ng + j]); };
  HWY_ALIGN double buf[kMaxLanes];
  VD d[NV], s[NV][kG], x[NV][kG];
  for (int v = 0; v < NV; ++v) {
    for (int i = 0; i < nl; ++i) buf[i] = c0 + v * nl + i < n ? deff[c0 + v * nl + i] : 1.0;
    d[v] = hn::Load(dd, buf);
  }
  const auto put = [&](int v, int i, VD want) {
    const VD r0 = hn::Div(want, d[v]);
    // quant::RoundNearestEven: (r0 + t) - t with t = +-2^52, where |r0| < 2^52.
    const VD t = hn::CopySign(two52, r0);
    const VD r = hn::IfThenElse(hn::Lt(hn::Abs(r0), two52), hn::CopySign(hn::Sub(hn::Add(r0, t), t), r0), r0);
    const VD c = hn::IfThenElse(hn::Lt(r, lo), lo, hn::IfThenElse(hn::Lt(hi, r), hi, r));  // std::clamp
    s[v][i] = hn::Add(c, zero);
    x[v][i] = hn::Mul(d[v], s[v][i]);
  };
  for (int i = 0; i < ng; ++i) {
    for (int v = 0; v < NV; ++v) put(v, i, hn::Set(dd, p.start[i]));
  }
  for (int sweep = 0; sweep < 3; ++sweep) {
    auto moved = hn::Ne(zero, zero);
    for (int i = 0; i < ng; ++i) {
      const double gii = p.g[i * ng + i];
      if (!(gii > 0)) continue;
      for (int v = 0; v < NV; ++v) {
        VD num = hn::Set(dd, p.e[i]);
        for (int j = 0; j < ng; ++j) {
          if (j != i) num = hn::Sub(num, hn::Mul(G(i, j), x[v][j]));
        }
        const VD old = s[v][i];
        put(v, i, hn::Div(num, hn::Set(dd, gii)));
        moved = hn::Or(moved, hn::Ne(old, s[v][i]));
      }
    }
    if (hn::AllFalse(dd, moved)) break;
  }
  for (int v = 0; v < NV; ++v) {
    const int cnt = std::min(nl, n - c0 - v * nl);
    VD qc = zero;
    for (int i = 0; i < ng; ++i) {
      VD gx = zero;
      for (int j = 0; j < ng; ++j) gx = hn::Add(gx, hn::Mul(G(i, j), x[v][j]));
      qc = hn::Add(qc, hn::Mul(x[v][i], hn::Sub(gx, hn::Set(dd, 2.0 * p.e[i]))));
    }
    hn::Store(qc, dd, buf);
    std::copy(buf, buf + cnt, q + c0 + v * nl);
    for (int k = 0; k < ng; ++k) {
      hn::Store(s[v][k], dd, buf);
      for (int i = 0; i < cnt; ++i) scales[(c0 + v * nl + i) * kG + k] = buf[i];
    }
  }
}

void NlBlockScalesT(const quant::NlBlockQuadratic& p, const double* deff, int n, double* q, double* scales) {
  SEPTET_CHECK_MSG(p.ng >= 1 && p.ng <= quant::kNlMaxBlockGroups, "NlBlockScales: 1 .. 8 groups per block");
  const int nl = static_cast<int>(hn::Lanes(hn::ScalableTag<double>()));
  int c0 = 0;
  for (; c0 + nl < n; c0 += 2 * nl) BlockScalesVectors<2>(p, deff, c0, n, q, scales);
  if (c0 < n) BlockScalesVectors<1>(p, deff, c0, n, q, scales);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(NlScaleErrorsT);
HWY_EXPORT(NlBlockScalesT);
HWY_EXPORT(NlStoredErrorsT);

void NlScaleErrors(const quant::NlCodebook& cb, const float* w, const float* imp, int len, const float* t, int n,
                   double* err, float* lsq) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(NlScaleErrorsT)(cb, w, imp, len, t, n, err, lsq);
}

void NlStoredErrors(const quant::NlCodebook& cb, const float* w, const float* imp, int len, float d, const int* s,
                    int n, double* err, uint8_t* codes) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(NlStoredErrorsT)(cb, w, imp, len, d, s, n, err, codes);
}

void NlBlockScales(const quant::NlBlockQuadratic& p, const double* deff, int n, double* q, double* scales) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(NlBlockScalesT)(p, deff, n, q, scales);
}

}  // namespace septet::simd
#endif  // HWY_ONCE
