// SearchAffine's passes in SIMD (affine_search.cc) against the scalar references
// quant::AffineCodeSums and quant::AffineErrors, on every compiled target: each lane
// repeats the reference's float and double operations in order, so every sum must be
// the same bits. Groups of 1 .. 128 weights, with and without importance (zeros
// included); candidates as SearchAffine makes them, plus d = 0 and d < 0 (code 0),
// weights exactly halfway between two codes, and codes past the clamp at either end;
// then whole rows of Q3P5 and Q4_G through their SIMD-searching quantizers.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/simd_ops.h"
#include "quant/affine_fit.h"
#include "quant/q3p5.h"
#include "quant/q4_g.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

class SimdAffineSearchTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdAffineSearchTestGroup, SimdAffineSearchTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(SimdAffineSearchTest, PassesMatchTheReference) {
  const char* target = hwy::TargetName(GetParam());
  auto rng = testing::MakeRng(73);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  for (int n : {1, 7, 31, 100, 128}) {
    for (int max_code : {7, 15}) {
      for (int variant = 0; variant < 3; ++variant) {
        std::vector<float> w(static_cast<size_t>(n)), imp(static_cast<size_t>(n));
        for (float& x : w) x = g(rng);
        for (int i = 0; i < n; ++i) imp[static_cast<size_t>(i)] = i % 5 == 2 ? 0.0f : u(rng);
        float lo = w[0], hi = w[0];
        for (float x : w) lo = std::fmin(lo, x), hi = std::fmax(hi, x);
        // SearchAffine's 50 candidates, then the edge cases.
        std::vector<float> d, m;
        for (int anchor = 0; anchor < 2; ++anchor) {
          for (int j = 0; j < 25; ++j) {
            const float dj = (hi - lo) / (static_cast<float>(max_code) + (-1.0f + 0.125f * static_cast<float>(j)));
            d.push_back(dj);
            m.push_back(anchor == 0 ? lo : hi - static_cast<float>(max_code) * dj);
          }
        }
        d.insert(d.end(), {0.0f, -0.01f, 0.01f, 0.001f, 1e-30f});
        m.insert(m.end(), {0.0f, 0.0f, 0.0f, 0.5f, -0.5f});
        if (variant == 2) {  // weights halfway between codes of candidate 50 + 2 (d 0.01, m 0)
          for (int i = 0; i < n; ++i) w[static_cast<size_t>(i)] = 0.01f * (static_cast<float>(i % 9) + 0.5f);
        }
        const int k = static_cast<int>(d.size());
        const float* ip = variant == 1 ? nullptr : imp.data();
        std::vector<double> s1(k), s2(k), t1(k), e(k), rs1(k), rs2(k), rt1(k), re(k);
        quant::AffineCodeSums(w.data(), ip, n, d.data(), m.data(), k, max_code, rs1.data(), rs2.data(), rt1.data());
        quant::AffineErrors(w.data(), ip, n, d.data(), m.data(), k, max_code, re.data());
        AffineCodeSums(w.data(), ip, n, d.data(), m.data(), k, max_code, s1.data(), s2.data(), t1.data());
        AffineErrors(w.data(), ip, n, d.data(), m.data(), k, max_code, e.data());
        for (int j = 0; j < k; ++j) {
          const auto at = [&] {
            return std::string(target) + " n=" + std::to_string(n) + " max_code=" + std::to_string(max_code) +
                   " variant=" + std::to_string(variant) + " candidate " + std::to_string(j);
          };
          // Bit for bit (EXPECT_EQ on doubles: exact equality).
          EXPECT_EQ(rs1[j], s1[j]) << at();
          EXPECT_EQ(rs2[j], s2[j]) << at();
          EXPECT_EQ(rt1[j], t1[j]) << at();
          EXPECT_EQ(re[j], e[j]) << at();
        }
      }
    }
  }
}

TEST_P(SimdAffineSearchTest, RowsMatchTheReferenceQuantizers) {
  const char* target = hwy::TargetName(GetParam());
  auto rng = testing::MakeRng(74);
  std::normal_distribution<float> g(0.0f, 0.03f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  const quant::AffineSearchFns fns{&AffineCodeSums, &AffineErrors};
  for (int64_t n : {int64_t{128}, int64_t{576}, int64_t{200}}) {
    std::vector<float> w(static_cast<size_t>(n)), imp(static_cast<size_t>(n));
    for (float& x : w) x = g(rng);
    for (float& a : imp) a = u(rng);
    std::vector<uint8_t> want(4 * static_cast<size_t>(n)), got(want.size());
    quant::Q3P5QuantizeRow(w.data(), want.data(), n, imp.data());
    quant::Q3P5QuantizeRowWith(w.data(), got.data(), n, imp.data(), fns);
    EXPECT_EQ(want, got) << target << " Q3P5 n=" << n;
    quant::Q4GQuantizeRow(w.data(), want.data(), n, nullptr);
    quant::Q4GQuantizeRowWith(w.data(), got.data(), n, nullptr, fns);
    EXPECT_EQ(want, got) << target << " Q4_G n=" << n;
  }
}

}  // namespace
}  // namespace septet::simd
