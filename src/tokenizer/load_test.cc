#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/model_file.h"
#include "tokenizer/testing.h"
#include "tokenizer/tokenizer.h"

namespace septet::tok {
namespace {

namespace fs = std::filesystem;
using septet::testing::SharedFile;
using septet::testing::TempDir;
using testing::FixturePath;
using testing::ReadFileOrEmpty;
using Ids = std::vector<int32_t>;

const Ids kOnceUponATime = {1, 403, 407, 261, 378};

TEST(LoadTokenizer, VocabOnlyGgufPassesGolden) {
  SEPTET_REQUIRE_SHARED("tokenizers/llama2-spm-32000/ggml-vocab-llama-spm.gguf");
  auto model = ModelFile::Open(SharedFile("tokenizers/llama2-spm-32000/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = LoadTokenizer(**model);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->vocab_size(), 32000);
  EXPECT_EQ((*tok)->bos_id(), 1);
  testing::ExpectLlamaSpmGolden(**tok);
}

TEST(LoadTokenizer, StoriesLlama2cFindsTok512BesideIt) {
  SEPTET_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  auto model = ModelFile::Open(SharedFile("models/stories260K/stories260K.bin"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ((*model)->format(), "llama2c");
  auto tok = LoadTokenizer(**model);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("Once upon a time", true), kOnceUponATime);
  // An explicit path wins; .model goes to the sentencepiece loader.
  auto explicit_tok = LoadTokenizer(**model, SharedFile("models/stories260K/tok512.model"));
  ASSERT_TRUE(explicit_tok.ok()) << explicit_tok.status().ToString();
  EXPECT_EQ((*explicit_tok)->Encode("Once upon a time", true), kOnceUponATime);
  // A tokenizer bigger than the model's embedding is refused.
  auto big = LoadTokenizer(**model, SharedFile("tokenizers/llama2-spm-32000/tokenizer.model"));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("32000"), std::string::npos) << big.status().ToString();
}

TEST(LoadTokenizer, StoriesGgufMetadata) {
  SEPTET_REQUIRE_SHARED("models/stories260K/stories260Ktok512.gguf");
  auto model = ModelFile::Open(SharedFile("models/stories260K/stories260Ktok512.gguf"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = LoadTokenizer(**model);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->vocab_size(), 512);
  EXPECT_EQ((*tok)->Encode("Once upon a time", true), kOnceUponATime);
  EXPECT_EQ((*tok)->Decode(kOnceUponATime), "Once upon a time");
}

TEST(LoadTokenizer, Llama2cWithoutTokenizerIsNotFound) {
  ModelFile m(TempDir() + "/lonely/model.bin", "llama2c");
  m.mutable_metadata().Set("llama.vocab_size", MetaValue::U32(512));
  auto tok = LoadTokenizer(m);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kNotFound);
  EXPECT_NE(tok.status().message().find("tok512.bin"), std::string::npos) << tok.status().ToString();
}

TEST(LoadTokenizer, SafetensorsDirectoryUsesTokenizerJson) {
  SEPTET_REQUIRE_SHARED("tokenizers/smollm2-135m-instruct/tokenizer.json");
  const fs::path dir = fs::path(TempDir()) / "smol_dir";
  fs::create_directories(dir);
  std::error_code ec;
  fs::remove(dir / "tokenizer.json", ec);
  fs::create_symlink(SharedFile("tokenizers/smollm2-135m-instruct/tokenizer.json"), dir / "tokenizer.json");
  {
    std::ofstream cfg(dir / "tokenizer_config.json");
    cfg << R"({"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}", "eos_token": "<|im_end|>"})";
  }
  ModelFile m((dir / "model.safetensors").string(), "safetensors");
  m.mutable_metadata().Set("llama.vocab_size", MetaValue::U32(49152));
  auto tok = LoadTokenizer(m);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("Hello world", true), (Ids{19556, 905}));
  EXPECT_EQ((*tok)->chat_template(), "{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_EQ((*tok)->eos_id(), 2);
  // Padded embeddings are fine; a smaller one is not.
  m.mutable_metadata().Set("llama.vocab_size", MetaValue::U32(1000));
  EXPECT_FALSE(LoadTokenizer(m).ok());
}

// A byte-level GGUF vocabulary built from SmolLM2's tokenizer.json the way llama.cpp's
// converter writes it (tokens, token_type, merges, pre = "smollm"); it must agree with
// the HF oracle.
TEST(LoadTokenizer, Gpt2GgufMetadataMatchesOracle) {
  SEPTET_REQUIRE_SHARED("tokenizers/smollm2-135m-instruct/tokenizer.json");
  const auto j =
      nlohmann::json::parse(ReadFileOrEmpty(SharedFile("tokenizers/smollm2-135m-instruct/tokenizer.json")));
  std::vector<std::string> tokens(49152);
  std::vector<int64_t> types(49152, 1);
  for (const auto& [text, id] : j["model"]["vocab"].items()) tokens[id.get<size_t>()] = text;
  for (const auto& a : j["added_tokens"]) types[a["id"].get<size_t>()] = a["special"].get<bool>() ? 3 : 4;
  ModelFile m(TempDir() + "/smol.gguf", "gguf");
  Metadata& md = m.mutable_metadata();
  md.Set("tokenizer.ggml.model", MetaValue::String("gpt2"));
  md.Set("tokenizer.ggml.pre", MetaValue::String("smollm"));
  md.Set("tokenizer.ggml.tokens", MetaValue::StringArray(tokens));
  md.Set("tokenizer.ggml.token_type", MetaValue::I32Array(types));
  md.Set("tokenizer.ggml.merges",
         MetaValue::StringArray(j["model"]["merges"].get<std::vector<std::string>>()));
  md.Set("tokenizer.ggml.bos_token_id", MetaValue::U32(1));
  md.Set("tokenizer.ggml.eos_token_id", MetaValue::U32(2));
  md.Set("tokenizer.ggml.add_bos_token", MetaValue::Bool(false));
  md.Set("tokenizer.chat_template", MetaValue::String("tmpl"));
  auto tok = LoadTokenizer(m);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->bos_id(), -1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  EXPECT_EQ((*tok)->chat_template(), "tmpl");
  const auto fixture = nlohmann::json::parse(ReadFileOrEmpty(FixturePath("smollm2_hf_oracle.json")));
  for (const auto& c : fixture["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ((*tok)->Encode(text, true, c["parse_special"].get<bool>()), c["ids"].get<Ids>()) << text;
  }
  // An unknown pre-tokenizer preset is named.
  md.Set("tokenizer.ggml.pre", MetaValue::String("mystery-pre"));
  auto bad = LoadTokenizer(m);
  EXPECT_EQ(bad.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(bad.status().message().find("mystery-pre"), std::string::npos);
}

TEST(LoadTokenizer, BadGgufMetadata) {
  ModelFile m(TempDir() + "/bad.gguf", "gguf");
  Metadata& md = m.mutable_metadata();
  md.Set("tokenizer.ggml.model", MetaValue::String("llama"));
  auto r = LoadTokenizer(m);
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("tokenizer.ggml.tokens"), std::string::npos);
  md.Set("tokenizer.ggml.tokens", MetaValue::StringArray({"<unk>", "<s>", "</s>", "a"}));
  md.Set("tokenizer.ggml.scores", MetaValue::F32Array({0, 0}));
  r = LoadTokenizer(m);
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("scores"), std::string::npos);
  md.Set("tokenizer.ggml.scores", MetaValue::F32Array({0, 0, 0, 0}));
  md.Set("tokenizer.ggml.token_type", MetaValue::I32Array({2, 3, 3, 9}));
  r = LoadTokenizer(m);
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("token_type[3]"), std::string::npos);
  md.Set("tokenizer.ggml.token_type", MetaValue::I32Array({2, 3, 3, 1}));
  r = LoadTokenizer(m);  // no byte tokens, but <unk> covers them
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // No byte pieces: "▁" and "b" become one <unk> each.
  EXPECT_EQ((*r)->Encode("ab", true), (Ids{1, 0, 3, 0}));
  // Without token_type the SentencePiece specials and <0xXX> pieces are recognised by name.
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) pieces.push_back(StrFormat("<0x%02X>", b));
  pieces.push_back(
      "\xE2\x96\x81"
      "a");
  md.Set("tokenizer.ggml.tokens", MetaValue::StringArray(pieces));
  md.Set("tokenizer.ggml.scores", MetaValue::F32Array(std::vector<double>(pieces.size(), 0.0)));
  ModelFile untyped(TempDir() + "/untyped.gguf", "gguf");
  for (const auto& [k, v] : md.entries()) {
    if (k != "tokenizer.ggml.token_type") untyped.mutable_metadata().Set(k, v);
  }
  r = LoadTokenizer(untyped);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Encode("ab", true), (Ids{1, 259, 3 + 'b'}));
  EXPECT_EQ((*r)->Decode({1, 259, 3 + 'b'}), "ab");
  md.Set("tokenizer.ggml.model", MetaValue::String("bert"));
  EXPECT_EQ(LoadTokenizer(m).status().code(), StatusCode::kUnsupported);
}

// Special-token ids that are no token of the vocabulary -- too big for int32, negative,
// past the end, or not an integer at all -- are errors naming the key and the value
// (they used to become "id -2", or the default id silently). See SpecialId in load.cc for
// why septet refuses where llama.cpp warns about an id past the vocabulary.
TEST(LoadTokenizer, BadSpecialTokenIdsNameKeyAndValue) {
  ModelFile m(TempDir() + "/special.gguf", "gguf");
  Metadata& md = m.mutable_metadata();
  md.Set("tokenizer.ggml.model", MetaValue::String("llama"));
  md.Set("tokenizer.ggml.tokens", MetaValue::StringArray({"<unk>", "<s>", "</s>", "a"}));
  md.Set("tokenizer.ggml.scores", MetaValue::F32Array({0, 0, 0, 0}));
  md.Set("tokenizer.ggml.token_type", MetaValue::I32Array({2, 3, 3, 1}));
  ASSERT_TRUE(LoadTokenizer(m).ok());
  struct Bad {
    MetaValue value;
    const char* shown;  // how the message must show it
  };
  const Bad bad[] = {
      {MetaValue::U64(uint64_t{1} << 40), "1099511627776"}, {MetaValue::U64(UINT64_MAX), "18446744073709551615"},
      {MetaValue::U32(4), "u32 4"},  // == vocabulary size
      {MetaValue::I32(-1), "i32 -1"},          {MetaValue::I64(-(int64_t{1} << 40)), "-1099511627776"},
      {MetaValue::String("2"), "str \"2\""},    {MetaValue::F32(2.0f), "f32 2"},
      {MetaValue::Bool(true), "bool true"},     {MetaValue::I32Array({2}), "arr[i32]"},
  };
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"}) {
    for (const Bad& b : bad) {
      ModelFile f(m.path(), "gguf");
      for (const auto& [k, v] : md.entries()) f.mutable_metadata().Set(k, v);
      f.mutable_metadata().Set(key, b.value);
      auto r = LoadTokenizer(f);
      ASSERT_FALSE(r.ok()) << key << " = " << b.value.DebugString();
      EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
      const std::string& msg = r.status().message();
      EXPECT_NE(msg.find(m.path()), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::string("'") + key + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find(b.shown), std::string::npos) << msg;
      EXPECT_NE(msg.find("[0, 4)"), std::string::npos) << msg;
    }
  }
  // Any integer type holding a valid id is fine (llama.cpp writes u32; others are not wrong).
  md.Set("tokenizer.ggml.eos_token_id", MetaValue::I64(3));
  md.Set("tokenizer.ggml.eot_token_id", MetaValue::Integer(MetaType::kU8, 2));
  auto ok = LoadTokenizer(m);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->eos_id(), 3);
  EXPECT_EQ((*ok)->stop_ids(), (Ids{3, 2}));
}

// The optional bool keys: a wrong type names the file, the key and the value.
TEST(LoadTokenizer, BadBoolKeysNameFileKeyAndValue) {
  for (const char* key : {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix"}) {
    ModelFile m(TempDir() + "/bools.gguf", "gguf");
    Metadata& md = m.mutable_metadata();
    md.Set("tokenizer.ggml.model", MetaValue::String("llama"));
    md.Set("tokenizer.ggml.tokens", MetaValue::StringArray({"<unk>", "<s>", "</s>", "a"}));
    md.Set("tokenizer.ggml.token_type", MetaValue::I32Array({2, 3, 3, 1}));
    md.Set(key, MetaValue::Bool(false));
    ASSERT_TRUE(LoadTokenizer(m).ok()) << key;
    md.Set(key, MetaValue::U32(1));
    auto r = LoadTokenizer(m);
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    const std::string& msg = r.status().message();
    EXPECT_NE(msg.find(m.path()), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + key + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("u32 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected a bool"), std::string::npos) << msg;
  }
}

// config.json's eos_token_id beside a tokenizer.json: an id past int32 used to wrap to
// another token; a non-integer entry of the list was skipped.
TEST(LoadTokenizer, ConfigEosTokenIdMustBeAnId) {
  SEPTET_REQUIRE_SHARED("tokenizers/smollm2-135m-instruct/tokenizer.json");
  const fs::path dir = fs::path(TempDir()) / "smol_cfg_eos";
  fs::create_directories(dir);
  std::error_code ec;
  fs::remove(dir / "tokenizer.json", ec);
  fs::create_symlink(SharedFile("tokenizers/smollm2-135m-instruct/tokenizer.json"), dir / "tokenizer.json");
  ModelFile m((dir / "model.safetensors").string(), "safetensors");
  m.mutable_metadata().Set("llama.vocab_size", MetaValue::U32(49152));
  for (const char* eos : {"1099511627776", "-1", "[2, \"x\"]", "\"2\""}) {
    std::ofstream(dir / "config.json") << "{\"eos_token_id\": " << eos << "}";
    auto tok = LoadTokenizer(m);
    ASSERT_FALSE(tok.ok()) << eos;
    EXPECT_NE(tok.status().message().find("'eos_token_id'"), std::string::npos) << tok.status().ToString();
    EXPECT_NE(tok.status().message().find((dir / "config.json").string()), std::string::npos);
  }
  std::ofstream(dir / "config.json") << R"({"eos_token_id": [2, 0]})";
  auto tok = LoadTokenizer(m);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->eos_id(), 2);
}

}  // namespace
}  // namespace septet::tok
