#include "kernels/cpu/softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "util/test_util.h"

namespace septet::cpu {
namespace {

// exp is taken in double and stored to float (one rounding), then scaled by the
// double 1/sum and rounded again: at most two float roundings, 2 * 2^-24
// relative, plus O(n * 2^-53) from the double sum.
constexpr double kU = 0x1p-24;

TEST(SoftmaxTest, MatchesLongDoubleReference) {
  auto rng = testing::MakeRng(10);
  for (int64_t n : {1, 2, 3, 17, 128, 512, 1000}) {
    for (float spread : {0.1f, 3.0f, 30.0f}) {
      auto x = testing::RandomWeights(rng, n, spread);
      std::vector<float> y = x;
      Softmax(y.data(), n);
      long double mx = x[0];
      for (float v : x) mx = std::max<long double>(mx, v);
      long double sum = 0;
      for (float v : x) sum += std::exp(static_cast<long double>(v) - mx);
      for (int64_t i = 0; i < n; ++i) {
        const double ref = static_cast<double>(std::exp(static_cast<long double>(x[i]) - mx) / sum);
        // Below float's normal range the result is a subnormal: absolute error 2^-150.
        const double tol = (2 * kU + (n + 8) * 0x1p-53) * ref + 0x1p-149;
        ASSERT_NEAR(y[i], ref, tol) << "n=" << n << " spread=" << spread << " i=" << i;
      }
    }
  }
}

TEST(SoftmaxTest, LargeInputsDoNotOverflow) {
  std::vector<float> x = {1000.0f, 1000.0f, -1000.0f};
  Softmax(x.data(), 3);
  EXPECT_FLOAT_EQ(x[0], 0.5f);
  EXPECT_FLOAT_EQ(x[1], 0.5f);
  EXPECT_EQ(x[2], 0.0f);
}

TEST(SoftmaxTest, MinusInfinityIsMaskedToExactZero) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {0.0f, -inf, 0.0f, -inf};
  Softmax(x.data(), 4);
  EXPECT_EQ(x[0], 0.5f);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_EQ(x[2], 0.5f);
  EXPECT_EQ(x[3], 0.0f);
}

TEST(SoftmaxTest, SingleElementIsOne) {
  float x = -42.0f;
  Softmax(&x, 1);
  EXPECT_EQ(x, 1.0f);
}

}  // namespace
}  // namespace septet::cpu
