#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "util/test_util.h"

namespace septet::runtime {
namespace {

SamplerParams Params(float temp, int32_t k, float top_p, float min_p, uint64_t seed = 1) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.seed = seed;
  return p;
}

TEST(SamplerTest, GreedyIsArgmaxWithLowestIdOnTies) {
  Sampler s(Params(0.0f, 0, 1.0f, 0.0f));
  EXPECT_EQ(s.Sample(std::vector<float>{0.1f, 3.0f, -2.0f, 3.0f}, {}), 1);
  EXPECT_EQ(s.Sample(std::vector<float>{-5.0f}, {}), 0);
}

TEST(SamplerTest, TopKOneIsGreedyAtAnyTemperature) {
  auto rng = testing::MakeRng(60);
  for (int trial = 0; trial < 200; ++trial) {
    auto logits = testing::RandomWeights(rng, 97, 3.0f);
    Sampler greedy(Params(0.0f, 0, 1.0f, 0.0f));
    Sampler k1(Params(2.5f, 1, 1.0f, 0.0f, static_cast<uint64_t>(trial)));
    ASSERT_EQ(k1.Sample(logits, {}), greedy.Sample(logits, {}));
  }
}

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedDifferent) {
  std::vector<float> logits(512, 0.0f);  // uniform: 9 bits of entropy per draw
  auto run = [&](uint64_t seed) {
    Sampler s(Params(1.0f, 0, 1.0f, 0.0f, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.Sample(logits, out));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  // Two independent 64-draw sequences over 512 ids coincide with probability 2^-576.
  EXPECT_NE(run(42), run(43));
}

TEST(SamplingStepsTest, MinPKeepsExactlyTokensAtOrAboveFractionOfMax) {
  // Probabilities 0.4, 0.3, 0.2, 0.06, 0.04; min_p 0.25 -> threshold 0.1:
  // exactly the first three survive.
  const std::vector<double> p = {0.2, 0.04, 0.4, 0.06, 0.3};
  std::vector<float> logits;
  for (double v : p) logits.push_back(static_cast<float>(std::log(v)));
  auto c = sampling::SortedCandidates(logits);
  sampling::SoftmaxT(&c, 1.0);
  sampling::MinP(&c, 0.25);
  std::set<int32_t> ids;
  for (const auto& x : c) ids.insert(x.id);
  EXPECT_EQ(ids, (std::set<int32_t>{2, 4, 0}));
  double mass = 0;
  for (const auto& x : c) mass += x.p;
  EXPECT_NEAR(mass, 1.0, 1e-15);
  EXPECT_NEAR(c[0].p, 0.4 / 0.9, 1e-6);  // renormalised (float logits: ~1e-7 relative)
}

TEST(SamplingStepsTest, TopPKeepsShortestPrefixReachingMass) {
  const std::vector<double> p = {0.5, 0.3, 0.15, 0.05};
  std::vector<float> logits;
  for (double v : p) logits.push_back(static_cast<float>(std::log(v)));
  for (auto [top_p, want] : std::vector<std::pair<double, size_t>>{{0.4, 1}, {0.75, 2}, {0.9, 3}, {0.99, 4}}) {
    auto c = sampling::SortedCandidates(logits);
    sampling::SoftmaxT(&c, 1.0);
    sampling::TopP(&c, top_p);
    EXPECT_EQ(c.size(), want) << "top_p " << top_p;
    for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(c[i].id, static_cast<int32_t>(i));
  }
}

TEST(SamplingStepsTest, TopKKeepsHighestWithIdTieBreak) {
  std::vector<float> logits = {1, 5, 3, 5, 2, 3};
  auto c = sampling::SortedCandidates(logits, 3);
  sampling::TopK(&c, 3);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].id, 1);
  EXPECT_EQ(c[1].id, 3);
  EXPECT_EQ(c[2].id, 2);
}

TEST(SamplingStepsTest, RepetitionPenaltyWithinWindowOnly) {
  std::vector<float> logits = {2.0f, -1.0f, 3.0f, 4.0f};
  const std::vector<int32_t> history = {3, 0, 1, 1};  // window 3 sees 0, 1, 1
  sampling::ApplyRepetitionPenalty(logits, history, 3, 2.0f);
  EXPECT_EQ(logits[0], 1.0f);   // positive: divided
  EXPECT_EQ(logits[1], -2.0f);  // negative: multiplied, once despite two occurrences
  EXPECT_EQ(logits[2], 3.0f);   // never seen
  EXPECT_EQ(logits[3], 4.0f);   // outside the window
}

// Statistical check of the draw: with N draws, each count is Binomial(N, q_i); we
// allow 5 standard deviations (two-sided false-alarm rate < 6e-7 per count).
void ExpectDistribution(const SamplerParams& params, const std::vector<float>& logits,
                        const std::vector<double>& q) {
  Sampler s(params);
  const int n = 40000;
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(s.Sample(logits, {}))];
  for (size_t i = 0; i < q.size(); ++i) {
    const double mean = n * q[i], sd = std::sqrt(n * q[i] * (1 - q[i]));
    if (q[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " was filtered out";
    } else {
      EXPECT_NEAR(counts[i], mean, 5 * sd + 1e-9) << "token " << i;
    }
  }
}

TEST(SamplerTest, DrawFollowsSoftmaxAtTemperatureOne) {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> logits;
  for (double v : p) logits.push_back(static_cast<float>(std::log(v)));
  ExpectDistribution(Params(1.0f, 0, 1.0f, 0.0f, testing::TestSeed()), logits, p);
}

TEST(SamplerTest, TemperatureSharpensAsPower) {
  // softmax(log p / T) is proportional to p^(1/T): T = 0.5 squares the odds.
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> logits;
  for (double v : p) logits.push_back(static_cast<float>(std::log(v)));
  std::vector<double> q;
  double z = 0;
  for (double v : p) z += v * v;
  for (double v : p) q.push_back(v * v / z);
  ExpectDistribution(Params(0.5f, 0, 1.0f, 0.0f, testing::TestSeed() + 1), logits, q);
}

TEST(SamplerTest, FiltersThenTemperature) {
  // top-k 3 drops id 0. Over the 3 kept, T = 1 probabilities are 4/9, 3/9, 2/9;
  // min-p 0.6 -> threshold 0.6 * 4/9 = 2.4/9 drops id 1. Left: ids 2, 3 with
  // T = 2 weights p^(1/2).
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> logits;
  for (double v : p) logits.push_back(static_cast<float>(std::log(v)));
  const double a = std::sqrt(0.3), b = std::sqrt(0.4);
  ExpectDistribution(Params(2.0f, 3, 1.0f, 0.6f, testing::TestSeed() + 2), logits, {0, 0, a / (a + b), b / (a + b)});
}

TEST(SamplerTest, ValidationNamesTheField) {
  SamplerParams p;
  p.top_p = 0.0f;
  EXPECT_NE(ValidateSamplerParams(p).message().find("top_p"), std::string::npos);
  p = SamplerParams{};
  p.min_p = 1.5f;
  EXPECT_NE(ValidateSamplerParams(p).message().find("min_p"), std::string::npos);
  p = SamplerParams{};
  p.repeat_penalty = 0.0f;
  EXPECT_NE(ValidateSamplerParams(p).message().find("repeat_penalty"), std::string::npos);
  EXPECT_TRUE(ValidateSamplerParams(SamplerParams{}).ok());
  p = SamplerParams{};
  p.frequency_penalty = 2.5f;
  EXPECT_NE(ValidateSamplerParams(p).message().find("frequency_penalty"), std::string::npos);
  p = SamplerParams{};
  p.presence_penalty = -3.0f;
  EXPECT_NE(ValidateSamplerParams(p).message().find("presence_penalty"), std::string::npos);
  p = SamplerParams{};
  p.logit_bias = {{3, 101.0f}};
  EXPECT_NE(ValidateSamplerParams(p).message().find("logit_bias"), std::string::npos);
  p.logit_bias = {{-1, 1.0f}};
  EXPECT_NE(ValidateSamplerParams(p).message().find("logit_bias"), std::string::npos);
}

TEST(SamplingStepsTest, LogitBiasAddsToNamedIds) {
  std::vector<float> l = {1.0f, 2.0f, 3.0f};
  sampling::ApplyLogitBias(l, std::vector<std::pair<int32_t, float>>{{0, 5.0f}, {2, -100.0f}, {7, 1.0f}});
  EXPECT_EQ(l, (std::vector<float>{6.0f, 2.0f, -97.0f}));  // id 7 is outside: ignored
  // Greedy follows the bias: +100 forces, -100 bans.
  SamplerParams p = Params(0.0f, 0, 1.0f, 0.0f);
  p.logit_bias = {{0, 100.0f}};
  Sampler s(p);
  EXPECT_EQ(s.Sample(std::vector<float>{1.0f, 2.0f, 3.0f}, {}), 0);
}

TEST(SamplingStepsTest, FrequencyAndPresenceCountGeneratedTokensOnly) {
  std::vector<float> l = {1.0f, 1.0f, 1.0f, 1.0f};
  // id 1 twice, id 2 once: logit -= count * 0.5 + 0.25
  sampling::ApplyFrequencyPresence(l, std::vector<int32_t>{1, 2, 1}, 0.5f, 0.25f);
  EXPECT_EQ(l, (std::vector<float>{1.0f, -0.25f, 0.25f, 1.0f}));
  // A negative penalty encourages repeats; the prompt (history) does not count.
  SamplerParams p = Params(0.0f, 0, 1.0f, 0.0f);
  p.presence_penalty = -2.0f;
  Sampler s(p);
  EXPECT_EQ(s.Sample(std::vector<float>{3.0f, 2.0f, 0.0f}, std::vector<int32_t>{0, 0, 2}, std::vector<int32_t>{1}), 1);
  p.presence_penalty = 2.0f;
  Sampler t(p);
  EXPECT_EQ(t.Sample(std::vector<float>{3.0f, 2.0f, 0.0f}, std::vector<int32_t>{0, 0}, std::vector<int32_t>{0}), 1);
}

}  // namespace
}  // namespace septet::runtime
