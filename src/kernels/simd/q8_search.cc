// Q8_0's scale search (quant/q8_0.h) in SIMD: one candidate scale per lane,
// bit-identical to the scalar quant::Q8_0CandidateErrors on every target. Per lane
// the reference's operations in its order: float division and rounding (to nearest
// even, by the add-and-subtract of 2^23 quant_util.h uses), float products, double
// sums; the fp16 rounding of each refit scale in scalar code between the passes.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/q8_search.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q8_0.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;

void Q8_0CandidateErrorsT(const float* w, const float* imp, int len, const float* d0, int n, uint16_t* d16,
                          double* err) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  using VD = hn::Vec<decltype(dd)>;
  constexpr size_t kMaxLanes = hn::MaxLanes(hn::ScalableTag<double>());
  const int nl = static_cast<int>(hn::Lanes(dd));
  for (int i0 = 0; i0 < n; i0 += nl) {
    const int cnt = std::min(nl, n - i0);
    HWY_ALIGN float dv[kMaxLanes], dq[kMaxLanes];
    for (int i = 0; i < nl; ++i) dv[i] = i < cnt ? d0[i0 + i] : 1.0f;
    // Pass 1: the codes of d0 and their least-squares scale.
    const auto vd0 = hn::Load(df, dv);
    VD vnum = hn::Zero(dd), vden = hn::Zero(dd);
    for (int k = 0; k < len; ++k) {
      const auto q = RoundClampF(df, hn::Div(hn::Set(df, w[k]), vd0), -127.0f, 127.0f);
      const auto a = hn::Set(df, imp != nullptr ? imp[k] : 1.0f);
      vnum = hn::Add(vnum, hn::PromoteTo(dd, hn::Mul(hn::Mul(a, hn::Set(df, w[k])), q)));
      vden = hn::Add(vden, hn::PromoteTo(dd, hn::Mul(hn::Mul(a, q), q)));
    }
    HWY_ALIGN double sn[kMaxLanes], sd[kMaxLanes];
    hn::Store(vnum, dd, sn);
    hn::Store(vden, dd, sd);
    for (int i = 0; i < nl; ++i) {
      const float d = sd[i] > 0 ? static_cast<float>(sn[i] / sd[i]) : dv[i];
      const uint16_t h = FloatToFp16(d > 0 ? d : dv[i]);
      if (i < cnt) d16[i0 + i] = h;
      dq[i] = Fp16ToFloat(h);
    }
    // Pass 2: the weighted error of the block encoded with the stored scale.
    const auto vdq = hn::Load(df, dq);
    const auto positive = hn::Gt(vdq, hn::Zero(df));
    const auto vdiv = hn::IfThenElse(positive, vdq, hn::Set(df, 1.0f));
    VD verr = hn::Zero(dd);
    for (int k = 0; k < len; ++k) {
      const auto q = hn::IfThenElseZero(positive, RoundClampF(df, hn::Div(hn::Set(df, w[k]), vdiv), -127.0f, 127.0f));
      const VD e = hn::Sub(hn::Set(dd, static_cast<double>(w[k])), hn::PromoteTo(dd, hn::Mul(vdq, q)));
      const VD a = hn::Set(dd, static_cast<double>(imp != nullptr ? imp[k] : 1.0f));
      verr = hn::Add(verr, hn::Mul(hn::Mul(a, e), e));
    }
    HWY_ALIGN double se[kMaxLanes];
    hn::Store(verr, dd, se);
    for (int i = 0; i < cnt; ++i) err[i0 + i] = se[i];
  }
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(Q8_0CandidateErrorsT);

void Q8_0CandidateErrors(const float* w, const float* imp, int len, const float* d0, int n, uint16_t* d16,
                         double* err) {
  if (n > 0) HWY_DYNAMIC_DISPATCH(Q8_0CandidateErrorsT)(w, imp, len, d0, n, d16, err);
}

}  // namespace septet::simd
#endif  // HWY_ONCE
