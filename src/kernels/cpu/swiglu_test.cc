#include "kernels/cpu/swiglu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "util/test_util.h"

namespace septet::cpu {
namespace {

// silu and the product are computed in double and rounded once to float:
// error <= 2^-24 |ref| plus a few double roundings (~2^-50 relative).
TEST(SiluMulTest, MatchesLongDoubleReference) {
  auto rng = testing::MakeRng(20);
  for (int64_t n : {1, 5, 172, 1000}) {
    auto g = testing::RandomWeights(rng, n, 4.0f, 0.05f, 30.0f);
    auto u = testing::RandomWeights(rng, n, 2.0f);
    std::vector<float> out(static_cast<size_t>(n));
    SiluMul(out.data(), g.data(), u.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const long double gl = g[i];
      const double ref = static_cast<double>(gl / (1.0L + std::exp(-gl)) * u[i]);
      ASSERT_NEAR(out[i], ref, (0x1p-24 + 0x1p-48) * std::fabs(ref) + 0x1p-149)
          << "g=" << g[i] << " u=" << u[i];
    }
  }
}

TEST(SiluMulTest, LimitsAndAliasing) {
  std::vector<float> g = {0.0f, -1000.0f, 1000.0f, 1.0f};
  std::vector<float> u = {5.0f, 1.0f, 1.0f, 2.0f};
  SiluMul(g.data(), g.data(), u.data(), 4);  // out aliases gate
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_EQ(g[1], -0.0f);  // silu(-1000) underflows to (-)0
  EXPECT_EQ(g[2], 1000.0f);
  EXPECT_FLOAT_EQ(g[3], static_cast<float>(2.0 / (1.0 + std::exp(-1.0))));
}

}  // namespace
}  // namespace septet::cpu
