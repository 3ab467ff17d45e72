#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/test_util.h"

namespace septet::cpu {
namespace {

constexpr double kU = 0x1p-24;

// Reference in long double. Error model of the kernel: each score is one float
// rounding (relative u, i.e. absolute u * max|s|), which perturbs every softmax
// weight by a factor within exp(+-2 u max|s|); softmax itself adds 2u relative
// (see softmax_test); the weighted sum is double and rounds once. Hence
//   |out_d - ref_d| <= u |ref_d| + (2u + 2u max|s| + 2^-40) * sum_t p_t |v_td|.
TEST(AttentionTest, MatchesLongDoubleReference) {
  auto rng = testing::MakeRng(50);
  for (int64_t n_pos : {1, 2, 5, 64, 300}) {
    for (int64_t head_dim : {8, 64}) {
      const int64_t stride = head_dim * 3;  // cache rows hold several KV heads
      auto q = testing::RandomWeights(rng, head_dim, 1.0f);
      auto k = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      auto v = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      const int64_t off = head_dim;  // second KV head
      std::vector<float> scores(static_cast<size_t>(n_pos)), out(static_cast<size_t>(head_dim));
      AttendHead(q.data(), k.data() + off, v.data() + off, n_pos, head_dim, stride, scale,
                 scores.data(), out.data());

      std::vector<long double> s(static_cast<size_t>(n_pos));
      long double mx = -1e300L, max_abs_s = 0;
      for (int64_t t = 0; t < n_pos; ++t) {
        long double d = 0;
        for (int64_t j = 0; j < head_dim; ++j) d += static_cast<long double>(q[j]) * k[t * stride + off + j];
        s[t] = d * scale;
        mx = std::max(mx, s[t]);
        max_abs_s = std::max(max_abs_s, std::fabs(s[t]));
      }
      long double z = 0;
      for (auto& e : s) z += (e = std::exp(e - mx));
      for (int64_t j = 0; j < head_dim; ++j) {
        long double ref = 0, mass = 0;
        for (int64_t t = 0; t < n_pos; ++t) {
          ref += s[t] / z * v[t * stride + off + j];
          mass += s[t] / z * std::fabs(v[t * stride + off + j]);
        }
        const double tol = kU * std::fabs(static_cast<double>(ref)) +
                           (2 * kU + 2 * kU * static_cast<double>(max_abs_s) + 0x1p-40) *
                               static_cast<double>(mass);
        ASSERT_NEAR(out[j], static_cast<double>(ref), tol) << "n_pos=" << n_pos << " d=" << j;
      }
    }
  }
}

TEST(AttentionTest, SinglePositionReturnsItsValue) {
  std::vector<float> q = {1, 2}, k = {3, 4}, v = {-5, 6}, s(1), out(2);
  AttendHead(q.data(), k.data(), v.data(), 1, 2, 2, 0.5f, s.data(), out.data());
  EXPECT_EQ(out[0], -5.0f);
  EXPECT_EQ(out[1], 6.0f);
}

}  // namespace
}  // namespace septet::cpu
