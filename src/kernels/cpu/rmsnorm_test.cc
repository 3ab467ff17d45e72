#include "kernels/cpu/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "util/test_util.h"

namespace septet::cpu {
namespace {

// The kernel accumulates in double and rounds once to float at the end, so its
// error is one float rounding (2^-24 relative) plus O(n * 2^-53) from the double
// sum; the reference is long double.
constexpr double kU = 0x1p-24;

void ExpectMatchesReference(const std::vector<float>& x, const std::vector<float>& w, float eps) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> out(x.size());
  RmsNorm(out.data(), x.data(), w.data(), n, eps);
  long double ss = 0;
  for (float v : x) ss += static_cast<long double>(v) * v;
  const long double scale = 1.0L / std::sqrt(ss / n + eps);
  for (int64_t i = 0; i < n; ++i) {
    const double ref = static_cast<double>(x[i] * scale * w[i]);
    const double tol = (kU + (n + 8) * 0x1p-53) * std::fabs(ref) + 1e-300;
    ASSERT_NEAR(out[i], ref, tol) << "n=" << n << " i=" << i;
  }
}

TEST(RmsNormTest, MatchesLongDoubleReference) {
  auto rng = testing::MakeRng(1);
  for (int64_t n : {1, 2, 3, 7, 8, 63, 64, 65, 172, 4096}) {
    auto x = testing::RandomWeights(rng, n, 1.0f);
    auto w = testing::RandomWeights(rng, n, 0.5f);
    ExpectMatchesReference(x, w, 1e-5f);
    ExpectMatchesReference(x, w, 1e-6f);
  }
}

TEST(RmsNormTest, ZeroInputGivesZeroNotNan) {
  std::vector<float> x(16, 0.0f), w(16, 1.0f), out(16, 7.0f);
  RmsNorm(out.data(), x.data(), w.data(), 16, 1e-5f);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(RmsNormTest, InPlaceEqualsOutOfPlace) {
  auto rng = testing::MakeRng(2);
  auto x = testing::RandomWeights(rng, 65, 3.0f);
  auto w = testing::RandomWeights(rng, 65, 1.0f);
  std::vector<float> out(65);
  RmsNorm(out.data(), x.data(), w.data(), 65, 1e-5f);
  RmsNorm(x.data(), x.data(), w.data(), 65, 1e-5f);
  EXPECT_EQ(out, x);
}

TEST(RmsNormTest, UnitWeightsGiveUnitRms) {
  auto rng = testing::MakeRng(3);
  auto x = testing::RandomWeights(rng, 256, 10.0f);
  std::vector<float> w(256, 1.0f), out(256);
  RmsNorm(out.data(), x.data(), w.data(), 256, 0.0f);
  double ss = 0;
  for (float v : out) ss += static_cast<double>(v) * v;
  // Each out[i] is off by at most 2^-24 relative, so mean(out^2) by 2^-23.
  EXPECT_NEAR(ss / 256, 1.0, 2 * kU * 1.01);
}

}  // namespace
}  // namespace septet::cpu
