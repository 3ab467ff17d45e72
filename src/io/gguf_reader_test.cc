#include "io/gguf_reader.h"

#include <gtest/gtest.h>

#include <cstring>

#include "io/llama2c.h"
#include "io/testing_files.h"
#include "util/test_util.h"

namespace septet {
namespace {

constexpr const char* kStoriesGguf = "models/stories260K/stories260Ktok512.gguf";
constexpr const char* kStoriesBin = "models/stories260K/stories260K.bin";
constexpr const char* kVocabGguf = "tokenizers/llama2-spm-32000/ggml-vocab-llama-spm.gguf";

TEST(GgufReaderTest, Stories260K) {
  if (!testing::SharedFileExists(kStoriesGguf)) GTEST_SKIP() << "shared asset missing";
  auto r = OpenGguf(testing::SharedFile(kStoriesGguf));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFile& f = **r;
  EXPECT_EQ(f.format(), "gguf");
  ASSERT_EQ(f.tensors().size(), 48u);
  for (const TensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.dtype, DType::kF32) << t.name;
    EXPECT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * 4) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u) << t.name;
  }
  // The file stores output.weight explicitly (a copy of token_embd).
  ASSERT_NE(f.FindTensor("output.weight"), nullptr);
  EXPECT_EQ(f.FindTensor("token_embd.weight")->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(f.FindTensor("blk.0.attn_k.weight")->shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(f.FindTensor("blk.0.ffn_down.weight")->shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(f.FindTensor("output_norm.weight")->shape, (std::vector<int64_t>{64}));

  const Metadata& m = f.metadata();
  EXPECT_EQ(m.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(m.GetInt("llama.block_count").value(), 5);
  EXPECT_EQ(m.GetInt("llama.context_length").value(), 128);
  EXPECT_EQ(m.GetInt("tokenizer.ggml.seperator_token_id").value(), 4294967295);
  EXPECT_EQ(m.GetString("septet.rope.pairing").value(), "interleaved");  // added
  const MetaValue* tokens = m.Find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->strings.size(), 512u);
  EXPECT_EQ(tokens->strings[1], "<s>");
  EXPECT_EQ(m.Find("tokenizer.ggml.scores")->reals.size(), 512u);
  EXPECT_EQ(m.Find("tokenizer.ggml.token_type")->ints.size(), 512u);
  EXPECT_EQ(m.Find("tokenizer.ggml.token_type")->ints[0], 2);
}

// The GGUF and the llama2.c file hold the same weights: every canonical tensor the
// .bin exposes must be byte-identical in the GGUF (an end-to-end check of both loaders).
TEST(GgufReaderTest, Stories260KMatchesLlama2cBin) {
  if (!testing::SharedFileExists(kStoriesGguf) || !testing::SharedFileExists(kStoriesBin)) {
    GTEST_SKIP() << "shared asset missing";
  }
  auto g = OpenGguf(testing::SharedFile(kStoriesGguf));
  auto b = OpenLlama2c(testing::SharedFile(kStoriesBin));
  ASSERT_TRUE(g.ok() && b.ok());
  for (const TensorInfo& bt : (*b)->tensors()) {
    const TensorInfo* gt = (*g)->FindTensor(bt.name);
    ASSERT_NE(gt, nullptr) << bt.name;
    EXPECT_EQ(gt->shape, bt.shape) << bt.name;
    ASSERT_EQ(gt->nbytes, bt.nbytes) << bt.name;
    EXPECT_EQ(std::memcmp(gt->data, bt.data, bt.nbytes), 0) << bt.name;
  }
  const TensorInfo* out = (*g)->FindTensor("output.weight");
  const TensorInfo* embd = (*b)->FindTensor("token_embd.weight");
  EXPECT_EQ(std::memcmp(out->data, embd->data, embd->nbytes), 0);
}

TEST(GgufReaderTest, VocabOnlyFile) {
  if (!testing::SharedFileExists(kVocabGguf)) GTEST_SKIP() << "shared asset missing";
  auto r = ModelFile::Open(testing::SharedFile(kVocabGguf));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFile& f = **r;
  EXPECT_EQ(f.format(), "gguf");
  EXPECT_TRUE(f.tensors().empty());
  const Metadata& m = f.metadata();
  EXPECT_EQ(m.Find("tokenizer.ggml.tokens")->strings.size(), 32000u);
  EXPECT_EQ(m.GetInt("llama.vocab_size").value(), 32000);
  EXPECT_TRUE(m.GetBool("tokenizer.ggml.add_bos_token").value());
  EXPECT_FALSE(m.GetBool("tokenizer.ggml.add_eos_token").value());
  EXPECT_EQ(m.GetString("tokenizer.ggml.pre").value(), "default");
}

TEST(GgufReaderTest, HandMadeFileShapesAndOffsets) {
  const testing::RawGguf g = testing::SmallRawGguf();
  const std::string path = testing::WriteTempFile("small.gguf", g.Encode());
  auto r = OpenGguf(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFile& f = **r;
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo& a = f.tensors()[0];
  EXPECT_EQ(a.name, "a.weight");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 4}));  // ne {4, 2} reversed
  EXPECT_EQ(a.rows(), 2);
  EXPECT_EQ(a.cols(), 4);
  EXPECT_EQ(a.nbytes, 32u);
  EXPECT_EQ(a.data[0], 0);
  const TensorInfo& b = f.tensors()[1];
  EXPECT_EQ(b.nbytes, 12u);
  EXPECT_EQ(b.data[0], 32);  // offset 32 into the data section
  EXPECT_EQ(f.metadata().GetInt("llama.block_count").value(), 1);
}

TEST(GgufReaderTest, CustomAlignmentAndVersion2) {
  testing::RawGguf g = testing::SmallRawGguf();
  testing::Bytes kv;
  kv.Str("general.alignment").Put<uint32_t>(4).Put<uint32_t>(64);
  g.kv_bytes.insert(g.kv_bytes.end(), kv.bytes().begin(), kv.bytes().end());
  g.n_kv += 1;
  g.version = 2;
  g.alignment = 64;
  g.tensors[1].offset = 64;
  g.data.resize(64 + 12);
  const std::string path = testing::WriteTempFile("align64.gguf", g.Encode());
  auto r = OpenGguf(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*r)->tensors()[1].data) % 64, 0u);

  g.tensors[1].offset = 32;  // aligned to 32 but not to 64
  const std::string bad = testing::WriteTempFile("align64_bad.gguf", g.Encode());
  auto rb = OpenGguf(bad);
  ASSERT_FALSE(rb.ok());
  EXPECT_NE(rb.status().message().find("tensor 'b.weight': data offset 32 is not a multiple of the alignment 64"),
            std::string::npos)
      << rb.status().ToString();
}

TEST(GgufReaderTest, GgmlTypeNames) {
  EXPECT_STREQ(GgmlTypeName(0), "F32");
  EXPECT_STREQ(GgmlTypeName(12), "Q4_K");
  EXPECT_STREQ(GgmlTypeName(30), "BF16");
  EXPECT_STREQ(GgmlTypeName(9999), "?");
}

}  // namespace
}  // namespace septet
