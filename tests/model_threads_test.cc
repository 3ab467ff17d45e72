// The CPU backend's promise: the thread count never changes a number. Every
// output element of every op is computed by one task with the same code, so
// logits must be bit-identical for 1, 2, 3 and 5 threads, for prefill (the
// tiled GEMM) and decode (matvec) alike, on every weight type.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "model/llama_context.h"
#include "model/llama_model.h"
#include "util/test_util.h"

namespace septet {
namespace {

const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
const std::vector<int32_t> kDecode = {421, 395, 317, 426};

// All-token logits of the prompt, then the last-token logits of each decode step.
std::vector<float> RunModel(const model::LlamaModel& m, model::CpuOptions opt) {
  auto ctx = model::LlamaContext::Create(m, 32, opt);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  std::vector<float> all, logits;
  EXPECT_TRUE(ctx.value()->Forward(kPrompt, model::LogitsMode::kAll, &logits).ok());
  all = logits;
  for (int32_t t : kDecode) {
    EXPECT_TRUE(ctx.value()->Forward({&t, 1}, model::LogitsMode::kLast, &logits).ok());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

// (weight type, KV cache type)
class ThreadCountTest : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(ThreadCountTest, LogitsBitIdenticalForAnyThreadCount) {
  const auto [type, kv] = GetParam();
  const DType kv_type = *ParseDType(kv);
  model::ModelOptions mo;
  if (std::string(type) != "F32") mo.compute_type = *ParseDType(type);
  auto model = model::LlamaModel::Load(testing::SharedFile("models/stories260K/stories260K.bin"), mo);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<float> ref = RunModel(*model.value(), {.n_threads = 1, .kv_type = kv_type});
  ASSERT_FALSE(ref.empty());
  for (int threads : {2, 3, 5}) {
    // min_work_per_task = 1: split every op, however small (stories260K is tiny).
    const std::vector<float> got =
        RunModel(*model.value(), {.n_threads = threads, .min_work_per_task = 1, .kv_type = kv_type});
    ASSERT_EQ(got.size(), ref.size());
    EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
        << type << " (KV " << kv << "): logits differ between 1 and " << threads << " threads";
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ThreadCountTest,
                         ::testing::Combine(::testing::Values("F32", "F16", "BF16", "Q8_0", "Q4_G", "Q3P5", "Q3P5_SEED", "Q4_T"),
                                            ::testing::Values("F32", "F16", "Q8_0")));

TEST(ThreadCountTest, RejectsBadThreadCount) {
  auto model = model::LlamaModel::Load(testing::SharedFile("models/stories260K/stories260K.bin"), {});
  ASSERT_TRUE(model.ok());
  for (int bad : {0, -1, 100000}) {
    auto ctx = model::LlamaContext::Create(*model.value(), 8, {.n_threads = bad});
    ASSERT_FALSE(ctx.ok());
    EXPECT_NE(ctx.status().message().find("threads"), std::string::npos) << ctx.status().ToString();
  }
}

}  // namespace
}  // namespace septet
