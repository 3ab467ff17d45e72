#include <gtest/gtest.h>

#include "core/paths.h"
#include "model/llama_model.h"
#include "perf/bandwidth.h"
#include "perf/model_bench.h"
#include "perf/stats.h"
#include "quant/registry.h"

namespace septet::perf {
namespace {

TEST(Stats, MedianOddEvenAndSpread) {
  const Summary odd = Summarize({5, 1, 3});
  EXPECT_EQ(odd.n, 3u);
  EXPECT_DOUBLE_EQ(odd.median, 3);
  EXPECT_DOUBLE_EQ(odd.min, 1);
  EXPECT_DOUBLE_EQ(odd.max, 5);
  EXPECT_DOUBLE_EQ(odd.mean, 3);
  EXPECT_DOUBLE_EQ(odd.stddev, 2);  // sample stddev of 1, 3, 5
  const Summary even = Summarize({4, 1, 2, 100});
  EXPECT_DOUBLE_EQ(even.median, 3);  // robust to the outlier
  EXPECT_DOUBLE_EQ(even.max, 100);
  const Summary one = Summarize({7});
  EXPECT_DOUBLE_EQ(one.median, 7);
  EXPECT_DOUBLE_EQ(one.stddev, 0);
  const Summary none = Summarize({});
  EXPECT_EQ(none.n, 0u);
  EXPECT_DOUBLE_EQ(none.median, 0);
}

TEST(Bandwidth, SmallProbeGivesPositiveNumbersAndRejectsBadOptions) {
  BandwidthOptions o;
  o.bytes = size_t{4} << 20;
  o.n_threads = 2;
  o.repetitions = 3;
  auto r = MeasureBandwidth(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->read_gbs.n, 3u);
  EXPECT_GT(r->read_gbs.median, 0);
  EXPECT_GT(r->copy_gbs.median, 0);
  EXPECT_LE(r->read_gbs.min, r->read_gbs.median);
  o.n_threads = 0;
  EXPECT_FALSE(MeasureBandwidth(o).ok());
  o.n_threads = 1;
  o.bytes = 1000;
  EXPECT_FALSE(MeasureBandwidth(o).ok());
}

TEST(ModelBench, StoriesRunsAndCountsBytes) {
  auto m = model::LlamaModel::Load(SharedPath("models/stories260K/stories260K.bin"), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // stories260K: dim 64, 5 layers, 8 heads / 4 kv heads (head 8), ffn 172, vocab 512, tied, F32.
  const uint64_t per_layer = 64 * 64 * 2 + 32 * 64 * 2 + 3 * 64 * 172;
  EXPECT_EQ(MatMulParams(**m), 5 * per_layer + 512 * 64);
  EXPECT_EQ(MatMulWeightBytes(**m), 4 * MatMulParams(**m));
  ModelBenchOptions o;
  o.n_prompt = 8;
  o.n_gen = 4;
  o.repetitions = 2;
  std::string backend;
  auto r = RunModelBench(**m, o, &backend);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(backend, "cpu");
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].test, "pp8");
  EXPECT_EQ((*r)[1].test, "tg4");
  EXPECT_EQ((*r)[1].tok_per_s.n, 2u);
  EXPECT_GT((*r)[1].tok_per_s.median, 0);
  // KV: 2 (K, V) x 5 layers x 32 floats per position, average (4 + 1) / 2 positions.
  EXPECT_DOUBLE_EQ((*r)[1].bytes_per_token, static_cast<double>(MatMulWeightBytes(**m)) + 2 * 5 * 32 * 4 * 2.5);
  EXPECT_EQ((*r)[1].batch, 1);
  // Memory: F32 weights of the file, KV cache of n_ctx = max(p, n) + 1 = 9 positions.
  EXPECT_EQ((*r)[1].memory.kv_cache, 2u * 5 * 9 * 32 * 4);
  EXPECT_GE((*r)[1].memory.weights, MatMulWeightBytes(**m));
  EXPECT_GT((*r)[1].memory.scratch, 0u);

  // Batched decoding: 4 sequences of 4 tokens; the weights count once per step.
  o.n_prompt = 0;
  o.n_batch = 4;
  auto rb = RunModelBench(**m, o);
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  ASSERT_EQ(rb->size(), 1u);
  EXPECT_EQ((*rb)[0].batch, 4);
  EXPECT_EQ((*rb)[0].memory.kv_cache, 4u * 2 * 5 * 5 * 32 * 4);  // n_ctx = 5 per sequence
  EXPECT_DOUBLE_EQ((*rb)[0].bytes_per_token,
                   static_cast<double>(MatMulWeightBytes(**m)) / 4 + 2 * 5 * 32 * 4 * 2.5);
  o.n_batch = 0;
  EXPECT_FALSE(RunModelBench(**m, o).ok());
  o.n_batch = 1;
  o.n_prompt = o.n_gen = 0;
  EXPECT_FALSE(RunModelBench(**m, o).ok());
  o.n_gen = 2;
  o.backend = "tpu";
  EXPECT_FALSE(RunModelBench(**m, o).ok());
}

}  // namespace
}  // namespace septet::perf
