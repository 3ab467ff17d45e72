// Mutation fuzzing of tokenizer files and random text through Encode/Decode. Bounded
// iterations, seeded by septet::testing::MakeRng (the seed is printed; rerun with
// SEPTET_TEST_SEED to reproduce).
#include <gtest/gtest.h>

#include "tokenizer/testing.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace septet::tok {
namespace {

using septet::testing::MakeRng;
using septet::testing::SharedFile;
using septet::testing::WriteTempFile;

std::vector<uint8_t> ReadBytes(const std::string& path) {
  const std::string s = testing::ReadFileOrEmpty(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> Mutate(std::vector<uint8_t> b, std::mt19937_64& rng) {
  const int n = 1 + static_cast<int>(rng() % 8);
  for (int k = 0; k < n && !b.empty(); ++k) {
    const size_t at = rng() % b.size();
    switch (rng() % 6) {
      case 0:
        b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        b[at] = static_cast<uint8_t>(rng());
        break;
      case 2:
        b.resize(at);
        break;  // truncate
      case 3:
        b.insert(b.begin() + static_cast<long>(at), static_cast<uint8_t>(rng()));
        break;
      case 4:
        b.erase(b.begin() + static_cast<long>(at));
        break;
      default: {  // a large or negative 32-bit value
        const uint32_t v = rng() % 2 ? 0xFFFFFFFFu - static_cast<uint32_t>(rng() % 4) : 0x7FFFFFF0u;
        for (int i = 0; i < 4 && at + i < b.size(); ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
      }
    }
  }
  return b;
}

// A loaded (possibly mutated) tokenizer must still encode and decode without crashing.
void Exercise(const Tokenizer& t) {
  for (const char* s : {"Once upon a time", "", " \n\t", "caf\xC3\xA9 \xF0\x9F\xA6\x99", "\xFF\xC3"}) {
    const auto ids = t.Encode(s, true, true);
    for (const int32_t id : ids) {
      ASSERT_GE(id, 0);
      ASSERT_LT(id, t.vocab_size());
    }
    (void)t.Decode(ids);
  }
}

TEST(TokenizerFuzz, MutatedLlama2cBin) {
  SEPTET_REQUIRE_SHARED("models/stories260K/tok512.bin");
  const auto good = ReadBytes(SharedFile("models/stories260K/tok512.bin"));
  auto rng = MakeRng(101);
  int loaded = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const auto path = WriteTempFile("fuzz_tok.bin", Mutate(good, rng));
    auto tok = LoadLlama2cTokenizer(path, 512);
    if (tok.ok()) {
      ++loaded;
      Exercise(**tok);
    } else {
      EXPECT_NE(tok.status().message().find("fuzz_tok.bin"), std::string::npos) << tok.status().ToString();
    }
  }
  std::printf("mutated tok512.bin: %d of 300 still loaded\n", loaded);
}

TEST(TokenizerFuzz, MutatedSentencePieceModel) {
  SEPTET_REQUIRE_SHARED("models/stories260K/tok512.model");
  const auto good = ReadBytes(SharedFile("models/stories260K/tok512.model"));
  auto rng = MakeRng(202);
  int loaded = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const auto path = WriteTempFile("fuzz_tok.model", Mutate(good, rng));
    auto tok = LoadSentencePieceModel(path);
    if (tok.ok()) {
      ++loaded;
      Exercise(**tok);
    } else {
      EXPECT_NE(tok.status().message().find("fuzz_tok.model"), std::string::npos) << tok.status().ToString();
    }
  }
  std::printf("mutated tok512.model: %d of 300 still loaded\n", loaded);
}

TEST(TokenizerFuzz, MutatedTokenizerJson) {
  const std::string json =
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<|x|>": 3}, "merges": ["a b"]},)"
      R"( "added_tokens": [{"id": 3, "content": "<|x|>", "special": true}],)"
      R"( "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true},)"
      R"( {"type": "ByteLevel", "add_prefix_space": false}]}, "decoder": {"type": "ByteLevel"}})";
  const std::vector<uint8_t> good(json.begin(), json.end());
  ASSERT_TRUE(LoadHfTokenizerJson(WriteTempFile("fuzz_ok.json", good)).ok());
  auto rng = MakeRng(303);
  for (int iter = 0; iter < 300; ++iter) {
    auto tok = LoadHfTokenizerJson(WriteTempFile("fuzz_tok.json", Mutate(good, rng)));
    if (tok.ok()) Exercise(**tok);
  }
}

// Random text: ASCII, multi-byte characters, invalid bytes and special-token spellings.
std::string RandomText(std::mt19937_64& rng, bool valid_only) {
  static const std::vector<std::string> kAtoms = {"a",
                                                  "e",
                                                  "the",
                                                  " ",
                                                  "  ",
                                                  "\n",
                                                  "\t",
                                                  "\r\n",
                                                  "0",
                                                  "42",
                                                  "'s",
                                                  "don't",
                                                  ".",
                                                  ",",
                                                  "!?",
                                                  "\xC3\xA9",
                                                  "\xC3\x9F",
                                                  "\xE2\x82\xAC",
                                                  "\xE4\xBD\xA0",
                                                  "\xE3\x81\x82",
                                                  "\xF0\x9F\xA6\x99",
                                                  "\xF0\x9F\x98\x80",
                                                  "\xE2\x96\x81",
                                                  "<s>",
                                                  "</s>",
                                                  "<unk>",
                                                  "<|im_start|>",
                                                  "<|endoftext|>",
                                                  "<0x41>",
                                                  "\xD0\xB1",
                                                  "\x7F"};
  static const std::vector<std::string> kInvalid = {"\xFF",     "\x80",         "\xC3",
                                                    "\xE2\x82", "\xED\xA0\x80", "\xF4\x90"};
  std::string s;
  const int n = static_cast<int>(rng() % 40);
  for (int i = 0; i < n; ++i) {
    if (!valid_only && rng() % 8 == 0) {
      s += kInvalid[rng() % kInvalid.size()];
    } else if (rng() % 10 == 0) {
      s.push_back(static_cast<char>(0x20 + rng() % 95));
    } else {
      s += kAtoms[rng() % kAtoms.size()];
    }
  }
  return s;
}

// byte_ok: bytes the vocabulary can represent. spm: "▁" in the input reads back as ' '
// (SentencePiece's space marker is part of its text model), so it is not a round trip case.
void FuzzText(const Tokenizer& t, uint64_t salt, const std::vector<bool>& byte_ok, bool spm) {
  auto rng = MakeRng(salt);
  for (int iter = 0; iter < 1500; ++iter) {
    const bool valid_only = iter % 2 == 0;
    const std::string s = RandomText(rng, valid_only);
    const bool parse_special = rng() % 2 == 0;
    const auto ids = t.Encode(s, true, parse_special);
    for (const int32_t id : ids) {
      ASSERT_GE(id, 0);
      ASSERT_LT(id, t.vocab_size());
    }
    const std::string back = t.Decode(ids);
    bool representable = true;
    for (const char c : s) representable = representable && byte_ok[static_cast<uint8_t>(c)];
    if (spm && s.find("\xE2\x96\x81") != std::string::npos) representable = false;
    if (IsValidUtf8(s) && !parse_special && representable) {
      ASSERT_EQ(back, s) << "seed " << septet::testing::TestSeed() << " iter " << iter;
    }
    // Streaming the pieces token by token gives valid UTF-8 whatever the input was.
    Utf8Streamer st;
    std::string streamed;
    int32_t prev = -1;
    for (const int32_t id : ids) {
      streamed += st.Push(t.TokenBytes(id, prev));
      prev = id;
    }
    streamed += st.Flush();
    ASSERT_TRUE(IsValidUtf8(streamed));
  }
}

TEST(TokenizerFuzz, RandomTextSpm) {
  SEPTET_REQUIRE_SHARED("tokenizers/llama2-spm-32000/tokenizer.model");
  auto tok = LoadSentencePieceModel(SharedFile("tokenizers/llama2-spm-32000/tokenizer.model"));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  FuzzText(**tok, 404, std::vector<bool>(256, true), /*spm=*/true);
}

TEST(TokenizerFuzz, RandomTextByteLevelBpe) {
  SEPTET_REQUIRE_SHARED("tokenizers/smollm2-135m-instruct/tokenizer.json");
  auto tok = LoadHfTokenizerJson(SharedFile("tokenizers/smollm2-135m-instruct/tokenizer.json"));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  // SmolLM2 has no entry for a few bytes (0x04, 0x06, 0x13, 0xC0, 0xF1, 0xF5..0xFF, ...).
  std::vector<bool> byte_ok(256);
  for (int b = 0; b < 256; ++b)
    byte_ok[b] = !(*tok)->Encode(std::string(1, static_cast<char>(b)), false).empty();
  FuzzText(**tok, 505, byte_ok, /*spm=*/false);
}

TEST(TokenizerFuzz, RandomTextLlama3Llama2c) {
  SEPTET_REQUIRE_SHARED("tokenizers/llama3-llama2c-format/tokenizer_l3.bin");
  auto tok = LoadLlama2cTokenizer(SharedFile("tokenizers/llama3-llama2c-format/tokenizer_l3.bin"), 128256);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  FuzzText(**tok, 606, std::vector<bool>(256, true), /*spm=*/false);
}

}  // namespace
}  // namespace septet::tok
