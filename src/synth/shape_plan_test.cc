// `septet plan --shape`: the llama2-70b shape at Q8_0 worked out by hand.
#include <gtest/gtest.h>

#include "model/memory_plan.h"
#include "synth/synth_model.h"

namespace septet::synth {
namespace {

TEST(ShapePlanTest, Llama2_70bQ8_0ByHand) {
  auto shape = FindShape("llama2-70b");
  ASSERT_TRUE(shape.ok());
  auto in = ShapePlanInput(*shape, DType::kQ8_0);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  // Q8_0 rows: 8192 values = 256 blocks x 34 = 8704 bytes; 28672 values = 896 x 34 = 30464.
  const uint64_t attn_layer = 8192ull * 8704 * 2 + 1024ull * 8704 * 2;          // q, o; k, v
  const uint64_t ffn_layer = 28672ull * 8704 * 2 + 8192ull * 30464;              // gate, up; down
  const uint64_t layer = attn_layer + ffn_layer + 2 * 8192 * 4;                 // + two F32 norms
  const uint64_t embd = 32000ull * 8704;
  model::PlanRequest r;
  r.n_ctx = 4096;
  r.n_threads = 1;
  r.kv_type = DType::kF16;
  r.mem_budget = 16ull << 30;
  r.mem_bw_gbs = 10;
  r.disk_bw_gbs = 1;
  auto p = model::PlanMemory(*in, r);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->weights.attention, 80 * attn_layer);  // 12834570240
  EXPECT_EQ(p->weights.ffn, 80 * ffn_layer);         // 59894661120
  EXPECT_EQ(p->weights.embeddings, embd);
  EXPECT_EQ(p->weights.output, embd);
  EXPECT_EQ(p->weights.norms, 161u * 8192 * 4);
  EXPECT_EQ(p->max_layer_bytes, layer);              // 909180928
  EXPECT_EQ(p->kv_bytes_per_token, 2u * 80 * 1024 * 2);
  EXPECT_EQ(p->kv_bytes, 327680ull * 4096);
  const uint64_t scratch = 256ull * (4 * 8192 + 2 * 8192 + 2 * 1024 + 2 * 28672) * 4 + (8 * 4096 + 128) * 4 + 2 * 256 * 4 + 256 * 128 * 8 + 32000 * 4;
  EXPECT_EQ(p->scratch_bytes, scratch);              // 111672832 (a chunk of 256 tokens, scores of a GQA group of 8)
  // Host: globals + KV + scratch + the streaming ring of two layers, then 14 layers fit in 16 GiB.
  const uint64_t fixed = 2 * embd + 8192 * 4 + 327680ull * 4096 + scratch;
  EXPECT_EQ(p->resident_layers, 14);
  EXPECT_EQ(p->streamed_layers, 66);
  EXPECT_EQ(p->host_bytes, fixed + 16 * layer);      // 16557833728
  const double t_mem = (80.0 * layer + embd + 8192 * 4 + 327680.0 * 4096) / 10e9;
  const double t_disk = 66.0 * layer / 1e9;
  EXPECT_DOUBLE_EQ(p->t_mem_s, t_mem);
  EXPECT_DOUBLE_EQ(p->t_disk_s, t_disk);
  EXPECT_DOUBLE_EQ(p->tok_s_overlapped, 1.0 / t_disk);

  r.mem_budget = 2ull << 30;  // below globals + KV + scratch + two layers = 3829300736
  auto bad = model::PlanMemory(*in, r);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("3829300736"), std::string::npos) << bad.status().message();
}

TEST(ShapePlanTest, RefusesATypeGenWeightsCannotWrite) {
  const ModelShape shape = FindShape("stories15m").value();
  auto in = ShapePlanInput(shape, DType::kQ4_K);
  ASSERT_FALSE(in.ok());
  EXPECT_NE(in.status().message().find("--type"), std::string::npos);
}

}  // namespace
}  // namespace septet::synth
