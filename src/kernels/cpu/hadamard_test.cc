#include "kernels/cpu/hadamard.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <vector>

#include "util/test_util.h"

namespace septet::cpu {
namespace {

constexpr double kU = 0x1p-24;  // float unit roundoff

// Entry (i, j) of the Sylvester-Hadamard matrix: (-1)^popcount(i & j).
int HadamardEntry(int64_t i, int64_t j) { return (std::popcount(static_cast<uint64_t>(i & j)) & 1) != 0 ? -1 : 1; }

// T(x) from the definition, as a dense product in long double.
std::vector<long double> Reference(const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size()), b = RotationBlock(n);
  std::vector<long double> y(x.size(), 0.0L);
  for (int64_t o = 0; o < n; o += b) {
    for (int64_t i = 0; i < b; ++i) {
      long double acc = 0;
      for (int64_t j = 0; j < b; ++j) acc += HadamardEntry(i, j) * RotationSign(o + j) * static_cast<long double>(x[o + j]);
      y[o + i] = acc / std::sqrt(static_cast<long double>(b));
    }
  }
  return y;
}

TEST(HadamardTest, BlockIsTheLargestPowerOfTwoDividingN) {
  EXPECT_EQ(RotationBlock(1), 1);
  EXPECT_EQ(RotationBlock(7), 1);
  EXPECT_EQ(RotationBlock(172), 4);
  EXPECT_EQ(RotationBlock(576), 64);
  EXPECT_EQ(RotationBlock(1536), 512);
  EXPECT_EQ(RotationBlock(2048), 2048);
  EXPECT_EQ(RotationBlock(5632), 512);
  EXPECT_EQ(RotationBlock(11008), 256);
}

TEST(HadamardTest, SignsAreBalancedAndFixed) {
  int neg = 0;
  for (int64_t j = 0; j < 4096; ++j) neg += RotationSign(j) < 0;
  EXPECT_GT(neg, 1800);
  EXPECT_LT(neg, 2300);
  // The file format depends on the signs: SplitMix64(0) is the first output of the
  // reference SplitMix64 generator seeded with 0, 0xE220A8397B1DCDAF (top bit set).
  EXPECT_EQ(RotationSign(0), -1.0f);
}

// Float butterflies: after k = log2(b) stages each output carries at most k·u·Σ|x|
// (block sums, every partial sum is bounded by it), then the scale 1/√b rounded once
// (u) and the product rounded once more (u).
TEST(HadamardTest, FloatMatchesDenseReference) {
  auto rng = testing::MakeRng(7);
  for (int64_t n : {1, 2, 3, 8, 12, 64, 172, 576, 1536}) {
    std::vector<float> x = testing::RandomWeights(rng, n, 1.0f);
    if (n > 10) x[static_cast<size_t>(n / 3)] = 25.0f;  // an outlier channel
    const std::vector<long double> ref = Reference(x);
    std::vector<float> y = x;
    InputRotation(n).Apply(y.data());
    const int64_t b = RotationBlock(n);
    const double k = std::log2(static_cast<double>(b));
    for (int64_t o = 0; o < n; o += b) {
      double l1 = 0;
      for (int64_t j = o; j < o + b; ++j) l1 += std::fabs(x[static_cast<size_t>(j)]);
      for (int64_t i = o; i < o + b; ++i) {
        const double r = static_cast<double>(ref[static_cast<size_t>(i)]);
        const double tol = k * kU * l1 / std::sqrt(static_cast<double>(b)) + 2 * kU * std::fabs(r) + 1e-30;
        ASSERT_NEAR(y[static_cast<size_t>(i)], r, tol) << "n=" << n << " i=" << i;
      }
    }
  }
}

TEST(HadamardTest, OrthogonalAndUndone) {
  auto rng = testing::MakeRng(8);
  for (int64_t n : {4, 64, 172, 576, 1536}) {
    const InputRotation t(n);
    std::vector<float> xf = testing::RandomWeights(rng, n, 1.0f);
    std::vector<double> x(xf.begin(), xf.end()), y = x;
    t.Apply(y.data());
    double nx = 0, ny = 0;
    for (int64_t j = 0; j < n; ++j) {
      nx += x[static_cast<size_t>(j)] * x[static_cast<size_t>(j)];
      ny += y[static_cast<size_t>(j)] * y[static_cast<size_t>(j)];
    }
    EXPECT_NEAR(ny, nx, 1e-12 * nx) << n;  // |T x| = |x|
    t.Undo(y.data());
    for (int64_t j = 0; j < n; ++j) ASSERT_NEAR(y[static_cast<size_t>(j)], x[static_cast<size_t>(j)], 1e-13) << n;
  }
}

// What a rotated model relies on: rows rotated by T (in double, then stored as float)
// against inputs rotated by T (in float) give W·x.
TEST(HadamardTest, RotatedRowsTimesRotatedInputIsTheProduct) {
  auto rng = testing::MakeRng(9);
  const int64_t n = 576;
  const InputRotation t(n);
  std::vector<float> w = testing::RandomWeights(rng, n, 0.05f), x = testing::RandomWeights(rng, n, 1.0f);
  std::vector<double> wd(w.begin(), w.end());
  t.Apply(wd.data());
  std::vector<float> xr = x;
  t.Apply(xr.data());
  double direct = 0, rotated = 0, mag = 0;
  for (int64_t j = 0; j < n; ++j) {
    direct += static_cast<double>(w[static_cast<size_t>(j)]) * x[static_cast<size_t>(j)];
    rotated += static_cast<double>(static_cast<float>(wd[static_cast<size_t>(j)])) * xr[static_cast<size_t>(j)];
    mag += std::fabs(static_cast<double>(w[static_cast<size_t>(j)]) * x[static_cast<size_t>(j)]);
  }
  // Each rotated weight and input carries a few u of its magnitude; √n·|w|·|x| bounds the sum.
  double nw = 0, nx = 0;
  for (int64_t j = 0; j < n; ++j) {
    nw += static_cast<double>(w[static_cast<size_t>(j)]) * w[static_cast<size_t>(j)];
    nx += static_cast<double>(x[static_cast<size_t>(j)]) * x[static_cast<size_t>(j)];
  }
  EXPECT_NEAR(rotated, direct, 16 * kU * std::sqrt(nw * nx) + 1e-12 * mag);
}

}  // namespace
}  // namespace septet::cpu
