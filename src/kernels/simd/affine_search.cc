// SearchAffine's two passes (quant/affine_fit.h: the (d, m) search of Q3P5 and Q4_G)
// in SIMD, one candidate (d, m) per lane, bit-identical to the scalar
// quant::AffineCodeSums and quant::AffineErrors on every target. Per lane the
// reference's operations in its order: the nearest code in float (subtract, IEEE
// division, rounding to nearest even by the add-and-subtract of 2^23 that
// quant_util.h uses, the clamp), the decoded value m + d c as a float multiply and
// add, the sums in double, each over the weights in index order.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/affine_search.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/simd_ops.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;

// quant::NearestAffineCode(w, d, m, max_code) per lane, as a float (+0 for code 0):
// `positive` = d > 0, `div` = d where positive (else 1).
template <class DF, class V, class M>
HWY_INLINE V NearestCode(DF df, V w, V div, V m, M positive, float hi) {
  const V r = RoundClampF(df, hn::Div(hn::Sub(w, m), div), 0.0f, hi);
  return hn::IfThenElseZero(positive, hn::Add(r, hn::Zero(df)));  // -0 -> +0, as the int code's float
}

template <bool kErrors>
void AffinePass(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                double* o1, double* o2, double* o3) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  using VD = hn::Vec<decltype(dd)>;
  constexpr size_t kMaxLanes = hn::MaxLanes(hn::ScalableTag<double>());
  const int nl = static_cast<int>(hn::Lanes(dd));
  const float hi = static_cast<float>(max_code);
  for (int j0 = 0; j0 < k; j0 += nl) {
    const int cnt = std::min(nl, k - j0);
    HWY_ALIGN float dv[kMaxLanes], mv[kMaxLanes];
    for (int i = 0; i < nl; ++i) {
      dv[i] = i < cnt ? d[j0 + i] : 1.0f;
      mv[i] = i < cnt ? m[j0 + i] : 0.0f;
    }
    const auto vd = hn::Load(df, dv), vm = hn::Load(df, mv);
    const auto positive = hn::Gt(vd, hn::Zero(df));
    const auto div = hn::IfThenElse(positive, vd, hn::Set(df, 1.0f));
    VD a1 = hn::Zero(dd), a2 = hn::Zero(dd), a3 = hn::Zero(dd);
    for (int i = 0; i < n; ++i) {
      const auto wf = hn::Set(df, w[i]);
      const auto c = NearestCode(df, wf, div, vm, positive, hi);
      const VD a = hn::Set(dd, static_cast<double>(imp != nullptr ? imp[i] : 1.0f));
      if constexpr (kErrors) {  // AffineError: e = w - (m + d c), err += a e e
        const VD e = hn::Sub(hn::Set(dd, static_cast<double>(w[i])), hn::PromoteTo(dd, hn::Add(vm, hn::Mul(vd, c))));
        a1 = hn::Add(a1, hn::Mul(hn::Mul(a, e), e));
      } else {  // s1 += a c, s2 += a c c, t1 += a c w
        const VD ac = hn::Mul(a, hn::PromoteTo(dd, c));
        a1 = hn::Add(a1, ac);
        a2 = hn::Add(a2, hn::Mul(ac, hn::PromoteTo(dd, c)));
        a3 = hn::Add(a3, hn::Mul(ac, hn::Set(dd, static_cast<double>(w[i]))));
      }
    }
    HWY_ALIGN double r1[kMaxLanes], r2[kMaxLanes], r3[kMaxLanes];
    hn::Store(a1, dd, r1);
    hn::Store(a2, dd, r2);
    hn::Store(a3, dd, r3);
    for (int i = 0; i < cnt; ++i) {
      o1[j0 + i] = r1[i];
      if constexpr (!kErrors) {
        o2[j0 + i] = r2[i];
        o3[j0 + i] = r3[i];
      }
    }
  }
}

void AffineCodeSumsT(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                     double* s1, double* s2, double* t1) {
  AffinePass<false>(w, imp, n, d, m, k, max_code, s1, s2, t1);
}

void AffineErrorsT(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                   double* err) {
  AffinePass<true>(w, imp, n, d, m, k, max_code, err, nullptr, nullptr);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(AffineCodeSumsT);
HWY_EXPORT(AffineErrorsT);

void AffineCodeSums(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                    double* s1, double* s2, double* t1) {
  if (k > 0) HWY_DYNAMIC_DISPATCH(AffineCodeSumsT)(w, imp, n, d, m, k, max_code, s1, s2, t1);
}

void AffineErrors(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                  double* err) {
  if (k > 0) HWY_DYNAMIC_DISPATCH(AffineErrorsT)(w, imp, n, d, m, k, max_code, err);
}

}  // namespace septet::simd
#endif  // HWY_ONCE
