// The memory plan's arithmetic against numbers worked out by hand for
// stories260K (dim 64, 5 layers, 8 heads, 4 KV heads of 8, ffn 172, vocab 512,
// F32, tied output) and the scratch formula against a real context.
#include "model/memory_plan.h"

#include <gtest/gtest.h>

#include "io/model_file.h"
#include "model/layer_split.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "util/test_util.h"

namespace septet::model {
namespace {

PlanInput Stories() {
  auto f = ModelFile::Open(testing::SharedFile("models/stories260K/stories260K.bin"));
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  auto in = PlanInputFromFile(*f.value());
  EXPECT_TRUE(in.ok()) << in.status().ToString();
  return in.value();
}

TEST(MemoryPlanTest, Stories260KByHand) {
  PlanRequest r;
  r.n_ctx = 512;
  r.n_threads = 1;
  auto p = PlanMemory(Stories(), r);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // token_embd 512 x 64 x 4; per layer q, o 64x64, k, v 32x64; gate, up, down 172x64; two norms of 64.
  EXPECT_EQ(p->weights.embeddings, 512u * 64 * 4);
  EXPECT_EQ(p->weights.attention, 5u * (2 * 64 * 64 + 2 * 32 * 64) * 4);  // 245760
  EXPECT_EQ(p->weights.ffn, 5u * 3 * 172 * 64 * 4);                       // 660480
  EXPECT_EQ(p->weights.norms, (5u * 2 + 1) * 64 * 4);                     // + output_norm
  EXPECT_EQ(p->weights.output, 0u);                                       // tied
  EXPECT_EQ(p->max_layer_bytes, 49152u + 132096 + 512);
  EXPECT_EQ(p->global_bytes, 131072u + 256);
  EXPECT_EQ(p->decode_read_bytes, p->weights.total());  // tied: the classifier is token_embd
  EXPECT_EQ(p->kv_bytes_per_token, 2u * 5 * 32 * 4);  // 1280
  EXPECT_EQ(p->kv_bytes, 1280u * 512);
  // 256 chunk rows (model/forward_chunk.h) x (4 dim + 2 q_dim + 2 kv_dim + 2 ffn) floats + 2 x 512
  // scores (a GQA group of 2 heads) + 2 x 256 int32 + 256 x n_rot (8) double rotations + 512 logits.
  static_assert(kForwardChunkTokens == 256, "the numbers below are for a chunk of 256 tokens");
  EXPECT_EQ(p->scratch_bytes,
            256u * (4 * 64 + 2 * 64 + 2 * 32 + 2 * 172) * 4 + 2 * 512 * 4 + 2 * 256 * 4 + 256 * 8 * 8 + 512 * 4);
  EXPECT_EQ(p->resident_layers, 5);
  EXPECT_EQ(p->streamed_layers, 0);
  EXPECT_EQ(p->placement, "all 5 layers resident");
  EXPECT_EQ(p->host_bytes, p->weights.total() + p->kv_bytes + p->scratch_bytes);
  EXPECT_EQ(p->tok_s_overlapped, 0.0);  // no bandwidth given

  r.kv_type = DType::kF16;
  EXPECT_EQ(PlanMemory(Stories(), r)->kv_bytes_per_token, 2u * 5 * 32 * 2);
  r.kv_type = DType::kQ8_0;  // one 34-byte block per 32-value row
  EXPECT_EQ(PlanMemory(Stories(), r)->kv_bytes_per_token, 2u * 5 * 34);
}

TEST(MemoryPlanTest, Stories260KStreamsWhatDoesNotFitAndPredictsSpeed) {
  PlanRequest r;
  r.n_ctx = 512;
  r.n_threads = 1;
  r.mem_bw_gbs = 10;
  r.disk_bw_gbs = 1;
  const PlanInput in = Stories();
  const uint64_t layer = 181760, fixed = 131072 + 256 + 655360 + 835584;  // globals, KV, scratch
  r.mem_budget = fixed + layer * 4;  // the ring of 2 layer buffers + 2 resident
  auto p = PlanMemory(in, r);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->resident_layers, 2);
  EXPECT_EQ(p->streamed_layers, 3);
  EXPECT_EQ(p->host_bytes, fixed + 4 * layer);
  EXPECT_EQ(p->stream_window_bytes, 2 * layer);
  EXPECT_EQ(p->placement, "2 resident + 3 streamed layers");
  const double t_mem = (1040128.0 + 655360.0) / 10e9, t_disk = 3.0 * layer / 1e9;
  EXPECT_DOUBLE_EQ(p->t_mem_s, t_mem);
  EXPECT_DOUBLE_EQ(p->t_disk_s, t_disk);
  EXPECT_DOUBLE_EQ(p->tok_s_overlapped, 1.0 / t_disk);
  EXPECT_DOUBLE_EQ(p->tok_s_serial, 1.0 / (t_mem + t_disk));

  r.mem_budget = fixed + 2 * layer - 1;  // not even the ring: refused with the numbers
  auto bad = PlanMemory(in, r);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kOutOfRange);
  const std::string& msg = bad.status().message();
  for (const char* part : {"--mem", "655360", "2 x largest layer 181760", "835584", "1985792"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << part << " missing from: " << msg;
  }
}

TEST(MemoryPlanTest, GpuTakesLayersWithTheirKvFirst) {
  PlanRequest r;
  r.n_ctx = 512;
  r.n_threads = 1;
  // The device holds token_embd, the layers with their F32 KV and its own scratch
  // (model/layer_split.h; by hand in layer_split_test.cc).
  const uint64_t layer = 181760, kv_layer = 2 * 32 * 4 * 512, embd = 512 * 64 * 4;
  const uint64_t scratch = GpuFrontScratchBytes(Stories().hp, kForwardChunkTokens);
  r.gpu_mem = embd + scratch + 2 * (layer + kv_layer) + 100;
  auto p = PlanMemory(Stories(), r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->gpu_layers, 2);
  EXPECT_EQ(p->resident_layers, 3);
  EXPECT_EQ(p->gpu_bytes, embd + scratch + 2 * (layer + kv_layer));
  EXPECT_EQ(p->placement, "2 GPU + 3 CPU layers, all resident");
}

TEST(MemoryPlanTest, BadRequestsNameTheFlag) {
  PlanRequest r;
  r.n_ctx = 0;
  auto p = PlanMemory(Stories(), r);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--ctx"), std::string::npos);
  r.n_ctx = 16;
  r.kv_type = DType::kQ4_G;
  p = PlanMemory(Stories(), r);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--kv-type"), std::string::npos);
}

TEST(MemoryPlanTest, ScratchFormulaMatchesAContext) {
  auto m = LlamaModel::Load(testing::SharedFile("models/stories260K/stories260K.bin"), {});
  ASSERT_TRUE(m.ok());
  for (DType kv : {DType::kF32, DType::kF16, DType::kQ8_0}) {
    for (int threads : {1, 3}) {
      auto c = LlamaContext::Create(*m.value(), 40, {.n_threads = threads, .kv_type = kv});
      ASSERT_TRUE(c.ok());
      EXPECT_EQ(c.value()->memory().scratch, LlamaContext::ScratchBytes(m.value()->hparams(), 40, threads, kv));
      EXPECT_EQ(c.value()->memory().kv_cache, KvCache::Bytes(5, 40, 32, 1, kv));
    }
  }
}

}  // namespace
}  // namespace septet::model
