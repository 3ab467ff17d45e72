#include <gtest/gtest.h>

#include <cstring>

#include "tokenizer/testing.h"
#include "tokenizer/tokenizer.h"

namespace septet::tok {
namespace {

using septet::testing::SharedFile;
using septet::testing::WriteTempFile;
using Ids = std::vector<int32_t>;

constexpr const char* kL3 = "tokenizers/llama3-llama2c-format/tokenizer_l3.bin";

TEST(Llama2cVocab, Llama3RawByteVocabulary) {
  SEPTET_REQUIRE_SHARED(kL3);
  auto tok = LoadLlama2cTokenizer(SharedFile(kL3), 128256);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab_size(), 128256);
  EXPECT_EQ(t.bos_id(), 128000);
  EXPECT_EQ(t.eos_id(), 128001);
  const auto stops = t.stop_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), 128009), stops.end());  // <|eot_id|>
  // No dummy prefix; single characters are their pieces ('!' is id 0, ' ' is 220).
  EXPECT_EQ(t.Encode("!", true), (Ids{128000, 0}));
  EXPECT_EQ(t.Encode(" ", false), (Ids{220}));
  for (const std::string s :
       {"Hello world", " leading and trailing  ", "x\n\n\ty", "don't 12345 3.14", "caf\xC3\xA9 na\xC3\xAFve",
        "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C",
        "\xF0\x9F\xA6\x99\xF0\x9F\x9A\x80 emoji", "<|eot_id|> as text"}) {
    const auto ids = t.Encode(s, true);
    EXPECT_EQ(t.Decode(ids), s);
    for (const int32_t id : ids) EXPECT_LT(id, 128256);
  }
  EXPECT_EQ(t.Encode("<|eot_id|>", false, true), (Ids{128009}));
  EXPECT_EQ(t.TokenBytes(128009, 5), "");
}

// A hand-made SentencePiece-flavoured tokenizer.bin.
std::vector<uint8_t> MakeBin(const std::vector<std::pair<float, std::string>>& toks, int32_t max_len = 16) {
  std::vector<uint8_t> b(4);
  std::memcpy(b.data(), &max_len, 4);
  for (const auto& [score, piece] : toks) {
    const int32_t len = static_cast<int32_t>(piece.size());
    const size_t at = b.size();
    b.resize(at + 8 + piece.size());
    std::memcpy(b.data() + at, &score, 4);
    std::memcpy(b.data() + at + 4, &len, 4);
    std::memcpy(b.data() + at + 8, piece.data(), piece.size());
  }
  return b;
}

std::vector<std::pair<float, std::string>> SmallSpmVocab() {
  std::vector<std::pair<float, std::string>> v = {{0, "<unk>"}, {0, "\n<s>\n"}, {0, "\n</s>\n"}};
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    v.push_back({0, buf});
  }
  // 259 " a" (score -1), 260 "ab" (-2), 261 " ab" (-3), 262 "a", 263 "b", 264 " "
  for (const auto& p : std::vector<std::pair<float, std::string>>{
           {-1, " a"}, {-2, "ab"}, {-3, " ab"}, {-4, "a"}, {-5, "b"}, {-6, " "}}) {
    v.push_back(p);
  }
  return v;
}

TEST(Llama2cVocab, SmallSpmFile) {
  const auto path = WriteTempFile("small_spm.bin", MakeBin(SmallSpmVocab()));
  auto tok = LoadLlama2cTokenizer(path, 265);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  // "▁ab": ▁+a (-1) beats a+b (-2): "▁a" "b" and then "▁a"+"b" = "▁ab" (-3).
  EXPECT_EQ((*tok)->Encode("ab", true), (Ids{1, 261}));
  // "c" has no piece: byte fallback 3 + 'c'.
  EXPECT_EQ((*tok)->Encode("abc", false), (Ids{261, 3 + 'c'}));
  EXPECT_EQ((*tok)->Decode({1, 261, 3 + 'c'}), "abc");
  EXPECT_EQ((*tok)->piece(261),
            "\xE2\x96\x81"
            "ab");
  // vocab_size 0 reads the whole file.
  auto all = LoadLlama2cTokenizer(path, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)->vocab_size(), 265);
}

TEST(Llama2cVocab, ErrorsNameTheFileAndProblem) {
  const auto bytes = MakeBin(SmallSpmVocab());
  const auto path = WriteTempFile("spm_ok.bin", bytes);
  // Wrong vocab size: more tokens than the model has.
  auto r = LoadLlama2cTokenizer(path, 100);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("spm_ok.bin"), std::string::npos);
  EXPECT_NE(r.status().message().find("vocab_size"), std::string::npos) << r.status().ToString();
  // Fewer tokens than asked: truncation.
  r = LoadLlama2cTokenizer(path, 300);
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().ToString();
  // Every truncation point is a clean error.
  for (size_t cut = 0; cut < bytes.size(); cut += 13) {
    const auto p = WriteTempFile("spm_cut.bin", std::vector<uint8_t>(bytes.begin(), bytes.begin() + cut));
    auto rc = LoadLlama2cTokenizer(p, 265);
    EXPECT_FALSE(rc.ok()) << cut;
  }
  // A negative length.
  auto bad = bytes;
  const int32_t neg = -5;
  std::memcpy(bad.data() + 8, &neg, 4);
  r = LoadLlama2cTokenizer(WriteTempFile("spm_neg.bin", bad), 265);
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("offset 8"), std::string::npos) << r.status().ToString();
  r = LoadLlama2cTokenizer(septet::testing::TempDir() + "/nope.bin", 10);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace septet::tok
