// Several sequences in one CPU context (batched decoding). The promise: a token's
// logits do not depend on what else shares its batch. Every op computes a row
// alone (per-row activation quantization, integer dots, per-row norms, attention
// over the row's own sequence), so one context advancing 3 sequences together must
// give, bit for bit, the logits of 3 single-sequence contexts: for prompts that
// interleave and span several internal chunks (kMaxBatch), for kAll and kLast, for
// every weight type and thread count.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "model/llama_context.h"
#include "model/llama_model.h"
#include "runtime/backend.h"
#include "util/test_util.h"

namespace septet {
namespace {

constexpr char kStories[] = "models/stories260K/stories260K.bin";

// Deterministic prompts of different lengths (ids inside stories260K's 512).
std::vector<int32_t> Prompt(int32_t seq, int64_t len) {
  std::vector<int32_t> p = {1};
  for (int64_t i = 1; i < len; ++i) p.push_back(static_cast<int32_t>(260 + (seq * 37 + i * 11) % 250));
  return p;
}

std::vector<float> Row(const std::vector<float>& v, int64_t r, int64_t vocab) {
  return std::vector<float>(v.begin() + r * vocab, v.begin() + (r + 1) * vocab);
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// (weight type, KV cache type)
class MultiSeqTest : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(MultiSeqTest, BatchOfSequencesEqualsSeparateContextsBitForBit) {
  const auto [type, kv] = GetParam();
  const DType kv_type = *ParseDType(kv);
  model::ModelOptions mo;
  if (std::string(type) != "F32") mo.compute_type = *ParseDType(type);
  auto model = model::LlamaModel::Load(testing::SharedFile(kStories), mo);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const int64_t vocab = model.value()->hparams().vocab;
  const std::vector<int64_t> lens = {30, 41, 25};  // 96 tokens: two internal chunks
  for (const int threads : {1, 3}) {
    SCOPED_TRACE(std::string(type) + " KV " + kv + " threads=" + std::to_string(threads));
    model::CpuOptions co{.n_threads = threads, .min_work_per_task = 1, .kv_type = kv_type};
    co.n_seq = 3;
    auto batched = model::LlamaContext::Create(*model.value(), 64, co);
    ASSERT_TRUE(batched.ok()) << batched.status().ToString();

    // Prompts interleaved round-robin, all logits.
    std::vector<int32_t> toks, seqs;
    std::vector<int64_t> index_in_seq;
    for (int64_t i = 0; i < 41; ++i) {
      for (int32_t q = 0; q < 3; ++q) {
        if (i < lens[static_cast<size_t>(q)]) {
          toks.push_back(Prompt(q, lens[static_cast<size_t>(q)])[static_cast<size_t>(i)]);
          seqs.push_back(q);
          index_in_seq.push_back(i);
        }
      }
    }
    std::vector<float> all;
    ASSERT_TRUE(batched.value()->ForwardBatch(toks, seqs, model::LogitsMode::kAll, &all).ok());
    ASSERT_EQ(all.size(), toks.size() * static_cast<size_t>(vocab));

    std::vector<std::unique_ptr<model::LlamaContext>> single;
    std::vector<std::vector<float>> ref(3);
    for (int32_t q = 0; q < 3; ++q) {
      auto c = model::LlamaContext::Create(*model.value(), 64,
                                           {.n_threads = threads, .min_work_per_task = 1, .kv_type = kv_type});
      ASSERT_TRUE(c.ok());
      ASSERT_TRUE(c.value()->Forward(Prompt(q, lens[static_cast<size_t>(q)]), model::LogitsMode::kAll,
                                     &ref[static_cast<size_t>(q)]).ok());
      single.push_back(std::move(c.value()));
    }
    for (size_t i = 0; i < toks.size(); ++i) {
      ASSERT_TRUE(SameBits(Row(all, static_cast<int64_t>(i), vocab),
                           Row(ref[static_cast<size_t>(seqs[i])], index_in_seq[i], vocab)))
          << "prompt token " << i << " (sequence " << seqs[i] << ", position " << index_in_seq[i] << ")";
    }

    // Decode: one token per sequence per call, sequences in a rotating order;
    // kLast rows follow the order of the sequences' tokens in the call.
    std::vector<int32_t> next = {300, 301, 302};
    for (int step = 0; step < 6; ++step) {
      const std::vector<int32_t> order = {step % 3, (step + 1) % 3, (step + 2) % 3};
      std::vector<int32_t> step_toks;
      for (int32_t q : order) step_toks.push_back(next[static_cast<size_t>(q)]);
      std::vector<float> lg;
      ASSERT_TRUE(batched.value()->ForwardBatch(step_toks, order, model::LogitsMode::kLast, &lg).ok());
      ASSERT_EQ(lg.size(), static_cast<size_t>(3 * vocab));
      for (size_t r = 0; r < 3; ++r) {
        const size_t q = static_cast<size_t>(order[r]);
        std::vector<float> one;
        ASSERT_TRUE(single[q]->Forward({&next[q], 1}, model::LogitsMode::kLast, &one).ok());
        ASSERT_TRUE(SameBits(Row(lg, static_cast<int64_t>(r), vocab), one)) << "step " << step << " sequence " << q;
        next[q] = static_cast<int32_t>(260 + (next[q] * 7 + step) % 250);
      }
    }
    for (int32_t q = 0; q < 3; ++q) {
      EXPECT_EQ(batched.value()->seq_past(q), lens[static_cast<size_t>(q)] + 6);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MultiSeqTest,
                         ::testing::Combine(::testing::Values("F32", "F16", "BF16", "Q8_0", "Q4_G", "Q3P5", "Q3P5_SEED"),
                                            ::testing::Values("F32", "F16", "Q8_0")));

TEST(MultiSeqTest, TruncatingOneSequenceLeavesTheOthers) {
  auto model = model::LlamaModel::Load(testing::SharedFile(kStories), {});
  ASSERT_TRUE(model.ok());
  model::CpuOptions co;
  co.n_seq = 2;
  auto ctx = model::LlamaContext::Create(*model.value(), 16, co);
  ASSERT_TRUE(ctx.ok());
  model::InferenceContext& c = *ctx.value();
  std::vector<float> lg, before, after;
  const std::vector<int32_t> toks = {1, 1, 403, 378, 407, 261}, seqs = {0, 1, 0, 1, 0, 1};
  ASSERT_TRUE(c.ForwardBatch(toks, seqs, model::LogitsMode::kLast, &lg).ok());
  const int32_t t = 432;
  const std::vector<int32_t> one = {1};
  ASSERT_TRUE(c.ForwardBatch({&t, 1}, one, model::LogitsMode::kLast, &before).ok());
  // Sequence 0 restarts with different text; sequence 1 replays its last token.
  c.TruncateSeq(0, 0);
  c.TruncateSeq(1, 3);
  EXPECT_EQ(c.n_past(), 0);
  EXPECT_EQ(c.seq_past(1), 3);
  const std::vector<int32_t> toks2 = {1, 261, 432}, seqs2 = {0, 0, 1};
  ASSERT_TRUE(c.ForwardBatch(toks2, seqs2, model::LogitsMode::kLast, &after).ok());
  const int64_t vocab = model.value()->hparams().vocab;
  EXPECT_TRUE(SameBits(Row(after, 1, vocab), before));
}

TEST(MultiSeqTest, BadBatchesAreRefusedAndChangeNothing) {
  auto model = model::LlamaModel::Load(testing::SharedFile(kStories), {});
  ASSERT_TRUE(model.ok());
  runtime::BackendOptions bo;
  bo.n_seq = 2;
  auto made = runtime::CreateContext(*model.value(), 4, bo);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  model::InferenceContext& c = *made.value();
  EXPECT_EQ(c.n_seq(), 2);
  std::vector<float> lg;
  const std::vector<int32_t> toks = {1, 403, 407};
  // Wrong number of sequence ids.
  Status st = c.ForwardBatch(toks, std::vector<int32_t>{0, 1}, model::LogitsMode::kLast, &lg);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("sequence ids"), std::string::npos) << st.message();
  // A sequence the context does not have.
  st = c.ForwardBatch(toks, std::vector<int32_t>{0, 2, 1}, model::LogitsMode::kLast, &lg);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("n_seq = 2"), std::string::npos) << st.message();
  st = c.ForwardBatch(toks, std::vector<int32_t>{0, -1, 1}, model::LogitsMode::kLast, &lg);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  // Sequence 1 overflows (2 cached + 3 > 4) while sequence 0 would fit: nothing runs.
  ASSERT_TRUE(c.ForwardBatch(std::vector<int32_t>{1, 403}, std::vector<int32_t>{1, 1}, model::LogitsMode::kLast, &lg)
                  .ok());
  st = c.ForwardBatch(toks, std::vector<int32_t>{1, 0, 1}, model::LogitsMode::kLast, &lg);
  EXPECT_TRUE(st.ok()) << st.ToString();  // 2 + 2 = 4 fits exactly
  st = c.ForwardBatch(std::vector<int32_t>{5, 6}, std::vector<int32_t>{0, 1}, model::LogitsMode::kLast, &lg);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("sequence 1"), std::string::npos) << st.message();
  EXPECT_EQ(c.seq_past(0), 1);
  EXPECT_EQ(c.seq_past(1), 4);
  // n_seq must be positive.
  bo.n_seq = 0;
  EXPECT_EQ(runtime::CreateContext(*model.value(), 4, bo).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace septet
