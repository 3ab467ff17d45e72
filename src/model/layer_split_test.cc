// The host side of --gpu-layers: the split arithmetic against numbers worked out by
// hand for stories260K (dim 64, 5 layers, 4 KV heads of 8, ffn 172, vocab 512,
// F32, tied output), and the split forward pass with a CPU stand-in for the device
// (CpuFront): its logits equal the unsplit context's, bit for bit, for every
// boundary. Nothing here needs a GPU; the CUDA front is tested in
// backends/cuda/cuda_model_test.cc where a device is present.
#include "model/layer_split.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "io/model_file.h"
#include "model/layer_front.h"
#include "model/llama_context.h"
#include "model/memory_plan.h"
#include "util/test_util.h"

namespace septet::model {
namespace {

constexpr char kStories[] = "models/stories260K/stories260K.bin";
constexpr uint64_t kLayer = 49152 + 132096 + 512;  // q, k, v, o + gate, up, down + two norms (F32)
constexpr uint64_t kEmbd = 512 * 64 * 4;

PlanInput Stories() {
  auto f = ModelFile::Open(testing::SharedFile(kStories));
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  auto in = PlanInputFromFile(*f.value());
  EXPECT_TRUE(in.ok()) << in.status().ToString();
  return in.value();
}

// GpuFrontScratchBytes for stories260K by hand: chunk rows of 3 dim + 2 q_dim +
// 2 kv_dim + 2 ffn floats, meta [4][c] int32, INT8 activations padded to 192
// (ffn 172), 6 blocks of scale + sum, fp16 activations, the 64 MiB tile cap.
uint64_t ScratchByHand(uint64_t c) {
  return 4 * c * 4 + c * 4 * (3 * 64 + 2 * 64 + 2 * 32 + 2 * 172) + c * 192 + 2 * c * 6 * 4 + c * 172 * 2 +
         (uint64_t{64} << 20);
}

TEST(LayerSplitTest, ExplicitLayersByHand) {
  SplitRequest r;
  r.gpu_layers = 2;
  r.n_ctx = 512;
  auto s = SplitLayers(Stories(), r);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->n_layers, 5);
  EXPECT_EQ(s->gpu_layers, 2);
  const std::vector<LayerDevice> want = {LayerDevice::kGpu, LayerDevice::kGpu, LayerDevice::kCpu, LayerDevice::kCpu,
                                         LayerDevice::kCpu};
  EXPECT_EQ(s->device, want);
  EXPECT_EQ(s->gpu_weight_bytes, kEmbd + 2 * kLayer);
  EXPECT_EQ(s->gpu_kv_bytes, 2u * (2 * 32 * 4 * 512));  // F32 K and V, 2 layers
  static_assert(kForwardChunkTokens == 256, "a chunk of 256 tokens, n_ctx 512");
  EXPECT_EQ(s->gpu_scratch_bytes, ScratchByHand(256));
  EXPECT_EQ(s->gpu_scratch_bytes, GpuFrontScratchBytes(Stories().hp, 256));
  EXPECT_EQ(s->cpu_layer_bytes, 3 * kLayer);
  EXPECT_EQ(s->boundary_bytes_per_token, 64u * 4);
}

TEST(LayerSplitTest, ZeroAndAllLayers) {
  SplitRequest r;
  r.n_ctx = 16;
  r.gpu_layers = 0;
  auto none = SplitLayers(Stories(), r);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->gpu_bytes(), 0u);
  EXPECT_EQ(none->boundary_bytes_per_token, 0u);
  EXPECT_EQ(none->cpu_layer_bytes, 5 * kLayer);
  r.gpu_layers = 5;
  auto all = SplitLayers(Stories(), r);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->cpu_layer_bytes, 0u);
  EXPECT_EQ(all->gpu_weight_bytes, kEmbd + 5 * kLayer);
  // n_ctx 16 x 1 sequence: the chunk is 16 tokens, not 256.
  EXPECT_EQ(all->gpu_scratch_bytes, ScratchByHand(16));
}

TEST(LayerSplitTest, GpuMemChoosesTheLargestFittingN) {
  SplitRequest r;
  r.n_ctx = 512;
  r.n_seq = 2;
  const uint64_t kv_layer = 2 * 32 * 4 * 512 * 2;
  const uint64_t three = kEmbd + ScratchByHand(256) + 3 * (kLayer + kv_layer);
  for (const auto& [mem, n] : std::vector<std::pair<uint64_t, int64_t>>{
           {three, 3}, {three - 1, 2}, {three + kLayer + kv_layer, 4}, {uint64_t{1} << 40, 5}, {1000, 0}}) {
    r.gpu_mem = mem;
    auto s = SplitLayers(Stories(), r);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->gpu_layers, n) << mem;
    EXPECT_LE(s->gpu_bytes(), mem);
  }
  // The memory plan places the same layers on the GPU.
  PlanRequest p;
  p.n_ctx = 512;
  p.n_seq = 2;
  p.gpu_mem = three;
  auto plan = PlanMemory(Stories(), p);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->gpu_layers, 3);
  EXPECT_EQ(plan->gpu_bytes, three);
  EXPECT_EQ(plan->placement, "3 GPU + 2 CPU layers, all resident");
}

TEST(LayerSplitTest, RefusesWhatCannotWork) {
  SplitRequest r;
  r.n_ctx = 512;
  r.gpu_layers = 6;
  auto s = SplitLayers(Stories(), r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("--gpu-layers 6"), std::string::npos) << s.status().message();
  r.gpu_layers = -1;  // neither N nor a size
  s = SplitLayers(Stories(), r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  r.gpu_layers = 2;
  r.gpu_mem = 1 << 20;  // far below the tile cap
  s = SplitLayers(Stories(), r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.status().message().find("scratch"), std::string::npos) << s.status().message();
}

// Prompt over two chunks (70 tokens), then three decode steps, a truncation and a
// re-decode; every logit row concatenated.
std::vector<float> RunLogits(const LlamaModel& m, const CpuOptions& o) {
  auto c = LlamaContext::Create(m, 128, o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (!c.ok()) return {};
  std::vector<int32_t> prompt = {1};
  for (int i = 1; i < 70; ++i) prompt.push_back(260 + (i * 13) % 250);
  std::vector<float> all, lg;
  EXPECT_TRUE(c.value()->Forward(prompt, LogitsMode::kAll, &lg).ok());
  all = lg;
  for (int32_t t : {300, 301, 302}) {
    EXPECT_TRUE(c.value()->Forward({&t, 1}, LogitsMode::kLast, &lg).ok());
    all.insert(all.end(), lg.begin(), lg.end());
  }
  c.value()->Truncate(71);
  const int32_t t = 400;
  EXPECT_TRUE(c.value()->Forward({&t, 1}, LogitsMode::kLast, &lg).ok());
  all.insert(all.end(), lg.begin(), lg.end());
  return all;
}

TEST(LayerSplitTest, SplitPassGivesTheUnsplitLogitsBitForBit) {
  auto m = LlamaModel::Load(testing::SharedFile(kStories), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<float> ref = RunLogits(*m.value(), {.n_threads = 2});
  ASSERT_FALSE(ref.empty());
  for (int64_t n : {1, 3, 5}) {
    auto front = CpuFront::Create(*m.value(), n, 128, 1, 2);
    ASSERT_TRUE(front.ok()) << front.status().ToString();
    CpuOptions o{.n_threads = 2};
    o.front = std::shared_ptr<LayerFront>(std::move(front).value());
    const std::vector<float> got = RunLogits(*m.value(), o);
    ASSERT_EQ(got.size(), ref.size()) << n;
    EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0) << "front of " << n << " layers";
  }
}

TEST(LayerSplitTest, HostContextHoldsOnlyItsLayersKv) {
  auto m = LlamaModel::Load(testing::SharedFile(kStories), {});
  ASSERT_TRUE(m.ok());
  auto front = CpuFront::Create(*m.value(), 2, 64, 1, 1);
  ASSERT_TRUE(front.ok());
  EXPECT_EQ(front.value()->memory().kv_cache, 2u * 2 * 32 * 4 * 64);
  CpuOptions o;
  o.front = std::shared_ptr<LayerFront>(std::move(front).value());
  auto c = LlamaContext::Create(*m.value(), 64, o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c.value()->layer_begin(), 2);
  EXPECT_EQ(c.value()->layer_end(), 5);
  EXPECT_EQ(c.value()->memory().kv_cache, 3u * 2 * 32 * 4 * 64);
  // Streaming cannot start inside the front.
  o.stream_from_layer = 1;
  auto bad = LlamaContext::Create(*m.value(), 64, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(LayerSplitTest, StreamingBehindTheSplitKeepsTheLogits) {
  auto m = LlamaModel::Load(testing::SharedFile(kStories), ModelOptions{std::nullopt, false});  // streamed: mapped
  ASSERT_TRUE(m.ok());
  const std::vector<float> ref = RunLogits(*m.value(), {.n_threads = 1});
  auto front = CpuFront::Create(*m.value(), 2, 128, 1, 1);
  ASSERT_TRUE(front.ok());
  CpuOptions o{.n_threads = 1, .stream_from_layer = 3};
  o.front = std::shared_ptr<LayerFront>(std::move(front).value());
  const std::vector<float> got = RunLogits(*m.value(), o);
  ASSERT_EQ(got.size(), ref.size());
  EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace septet::model
