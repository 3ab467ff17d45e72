// Q4_T's quantizer searches in SIMD (trellis_search.cc) against the scalar
// references in quant/q4_t.cc, on every compiled target. Each lane performs the
// reference's float operations in the same order, so the results must be the
// same bits (no tolerance): a lane's free-start cost, and after every step of a
// chained search the survivors' costs, errors and codes.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q4_t.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

using quant::kQ4TStates;
using quant::kQ4TWindow;

class SimdTrellisTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdTrellisTestGroup, SimdTrellisTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()),
                         ::hwy::TestParamTargetName);

// Lengths 0 .. 32, scales of both signs and 0, with and without importance, in
// batches that do and do not fill the lanes; each lane its own weights, or runs of
// lanes on the same weights (as a block fit's scale candidates), broken where the
// length or the importance differs.
// The whole-row Viterbi search: the same codes and the same cost (bits) as
// quant::Q4TViterbi, on rows of 1 .. 600 weights, with and without importance (zeros
// included), unit values v with zeros, and rows of zeros (subsets whose nearest levels
// are -3 and 3 tie, so paths tie).
TEST_P(SimdTrellisTest, ViterbiMatchesTheReference) {
  const char* target = hwy::TargetName(GetParam());
  auto rng = testing::MakeRng(77);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{33}, int64_t{128}, int64_t{600}}) {
    for (int variant = 0; variant < 4; ++variant) {
      std::vector<float> w(static_cast<size_t>(n)), v(static_cast<size_t>(n)), imp(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) {
        w[static_cast<size_t>(k)] = variant == 3 ? 0.0f : g(rng);  // 3: levels -3 and 3 tie
        v[static_cast<size_t>(k)] = variant == 2 && k % 11 == 4 ? 0.0f : -0.02f * (1.0f + u(rng));
        imp[static_cast<size_t>(k)] = k % 7 == 3 ? 0.0f : u(rng);
      }
      const float* ip = variant == 1 ? nullptr : imp.data();
      std::vector<uint8_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n), 0xFF);
      const double cw = quant::Q4TViterbi(w.data(), v.data(), ip, n, want.data());
      const double cg = Q4TViterbi(w.data(), v.data(), ip, n, got.data());
      EXPECT_EQ(cw, cg) << target << " n=" << n << " variant " << variant;
      EXPECT_EQ(want, got) << target << " n=" << n << " variant " << variant;
    }
  }
}

TEST_P(SimdTrellisTest, FreeStartCostsMatchTheReference) {
  auto rng = testing::MakeRng(61);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.05f, 3.0f);
  constexpr int kSizes[] = {1, 3, 16, 17, 44, 45};
  for (int run = 0; run < 12; ++run) {
    const int shared = run / 6, n = kSizes[run % 6];
    std::vector<float> w(static_cast<size_t>(n) * 32), imp(w.size());
    for (float& x : w) x = g(rng);
    for (float& x : imp) x = u(rng);
    std::vector<quant::Q4TSearchLane> lanes(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const float v = i % 9 == 4 ? 0.0f : (i % 2 ? -1.0f : 1.0f) * u(rng) / 40.0f;
      const int src = shared ? i / 6 : i;  // shared: runs of six lanes
      const int len = shared ? (i % 6 == 5 ? 17 : 32 - src % 3) : (i * 11 + n) % 33;
      const bool with_imp = shared ? (src % 2 == 0 || i % 6 != 4) : i % 3 != 0;
      lanes[static_cast<size_t>(i)] = {w.data() + 32 * src, with_imp ? imp.data() + 32 * src : nullptr, len, v};
    }
    std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    quant::Q4TFreeStartCosts(lanes.data(), n, ref.data());
    simd::Q4TFreeStartCosts(lanes.data(), n, got.data());
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(0, std::memcmp(&ref[i], &got[i], sizeof(float)))
          << "shared " << shared << " n=" << n << " lane " << i << " len " << lanes[static_cast<size_t>(i)].len
          << ": simd " << got[i] << " ref " << ref[i] << " " << hwy::TargetName(GetParam());
    }
  }
}

std::string Diff(const quant::Q4TSurvivors& a, const quant::Q4TSurvivors& b) {
  char buf[160];
  if (a.best != b.best) {
    std::snprintf(buf, sizeof(buf), "best simd %d ref %d", a.best, b.best);
    return buf;
  }
  for (int s = 0; s < kQ4TStates; ++s) {
    if (std::memcmp(&a.cost[s], &b.cost[s], sizeof(float)) != 0) {
      std::snprintf(buf, sizeof(buf), "cost[%d] simd %.9g ref %.9g", s, a.cost[s], b.cost[s]);
      return buf;
    }
  }
  for (int p = 0; p < kQ4TWindow; ++p) {
    for (int s = 0; s < kQ4TStates; ++s) {
      if (std::memcmp(&a.e[p][s], &b.e[p][s], sizeof(float)) != 0 ||
          quant::Q4TSurvivorCode(a, p, s) != quant::Q4TSurvivorCode(b, p, s)) {
        std::snprintf(buf, sizeof(buf), "slot %d state %d: e %.9g / %.9g, code %d / %d", p, s, a.e[p][s], b.e[p][s],
                      quant::Q4TSurvivorCode(a, p, s), quant::Q4TSurvivorCode(b, p, s));
        return buf;
      }
    }
  }
  return "";
}

// A chained search of 200 columns from random survivors: unreachable states
// (infinite cost), states m and m + 16 identical (exact ties), free slots (band
// 0), sub-blocks with v = 0 and of both signs.
TEST_P(SimdTrellisTest, SurvivorStepMatchesTheReference) {
  auto rng = testing::MakeRng(62);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.05f, 2.0f);
  std::uniform_int_distribution<int> code(0, 15);
  quant::Q4TSurvivors ref{};
  for (int s = 0; s < kQ4TStates; ++s) ref.cost[s] = s % 7 == 3 ? std::numeric_limits<float>::infinity() : u(rng);
  for (int p = 0; p < kQ4TWindow; ++p) {
    for (int s = 0; s < kQ4TStates; ++s) {
      ref.e[p][s] = g(rng) * 0.01f;
      quant::SetQ4TSurvivorCode(&ref, p, s, code(rng));
    }
  }
  for (int m = 0; m < 4; ++m) {  // exact ties between m and m + 16
    ref.cost[m + 16] = ref.cost[m];
    for (int p = 0; p < kQ4TWindow; ++p) ref.e[p][m + 16] = ref.e[p][m];
  }
  quant::Q4TSurvivors got = ref;
  for (int j = 0; j < 200; ++j) {
    float band[kQ4TWindow];
    for (int p = 0; p < kQ4TWindow; ++p) band[p] = (p + j) % 5 == 0 ? 0.0f : g(rng) * 0.3f;
    const float target = g(rng) * 0.05f;
    const float v = j % 32 < 4 ? 0.0f : (j / 32 % 2 ? -1.0f : 1.0f) * u(rng) * 0.002f;
    const float ujj = u(rng);
    const int slot = j % kQ4TWindow;
    quant::Q4TSurvivorStep(&ref, band, target, v, ujj, slot);
    simd::Q4TSurvivorStep(&got, band, target, v, ujj, slot);
    const std::string d = Diff(got, ref);
    ASSERT_EQ(d, "") << "column " << j << " " << hwy::TargetName(GetParam());
  }
  std::printf("[trellis] %s: 200 columns bit-identical\n", hwy::TargetName(GetParam()));
}

// Three rows at once (a pair interleaved, then one alone), each from its own random
// survivors and columns: every row's survivors after every column are the reference's.
TEST_P(SimdTrellisTest, SurvivorStepsOnSeveralRowsMatchTheReference) {
  auto rng = testing::MakeRng(63);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.05f, 2.0f);
  std::uniform_int_distribution<int> code(0, 15);
  constexpr int kRows = 3;
  quant::Q4TSurvivors ref[kRows], got[kRows];
  for (int r = 0; r < kRows; ++r) {
    for (int s = 0; s < kQ4TStates; ++s) ref[r].cost[s] = (s + r) % 7 == 3 ? std::numeric_limits<float>::infinity() : u(rng);
    for (int p = 0; p < kQ4TWindow; ++p) {
      for (int s = 0; s < kQ4TStates; ++s) {
        ref[r].e[p][s] = g(rng) * 0.01f;
        quant::SetQ4TSurvivorCode(&ref[r], p, s, code(rng));
      }
    }
    ref[r].cost[r + 16] = ref[r].cost[r];  // an exact tie
    got[r] = ref[r];
  }
  for (int j = 0; j < 200; ++j) {
    float band[kRows][kQ4TWindow];
    Q4TStepRow rows[kRows];
    for (int r = 0; r < kRows; ++r) {
      for (int p = 0; p < kQ4TWindow; ++p) band[r][p] = (p + j + r) % 5 == 0 ? 0.0f : g(rng) * 0.3f;
      const float target = g(rng) * 0.05f;
      const float v = (j + 8 * r) % 32 < 4 ? 0.0f : ((j / 32 + r) % 2 ? -1.0f : 1.0f) * u(rng) * 0.002f;
      const float ujj = u(rng);
      const int slot = (j + r) % kQ4TWindow;
      quant::Q4TSurvivorStep(&ref[r], band[r], target, v, ujj, slot);
      rows[r] = Q4TStepRow{&got[r], band[r], target, v, ujj, slot};
    }
    simd::Q4TSurvivorSteps(rows, kRows);
    for (int r = 0; r < kRows; ++r) {
      const std::string d = Diff(got[r], ref[r]);
      ASSERT_EQ(d, "") << "row " << r << " column " << j << " " << hwy::TargetName(GetParam());
    }
  }
}

}  // namespace
}  // namespace septet::simd
