// The NL scale search's candidate evaluation in SIMD (nl_search.cc) against the
// scalar reference quant::NlScaleErrors, on every compiled target. Each lane does
// the reference's float and double operations in its order, so errors and
// least-squares scales must be the same bits: both shipped codebooks (8 and 16
// levels) and a 2-level one, groups of 1 .. 32 weights with and without
// importance (zeros included), scales of both signs, weights on the midpoints,
// batches that do and do not fill the lanes. Then NlSearchScale with either.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <random>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/simd_ops.h"
#include "quant/nl_codebook.h"
#include "quant/q3p5_nl.h"
#include "quant/q4_nl.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

class SimdNlSearchTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdNlSearchTestGroup, SimdNlSearchTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

// The midpoints of consecutive levels, as the formats define them.
std::vector<float> Mids(const int8_t* levels, int n) {
  std::vector<float> m;
  for (int i = 0; i + 1 < n; ++i) m.push_back(0.5f * static_cast<float>(levels[i] + levels[i + 1]));
  return m;
}

// The codebooks the searches are tested on: both shipped ones and a 2-level one.
struct Book {
  const int8_t* levels;
  int n;
};
constexpr int8_t kTwo[2] = {-5, 7};
constexpr Book kBooks[] = {{quant::kQ3P5NLLevels, 8}, {quant::kQ4NLLevels, 16}, {kTwo, 2}};

TEST_P(SimdNlSearchTest, CandidatesMatchTheReference) {
  const char* target = hwy::TargetName(GetParam());
  auto rng = testing::MakeRng(81);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  for (const Book& b : kBooks) {
    const std::vector<float> mids = Mids(b.levels, b.n);
    int max_abs = 0;
    for (int i = 0; i < b.n; ++i) max_abs = std::max(max_abs, std::abs(static_cast<int>(b.levels[i])));
    const quant::NlCodebook cb{b.levels, mids.data(), b.n, 0, max_abs};
    for (int len : {1, 5, 16, 31, 32}) {
      for (int with_imp = 0; with_imp < 2; ++with_imp) {
        std::vector<float> w(static_cast<size_t>(len)), imp(static_cast<size_t>(len));
        for (float& x : w) x = g(rng);
        for (int k = 0; k < len; ++k) imp[static_cast<size_t>(k)] = k % 7 == 3 ? 0.0f : u(rng);
        const float t_mid = 0.01f;
        if (len > 2) w[1] = mids[static_cast<size_t>(b.n / 2 - 1)] * t_mid;  // exactly on a midpoint at t_mid
        for (int n : {1, 3, 8, 9, 16, 17, 34}) {
          std::vector<float> t(static_cast<size_t>(n));
          for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = (i % 2 ? -1.0f : 1.0f) * (0.002f + 0.03f * u(rng));
          t[0] = t_mid;
          std::vector<double> e_ref(static_cast<size_t>(n)), e_got(static_cast<size_t>(n));
          std::vector<float> l_ref(static_cast<size_t>(n)), l_got(static_cast<size_t>(n));
          const float* ip = with_imp ? imp.data() : nullptr;
          quant::NlScaleErrors(cb, w.data(), ip, len, t.data(), n, e_ref.data(), l_ref.data());
          simd::NlScaleErrors(cb, w.data(), ip, len, t.data(), n, e_got.data(), l_got.data());
          for (int i = 0; i < n; ++i) {
            const size_t s = static_cast<size_t>(i);
            ASSERT_EQ(0, std::memcmp(&e_ref[s], &e_got[s], sizeof(double)))
                << "levels " << b.n << " len " << len << " cand " << i << ": err simd " << e_got[s] << " ref "
                << e_ref[s] << " " << target;
            ASSERT_EQ(0, std::memcmp(&l_ref[s], &l_got[s], sizeof(float)))
                << "levels " << b.n << " len " << len << " cand " << i << ": lsq simd " << l_got[s] << " ref "
                << l_ref[s] << " " << target;
          }
        }
      }
    }
  }
}

// The scale choice's candidates (quant::NlStoredErrors), weights in lanes: the same codes
// and errors bit for bit. The shipped codebooks and a 2-level one; groups of 1 .. 128
// weights (short vector tails) with and without importance; scales of both signs, 0 and
// the range ends, d = 0 (padding codes); weights exactly halfway between two values (the
// lower code wins) and far outside every value; more candidates than one pass sums.
TEST_P(SimdNlSearchTest, StoredErrorsMatchTheReference) {
  const char* target = hwy::TargetName(GetParam());
  auto rng = testing::MakeRng(84);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  int ties = 0;
  for (const Book& b : kBooks) {
    const std::vector<float> mids = Mids(b.levels, b.n);
    const quant::NlCodebook cb{b.levels, mids.data(), b.n, 0, 127};
    for (int len : {1, 5, 16, 17, 32, 128}) {
      for (int with_imp = 0; with_imp < 2; ++with_imp) {
        for (float d : {0.0f, 0.0007f}) {
          std::vector<float> w(static_cast<size_t>(len)), imp(static_cast<size_t>(len));
          for (float& x : w) x = 0.05f * g(rng);
          for (int k = 0; k < len; ++k) imp[static_cast<size_t>(k)] = k % 7 == 3 ? 0.0f : u(rng);
          const std::vector<int> s = {3, -7, 0, 31, -32, 1, -1};
          // Exact ties for scale s[0]: halfway between consecutive values (exact in float).
          for (int k = 1; k < len; k += 3) {
            const int lv = k % (b.n - 1);
            const float v0 = quant::NlValue(cb, d, s[0], lv), v1 = quant::NlValue(cb, d, s[0], lv + 1);
            w[static_cast<size_t>(k)] = 0.5f * (v0 + v1);
            ties += d != 0.0f && w[static_cast<size_t>(k)] - v0 == v1 - w[static_cast<size_t>(k)];
          }
          if (len > 2) w[2] = 1e6f;
          for (int n : {1, 3, 7}) {
            std::vector<double> e_ref(static_cast<size_t>(n)), e_got(static_cast<size_t>(n));
            std::vector<uint8_t> c_ref(static_cast<size_t>(n * len), 99), c_got(c_ref.size(), 77);
            std::vector<uint8_t> c_only(c_ref.size(), 55);
            const float* ip = with_imp ? imp.data() : nullptr;
            quant::NlStoredErrors(cb, w.data(), ip, len, d, s.data(), n, e_ref.data(), c_ref.data());
            simd::NlStoredErrors(cb, w.data(), ip, len, d, s.data(), n, e_got.data(), c_got.data());
            simd::NlStoredErrors(cb, w.data(), ip, len, d, s.data(), n, nullptr, c_only.data());
            ASSERT_EQ(c_ref, c_got) << "levels " << b.n << " len " << len << " d " << d << " " << target;
            ASSERT_EQ(c_ref, c_only) << "levels " << b.n << " len " << len << " d " << d << " " << target;
            for (int c = 0; c < n; ++c) {
              const size_t i = static_cast<size_t>(c);
              ASSERT_EQ(0, std::memcmp(&e_ref[i], &e_got[i], sizeof(double)))
                  << "levels " << b.n << " len " << len << " scale " << s[i] << ": err simd " << e_got[i] << " ref "
                  << e_ref[i] << " " << target;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(ties, 100) << "the test should hold exact ties";
}

// The formats' quantizers give the same bytes with either evaluation.
TEST_P(SimdNlSearchTest, QuantizeRowsAreTheSameBytes) {
  const quant::NlSearchFns kSimd{&simd::NlScaleErrors, &simd::NlStoredErrors};
  auto rng = testing::MakeRng(82);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::uniform_real_distribution<float> u(0.0f, 3.0f);
  const int64_t n = 300;  // two whole blocks and a short one
  std::vector<float> w(static_cast<size_t>(n)), imp(static_cast<size_t>(n));
  for (float& x : w) x = g(rng);
  for (float& x : imp) x = u(rng);
  std::vector<uint8_t> a(quant::Q4NLRowBytes(n)), b(a.size());
  quant::Q4NLQuantizeRow(w.data(), a.data(), n, imp.data());
  quant::Q4NLQuantizeRowWith(w.data(), b.data(), n, imp.data(), kSimd);
  EXPECT_EQ(a, b) << hwy::TargetName(GetParam());
  std::vector<uint8_t> c(quant::Q3P5NLRowBytes(n)), d(c.size());
  quant::Q3P5NLQuantizeRow(w.data(), c.data(), n, nullptr);
  quant::Q3P5NLQuantizeRowWith(w.data(), d.data(), n, nullptr, kSimd);
  EXPECT_EQ(c, d) << hwy::TargetName(GetParam());
}

// The refit's block scales (quant::NlBlockScales), one candidate per lane: the same
// errors and scales bit for bit. Blocks of 1 .. 8 groups with a positive definite G, one
// with a group of zero weight (G_ii = 0: skipped by the sweeps); starting values that
// round far outside the scale range, exactly halfway between two scales (ties to even)
// and beyond 2^52 steps; batches that do and do not fill the lanes.
TEST_P(SimdNlSearchTest, BlockScalesMatchTheReference) {
  const char* target = hwy::TargetName(GetParam());
  constexpr int kG = quant::kNlMaxBlockGroups;
  auto rng = testing::MakeRng(83);
  std::normal_distribution<double> g(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.5, 2.0);
  int moved = 0, cases = 0;
  for (const auto& range : {std::pair<int, int>{-32, 31}, std::pair<int, int>{-8, 7}}) {
    for (int ng : {1, 2, 5, 8}) {
      for (int zero_row = 0; zero_row < 2; ++zero_row) {
        std::vector<double> a(static_cast<size_t>(ng * ng)), gm(a.size()), e(static_cast<size_t>(ng));
        std::vector<double> start(static_cast<size_t>(ng));
        for (double& x : a) x = g(rng);
        for (int i = 0; i < ng; ++i)
          for (int j = 0; j < ng; ++j) {
            double v = i == j ? 0.5 : 0.0;
            for (int k = 0; k < ng; ++k) v += a[static_cast<size_t>(i * ng + k)] * a[static_cast<size_t>(j * ng + k)];
            gm[static_cast<size_t>(i * ng + j)] = v;
          }
        if (zero_row && ng > 1) {
          for (int j = 0; j < ng; ++j) gm[static_cast<size_t>(1 * ng + j)] = gm[static_cast<size_t>(j * ng + 1)] = 0.0;
        }
        const double step = 0.01;
        for (int i = 0; i < ng; ++i) {
          start[static_cast<size_t>(i)] = step * 20.0 * g(rng);
          e[static_cast<size_t>(i)] = 0.0;
          for (int j = 0; j < ng; ++j) {
            e[static_cast<size_t>(i)] += gm[static_cast<size_t>(i * ng + j)] * (step * 15.0 * g(rng));
          }
        }
        start[0] = step * 40.0;                 // beyond the range: clamped
        if (ng > 2) start[2] = step * 2.5;      // halfway: ties to even
        for (int n : {1, 3, 8, 9, 12}) {
          std::vector<double> deff(static_cast<size_t>(n));
          for (int c = 0; c < n; ++c) deff[static_cast<size_t>(c)] = step * u(rng);
          deff[0] = step;
          if (n > 3) deff[3] = 1e-300;  // every quotient beyond 2^52
          std::vector<double> q_ref(static_cast<size_t>(n)), q_got(q_ref.size());
          std::vector<double> s_ref(static_cast<size_t>(n * kG), -99.0), s_got(s_ref.size(), -99.0);
          const quant::NlBlockQuadratic p{gm.data(), e.data(), start.data(), ng, range.first, range.second};
          quant::NlBlockScales(p, deff.data(), n, q_ref.data(), s_ref.data());
          simd::NlBlockScales(p, deff.data(), n, q_got.data(), s_got.data());
          for (int c = 0; c < n; ++c) {
            ASSERT_EQ(0, std::memcmp(&q_ref[static_cast<size_t>(c)], &q_got[static_cast<size_t>(c)], sizeof(double)))
                << "groups " << ng << " n " << n << " cand " << c << ": q simd " << q_got[static_cast<size_t>(c)]
                << " ref " << q_ref[static_cast<size_t>(c)] << " " << target;
            for (int i = 0; i < ng; ++i) {
              const size_t k = static_cast<size_t>(c * kG + i);
              ASSERT_EQ(0, std::memcmp(&s_ref[k], &s_got[k], sizeof(double)))
                  << "groups " << ng << " n " << n << " cand " << c << " scale " << i << ": simd " << s_got[k]
                  << " ref " << s_ref[k] << " " << target;
              const double q0 = std::nearbyint(start[static_cast<size_t>(i)] / deff[static_cast<size_t>(c)]);
              const double first =
                  std::clamp(q0, static_cast<double>(range.first), static_cast<double>(range.second));
              moved += s_ref[k] != first;
              ++cases;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(moved, cases / 10) << "the descent should move many scales from their first rounding";
}

}  // namespace
}  // namespace septet::simd
