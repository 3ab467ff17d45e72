#include "tokenizer/bpe.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/testing.h"

namespace septet::tok {
namespace {

using septet::testing::SharedFile;
using testing::FixturePath;
using testing::ReadFileOrEmpty;
using Ids = std::vector<int32_t>;

constexpr const char* kSmolJson = "tokenizers/smollm2-135m-instruct/tokenizer.json";

std::unique_ptr<Tokenizer> LoadSmol() {
  auto tok = LoadHfTokenizerJson(SharedFile(kSmolJson));
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

TEST(ByteUnicode, Gpt2Map) {
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(ByteToUnicode('A'), static_cast<uint32_t>('A'));
  EXPECT_EQ(ByteToUnicode(0xAD), 0x143u);  // soft hyphen is not printable: the last remapped byte
  EXPECT_EQ(ByteToUnicode(0x00), 0x100u);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(UnicodeToBytes(BytesToUnicode(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(UnicodeToBytes("\xE4\xBD\xA0", &back));  // U+4F60 is no byte's stand-in
}

// Expected ids worked out by hand from the vocab and merge ranks in tokenizer.json
// (e.g. "Hello": e+l r47, el+l r226, ell+o r10970, H+ello r19304 -> "Hello" 19556;
// "Ġworld": Ġ+w r15, o+r r18, l+d r148, Ġw+or r206, Ġwor+ld r653 -> 905).
TEST(SmolLm2, HandDerived) {
  SEPTET_REQUIRE_SHARED(kSmolJson);
  const auto tok = LoadSmol();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Encode("Hello world", true), (Ids{19556, 905}));     // no BOS: post_processor is null
  EXPECT_EQ(tok->Encode("12345", false), (Ids{33, 34, 35, 36, 37}));  // Digits(individual_digits)
  EXPECT_EQ(tok->Encode("don't", false), (Ids{12420, 982}));          // "don" + "'t" (GPT-2 regex)
  EXPECT_EQ(tok->Encode("a  b", false), (Ids{81, 216, 278}));         // "a", " ", " b"
  // "😀" is one regex word; its bytes F0 9F 98 80 map to "ðŁĺĢ" = ðŁ + ĺ + Ģ.
  EXPECT_EQ(tok->Encode("\xF0\x9F\x98\x80", false), (Ids{10813, 242, 218}));
  // Special tokens: literal text unless parse_special ("<|", "im", "_", "start", "|>").
  EXPECT_EQ(tok->Encode("<|im_start|>", false, false), (Ids{44, 108, 306, 79, 3738, 108, 46}));
  EXPECT_EQ(tok->Encode("<|im_start|>", false, true), (Ids{1}));
  EXPECT_TRUE(tok->Encode("", true).empty());
}

TEST(SmolLm2, Metadata) {
  SEPTET_REQUIRE_SHARED(kSmolJson);
  const auto tok = LoadSmol();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 49152);
  EXPECT_EQ(tok->bos_id(), -1);  // config.json names 1, but the tokenizer adds no BOS
  EXPECT_EQ(tok->eos_id(), 2);   // config.json eos_token_id = <|im_end|>
  const auto stops = tok->stop_ids();
  EXPECT_EQ(stops.front(), 2);
  EXPECT_NE(std::find(stops.begin(), stops.end(), 0), stops.end());  // <|endoftext|>
  EXPECT_EQ(tok->chat_template(), "");                               // no tokenizer_config.json beside it
  EXPECT_EQ(tok->piece(905), "\xC4\xA0world");
  EXPECT_EQ(tok->TokenBytes(905, -1), " world");
  EXPECT_EQ(tok->TokenBytes(198, -1), "\n");
  EXPECT_EQ(tok->TokenBytes(1, -1), "");  // special tokens produce no text
  EXPECT_EQ(tok->TokenBytes(49152, -1), "");
}

// Oracle: HF tokenizers' own output (scripts/gen_tokenizer_fixtures.py).
TEST(SmolLm2, MatchesHfTokenizersOracle) {
  SEPTET_REQUIRE_SHARED(kSmolJson);
  const auto tok = LoadSmol();
  ASSERT_NE(tok, nullptr);
  const auto fixture = nlohmann::json::parse(ReadFileOrEmpty(FixturePath("smollm2_hf_oracle.json")));
  size_t n = 0;
  for (const auto& c : fixture["cases"]) {
    const std::string text = c["text"];
    const bool special = c["parse_special"];
    const Ids want = c["ids"].get<Ids>();
    const Ids got = tok->Encode(text, true, special);
    EXPECT_EQ(got, want) << "text: '" << text << "'";
    if (!special) {
      EXPECT_EQ(tok->Decode(got), text);
    }
    ++n;
  }
  EXPECT_GE(n, 100u);
}

// The same vocabulary under other pre-tokenizer configurations (ByteLevel with
// add_prefix_space; a LLaMA-3 Split regex read from the JSON; Split MergedWithPrevious +
// Digits), each checked against HF tokenizers run on that configuration.
TEST(SmolLm2, PreTokenizerVariantsMatchOracle) {
  SEPTET_REQUIRE_SHARED(kSmolJson);
  auto base = nlohmann::json::parse(ReadFileOrEmpty(SharedFile(kSmolJson)));
  for (const std::string variant : {"prefix_space", "llama3_split", "digits_removed"}) {
    const auto fixture =
        nlohmann::json::parse(ReadFileOrEmpty(FixturePath("smollm2_hf_oracle_" + variant + ".json")));
    base["pre_tokenizer"] = fixture["meta"]["pre_tokenizer"];
    const std::string text = base.dump();
    auto tok = LoadHfTokenizerJson(septet::testing::WriteTempFile(
        "smol_" + variant + ".json", std::vector<uint8_t>(text.begin(), text.end())));
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    size_t n = 0;
    for (const auto& c : fixture["cases"]) {
      const std::string input = c["text"];
      EXPECT_EQ((*tok)->Encode(input, true), c["ids"].get<Ids>()) << variant << ": '" << input << "'";
      ++n;
    }
    EXPECT_GE(n, 30u) << variant;
  }
}

TEST(SmolLm2, EncodesWikiTextInOneCall) {
  SEPTET_REQUIRE_SHARED(kSmolJson);
  SEPTET_REQUIRE_SHARED("data/wiki.test.raw");
  const auto tok = LoadSmol();
  ASSERT_NE(tok, nullptr);
  const std::string text = ReadFileOrEmpty(SharedFile("data/wiki.test.raw"));
  const auto ids = tok->Encode(text, true);
  EXPECT_GT(ids.size(), 250000u);
  EXPECT_EQ(tok->Decode(ids), text);
}

TEST(SmolLm2, RoundTripsAwkwardText) {
  SEPTET_REQUIRE_SHARED(kSmolJson);
  const auto tok = LoadSmol();
  ASSERT_NE(tok, nullptr);
  for (const std::string& s :
       std::vector<std::string>{"", " ", "\n\n\n", "  x  ", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
                                std::string("nul\0byte", 8), "<|im_end|> literal"}) {
    EXPECT_EQ(tok->Decode(tok->Encode(s, true)), s);
  }
  // Invalid UTF-8 still round-trips where the vocabulary has the bytes.
  const std::string bad = "ab\xFE\xC3(\x80z";
  EXPECT_EQ(tok->Decode(tok->Encode(bad, false)), "ab\xC3(\x80z");  // SmolLM2 has no entry for 0xFE
  // Bytes without a vocab entry are dropped, as HF tokenizers does: "a\x04b\x7fc" -> a b ġ c.
  EXPECT_EQ(tok->Encode("a\x04"
                        "b\x7f"
                        "c",
                        false),
            (Ids{81, 82, 217, 83}));
}

TEST(HfJson, RejectsWhatItCannotDo) {
  const auto write = [](const std::string& name, const std::string& text) {
    return septet::testing::WriteTempFile(name, std::vector<uint8_t>(text.begin(), text.end()));
  };
  const std::string model =
      R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
  const auto load = [&](const std::string& name, const std::string& body) {
    return LoadHfTokenizerJson(write(name, "{" + body + "}"));
  };
  // A vocabulary without most bytes loads; unknown bytes are dropped as HF tokenizers does.
  auto r = load("t0.json", model + R"(, "pre_tokenizer": {"type": "ByteLevel"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Encode("xaby", false), (Ids{2}));
  r = load("t1.json", model + R"(, "pre_tokenizer": {"type": "Metaspace"})");
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("Metaspace"), std::string::npos);
  r = load("t2.json", model + R"(, "normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "ByteLevel"})");
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("NFKC"), std::string::npos);
  r = load("t3.json", R"("model": {"type": "Unigram", "vocab": []})");
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  r = load(
      "t4.json",
      model + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"})");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("regex"), std::string::npos) << r.status().ToString();
  r = LoadHfTokenizerJson(write("t5.json", "{\"model\": {"));
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("t5.json"), std::string::npos);
  r = load("t6.json", R"("model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []})");
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  r = load("t7.json", R"("model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]})");
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  r = LoadHfTokenizerJson(septet::testing::TempDir() + "/does_not_exist.json");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

// A tiny byte-level vocabulary built in the test: checks merges by rank (not by
// vocab order), ["a","b"] merge pairs, Split behaviours and added tokens.
std::string TinyVocabJson(const std::string& merges, const std::string& pre, const std::string& extra) {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) vocab[std::string(ByteToUnicodeUtf8(static_cast<uint8_t>(b)))] = id++;
  for (const char* t : {"ab", "bc", "abc",
                        "\xC4\xA0"
                        "a",
                        "cd"})
    vocab[t] = id++;
  return R"({"model": {"type": "BPE", "vocab": )" + vocab.dump() + R"(, "merges": )" + merges +
         R"(}, "pre_tokenizer": )" + pre + extra + "}";
}

TEST(HfJson, TinyVocabularyRules) {
  const auto load = [](const std::string& name, const std::string& json) {
    auto r = LoadHfTokenizerJson(
        septet::testing::WriteTempFile(name, std::vector<uint8_t>(json.begin(), json.end())));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  };
  const std::string byte_level = R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})";
  // ids: bytes 0..255, "ab" 256, "bc" 257, "abc" 258, "Ġa" 259, "cd" 260.
  // Rank decides: with "b c" ranked first, "abc" -> a + bc (no "a bc" merge).
  auto t = load("r1.json", TinyVocabJson(R"([["b", "c"], ["a", "b"], ["ab", "c"]])", byte_level, ""));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("abc", false), (Ids{'a', 257}));
  t = load("r2.json", TinyVocabJson(R"(["a b", "b c", "ab c"])", byte_level, ""));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("abc", false), (Ids{258}));
  // Equal ranks cannot occur; leftmost wins between two applications of one merge: "abab" -> ab ab.
  EXPECT_EQ(t->Encode("abab", false), (Ids{256, 256}));
  // Split Removed on a literal string, then ByteLevel mapping.
  t = load(
      "r3.json",
      TinyVocabJson(
          R"(["a b"])",
          R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": "-"}, "behavior": "Removed"}, )" +
              byte_level + "]}",
          ""));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("ab-ab--c", false), (Ids{256, 256, 'c'}));
  // MergedWithNext keeps the delimiter at the start of the next word: "a" "-b" (no "-b" merge).
  t = load(
      "r4.json",
      TinyVocabJson(
          R"(["a b"])",
          R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext"}, )" +
              byte_level + "]}",
          ""));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("a-b", false), (Ids{'a', '-', 'b'}));
  EXPECT_EQ(t->Encode("ab-ab", false), (Ids{256, '-', 256}));  // "ab", "-ab"
}

}  // namespace
}  // namespace septet::tok
