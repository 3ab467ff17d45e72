#include "tokenizer/spm.h"

#include <gtest/gtest.h>

#include "tokenizer/testing.h"

namespace septet::tok {
namespace {

using septet::testing::SharedFile;
using testing::ReadFileOrEmpty;

constexpr const char* kSpmDir = "tokenizers/llama2-spm-32000/";

TEST(SpmGolden, LlamaSpmFromTokenizerModel) {
  SEPTET_REQUIRE_SHARED(std::string(kSpmDir) + "tokenizer.model");
  auto tok = LoadSentencePieceModel(SharedFile(std::string(kSpmDir) + "tokenizer.model"));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->vocab_size(), 32000);
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  EXPECT_EQ((*tok)->stop_ids(), std::vector<int32_t>{2});
  EXPECT_EQ((*tok)->piece(29871), "\xE2\x96\x81");
  testing::ExpectLlamaSpmGolden(**tok);
}

TEST(SpmGolden, LlamaSpmFromTokenizerBin) {
  SEPTET_REQUIRE_SHARED(std::string(kSpmDir) + "tokenizer.bin");
  auto tok = LoadLlama2cTokenizer(SharedFile(std::string(kSpmDir) + "tokenizer.bin"), 32000);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  EXPECT_EQ((*tok)->piece(1), "<s>");
  testing::ExpectLlamaSpmGolden(**tok);
}

TEST(SpmGolden, StoriesTok512) {
  SEPTET_REQUIRE_SHARED("models/stories260K/tok512.bin");
  for (const std::string file : {"tok512.bin", "tok512.model"}) {
    const std::string path = SharedFile("models/stories260K/" + file);
    auto tok = file == "tok512.bin" ? LoadLlama2cTokenizer(path, 512) : LoadSentencePieceModel(path);
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    EXPECT_EQ((*tok)->vocab_size(), 512);
    const auto ids = (*tok)->Encode("Once upon a time", true);
    EXPECT_EQ(ids, (std::vector<int32_t>{1, 403, 407, 261, 378})) << file;
    EXPECT_EQ((*tok)->Decode(ids), "Once upon a time");
    // The reference greedy continuation (shared/README.md) decodes to its text.
    const std::vector<int32_t> gen = {432, 383, 286, 261, 376, 298, 315, 421};
    std::string text;
    int32_t prev = 378;
    for (const int32_t id : gen) {
      text += (*tok)->TokenBytes(id, prev);
      prev = id;
    }
    EXPECT_EQ(text, ", there was a little girl") << text;
  }
}

TEST(Spm, ByteFallbackAndSpecials) {
  SEPTET_REQUIRE_SHARED(std::string(kSpmDir) + "tokenizer.model");
  auto tok = LoadSentencePieceModel(SharedFile(std::string(kSpmDir) + "tokenizer.model"));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const Tokenizer& t = **tok;
  // U+1F999 (llama) has no piece: its four bytes become <0xF0><0x9F><0xA6><0x99> = 3 + byte.
  const auto ids = t.Encode("\xF0\x9F\xA6\x99", false);
  EXPECT_EQ(ids, (std::vector<int32_t>{29871, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99}));
  EXPECT_EQ(t.TokenBytes(3 + 0x0A, 5), "\n");
  // Control tokens: literal text unless parse_special; then the next fragment gets a dummy prefix.
  const auto plain = t.Encode("<s>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
  const auto special = t.Encode("<s>Hello", false, true);
  EXPECT_EQ(special, (std::vector<int32_t>{1, 15043}));
  EXPECT_EQ(t.TokenBytes(1, -1), "");
  EXPECT_EQ(t.Decode(special), "Hello");
  EXPECT_EQ(t.TokenBytes(0, -1), " \xE2\x81\x87 ");
  EXPECT_EQ(t.TokenBytes(-5, -1), "");
  EXPECT_EQ(t.TokenBytes(32000, -1), "");
  EXPECT_TRUE(t.Encode("", false).empty());
  EXPECT_EQ(t.Encode("", true), std::vector<int32_t>{1});
}

// The perplexity tool tokenizes all of WikiText-2 test in one call: this must be
// O(n log n), not quadratic (ctest's timeout would catch the latter).
TEST(Spm, EncodesWikiTextInOneCall) {
  SEPTET_REQUIRE_SHARED("data/wiki.test.raw");
  SEPTET_REQUIRE_SHARED(std::string(kSpmDir) + "tokenizer.model");
  auto tok = LoadSentencePieceModel(SharedFile(std::string(kSpmDir) + "tokenizer.model"));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const std::string text = ReadFileOrEmpty(SharedFile("data/wiki.test.raw"));
  ASSERT_GT(text.size(), 1000000u);
  const auto ids = (*tok)->Encode(text, true);
  EXPECT_GT(ids.size(), 250000u);
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ((*tok)->Decode(ids), text);
}

}  // namespace
}  // namespace septet::tok
