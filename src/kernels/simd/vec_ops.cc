// Float vector ops of the forward pass (RmsNorm, Softmax, SiluMul, Dot, Axpy,
// AttendHead),
// portable Highway on every target. Semantics of the scalar kernels in
// kernels/cpu/; the error bounds against them are derived in vec_ops_test.cc.
//   RmsNorm: sum of squares in double (as the reference), output in double.
//   Softmax: exp in f32 (hwy contrib Exp, ~1 ulp), normalising sum in double.
//   SiluMul: g / (1 + exp(-g)) * up in f32.
//   Dot / Axpy: f32 FMA.
#include "kernels/simd/hwy_config.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/vec_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

void RmsNormT(float* out, const float* x, const float* weight, int64_t n, float eps) {
  SEPTET_DCHECK(n > 0);
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;  // half-width f32 vector
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  auto s0 = hn::Zero(dd), s1 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::PromoteTo(dd, hn::LoadU(dfh, x + i));
    const auto b = hn::PromoteTo(dd, hn::LoadU(dfh, x + i + N));
    s0 = hn::MulAdd(a, a, s0);
    s1 = hn::MulAdd(b, b, s1);
  }
  double ss = hn::GetLane(hn::SumOfLanes(dd, hn::Add(s0, s1)));
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps));
  const auto vs = hn::Set(dd, scale);
  i = 0;
  for (; i + N <= n; i += N) {
    const auto xv = hn::PromoteTo(dd, hn::LoadU(dfh, x + i));
    const auto wv = hn::PromoteTo(dd, hn::LoadU(dfh, weight + i));
    hn::StoreU(hn::DemoteTo(dfh, hn::Mul(hn::Mul(xv, vs), wv)), dfh, out + i);
  }
  for (; i < n; ++i) out[i] = static_cast<float>(static_cast<double>(x[i]) * scale * weight[i]);
}

void SoftmaxT(float* x, int64_t n) {
  SEPTET_DCHECK(n > 0);
  const hn::ScalableTag<float> df;
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t NH = static_cast<int64_t>(hn::Lanes(dd));
  float max_v = x[0];
  int64_t i = 0;
  if (n >= N) {
    auto m = hn::LoadU(df, x);
    for (i = N; i + N <= n; i += N) m = hn::Max(m, hn::LoadU(df, x + i));
    max_v = hn::GetLane(hn::MaxOfLanes(df, m));
  }
  for (; i < n; ++i) max_v = x[i] > max_v ? x[i] : max_v;
  const auto vmax = hn::Set(df, max_v);
  auto sum = hn::Zero(dd);
  i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    hn::StoreU(e, df, x + i);
  }
  // Sum the stored f32 exponentials in double (NH lanes at a time).
  int64_t j = 0;
  for (; j + NH <= i; j += NH) sum = hn::Add(sum, hn::PromoteTo(dd, hn::LoadU(dfh, x + j)));
  double total = hn::GetLane(hn::SumOfLanes(dd, sum));
  for (; j < i; ++j) total += x[j];
  for (; i < n; ++i) {
    const double e = std::exp(static_cast<double>(x[i]) - max_v);
    x[i] = static_cast<float>(e);
    total += static_cast<double>(x[i]);
  }
  const double inv = 1.0 / total;
  const auto vinv = hn::Set(dd, inv);
  i = 0;
  for (; i + NH <= n; i += NH) {
    hn::StoreU(hn::DemoteTo(dfh, hn::Mul(hn::PromoteTo(dd, hn::LoadU(dfh, x + i)), vinv)), dfh, x + i);
  }
  for (; i < n; ++i) x[i] = static_cast<float>(x[i] * inv);
}

void SiluMulT(float* out, const float* gate, const float* up, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    const auto silu = hn::Div(g, hn::Add(one, hn::Exp(df, hn::Neg(g))));
    hn::StoreU(hn::Mul(silu, hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

float DotT(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto s0 = hn::Zero(df), s1 = hn::Zero(df), s2 = hn::Zero(df), s3 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + N), hn::LoadU(df, b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(df, a + i + 2 * N), hn::LoadU(df, b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(df, a + i + 3 * N), hn::LoadU(df, b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void AxpyT(float a, const float* x, float* y, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto va = hn::Set(df, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);  // explicit: AttendHeadT's tail does the same
}

// DotT's operations for K rows b_0..b_{K-1} (row j at b + j * stride) at once:
// per row the same accumulators, order and tail, so the same float as DotT.
template <int K>
HWY_INLINE void DotRows(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  decltype(hn::Zero(df)) s[K][4];
  for (int j = 0; j < K; ++j) {
    for (int c = 0; c < 4; ++c) s[j][c] = hn::Zero(df);
  }
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    for (int c = 0; c < 4; ++c) {
      const auto av = hn::LoadU(df, a + i + c * N);
      for (int j = 0; j < K; ++j) s[j][c] = hn::MulAdd(av, hn::LoadU(df, b + j * stride + i + c * N), s[j][c]);
    }
  }
  for (; i + N <= n; i += N) {
    const auto av = hn::LoadU(df, a + i);
    for (int j = 0; j < K; ++j) s[j][0] = hn::MulAdd(av, hn::LoadU(df, b + j * stride + i), s[j][0]);
  }
  for (int j = 0; j < K; ++j) {
    float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s[j][0], s[j][1]), hn::Add(s[j][2], s[j][3]))));
    for (int64_t t = i; t < n; ++t) sum += a[t] * b[j * stride + t];
    out[j] = sum;
  }
}

// kernels::AttendHead in one call: the scores as DotT(q, k_t) * scale (4 keys
// interleaved), SoftmaxT, then out = sum_t p_t v_t as AxpyT's per-element FMA
// chain over t, in column blocks of 4 vectors held in registers. The same
// floats as the Dot / Softmax / Axpy sequence, without a dispatch per key.
void AttendHeadT(const float* q, const float* k, const float* v, int64_t n_pos, int64_t hd, int64_t stride,
                 float scale, float* scores, float* out) {
  SEPTET_DCHECK(n_pos > 0);
  int64_t t = 0;
  float s4[4];
  for (; t + 4 <= n_pos; t += 4) {
    DotRows<4>(q, k + t * stride, stride, hd, s4);
    for (int j = 0; j < 4; ++j) scores[t + j] = s4[j] * scale;
  }
  for (; t < n_pos; ++t) {
    DotRows<1>(q, k + t * stride, stride, hd, s4);
    scores[t] = s4[0] * scale;
  }
  SoftmaxT(scores, n_pos);
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = 0;
  for (; j + 4 * N <= hd; j += 4 * N) {
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    for (int64_t u = 0; u < n_pos; ++u) {
      const auto p = hn::Set(df, scores[u]);
      const float* vr = v + u * stride + j;
      a0 = hn::MulAdd(p, hn::LoadU(df, vr), a0);
      a1 = hn::MulAdd(p, hn::LoadU(df, vr + N), a1);
      a2 = hn::MulAdd(p, hn::LoadU(df, vr + 2 * N), a2);
      a3 = hn::MulAdd(p, hn::LoadU(df, vr + 3 * N), a3);
    }
    hn::StoreU(a0, df, out + j);
    hn::StoreU(a1, df, out + j + N);
    hn::StoreU(a2, df, out + j + 2 * N);
    hn::StoreU(a3, df, out + j + 3 * N);
  }
  for (; j + N <= hd; j += N) {
    auto a0 = hn::Zero(df);
    for (int64_t u = 0; u < n_pos; ++u) a0 = hn::MulAdd(hn::Set(df, scores[u]), hn::LoadU(df, v + u * stride + j), a0);
    hn::StoreU(a0, df, out + j);
  }
  for (; j < hd; ++j) {  // AxpyT's tail: one fma per position
    float a = 0.0f;
    for (int64_t u = 0; u < n_pos; ++u) a = std::fma(scores[u], v[u * stride + j], a);
    out[j] = a;
  }
}

const char* TargetNameT() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(RmsNormT);
HWY_EXPORT(SoftmaxT);
HWY_EXPORT(SiluMulT);
HWY_EXPORT(DotT);
HWY_EXPORT(AxpyT);
HWY_EXPORT(AttendHeadT);
HWY_EXPORT(TargetNameT);

void RmsNorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNormT)(out, x, weight, n, eps);
}
void Softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxT)(x, n); }
void SiluMul(float* out, const float* gate, const float* up, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMulT)(out, gate, up, n);
}
float Dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotT)(a, b, n); }
void Axpy(float a, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyT)(a, x, y, n); }
void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out) {
  HWY_DYNAMIC_DISPATCH(AttendHeadT)(q, k, v, n_pos, head_dim, stride, scale, scores, out);
}
const char* TargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameT)(); }

}  // namespace septet::simd
#endif  // HWY_ONCE
