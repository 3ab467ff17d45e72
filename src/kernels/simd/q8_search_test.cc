// Q8_0's scale search in SIMD (q8_search.cc) against the scalar reference
// quant::Q8_0CandidateErrors, on every compiled target: each lane repeats the
// reference's float and double operations in order, so the refit fp16 scales and
// the errors must be the same bits. Blocks of 1 .. 32 weights, with and without
// importance (zeros included), weights that land exactly on a rounding tie, past
// the clamp at 127, and scales whose refit underflows fp16; then whole rows.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q8_0.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

class SimdQ8SearchTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdQ8SearchTestGroup, SimdQ8SearchTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(SimdQ8SearchTest, CandidatesMatchTheReference) {
  const char* target = hwy::TargetName(GetParam());
  auto rng = testing::MakeRng(91);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  for (int len : {1, 7, 31, 32}) {
    for (int variant = 0; variant < 4; ++variant) {
      std::vector<float> w(static_cast<size_t>(len)), imp(static_cast<size_t>(len));
      const float scale = variant == 3 ? 1e-9f : 0.05f;  // 3: refits below fp16's smallest subnormal
      for (float& x : w) x = g(rng) * scale;
      for (int k = 0; k < len; ++k) imp[static_cast<size_t>(k)] = k % 5 == 2 ? 0.0f : u(rng);
      float amax = 0;
      for (float x : w) amax = std::fmax(amax, std::fabs(x));
      const int n = variant == 1 ? 9 : 17;
      std::vector<float> d0(static_cast<size_t>(n));
      for (int j = 0; j < n; ++j) d0[static_cast<size_t>(j)] = amax / (127.0f + (-2.0f + 0.5f * static_cast<float>(j)));
      if (variant == 2 && len > 2) {
        w[0] = 2.5f * d0[0];      // a tie at d0[0] (when exact in float)
        w[1] = -300.0f * d0[0];   // clamped to -127
      }
      std::vector<uint16_t> h_ref(static_cast<size_t>(n)), h_got(static_cast<size_t>(n));
      std::vector<double> e_ref(static_cast<size_t>(n)), e_got(static_cast<size_t>(n));
      for (int with_imp = 0; with_imp < 2; ++with_imp) {
        const float* ip = with_imp ? imp.data() : nullptr;
        quant::Q8_0CandidateErrors(w.data(), ip, len, d0.data(), n, h_ref.data(), e_ref.data());
        simd::Q8_0CandidateErrors(w.data(), ip, len, d0.data(), n, h_got.data(), e_got.data());
        for (int j = 0; j < n; ++j) {
          const size_t s = static_cast<size_t>(j);
          ASSERT_EQ(h_ref[s], h_got[s]) << "len " << len << " variant " << variant << " cand " << j << " " << target;
          ASSERT_EQ(0, std::memcmp(&e_ref[s], &e_got[s], sizeof(double)))
              << "len " << len << " variant " << variant << " cand " << j << ": simd " << e_got[s] << " ref "
              << e_ref[s] << " " << target;
        }
      }
    }
  }
}

TEST_P(SimdQ8SearchTest, QuantizeRowsAreTheSameBytes) {
  auto rng = testing::MakeRng(92);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::uniform_real_distribution<float> u(0.0f, 3.0f);
  const int64_t n = 200;  // six whole blocks and a short one
  std::vector<float> w(static_cast<size_t>(n)), imp(static_cast<size_t>(n));
  for (float& x : w) x = g(rng);
  for (float& x : imp) x = u(rng);
  std::vector<uint8_t> a(quant::Q8_0RowBytes(n)), b(a.size());
  for (const float* ip : {static_cast<const float*>(nullptr), static_cast<const float*>(imp.data())}) {
    quant::Q8_0QuantizeRow(w.data(), a.data(), n, ip);
    quant::Q8_0QuantizeRowWith(w.data(), b.data(), n, ip, &simd::Q8_0CandidateErrors);
    EXPECT_EQ(a, b) << hwy::TargetName(GetParam());
  }
}

}  // namespace
}  // namespace septet::simd
