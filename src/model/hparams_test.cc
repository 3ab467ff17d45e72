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
    const MetaValue s = MetaValue::String("hadamard-v9");  // a rotation this septet does not know
    SetMeta(f.get(), "septet.rotation", &s);
    ExpectErrorNaming(*f, StatusCode::kUnsupported, "septet.rotation");
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

// Sizes are bounded by the tensors before anything multiplies or allocates with them.
TEST(HParamsTest, SizesAreBoundedByTheTensors) {
  {  // 2^40 blocks: the file holds 2 (this used to reach an allocation of 2^40 layers)
    auto f = MakeTinyLlama({});
    const MetaValue v = MetaValue::U64(uint64_t{1} << 40);
    SetMeta(f.get(), "llama.block_count", &v);
    ExpectErrorNaming(*f, StatusCode::kCorrupt,
                      "'llama.block_count' = 1099511627776; the file has tensors for 2 blocks");
  }
  {  // heads x key_length = 2^64 wraps to 0 in int64: named, never formed
    auto f = MakeTinyLlama({});
    const MetaValue big = MetaValue::U64(uint64_t{1} << 32);
    for (const char* key :
         {"llama.attention.head_count", "llama.attention.head_count_kv", "llama.attention.key_length"}) {
      SetMeta(f.get(), key, &big);
    }
    ExpectErrorNaming(*f, StatusCode::kCorrupt,
                      "'llama.attention.head_count' = 4294967296 with 'llama.attention.key_length' = 4294967296");
  }
  {  // the embedding's row length, not the metadata, is the model width
    auto f = MakeTinyLlama({});
    const MetaValue v = MetaValue::U32(64);
    SetMeta(f.get(), "llama.embedding_length", &v);
    ExpectErrorNaming(*f, StatusCode::kCorrupt,
                      "'llama.embedding_length' = 64; tensor 'token_embd.weight' has shape [40, 32]");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue v = MetaValue::U32(45);
    SetMeta(f.get(), "llama.feed_forward_length", &v);
    ExpectErrorNaming(*f, StatusCode::kCorrupt,
                      "'llama.feed_forward_length' = 45; tensor 'blk.0.ffn_gate.weight' has 44 rows");
  }
  {  // absent head_count_kv defaults to head_count: 4 KV heads x 8 = 32 rows, attn_k has 16
    auto f = MakeTinyLlama({});
    SetMeta(f.get(), "llama.attention.head_count_kv", nullptr);
    ExpectErrorNaming(*f, StatusCode::kCorrupt, "'llama.attention.head_count_kv' (absent: defaults to");
  }
  {
    auto f = MakeTinyLlama({});
    const MetaValue v = MetaValue::U64(uint64_t{1} << 31);
    SetMeta(f.get(), "llama.context_length", &v);
    ExpectErrorNaming(*f, StatusCode::kCorrupt,
                      "'llama.context_length' = u64 2147483648; expected an integer in [1, 2147483647]");
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
