#include "kernels/cpu/rope.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "util/test_util.h"

namespace septet::cpu {
namespace {

constexpr double kU = 0x1p-24;

// Reference: pair i is the complex number a + ib multiplied by e^{i pos theta_i},
// theta_i = base^(-2i/n_rot), all in long double.
std::vector<double> ReferenceRope(const std::vector<float>& x, int64_t n_heads, int64_t head_dim,
                                  int64_t n_rot, int64_t pos, double base, RopePairing pairing) {
  std::vector<double> out(x.begin(), x.end());
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      const long double theta = std::pow(static_cast<long double>(base), -2.0L * i / n_rot);
      const std::complex<long double> rot = std::polar(1.0L, pos * theta);
      const int64_t ia = pairing == RopePairing::kInterleaved ? 2 * i : i;
      const int64_t ib = pairing == RopePairing::kInterleaved ? 2 * i + 1 : i + n_rot / 2;
      const std::complex<long double> z(x[h * head_dim + ia], x[h * head_dim + ib]);
      const std::complex<long double> r = z * rot;
      out[h * head_dim + ia] = static_cast<double>(r.real());
      out[h * head_dim + ib] = static_cast<double>(r.imag());
    }
  }
  return out;
}

TEST(RopeTest, MatchesComplexReferenceBothPairings) {
  auto rng = testing::MakeRng(30);
  struct Shape { int64_t heads, head_dim, n_rot; };
  for (Shape s : {Shape{8, 8, 8}, Shape{4, 64, 64}, Shape{2, 128, 64}, Shape{1, 6, 2}}) {
    for (int64_t pos : {0, 1, 7, 511, 100000}) {
      for (RopePairing p : {RopePairing::kInterleaved, RopePairing::kHalf}) {
        auto x = testing::RandomWeights(rng, s.heads * s.head_dim, 1.0f);
        const auto inv = RopeInvFreq(s.n_rot, 10000.0, RopeScaling{});
        std::vector<float> y = x;
        Rope(y.data(), s.heads, s.head_dim, s.n_rot, pos, inv.data(), p);
        const auto ref = ReferenceRope(x, s.heads, s.head_dim, s.n_rot, pos, 10000.0, p);
        for (size_t i = 0; i < y.size(); ++i) {
          // One float rounding of the output, plus the angle's double error
          // (pow and pos * theta: <= (pos + 2) * 2^-52 absolute) times |a| + |b|.
          double max_abs = 0;
          for (float v : x) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
          const double tol = kU * std::fabs(ref[i]) + (pos + 4) * 0x1p-52 * 2 * max_abs;
          ASSERT_NEAR(y[i], ref[i], tol) << "pos=" << pos << " i=" << i;
        }
      }
    }
  }
}

TEST(RopeTest, PositionZeroIsExactIdentity) {
  auto rng = testing::MakeRng(31);
  auto x = testing::RandomWeights(rng, 64, 1.0f);
  std::vector<float> y = x;
  const auto inv = RopeInvFreq(16, 10000.0, RopeScaling{});
  Rope(y.data(), 4, 16, 16, 0, inv.data(), RopePairing::kHalf);
  EXPECT_EQ(x, y);
}

TEST(RopeTest, HalfPairingIsInterleavedUnderPermutation) {
  // Moving dim 2i -> i and 2i+1 -> i + n/2 turns adjacent pairs into half-split
  // pairs (the HF conversion permutation), so the two conventions must agree
  // exactly once the inputs and outputs are permuted.
  auto rng = testing::MakeRng(32);
  const int64_t heads = 3, hd = 16;
  auto x = testing::RandomWeights(rng, heads * hd, 1.0f);
  std::vector<float> xp(x.size());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      xp[h * hd + i] = x[h * hd + 2 * i];
      xp[h * hd + i + hd / 2] = x[h * hd + 2 * i + 1];
    }
  }
  const auto inv = RopeInvFreq(hd, 500000.0, RopeScaling{});
  Rope(x.data(), heads, hd, hd, 123, inv.data(), RopePairing::kInterleaved);
  Rope(xp.data(), heads, hd, hd, 123, inv.data(), RopePairing::kHalf);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      EXPECT_EQ(xp[h * hd + i], x[h * hd + 2 * i]);
      EXPECT_EQ(xp[h * hd + i + hd / 2], x[h * hd + 2 * i + 1]);
    }
  }
}

TEST(RopeTest, PartialRotaryLeavesTailUntouched) {
  auto rng = testing::MakeRng(33);
  auto x = testing::RandomWeights(rng, 2 * 32, 1.0f);
  std::vector<float> y = x;
  const auto inv = RopeInvFreq(8, 10000.0, RopeScaling{});
  for (RopePairing p : {RopePairing::kInterleaved, RopePairing::kHalf}) {
    Rope(y.data(), 2, 32, 8, 9, inv.data(), p);
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t d = 8; d < 32; ++d) EXPECT_EQ(y[h * 32 + d], x[h * 32 + d]);
    }
  }
}

TEST(RopeInvFreqTest, LinearDividesEveryFrequency) {
  RopeScaling lin;
  lin.kind = RopeScaling::Kind::kLinear;
  lin.factor = 4.0;
  const auto a = RopeInvFreq(64, 10000.0, RopeScaling{});
  const auto b = RopeInvFreq(64, 10000.0, lin);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_DOUBLE_EQ(b[i], a[i] / 4.0);
}

TEST(RopeInvFreqTest, Llama3ScalingRegions) {
  // Llama 3.1 settings: base 500000, head dim 128, factor 8, low 1, high 4, 8192.
  RopeScaling s;
  s.kind = RopeScaling::Kind::kLlama3;
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_context = 8192.0;
  const auto base = RopeInvFreq(128, 500000.0, RopeScaling{});
  const auto scaled = RopeInvFreq(128, 500000.0, s);
  int n_high = 0, n_low = 0, n_mid = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double f = base[i];
    const double wavelen = 2.0 * std::numbers::pi / f;
    if (wavelen < 8192.0 / 4.0) {
      EXPECT_EQ(scaled[i], f) << i;  // high frequencies untouched
      ++n_high;
    } else if (wavelen > 8192.0 / 1.0) {
      EXPECT_DOUBLE_EQ(scaled[i], f / 8.0) << i;
      ++n_low;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      EXPECT_DOUBLE_EQ(scaled[i], (1 - smooth) * f / 8.0 + smooth * f) << i;
      EXPECT_LT(scaled[i], f);
      EXPECT_GT(scaled[i], f / 8.0);
      ++n_mid;
    }
  }
  // All three regions occur at these settings (so the test covers each branch).
  EXPECT_GT(n_high, 0);
  EXPECT_GT(n_low, 0);
  EXPECT_GT(n_mid, 0);
}

}  // namespace
}  // namespace septet::cpu
