#include "model/hparams.h"

#include <gtest/gtest.h>

#include <string>

#include "model/testing_model.h"

namespace septet::model {
namespace {

using testing::MakeTinyLlama;
using testing::SetMeta;
using testing::TinyLlamaSpec;

void ExpectErrorNaming(const ModelFile& f, StatusCode code, const std::string& needle) {
  auto hp = ReadLlamaHParams(f);
  ASSERT_FALSE(hp.ok()) << "expected an error naming " << needle;
  EXPECT_EQ(hp.status().code(), code) << hp.status().ToString();
  EXPECT_NE(hp.status().message().find(needle), std::string::npos) << hp.status().ToString();
}

TEST(HParamsTest, ReadsTheCanonicalKeys) {
  TinyLlamaSpec s;
  auto f = MakeTinyLlama(s);
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok()) << hp.status().ToString();
  EXPECT_EQ(hp->dim, 32);
  EXPECT_EQ(hp->ffn_dim, 44);
  EXPECT_EQ(hp->n_layers, 2);
  EXPECT_EQ(hp->n_heads, 4);
  EXPECT_EQ(hp->n_kv_heads, 2);
  EXPECT_EQ(hp->head_dim, 8);
  EXPECT_EQ(hp->n_rot, 8);
  EXPECT_EQ(hp->vocab, 40);  // from token_embd rows
  EXPECT_EQ(hp->context_length, 64);
  EXPECT_EQ(hp->gqa_group(), 2);
  EXPECT_EQ(hp->rope_pairing, cpu::RopePairing::kInterleaved);
  EXPECT_EQ(hp->rope_scaling.kind, cpu::RopeScaling::Kind::kNone);
}

TEST(HParamsTest, MissingRequiredKeyIsNamed) {
  for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                          "llama.attention.head_count", "llama.context_length", "general.architecture"}) {
    auto f = MakeTinyLlama({});
    SetMeta(f.get(), key, nullptr);
    ExpectErrorNaming(*f, StatusCode::kNotFound, key);
  }
}

TEST(HParamsTest, InvalidValuesAreNamed) {
  {
    auto f = MakeTinyLlama({});
    const MetaValue zero = MetaValue::U32(0);
    SetMeta(f.get(), "llama.block_count", &zero);
    ExpectErrorNaming(*f, StatusCode::kCorrupt, "llama.block_count");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue three = MetaValue::U32(3);  // 4 heads are not a multiple of 3 KV heads
    SetMeta(f.get(), "llama.attention.head_count_kv", &three);
    ExpectErrorNaming(*f, StatusCode::kCorrupt, "llama.attention.head_count_kv");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue odd = MetaValue::U32(7);
    SetMeta(f.get(), "llama.rope.dimension_count", &odd);
    ExpectErrorNaming(*f, StatusCode::kCorrupt, "llama.rope.dimension_count");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue s = MetaValue::String("sideways");
    SetMeta(f.get(), "septet.rope.pairing", &s);
    ExpectErrorNaming(*f, StatusCode::kCorrupt, "septet.rope.pairing");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue arch = MetaValue::String("gpt2");
    SetMeta(f.get(), "general.architecture", &arch);
    ExpectErrorNaming(*f, StatusCode::kUnsupported, "general.architecture");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue wrong_type = MetaValue::String("five");
    SetMeta(f.get(), "llama.block_count", &wrong_type);
    ExpectErrorNaming(*f, StatusCode::kInvalidArgument, "llama.block_count");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue v = MetaValue::U32(41);
    SetMeta(f.get(), "llama.vocab_size", &v);
    ExpectErrorNaming(*f, StatusCode::kCorrupt, "llama.vocab_size");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue neg = MetaValue::F32(-1.0f);
    SetMeta(f.get(), "llama.attention.layer_norm_rms_epsilon", &neg);
    ExpectErrorNaming(*f, StatusCode::kCorrupt, "llama.attention.layer_norm_rms_epsilon");
  }
}

TEST(HParamsTest, RopeScalingKeys) {
  auto f = MakeTinyLlama({});
  const MetaValue type = MetaValue::String("llama3");
  const MetaValue factor = MetaValue::F32(8.0f);
  const MetaValue low = MetaValue::F32(1.0f);
  const MetaValue high = MetaValue::F32(4.0f);
  const MetaValue orig = MetaValue::U32(8192);
  SetMeta(f.get(), "llama.rope.scaling.type", &type);
  SetMeta(f.get(), "llama.rope.scaling.factor", &factor);
  SetMeta(f.get(), "llama.rope.scaling.low_freq_factor", &low);
  SetMeta(f.get(), "llama.rope.scaling.high_freq_factor", &high);
  SetMeta(f.get(), "llama.rope.scaling.original_context_length", &orig);
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok()) << hp.status().ToString();
  EXPECT_EQ(hp->rope_scaling.kind, cpu::RopeScaling::Kind::kLlama3);
  EXPECT_EQ(hp->rope_scaling.factor, 8.0);
  EXPECT_EQ(hp->rope_scaling.original_context, 8192.0);

  SetMeta(f.get(), "llama.rope.scaling.factor", nullptr);
  ExpectErrorNaming(*f, StatusCode::kCorrupt, "llama.rope.scaling.factor");
  const MetaValue yarn = MetaValue::String("yarn");
  SetMeta(f.get(), "llama.rope.scaling.type", &yarn);
  ExpectErrorNaming(*f, StatusCode::kUnsupported, "llama.rope.scaling.type");
}

}  // namespace
}  // namespace septet::model
