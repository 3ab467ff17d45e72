// The NL scale search's candidate evaluation (quant/nl_codebook.h) in SIMD: one
// candidate scale per lane, bit-identical to the scalar quant::NlScaleErrors on
// every target. Per lane: y = w * (1 / t) in float; the level of y as the lowest
// level plus the steps of the midpoints below it (small integers: exact in float,
// the level the reference's binary search picks); then the reference's double
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
// wd: the weight, vt: the candidates, ld: their levels).
template <class VD>
HWY_INLINE void AddTerms(VD a, VD wd, VD vt, VD ld, VD* verr, VD* vnum, VD* vden) {
  const VD e = hn::Sub(wd, hn::Mul(vt, ld));
  *verr = hn::Add(*verr, hn::Mul(hn::Mul(a, e), e));
  *vnum = hn::Add(*vnum, hn::Mul(hn::Mul(a, wd), ld));
  *vden = hn::Add(*vden, hn::Mul(hn::Mul(a, ld), ld));
}

// The first cnt lanes' error and least-squares scale (tt: the candidates).
template <class DD, class VD>
HWY_INLINE void StoreGroup(DD dd, VD verr, VD vnum, VD vden, const float* tt, int cnt, double* err, float* lsq) {
  constexpr size_t kMaxLanes = hn::MaxLanes(DD());
  HWY_ALIGN double se[kMaxLanes], sn[kMaxLanes], sd[kMaxLanes];
  hn::Store(verr, dd, se);
  hn::Store(vnum, dd, sn);
  hn::Store(vden, dd, sd);
  for (int i = 0; i < cnt; ++i) {
    err[i] = se[i];
    lsq[i] = sd[i] > 0 ? static_cast<float>(sn[i] / sd[i]) : tt[i];
  }
}

void NlScaleErrorsT(const quant::NlCodebook& cb, const float* w, const float* imp, int len, const float* t, int n,
                    double* err, float* lsq) {
  SEPTET_CHECK_MSG(cb.n >= 2 && cb.n <= kMaxLevels, "NL codebook: 2 .. 16 levels");
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // as many float lanes as double ones
  using VD = hn::Vec<decltype(dd)>;
  constexpr size_t kMaxLanes = hn::MaxLanes(hn::ScalableTag<double>());
  const int nl = static_cast<int>(hn::Lanes(dd));
  float step[kMaxLevels - 1];
  for (int m = 0; m + 1 < cb.n; ++m) step[m] = static_cast<float>(cb.levels[m + 1] - cb.levels[m]);
  int i0 = 0;
  // Two groups of candidates per pass where a full float vector holds both: the float
  // part (the level search, most of the work) runs once for twice the candidates, each
  // half then promoted to its own double vector. Every lane's operations are the same.
#if HWY_TARGET != HWY_SCALAR  // (one lane there: no halves)
  using DF2 = hn::Repartition<float, decltype(dd)>;
  static_assert(hn::MaxLanes(DF2()) == 2 * kMaxLanes, "a float vector holds two double vectors' lanes");
  {
    const DF2 df2;
    const hn::Half<DF2> dh;
    for (; i0 + 2 * nl <= n; i0 += 2 * nl) {
      HWY_ALIGN float tt[2 * kMaxLanes], inv[2 * kMaxLanes];
      for (int i = 0; i < 2 * nl; ++i) {
        tt[i] = t[i0 + i];
        inv[i] = 1.0f / tt[i];  // the reference's inverse, per candidate
      }
      const auto vinv = hn::Load(df2, inv);
      const VD vt[2] = {hn::PromoteTo(dd, hn::Load(df, tt)), hn::PromoteTo(dd, hn::Load(df, tt + nl))};
      VD verr[2] = {hn::Zero(dd), hn::Zero(dd)}, vnum[2] = {hn::Zero(dd), hn::Zero(dd)};
      VD vden[2] = {hn::Zero(dd), hn::Zero(dd)};
      for (int k = 0; k < len; ++k) {
        const auto l = LevelOf(df2, hn::Mul(hn::Set(df2, w[k]), vinv), cb, step);
        const VD ld[2] = {hn::PromoteTo(dd, hn::LowerHalf(dh, l)), hn::PromoteTo(dd, hn::UpperHalf(dh, l))};
        const VD a = hn::Set(dd, static_cast<double>(imp != nullptr ? imp[k] : 1.0f));
        const VD wd = hn::Set(dd, static_cast<double>(w[k]));
        for (int h = 0; h < 2; ++h) AddTerms(a, wd, vt[h], ld[h], &verr[h], &vnum[h], &vden[h]);
      }
      for (int h = 0; h < 2; ++h) {
        StoreGroup(dd, verr[h], vnum[h], vden[h], tt + h * nl, nl, err + i0 + h * nl, lsq + i0 + h * nl);
      }
    }
  }
#endif
  for (; i0 < n; i0 += nl) {
    const int cnt = std::min(nl, n - i0);
    HWY_ALIGN float tt[kMaxLanes], inv[kMaxLanes];
    for (int i = 0; i < nl; ++i) {
      tt[i] = i < cnt ? t[i0 + i] : 1.0f;
      inv[i] = 1.0f / tt[i];  // the reference's inverse, per candidate
    }
    const auto vinv = hn::Load(df, inv);
    const VD vt = hn::PromoteTo(dd, hn::Load(df, tt));
    VD verr = hn::Zero(dd), vnum = hn::Zero(dd), vden = hn::Zero(dd);
    for (int k = 0; k < len; ++k) {
      const VD ld = hn::PromoteTo(dd, LevelOf(df, hn::Mul(hn::Set(df, w[k]), vinv), cb, step));
      const VD a = hn::Set(dd, static_cast<double>(imp != nullptr ? imp[k] : 1.0f));
      AddTerms(a, hn::Set(dd, static_cast<double>(w[k])), vt, ld, &verr, &vnum, &vden);
    }
    StoreGroup(dd, verr, vnum, vden, tt, cnt, err + i0, lsq + i0);
  }
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(NlScaleErrorsT);

void NlScaleErrors(const quant::NlCodebook& cb, const float* w, const float* imp, int len, const float* t, int n,
                   double* err, float* lsq) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(NlScaleErrorsT)(cb, w, imp, len, t, n, err, lsq);
}

}  // namespace septet::simd
#endif  // HWY_ONCE
