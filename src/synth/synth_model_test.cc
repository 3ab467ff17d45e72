#include "synth/synth_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "io/model_file.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "quant/registry.h"
#include "synth/shapes.h"

namespace septet::synth {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

SynthOptions Small(DType type, uint64_t seed) {
  SynthOptions o;
  o.shape = FindShape("smollm-135m").value();
  o.type = type;
  o.seed = seed;
  o.n_layers = 1;
  o.n_threads = 2;
  return o;
}

std::string Fresh(const std::string& name) {
  const std::string p = testing::TempDir() + "/" + name;
  ::unlink(p.c_str());
  return p;
}

TEST(SynthShapes, PublishedParameterCounts) {
  // Whole-model parameter counts of the real models (embeddings and head included).
  EXPECT_NEAR(FindShape("tinyllama-1.1b")->n_params() / 1e9, 1.100, 0.001);
  EXPECT_NEAR(FindShape("llama2-7b")->n_params() / 1e9, 6.738, 0.001);
  EXPECT_NEAR(FindShape("llama3-8b")->n_params() / 1e9, 8.030, 0.001);
  EXPECT_NEAR(FindShape("llama2-70b")->n_params() / 1e9, 68.976, 0.002);  // norms not counted
  EXPECT_NEAR(FindShape("smollm-135m")->n_params() / 1e6, 134.5, 0.1);
  EXPECT_TRUE(FindShape("TinyLlama-1.1B").ok());  // case-insensitive
  const auto bad = FindShape("llama9-1t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tinyllama-1.1b"), std::string::npos) << bad.status().message();
}

TEST(SynthVocabTest, ExactSizeUniquePiecesBytePieces) {
  for (int64_t n : {300, 32000, 49152}) {
    const SynthVocab v = MakeSyntheticVocab(n);
    ASSERT_EQ(static_cast<int64_t>(v.pieces.size()), n);
    ASSERT_EQ(v.scores.size(), v.pieces.size());
    ASSERT_EQ(v.types.size(), v.pieces.size());
    EXPECT_EQ(std::set<std::string>(v.pieces.begin(), v.pieces.end()).size(), v.pieces.size());
    EXPECT_EQ(v.pieces[3], "<0x00>");
    EXPECT_EQ(v.pieces[258], "<0xFF>");
  }
}

TEST(SynthModel, LoadsWithTheShapesHyperParametersAndTypes) {
  const std::string path = Fresh("synth_q3p5.gguf");
  auto sum = WriteSyntheticModel(path, Small(DType::kQ3P5, 7));
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  auto m = model::LlamaModel::Load(path, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const model::LlamaHParams& hp = (*m)->hparams();
  EXPECT_EQ(hp.dim, 576);
  EXPECT_EQ(hp.n_layers, 1);
  EXPECT_EQ(hp.n_heads, 9);
  EXPECT_EQ(hp.n_kv_heads, 3);
  EXPECT_EQ(hp.ffn_dim, 1536);
  EXPECT_EQ(hp.vocab, 49152);
  EXPECT_EQ(hp.context_length, 2048);
  EXPECT_DOUBLE_EQ(hp.rope_base, 10000.0);
  const ModelFile& f = (*m)->file();
  EXPECT_TRUE(f.metadata().GetBool("septet.synthetic").value());
  EXPECT_NE(f.metadata().GetStringOr("general.description", "").find("speed measurement only"), std::string::npos);
  EXPECT_EQ(f.tensors().size(), 1u + 9u + 1u);  // tied: no output.weight
  for (const TensorInfo& t : f.tensors()) {
    const bool norm = t.shape.size() == 1;
    EXPECT_EQ(t.dtype, norm ? DType::kF32 : DType::kQ3P5) << t.name;
  }
  EXPECT_EQ(f.FindTensor("blk.0.ffn_down.weight")->shape, (std::vector<int64_t>{576, 1536}));
  EXPECT_EQ(f.FindTensor("blk.0.attn_k.weight")->shape, (std::vector<int64_t>{192, 576}));
  EXPECT_EQ(sum->n_tensors, f.tensors().size());
  EXPECT_EQ(sum->file_bytes, ReadAll(path).size());

  // Weights look like the intended distribution and a forward pass gives finite logits.
  const TensorInfo* q = f.FindTensor("blk.0.attn_q.weight");
  std::vector<float> row(576);
  double ss = 0;
  for (int r = 0; r < 64; ++r) {
    GetTypeTraits(q->dtype).to_float(q->data + r * GetTypeTraits(q->dtype).row_bytes(576), row.data(), 576);
    for (float x : row) ss += double{x} * x;
  }
  const double rms = std::sqrt(ss / (64 * 576));
  EXPECT_GT(rms, 0.02);  // 0.02 * sqrt(0.99 + 0.01 * 64) ~ 0.0255 before rounding noise
  EXPECT_LT(rms, 0.035);
  auto ctx = model::LlamaContext::Create(**m, 8);
  ASSERT_TRUE(ctx.ok());
  std::vector<float> logits;
  const int32_t toks[3] = {1, 300, 4000};
  ASSERT_TRUE((*ctx)->Forward(toks, model::LogitsMode::kLast, &logits).ok());
  ASSERT_EQ(logits.size(), 49152u);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
}

TEST(SynthModel, SameSeedSameBytesOtherSeedOtherBytes) {
  const std::string a = Fresh("synth_a.gguf"), b = Fresh("synth_b.gguf"), c = Fresh("synth_c.gguf");
  SynthOptions o = Small(DType::kQ8_0, 3);
  ASSERT_TRUE(WriteSyntheticModel(a, o).ok());
  o.n_threads = 1;  // thread count does not change the bytes
  ASSERT_TRUE(WriteSyntheticModel(b, o).ok());
  o.seed = 4;
  ASSERT_TRUE(WriteSyntheticModel(c, o).ok());
  const std::string ba = ReadAll(a), bb = ReadAll(b), bc = ReadAll(c);
  EXPECT_GT(ba.size(), 1000000u);
  EXPECT_TRUE(ba == bb);
  EXPECT_EQ(ba.size(), bc.size());
  EXPECT_FALSE(ba == bc);
}

TEST(SynthModel, FloatTypesAndRefusesOverwrite) {
  const std::string path = Fresh("synth_f16.gguf");
  SynthOptions o = Small(DType::kF16, 1);
  o.shape = FindShape("stories15m").value();
  ASSERT_TRUE(WriteSyntheticModel(path, o).ok());
  const std::string before = ReadAll(path);
  o.seed = 2;
  auto again = WriteSyntheticModel(path, o);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("--force"), std::string::npos) << again.status().message();
  EXPECT_EQ(ReadAll(path), before);
  o.overwrite = true;
  ASSERT_TRUE(WriteSyntheticModel(path, o).ok());
  EXPECT_NE(ReadAll(path), before);
  auto m = model::LlamaModel::Load(path, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->file().FindTensor("blk.0.attn_q.weight")->dtype, DType::kF16);
  o.n_layers = 0;
  EXPECT_FALSE(WriteSyntheticModel(Fresh("synth_zero.gguf"), o).ok());
}

// What llama.cpp needs to load the file (llama_model_loader / llama_vocab): the
// architecture, the llama.* hyper-parameters it reads as required, a tokenizer model with
// tokens, scores and token types of vocab size and its special ids; general.file_type for
// the types llama.cpp shares (so it does not print a guessed type), none for septet-only types.
TEST(SynthModel, CarriesTheMetadataLlamaCppReads) {
  const std::string f16 = Fresh("synth_meta_f16.gguf"), q3 = Fresh("synth_meta_q3p5.gguf");
  ASSERT_TRUE(WriteSyntheticModel(f16, Small(DType::kF16, 1)).ok());
  ASSERT_TRUE(WriteSyntheticModel(q3, Small(DType::kQ3P5, 1)).ok());
  auto file = ModelFile::Open(f16);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const Metadata& md = (*file)->metadata();
  EXPECT_EQ(md.GetStringOr("general.architecture", ""), "llama");
  EXPECT_EQ(md.GetIntOr("llama.context_length", 0), 2048);
  EXPECT_EQ(md.GetIntOr("llama.embedding_length", 0), 576);
  EXPECT_EQ(md.GetIntOr("llama.block_count", 0), 1);
  EXPECT_EQ(md.GetIntOr("llama.feed_forward_length", 0), 1536);
  EXPECT_EQ(md.GetIntOr("llama.attention.head_count", 0), 9);
  EXPECT_EQ(md.GetIntOr("llama.attention.head_count_kv", 0), 3);
  EXPECT_EQ(md.GetIntOr("llama.rope.dimension_count", 0), 64);
  EXPECT_NEAR(md.GetFloat("llama.attention.layer_norm_rms_epsilon").value(), 1e-5, 1e-9);
  EXPECT_NEAR(md.GetFloat("llama.rope.freq_base").value(), 10000.0, 1e-3);
  EXPECT_EQ(md.GetIntOr("llama.vocab_size", 0), 49152);
  EXPECT_EQ(md.GetStringOr("tokenizer.ggml.model", ""), "llama");
  const MetaValue* tokens = md.Find("tokenizer.ggml.tokens");
  const MetaValue* scores = md.Find("tokenizer.ggml.scores");
  const MetaValue* types = md.Find("tokenizer.ggml.token_type");
  ASSERT_TRUE(tokens && scores && types);
  EXPECT_EQ(tokens->array_type, MetaType::kString);
  EXPECT_EQ(tokens->strings.size(), 49152u);
  EXPECT_EQ(scores->array_type, MetaType::kF32);
  EXPECT_EQ(scores->reals.size(), 49152u);
  EXPECT_EQ(types->array_type, MetaType::kI32);
  EXPECT_EQ(types->ints.size(), 49152u);
  EXPECT_EQ(md.GetIntOr("tokenizer.ggml.bos_token_id", -1), 1);
  EXPECT_EQ(md.GetIntOr("tokenizer.ggml.eos_token_id", -1), 2);
  EXPECT_EQ(md.GetIntOr("tokenizer.ggml.unknown_token_id", -1), 0);
  EXPECT_EQ(md.GetIntOr("general.file_type", -1), 1);  // LLAMA_FTYPE_MOSTLY_F16
  auto q3file = ModelFile::Open(q3);
  ASSERT_TRUE(q3file.ok());
  EXPECT_FALSE((*q3file)->metadata().Has("general.file_type"));
}

TEST(SynthModel, WholeRowFormatUsesRowPool) {
  const std::string path = Fresh("synth_seed.gguf");
  SynthOptions o = Small(DType::kQ3P5_SEED, 5);
  o.shape = FindShape("stories15m").value();
  ASSERT_TRUE(WriteSyntheticModel(path, o).ok());
  auto m = model::LlamaModel::Load(path, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->file().FindTensor("token_embd.weight")->dtype, DType::kQ3P5_SEED);
}

}  // namespace
}  // namespace septet::synth
