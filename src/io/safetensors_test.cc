#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/half.h"
#include "io/testing_files.h"
#include "util/test_util.h"

namespace septet {
namespace {

using testing::HfOptions;

// Value k of the HF tensor written with `index` (see testing::HfTensorBytes), read
// through the canonical view.
float ValueAt(const TensorInfo& t, int64_t k) {
  if (t.dtype == DType::kF32) {
    float v;
    std::memcpy(&v, t.data + 4 * k, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, t.data + 2 * k, 2);
  return t.dtype == DType::kBF16 ? Bf16ToFloat(h) : Fp16ToFloat(h);
}

// Checks names, shapes, dtypes and which HF tensor each canonical view points at.
void CheckTinyModel(const ModelFile& f, const HfOptions& o, DType dtype) {
  const testing::TinyDims& d = o.dims;
  const size_t want = 1 + 9 * static_cast<size_t>(d.layers) + 1 + (o.tied ? 0 : 1);
  ASSERT_EQ(f.tensors().size(), want);
  EXPECT_EQ(f.tensors().front().name, "token_embd.weight");
  // Expected HF tensor index of each canonical tensor (TinyHfTensors writes them in
  // this order: embed, per layer {in_norm, q, k, v, o, post_norm, gate, up, down}, norm, lm_head).
  auto round = [&](float v) {
    return dtype == DType::kF32 ? v : dtype == DType::kBF16 ? Bf16ToFloat(FloatToBf16(v)) : Fp16ToFloat(FloatToFp16(v));
  };
  auto expect = [&](const std::string& name, int index, std::vector<int64_t> shape) {
    const TensorInfo* t = f.FindTensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dtype, dtype) << name;
    EXPECT_EQ(t->shape, shape) << name;
    EXPECT_EQ(t->nbytes, static_cast<size_t>(t->numel()) * (dtype == DType::kF32 ? 4 : 2)) << name;
    EXPECT_EQ(ValueAt(*t, 0), round(static_cast<float>(index * 1000))) << name;
    EXPECT_EQ(ValueAt(*t, 3), round(static_cast<float>(index * 1000 + 3))) << name;
  };
  expect("token_embd.weight", 0, {d.vocab, d.dim});
  const int per_layer = 9;
  for (int l = 0; l < d.layers; ++l) {
    const int base = 1 + l * per_layer;
    const std::string p = "blk." + std::to_string(l) + ".";
    expect(p + "attn_norm.weight", base + 0, {d.dim});
    expect(p + "attn_q.weight", base + 1, {d.dim, d.dim});
    expect(p + "attn_k.weight", base + 2, {d.kv_dim(), d.dim});
    expect(p + "attn_v.weight", base + 3, {d.kv_dim(), d.dim});
    expect(p + "attn_output.weight", base + 4, {d.dim, d.dim});
    expect(p + "ffn_norm.weight", base + 5, {d.dim});
    expect(p + "ffn_gate.weight", base + 6, {d.hidden, d.dim});
    expect(p + "ffn_up.weight", base + 7, {d.hidden, d.dim});
    expect(p + "ffn_down.weight", base + 8, {d.dim, d.hidden});
  }
  expect("output_norm.weight", 1 + d.layers * per_layer, {d.dim});
  if (o.tied) {
    EXPECT_EQ(f.FindTensor("output.weight"), nullptr);
  } else {
    expect("output.weight", 2 + d.layers * per_layer, {d.vocab, d.dim});
  }
  const Metadata& m = f.metadata();
  EXPECT_EQ(m.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(m.GetInt("llama.embedding_length").value(), d.dim);
  EXPECT_EQ(m.GetInt("llama.feed_forward_length").value(), d.hidden);
  EXPECT_EQ(m.GetInt("llama.block_count").value(), d.layers);
  EXPECT_EQ(m.GetInt("llama.attention.head_count").value(), d.heads);
  EXPECT_EQ(m.GetInt("llama.attention.head_count_kv").value(), d.kv_heads);
  EXPECT_EQ(m.GetInt("llama.context_length").value(), d.seq_len);
  EXPECT_EQ(m.GetInt("llama.vocab_size").value(), d.vocab);
  EXPECT_EQ(m.GetInt("llama.rope.dimension_count").value(), d.head_size());
  EXPECT_DOUBLE_EQ(m.GetFloat("llama.rope.freq_base").value(), 500000.0);
  EXPECT_FLOAT_EQ(static_cast<float>(m.GetFloat("llama.attention.layer_norm_rms_epsilon").value()), 1e-5f);
  EXPECT_EQ(m.GetString("septet.rope.pairing").value(), "half");
  EXPECT_FALSE(m.Has("llama.rope.scaling.type"));
}

TEST(SafetensorsTest, SingleFileF32AllPathForms) {
  HfOptions o;
  const std::string dir = testing::WriteTinyHfModel("hf_single", o);
  for (const std::string& path : {dir, dir + "/", dir + "/config.json", dir + "/model.safetensors"}) {
    SCOPED_TRACE(path);
    auto r = ModelFile::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->format(), "safetensors");
    CheckTinyModel(**r, o, DType::kF32);
  }
}

TEST(SafetensorsTest, ShardedBf16Tied) {
  HfOptions o;
  o.dtype = "BF16";
  o.tied = true;
  o.shards = 3;
  const std::string dir = testing::WriteTinyHfModel("hf_sharded", o);
  for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
    SCOPED_TRACE(path);
    auto r = OpenHuggingFace(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    CheckTinyModel(**r, o, DType::kBF16);
  }
}

TEST(SafetensorsTest, F16WithTiedEmbeddingsPresentInFile) {
  // Some exports keep lm_head.weight even when tied; the loader drops it.
  HfOptions o;
  o.dtype = "F16";
  const std::string dir = testing::WriteTinyHfModel("hf_f16_tied_with_head", o);
  nlohmann::json c = testing::TinyHfConfig(o);
  c["tie_word_embeddings"] = true;
  testing::WriteFile(dir + "/config.json", c.dump());
  auto r = OpenHuggingFace(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  HfOptions tied = o;
  tied.tied = true;
  CheckTinyModel(**r, tied, DType::kF16);
}

TEST(SafetensorsTest, RopeScalingLlama3AndHeadDim) {
  HfOptions o;
  o.config_overrides = {
      {"head_dim", 4},
      {"rope_scaling",
       {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
        {"original_max_position_embeddings", 8192}}},
  };
  const std::string dir = testing::WriteTinyHfModel("hf_llama3", o);
  auto r = OpenHuggingFace(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Metadata& m = (*r)->metadata();
  EXPECT_EQ(m.GetString("llama.rope.scaling.type").value(), "llama3");
  EXPECT_DOUBLE_EQ(m.GetFloat("llama.rope.scaling.factor").value(), 8.0);
  EXPECT_DOUBLE_EQ(m.GetFloat("llama.rope.scaling.low_freq_factor").value(), 1.0);
  EXPECT_DOUBLE_EQ(m.GetFloat("llama.rope.scaling.high_freq_factor").value(), 4.0);
  EXPECT_EQ(m.GetInt("llama.rope.scaling.original_context_length").value(), 8192);
  EXPECT_EQ(m.GetInt("llama.attention.key_length").value(), 4);
  EXPECT_EQ(m.GetInt("llama.rope.dimension_count").value(), 4);
}

TEST(SafetensorsTest, DefaultsWhenOptionalFieldsAreAbsent) {
  HfOptions o;
  const std::string dir = testing::WriteTinyHfModel("hf_defaults", o);
  nlohmann::json c = testing::TinyHfConfig(o);
  for (const char* k : {"num_key_value_heads", "rope_theta", "rms_norm_eps", "max_position_embeddings",
                        "tie_word_embeddings", "hidden_act"}) {
    c.erase(k);
  }
  testing::WriteFile(dir + "/config.json", c.dump());
  // num_key_value_heads defaults to the head count: k/v must then be dim x dim.
  auto r = OpenHuggingFace(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Metadata& m = (*r)->metadata();
  EXPECT_EQ(m.GetInt("llama.attention.head_count_kv").value(), o.dims.heads);
  EXPECT_DOUBLE_EQ(m.GetFloat("llama.rope.freq_base").value(), 10000.0);
  EXPECT_FLOAT_EQ(static_cast<float>(m.GetFloat("llama.attention.layer_norm_rms_epsilon").value()), 1e-6f);
  EXPECT_EQ(m.GetInt("llama.context_length").value(), 2048);
  ASSERT_NE((*r)->FindTensor("output.weight"), nullptr);  // not tied by default
}

TEST(SafetensorsTest, ParseSafetensorsEntries) {
  std::vector<testing::StTensor> ts = {
      {"a", "F32", {2, 2}, std::vector<uint8_t>(16, 1)},
      {"scalar", "I64", {}, std::vector<uint8_t>(8, 2)},
      {"odd", "U8", {3}, std::vector<uint8_t>(3, 3)},
      {"misaligned", "F32", {1}, std::vector<uint8_t>(4, 4)},
  };
  const std::string path = testing::WriteTempFile("entries.safetensors", testing::EncodeSafetensors(ts));
  auto f = MappedFile::Open(path);
  ASSERT_TRUE(f.ok());
  auto r = ParseSafetensors(**f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].name, "a");  // header order kept
  EXPECT_EQ((*r)[1].shape, std::vector<int64_t>{});
  EXPECT_EQ((*r)[1].nbytes, 8u);
  EXPECT_EQ((*r)[3].data[0], 4);
  EXPECT_EQ((*r)[3].data - (*r)[0].data, 16 + 8 + 3);
}

TEST(SafetensorsTest, MisalignedTensorIsCopiedAligned) {
  // A 3-byte U8 tensor first pushes the next F32 tensor off 4-byte alignment.
  HfOptions o;
  std::vector<testing::StTensor> ts = testing::TinyHfTensors(o);
  ts.insert(ts.begin(), testing::StTensor{"model.odd_extra", "U8", {3}, {1, 2, 3}});
  const std::string dir = testing::MakeTempSubdir("hf_misaligned");
  testing::WriteFile(dir + "/config.json", testing::TinyHfConfig(o).dump());
  testing::WriteFile(dir + "/model.safetensors", testing::EncodeSafetensors(ts));
  auto r = OpenHuggingFace(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const TensorInfo& t : (*r)->tensors()) EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 4, 0u) << t.name;
  CheckTinyModel(**r, o, DType::kF32);
}

}  // namespace
}  // namespace septet
