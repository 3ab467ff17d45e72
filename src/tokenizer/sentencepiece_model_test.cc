#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/testing.h"
#include "tokenizer/tokenizer.h"

namespace septet::tok {
namespace {

using septet::testing::SharedFile;
using septet::testing::WriteTempFile;
using testing::FixturePath;
using testing::ReadFileOrEmpty;
using Ids = std::vector<int32_t>;

constexpr const char* kModel = "tokenizers/llama2-spm-32000/tokenizer.model";

// Oracle: the sentencepiece library's own ids (scripts/gen_tokenizer_fixtures.py).
TEST(SentencePieceModel, MatchesSentencePieceOracle) {
  SEPTET_REQUIRE_SHARED(kModel);
  auto tok = LoadSentencePieceModel(SharedFile(kModel));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const auto fixture = nlohmann::json::parse(ReadFileOrEmpty(FixturePath("llama2_spm_oracle.json")));
  size_t n = 0;
  for (const auto& c : fixture["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ((*tok)->Encode(text, false), c["ids"].get<Ids>()) << "text: '" << text << "'";
    ++n;
  }
  EXPECT_GE(n, 100u);
}

// Protobuf builders for hand-made models.
void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
std::string Field(uint32_t field, uint32_t wire) {
  std::string s;
  Varint((field << 3) | wire, &s);
  return s;
}
std::string Len(uint32_t field, const std::string& payload) {
  std::string s = Field(field, 2);
  Varint(payload.size(), &s);
  return s + payload;
}
std::string Piece(const std::string& text, float score, int type) {
  std::string p = Len(1, text) + Field(2, 5);
  p.append(reinterpret_cast<const char*>(&score), 4);
  p += Field(3, 0);
  Varint(static_cast<uint64_t>(type), &p);
  return Len(1, p);
}
std::string TrainerBpe() {
  std::string t = Field(3, 0);
  Varint(2, &t);
  return Len(2, t);
}
std::string Normalizer(bool dummy) {
  std::string n = Len(1, "identity") + Field(3, 0);
  Varint(dummy ? 1 : 0, &n);
  n += Field(4, 0);
  Varint(0, &n);
  return Len(3, n);
}
std::string SmallModel(bool dummy = true) {
  std::string m = Piece("<unk>", 0, 2) + Piece("<s>", 0, 3) + Piece("</s>", 0, 3);
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    m += Piece(buf, 0, 6);
  }
  m += Piece(
           "\xE2\x96\x81"
           "a",
           -1, 1) +
       Piece("b", -2, 1) + Piece("<sep>", 0, 4);
  return m + TrainerBpe() + Normalizer(dummy);
}
std::string WriteModel(const std::string& name, const std::string& bytes) {
  return WriteTempFile(name, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

TEST(SentencePieceModel, HandMadeModel) {
  auto tok = LoadSentencePieceModel(WriteModel("small.model", SmallModel()));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  // ids: <unk> 0, <s> 1, </s> 2, bytes 3..258, "▁a" 259, "b" 260, "<sep>" 261 (user-defined).
  EXPECT_EQ((*tok)->Encode("ab", true), (Ids{1, 259, 260}));
  // User-defined pieces match literally even without parse_special; the text after gets a dummy prefix.
  EXPECT_EQ((*tok)->Encode("a<sep>a", false), (Ids{259, 261, 259}));
  EXPECT_EQ((*tok)->TokenBytes(261, 5), "<sep>");
  auto no_dummy = LoadSentencePieceModel(WriteModel("nodummy.model", SmallModel(false)));
  ASSERT_TRUE(no_dummy.ok());
  EXPECT_EQ((*no_dummy)->Encode("ab", false), (Ids{3 + 'a', 260}));
  EXPECT_EQ((*no_dummy)->Decode({3 + 'a', 260}), "ab");
}

TEST(SentencePieceModel, CorruptInputNamesFileAndOffset) {
  const std::string good = SmallModel();
  // Every truncation is an error, never a crash (some prefixes end on a field boundary
  // and only miss the normalizer spec; those are errors too).
  for (size_t cut = 0; cut < good.size(); cut += 11) {
    auto r = LoadSentencePieceModel(WriteModel("cut.model", good.substr(0, cut)));
    EXPECT_FALSE(r.ok()) << cut;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("cut.model"), std::string::npos) << r.status().ToString();
    }
  }
  // A length running past the end.
  std::string bad = Field(1, 2);
  Varint(1000, &bad);
  bad += "xx";
  auto r = LoadSentencePieceModel(WriteModel("bad_len.model", bad));
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("offset 1"), std::string::npos) << r.status().ToString();
  // Wire type 3 (groups) is rejected.
  r = LoadSentencePieceModel(WriteModel("group.model", Field(9, 3)));
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("wire type"), std::string::npos);
  // Unknown piece type.
  r = LoadSentencePieceModel(WriteModel("type.model", Piece("x", 0, 9) + TrainerBpe() + Normalizer(true)));
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("type 9"), std::string::npos);
  // Unigram models are named as unsupported.
  std::string uni = Field(3, 0);
  Varint(1, &uni);
  r = LoadSentencePieceModel(WriteModel("uni.model", Piece("a", 0, 1) + Len(2, uni) + Normalizer(true)));
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("UNIGRAM"), std::string::npos);
  // Missing byte pieces without <unk>: cannot encode every input.
  r = LoadSentencePieceModel(WriteModel("nobytes.model", Piece("a", 0, 1) + TrainerBpe() + Normalizer(true)));
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("byte 0x00"), std::string::npos) << r.status().ToString();
  r = LoadSentencePieceModel(septet::testing::TempDir() + "/missing.model");
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace septet::tok
