// Float ops (RmsNorm, Softmax, SiluMul, Dot, Axpy) against the scalar kernels in
// kernels/cpu/ (or a double-precision reference), on every compiled target.
// Tolerances, with u = 2^-24:
//   RmsNorm: both tiers sum squares in double and scale in double; the only
//     difference is the summation order of ss (relative ~n * 2^-53), so the
//     outputs agree to one f32 rounding: |d| <= 2u |ref|.
//   Softmax: f32 exp (hwy Exp, <= 1 ulp) of the f32 difference x - max (one
//     rounding, relative error |x - max| u in the exponential), f32 store,
//     double sum: |d| <= (8 + 2 (max - min)) u |ref| + 2 FLT_MIN (underflow to 0 allowed).
//   SiluMul: f32 exp (1 ulp), add, divide, multiply: |d| <= 8u |ref| + 2 FLT_MIN.
//   Dot: n f32 products in lanes vs a double sum: |d| <= gamma_{n+2} sum |a b|.
//   Axpy: one FMA, or a product and a sum on targets without FMA (2 roundings):
//     |d| <= 2u (|y| + |a x|).
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/swiglu.h"
#include "kernels/simd/simd_ops.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

constexpr double kU = 1.0 / 16777216.0;

class SimdVecOpsTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdVecOpsTestGroup, SimdVecOpsTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()),
                         ::hwy::TestParamTargetName);

const int64_t kLengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 33, 64, 100, 2048, 4099};

TEST_P(SimdVecOpsTest, RmsNorm) {
  auto rng = testing::MakeRng(1);
  for (int64_t n : kLengths) {
    const auto x = testing::RandomWeights(rng, n, 1.0f);
    const auto w = testing::RandomWeights(rng, n, 1.0f);
    std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    cpu::RmsNorm(ref.data(), x.data(), w.data(), n, 1e-5f);
    RmsNorm(got.data(), x.data(), w.data(), n, 1e-5f);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_LE(std::fabs(double{got[i]} - ref[i]), 2 * kU * std::fabs(ref[i]))
          << "n=" << n << " i=" << i << " simd " << got[i] << " ref " << ref[i] << " " << TargetName();
    }
  }
}

TEST_P(SimdVecOpsTest, Softmax) {
  auto rng = testing::MakeRng(2);
  for (int64_t n : kLengths) {
    auto x = testing::RandomWeights(rng, n, 4.0f);
    if (n > 4) x[3] = -200.0f;  // underflows to 0
    const float range = *std::max_element(x.begin(), x.end()) - *std::min_element(x.begin(), x.end());
    auto ref = x, got = x;
    cpu::Softmax(ref.data(), n);
    Softmax(got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double tol = (8 + 2 * std::min(double{range}, 200.0)) * kU * ref[i] + 2.0 * std::numeric_limits<float>::min();
      ASSERT_LE(std::fabs(double{got[i]} - ref[i]), tol)
          << "n=" << n << " i=" << i << " simd " << got[i] << " ref " << ref[i] << " " << TargetName();
    }
  }
}

TEST_P(SimdVecOpsTest, SiluMul) {
  auto rng = testing::MakeRng(3);
  for (int64_t n : kLengths) {
    auto g = testing::RandomWeights(rng, n, 3.0f);
    const auto u = testing::RandomWeights(rng, n, 1.0f);
    if (n > 8) {
      g[0] = -100.0f;  // exp(100) overflows: silu -> -0
      g[1] = 100.0f;
      g[2] = 0.0f;
      g[5] = -20.0f;
    }
    std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    cpu::SiluMul(ref.data(), g.data(), u.data(), n);
    SiluMul(got.data(), g.data(), u.data(), n);
    // Relative bound 8u for normal results; near the bottom of the float range
    // (silu(g) = g / (1 + e^-g) with g < -87 underflows) the kernel may flush a
    // subnormal result to zero, an absolute error below 2 * FLT_MIN.
    const double underflow = 2.0 * std::numeric_limits<float>::min();
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_LE(std::fabs(double{got[i]} - ref[i]), 8 * kU * std::fabs(ref[i]) + underflow)
          << "n=" << n << " i=" << i << " g=" << g[i] << " simd " << got[i] << " ref " << ref[i] << " "
          << TargetName();
    }
  }
}

TEST_P(SimdVecOpsTest, DotAndAxpy) {
  auto rng = testing::MakeRng(4);
  for (int64_t n : kLengths) {
    const auto a = testing::RandomWeights(rng, n, 1.0f);
    const auto b = testing::RandomWeights(rng, n, 1.0f);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      ref += double{a[i]} * b[i];
      mag += std::fabs(double{a[i]} * b[i]);
    }
    const double k = static_cast<double>(n) + 2;
    ASSERT_LE(std::fabs(Dot(a.data(), b.data(), n) - ref), k * kU / (1 - k * kU) * mag) << "n=" << n;
    auto y = b;
    const float s = 0.37f;
    Axpy(s, a.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double want = double{b[i]} + double{s} * a[i];
      ASSERT_LE(std::fabs(y[i] - want), 2 * kU * (std::fabs(b[i]) + std::fabs(double{s} * a[i])))
          << "n=" << n << " i=" << i;
    }
  }
}

// AttendHead is exactly the Dot / Softmax / Axpy sequence it replaces (same
// floats, bit for bit), for head sizes with and without vector tails and key
// counts on both sides of the 4-key groups.
TEST_P(SimdVecOpsTest, AttendHeadEqualsDotSoftmaxAxpy) {
  auto rng = testing::MakeRng(77);
  for (int64_t hd : {1, 3, 16, 48, 64, 80, 128, 130}) {
    for (int64_t n_pos : {1, 2, 3, 4, 5, 7, 8, 9, 33, 100}) {
      const int64_t stride = hd + 5;  // rows of a wider cache (other KV heads between)
      const auto q = testing::RandomWeights(rng, hd, 1.0f);
      const auto k = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      const auto v = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      const float scale = 0.125f;
      std::vector<float> s_ref(static_cast<size_t>(n_pos)), ref(static_cast<size_t>(hd), 0.0f);
      for (int64_t t = 0; t < n_pos; ++t) s_ref[t] = Dot(q.data(), k.data() + t * stride, hd) * scale;
      Softmax(s_ref.data(), n_pos);
      for (int64_t t = 0; t < n_pos; ++t) Axpy(s_ref[t], v.data() + t * stride, ref.data(), hd);
      std::vector<float> s_got(static_cast<size_t>(n_pos)), got(static_cast<size_t>(hd) + 1, -3.0f);
      AttendHead(q.data(), k.data(), v.data(), n_pos, hd, stride, scale, s_got.data(), got.data());
      ASSERT_EQ(std::memcmp(s_got.data(), s_ref.data(), s_ref.size() * 4), 0) << "hd=" << hd << " n_pos=" << n_pos;
      ASSERT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * 4), 0) << "hd=" << hd << " n_pos=" << n_pos << " "
                                                                        << TargetName();
      ASSERT_EQ(got[static_cast<size_t>(hd)], -3.0f) << "wrote past head_dim";
    }
  }
}

}  // namespace
}  // namespace septet::simd
