#include "io/llama2c.h"

#include <gtest/gtest.h>

#include <cstring>

#include "io/testing_files.h"
#include "util/test_util.h"

namespace septet {
namespace {

using testing::TinyDims;

float FirstFloat(const TensorInfo& t) {
  float v;
  std::memcpy(&v, t.data, sizeof v);
  return v;
}

const TensorInfo& Get(const ModelFile& f, const std::string& name) {
  const TensorInfo* t = f.FindTensor(name);
  if (t == nullptr) {
    ADD_FAILURE() << "missing tensor " << name;
    static const TensorInfo kEmpty;
    return kEmpty;
  }
  return *t;
}

TEST(Llama2cTest, Stories260K) {
  const std::string rel = "models/stories260K/stories260K.bin";
  if (!testing::SharedFileExists(rel)) GTEST_SKIP() << "shared asset missing: " << rel;
  auto r = OpenLlama2c(testing::SharedFile(rel));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFile& f = **r;
  EXPECT_EQ(f.format(), "llama2c");
  const Metadata& m = f.metadata();
  EXPECT_EQ(m.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(m.GetInt("llama.embedding_length").value(), 64);
  EXPECT_EQ(m.GetInt("llama.feed_forward_length").value(), 172);
  EXPECT_EQ(m.GetInt("llama.block_count").value(), 5);
  EXPECT_EQ(m.GetInt("llama.attention.head_count").value(), 8);
  EXPECT_EQ(m.GetInt("llama.attention.head_count_kv").value(), 4);
  EXPECT_EQ(m.GetInt("llama.vocab_size").value(), 512);
  EXPECT_EQ(m.GetInt("llama.context_length").value(), 512);
  EXPECT_EQ(m.GetInt("llama.rope.dimension_count").value(), 8);
  EXPECT_FLOAT_EQ(static_cast<float>(m.GetFloat("llama.rope.freq_base").value()), 10000.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(m.GetFloat("llama.attention.layer_norm_rms_epsilon").value()), 1e-5f);
  EXPECT_EQ(m.GetString("septet.rope.pairing").value(), "interleaved");

  ASSERT_EQ(f.tensors().size(), 47u);  // embd + 5 x 9 + output_norm; classifier tied
  EXPECT_EQ(f.FindTensor("output.weight"), nullptr);
  EXPECT_EQ(Get(f, "token_embd.weight").shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(Get(f, "blk.4.attn_k.weight").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(Get(f, "blk.0.ffn_down.weight").shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(Get(f, "blk.0.ffn_gate.weight").shape, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(Get(f, "output_norm.weight").shape, (std::vector<int64_t>{64}));
  // Weights + the skipped freq_cis tables + header = file size (checked by the loader too).
  EXPECT_EQ(f.TensorBytes() + 2 * 512 * 4 * 4 + 28, 1056540u);
  // The first tensor starts right after the 28-byte header.
  for (const TensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.dtype, DType::kF32);
    EXPECT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * 4) << t.name;
  }
}

// Floats are numbered from 0 after the header, so each tensor's first value is its
// offset in floats; the expected offsets follow run.c's memory_map_weights order.
TEST(Llama2cTest, LegacyLayoutMatchesRunC) {
  TinyDims d;
  for (bool shared : {true, false}) {
    SCOPED_TRACE(shared ? "shared classifier" : "separate classifier");
    const std::string path = testing::WriteTempFile(shared ? "legacy_shared.bin" : "legacy_cls.bin",
                                                    testing::MakeLlama2cLegacy(d, shared));
    auto r = OpenLlama2c(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const ModelFile& f = **r;
    const int64_t L = d.layers, dim = d.dim, kv = d.kv_dim(), hid = d.hidden, V = d.vocab;
    const int64_t rms_att = V * dim, wq = rms_att + L * dim, wk = wq + L * dim * dim, wv = wk + L * kv * dim,
                  wo = wv + L * kv * dim, rms_ffn = wo + L * dim * dim, w1 = rms_ffn + L * dim,
                  w2 = w1 + L * hid * dim, w3 = w2 + L * dim * hid, rms_final = w3 + L * hid * dim,
                  wcls = rms_final + dim + d.seq_len * d.head_size();
    EXPECT_EQ(FirstFloat(Get(f, "token_embd.weight")), 0.0f);
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.attn_norm.weight")), static_cast<float>(rms_att + dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.attn_q.weight")), static_cast<float>(wq + dim * dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.attn_k.weight")), static_cast<float>(wk + kv * dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.0.attn_v.weight")), static_cast<float>(wv));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.attn_output.weight")), static_cast<float>(wo + dim * dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.ffn_norm.weight")), static_cast<float>(rms_ffn + dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.ffn_gate.weight")), static_cast<float>(w1 + hid * dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.ffn_down.weight")), static_cast<float>(w2 + dim * hid));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.ffn_up.weight")), static_cast<float>(w3 + hid * dim));
    EXPECT_EQ(FirstFloat(Get(f, "output_norm.weight")), static_cast<float>(rms_final));
    EXPECT_EQ(Get(f, "blk.1.attn_k.weight").shape, (std::vector<int64_t>{kv, dim}));
    EXPECT_EQ(Get(f, "blk.1.ffn_down.weight").shape, (std::vector<int64_t>{dim, hid}));
    if (shared) {
      EXPECT_EQ(f.FindTensor("output.weight"), nullptr);
      EXPECT_EQ(f.tensors().size(), 1u + 9 * L + 1);
    } else {
      EXPECT_EQ(FirstFloat(Get(f, "output.weight")), static_cast<float>(wcls));
      EXPECT_EQ(Get(f, "output.weight").shape, (std::vector<int64_t>{V, dim}));
      EXPECT_EQ(f.tensors().size(), 1u + 9 * L + 2);
    }
    EXPECT_EQ(f.metadata().GetInt("llama.vocab_size").value(), V);
  }
}

TEST(Llama2cTest, Version1LayoutMatchesExportPy) {
  TinyDims d;
  for (bool shared : {true, false}) {
    SCOPED_TRACE(shared ? "shared classifier" : "separate classifier");
    const std::string path =
        testing::WriteTempFile(shared ? "v1_shared.bin" : "v1_cls.bin", testing::MakeLlama2cV1(d, shared));
    auto r = ModelFile::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const ModelFile& f = **r;
    EXPECT_EQ(f.format(), "llama2c");
    const int64_t L = d.layers, dim = d.dim, kv = d.kv_dim(), hid = d.hidden, V = d.vocab;
    // version1_export: rms_att, rms_ffn, norm, embedding, wq, wk, wv, wo, w1, w2, w3, [wcls].
    const int64_t rms_ffn = L * dim, norm = rms_ffn + L * dim, embd = norm + dim, wq = embd + V * dim,
                  wk = wq + L * dim * dim, wv = wk + L * kv * dim, wo = wv + L * kv * dim,
                  w1 = wo + L * dim * dim, w2 = w1 + L * hid * dim, w3 = w2 + L * dim * hid,
                  wcls = w3 + L * hid * dim;
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.attn_norm.weight")), static_cast<float>(dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.0.ffn_norm.weight")), static_cast<float>(rms_ffn));
    EXPECT_EQ(FirstFloat(Get(f, "output_norm.weight")), static_cast<float>(norm));
    EXPECT_EQ(FirstFloat(Get(f, "token_embd.weight")), static_cast<float>(embd));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.attn_q.weight")), static_cast<float>(wq + dim * dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.attn_v.weight")), static_cast<float>(wv + kv * dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.0.attn_output.weight")), static_cast<float>(wo));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.ffn_up.weight")), static_cast<float>(w3 + hid * dim));
    EXPECT_EQ(FirstFloat(Get(f, "blk.1.ffn_down.weight")), static_cast<float>(w2 + dim * hid));
    EXPECT_EQ(FirstFloat(Get(f, "blk.0.ffn_gate.weight")), static_cast<float>(w1));
    if (shared) {
      EXPECT_EQ(f.FindTensor("output.weight"), nullptr);
    } else {
      EXPECT_EQ(FirstFloat(Get(f, "output.weight")), static_cast<float>(wcls));
    }
  }
}

TEST(Llama2cTest, VersionTwoIsUnsupported) {
  testing::Bytes b;
  b.Put<uint32_t>(kLlama2cMagic).Put<int32_t>(2).PadTo(256);
  const std::string path = testing::WriteTempFile("v2.bin", b.bytes());
  auto r = OpenLlama2c(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find(path + ": llama2.c export version 2"), std::string::npos);
}

}  // namespace
}  // namespace septet
