// simd::FromFloat (quantize_rows.cc) against the registry's from_float, on every
// compiled target: for every type septet writes, rows of several lengths (whole and
// short blocks, where the type allows them), with and without importance (zeros
// included), must give the same bytes. The SIMD searches inside are tested bit for bit
// on their own (trellis_search_test, nl_search_test, q8_search_test, affine_search_test); this checks that
// the row quantizers are wired to them with the reference's arguments.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

class SimdFromFloatTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdFromFloatTestGroup, SimdFromFloatTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(SimdFromFloatTest, SameBytesAsTheRegistry) {
  const char* target = hwy::TargetName(GetParam());
  auto rng = testing::MakeRng(57);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  int checked = 0, fast = 0;
  for (uint32_t raw = 0; raw < 1024; ++raw) {
    const TypeTraits* tr = FindTypeTraits(raw);
    if (tr == nullptr || !CanQuantizeTo(tr->type)) continue;
    const FromFloatFn f = FromFloat(tr->type);
    ASSERT_NE(f, nullptr) << tr->name;
    fast += f != tr->from_float;
    for (int64_t n : {int64_t{256}, int64_t{576}, int64_t{160}, int64_t{37}}) {
      if (!RowLengthFits(*tr, n)) continue;
      for (int variant = 0; variant < 2; ++variant) {
        std::vector<float> w(static_cast<size_t>(n)), imp(static_cast<size_t>(n));
        for (float& x : w) x = g(rng);
        for (int64_t k = 0; k < n; ++k) imp[static_cast<size_t>(k)] = k % 7 == 3 ? 0.0f : u(rng);
        const float* ip = variant == 0 ? nullptr : imp.data();
        std::vector<uint8_t> want(tr->row_bytes(n)), got(want.size(), 0xA5);
        tr->from_float(w.data(), want.data(), n, ip);
        f(w.data(), got.data(), n, ip);
        EXPECT_EQ(want, got) << target << " " << tr->name << " n=" << n << (ip ? " with importance" : "");
        ++checked;
      }
    }
  }
  EXPECT_GE(fast, 6) << "Q3P5, Q3P5_NL, Q4_G, Q4_NL, Q4_T and Q8_0 have SIMD searches";
  EXPECT_GT(checked, 40);
}

}  // namespace
}  // namespace septet::simd
