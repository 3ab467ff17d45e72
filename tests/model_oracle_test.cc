// The independent oracle for the forward pass: stories260K (a real trained
// checkpoint) from both containers must reproduce the float64 reference's
// greedy continuation token for token (../shared/models/stories260K/PROVENANCE.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "model/llama_context.h"
#include "model/llama_model.h"
#include "util/test_util.h"

namespace septet {
namespace {

const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378};  // BOS "Once upon a time"
const std::vector<int32_t> kGreedy = {432, 383, 286, 261, 376, 298, 315, 421,
                                      395, 317, 426, 338, 401, 396, 267, 337};

int32_t ArgMax(const std::vector<float>& v, size_t off, size_t n) {
  return static_cast<int32_t>(std::max_element(v.begin() + off, v.begin() + off + n) - (v.begin() + off));
}

class ModelOracleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelOracleTest, GreedyF32MatchesFloat64Reference) {
  auto model = model::LlamaModel::Load(testing::SharedFile(GetParam()), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const model::LlamaHParams& hp = model.value()->hparams();
  EXPECT_EQ(hp.dim, 64);
  EXPECT_EQ(hp.ffn_dim, 172);
  EXPECT_EQ(hp.n_layers, 5);
  EXPECT_EQ(hp.n_heads, 8);
  EXPECT_EQ(hp.n_kv_heads, 4);
  EXPECT_EQ(hp.vocab, 512);
  // llama2.c shares the classifier with the embedding; llama.cpp's converter wrote
  // an explicit (identical) output.weight into the GGUF.
  EXPECT_EQ(model.value()->weights().tied_output, std::string(GetParam()).ends_with(".bin"));

  auto ctx = model::LlamaContext::Create(*model.value(), 64);
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  std::vector<float> logits;
  ASSERT_TRUE(ctx.value()->Forward(kPrompt, model::LogitsMode::kLast, &logits).ok());
  std::vector<int32_t> got;
  for (size_t i = 0; i < kGreedy.size(); ++i) {
    const int32_t next = ArgMax(logits, 0, logits.size());
    got.push_back(next);
    ASSERT_TRUE(ctx.value()->Forward({&next, 1}, model::LogitsMode::kLast, &logits).ok());
  }
  EXPECT_EQ(got, kGreedy);
}

// Prefill as one batch, token by token, and in uneven pieces must give the same
// logits bit for bit: every path runs the same per-row arithmetic.
TEST_P(ModelOracleTest, BatchAndTokenByTokenAgreeBitwise) {
  auto model = model::LlamaModel::Load(testing::SharedFile(GetParam()), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<int32_t> seq = kPrompt;
  seq.insert(seq.end(), kGreedy.begin(), kGreedy.end());
  auto batch = model::LlamaContext::Create(*model.value(), 64);
  auto single = model::LlamaContext::Create(*model.value(), 64);
  ASSERT_TRUE(batch.ok() && single.ok());
  std::vector<float> all, one;
  ASSERT_TRUE(batch.value()->Forward(seq, model::LogitsMode::kAll, &all).ok());
  const size_t vocab = 512;
  ASSERT_EQ(all.size(), seq.size() * vocab);
  for (size_t i = 0; i < seq.size(); ++i) {
    ASSERT_TRUE(single.value()->Forward({&seq[i], 1}, model::LogitsMode::kLast, &one).ok());
    ASSERT_TRUE(std::equal(one.begin(), one.end(), all.begin() + i * vocab)) << "position " << i;
  }
}

TEST_P(ModelOracleTest, ContextOverflowIsOutOfRangeNamingNCtx) {
  auto model = model::LlamaModel::Load(testing::SharedFile(GetParam()), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto ctx = model::LlamaContext::Create(*model.value(), 6);
  ASSERT_TRUE(ctx.ok());
  std::vector<float> logits;
  ASSERT_TRUE(ctx.value()->Forward(kPrompt, model::LogitsMode::kLast, &logits).ok());
  const int32_t t = 2;
  ASSERT_TRUE(ctx.value()->Forward({&t, 1}, model::LogitsMode::kLast, &logits).ok());  // fills position 5
  const Status st = ctx.value()->Forward({&t, 1}, model::LogitsMode::kLast, &logits);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("n_ctx = 6"), std::string::npos) << st.message();
  EXPECT_EQ(ctx.value()->n_past(), 6);  // state unchanged by the failed call
  const int32_t bad = 512;
  ctx.value()->Truncate(0);
  EXPECT_EQ(ctx.value()->Forward({&bad, 1}, model::LogitsMode::kLast, &logits).code(),
            StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Stories260K, ModelOracleTest,
                         ::testing::Values("models/stories260K/stories260K.bin",
                                           "models/stories260K/stories260Ktok512.gguf"),
                         [](const auto& info) { return info.index == 0 ? std::string("llama2c") : std::string("gguf"); });

}  // namespace
}  // namespace septet
