// Layer streaming changes where the weight pages live, never the bytes the
// forward pass reads: logits with streamed layers equal the all-resident run,
// bit for bit; and only mapped weights are accepted.
#include "model/layer_streamer.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <cstring>
#include <vector>

#include "model/llama_context.h"
#include "model/memory_plan.h"
#include "util/test_util.h"

namespace septet::model {
namespace {

constexpr char kStories[] = "models/stories260K/stories260K.bin";
// Streamed layers are read from the file mapping, so the model is loaded without
// the SIMD repack, as runtime::PlanPlacement loads a model it streams.
const ModelOptions kMapped{std::nullopt, false};

std::vector<float> RunLogits(const LlamaModel& m, const CpuOptions& o, uint64_t* evictions = nullptr) {
  auto c = LlamaContext::Create(m, LlamaContext::kMaxBatch + 16, o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  std::vector<int32_t> prompt = {1};
  for (int i = 1; i < LlamaContext::kMaxBatch + 6; ++i) prompt.push_back(260 + (i * 13) % 250);  // two chunks
  std::vector<float> all, lg;
  EXPECT_TRUE(c.value()->Forward(prompt, LogitsMode::kAll, &lg).ok());
  all = lg;
  for (int32_t t : {300, 301, 302}) {
    EXPECT_TRUE(c.value()->Forward({&t, 1}, LogitsMode::kLast, &lg).ok());
    all.insert(all.end(), lg.begin(), lg.end());
  }
  if (evictions != nullptr && c.value()->streamer() != nullptr) *evictions = c.value()->streamer()->evictions();
  return all;
}

TEST(LayerStreamerTest, StreamedLayersGiveTheResidentLogitsBitForBit) {
  auto m = LlamaModel::Load(testing::SharedFile(kStories), kMapped);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<float> ref = RunLogits(*m.value(), {.n_threads = 2});
  for (int64_t first : {0, 2, 4}) {
    uint64_t evictions = 0;
    const std::vector<float> got = RunLogits(*m.value(), {.n_threads = 2, .stream_from_layer = first}, &evictions);
    ASSERT_EQ(got.size(), ref.size());
    EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0) << "first streamed layer " << first;
    // 2 prompt chunks + 3 decode steps, each evicting every streamed layer once.
    EXPECT_EQ(evictions, static_cast<uint64_t>(5 * (5 - first))) << first;
  }
}

TEST(LayerStreamerTest, SpreadLayersGiveTheResidentLogitsBitForBit) {
  auto m = LlamaModel::Load(testing::SharedFile(kStories), kMapped);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<float> ref = RunLogits(*m.value(), {.n_threads = 2});
  for (const std::vector<int64_t>& layers : std::vector<std::vector<int64_t>>{{1, 3}, {4}, {0, 2, 4}, {0, 1, 2, 3, 4}}) {
    CpuOptions o{.n_threads = 2};
    o.stream_layers = layers;
    uint64_t evictions = 0;
    const std::vector<float> got = RunLogits(*m.value(), o, &evictions);
    ASSERT_EQ(got.size(), ref.size());
    EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0) << layers.size();
    EXPECT_EQ(evictions, 5 * layers.size());
  }
  CpuOptions bad{.n_threads = 1};
  bad.stream_layers = {3, 1};
  EXPECT_FALSE(LlamaContext::Create(*m.value(), 16, bad).ok());
}

// Every streamed layer is read once per pass with pread into the ring (no page
// faults on the mapping): O_DIRECT where the filesystem allows it, buffered reads
// where it does not (forced here with SEPTET_NO_DIRECT_IO=1), the same logits.
TEST(LayerStreamerTest, ReadsEachStreamedLayerOncePerPassDirectOrBuffered) {
  auto m = LlamaModel::Load(testing::SharedFile(kStories), kMapped);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<float> ref = RunLogits(*m.value(), {.n_threads = 2});
  CpuOptions o{.n_threads = 2};
  o.stream_layers = {1, 3};
  for (bool buffered : {false, true}) {
    if (buffered) ::setenv("SEPTET_NO_DIRECT_IO", "1", 1);
    auto c = LlamaContext::Create(*m.value(), 128, o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    const LayerStreamer* st = c.value()->streamer();
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->buffer_bytes() % 4096, 0u);
    EXPECT_GE(st->buffer_bytes(), 2u * 181760);
    std::vector<float> lg;
    std::vector<int32_t> prompt = {1, 300, 301};
    ASSERT_TRUE(c.value()->Forward(prompt, LogitsMode::kLast, &lg).ok());
    // One pass read layers 1 and 3, and perhaps (it runs ahead, asynchronously)
    // layer 1 again for the next pass: at most three buffers' worth (extents are
    // page-rounded, and llama2.c files store each tensor kind for every layer in a
    // row, so an extent also covers bytes of other layers).
    EXPECT_GE(st->bytes_read(), 2u * 181760) << buffered;
    EXPECT_LE(st->bytes_read(), 3 * st->buffer_bytes() / 2) << buffered;
    // This filesystem (ext4) takes O_DIRECT.
    EXPECT_EQ(st->direct_io(), !buffered);
    const std::vector<float> got = RunLogits(*m.value(), o);
    ::unsetenv("SEPTET_NO_DIRECT_IO");
    ASSERT_EQ(got.size(), ref.size());
    EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0) << buffered;
  }
}

TEST(LayerStreamerTest, SpreadStreamedLayersByHand) {
  EXPECT_EQ(SpreadStreamedLayers(0, 5, 2), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(SpreadStreamedLayers(0, 5, 5), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(SpreadStreamedLayers(0, 5, 1), (std::vector<int64_t>{4}));
  EXPECT_EQ(SpreadStreamedLayers(2, 5, 2), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(SpreadStreamedLayers(0, 5, 0).empty());
  // 80 layers, 25 streamed: every third or fourth layer, 25 of them, the last one included.
  const std::vector<int64_t> s = SpreadStreamedLayers(0, 80, 25);
  ASSERT_EQ(s.size(), 25u);
  EXPECT_EQ(s.back(), 79);
  for (size_t i = 1; i < s.size(); ++i) EXPECT_TRUE(s[i] - s[i - 1] == 3 || s[i] - s[i - 1] == 4) << i;
}

TEST(LayerStreamerTest, OnlyMappedWeightsCanBeStreamed) {
  // Converted at load: the weights are owned copies.
  ModelOptions mo;
  mo.compute_type = DType::kQ8_0;
  auto conv = LlamaModel::Load(testing::SharedFile(kStories), mo);
  ASSERT_TRUE(conv.ok());
  auto c = LlamaContext::Create(*conv.value(), 16, {.stream_from_layer = 1});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(c.status().message().find("layer 1"), std::string::npos) << c.status().message();
  // Read into memory (the mmap fallback): MADV_DONTNEED would zero it, so refused.
  ::setenv("SEPTET_NO_MMAP", "1", 1);
  auto read = LlamaModel::Load(testing::SharedFile(kStories), {});
  ::unsetenv("SEPTET_NO_MMAP");
  ASSERT_TRUE(read.ok());
  auto c2 = LlamaContext::Create(*read.value(), 16, {.stream_from_layer = 0});
  ASSERT_FALSE(c2.ok());
  EXPECT_NE(c2.status().message().find("mapping"), std::string::npos) << c2.status().message();
  // Out of range.
  auto m = LlamaModel::Load(testing::SharedFile(kStories), {});
  ASSERT_TRUE(m.ok());
  auto c3 = LlamaContext::Create(*m.value(), 16, {.stream_from_layer = 5});
  ASSERT_FALSE(c3.ok());
  EXPECT_EQ(c3.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace septet::model
