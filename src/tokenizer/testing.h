// Helpers for the tokenizer tests (header-only; not part of the library API).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::tok::testing {

inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Repository root, from this header's own path (tests do not get SEPTET_SOURCE_DIR).
inline std::string RepoRoot() {
  std::string f = __FILE__;  // <root>/src/tokenizer/testing.h
  for (int i = 0; i < 3; ++i) f = f.substr(0, f.find_last_of('/'));
  return f;
}

inline std::string FixturePath(const std::string& name) {
  return RepoRoot() + "/tests/data/tokenizer/" + name;
}

inline std::vector<int32_t> ParseIds(const std::string& line) {
  std::vector<int32_t> ids;
  std::istringstream ss(line);
  long v;
  while (ss >> v) ids.push_back(static_cast<int32_t>(v));
  return ids;
}

struct GoldenCase {
  std::string text;
  std::vector<int32_t> ids;
};

// llama.cpp's test-tokenizer-0 format: inputs joined by "\n__ggml_vocab_test__\n" (the
// file ends with one), expected ids one line per input, space separated, no BOS.
inline std::vector<GoldenCase> LoadLlamaSpmGolden() {
  const std::string base =
      septet::testing::SharedFile("tokenizers/llama2-spm-32000/ggml-vocab-llama-spm.gguf");
  const std::string inp = ReadFileOrEmpty(base + ".inp");
  const std::string out = ReadFileOrEmpty(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) break;
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::string> lines;
  std::istringstream ss(out);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  std::vector<GoldenCase> cases;
  EXPECT_EQ(texts.size(), lines.size());
  for (size_t i = 0; i < texts.size() && i < lines.size(); ++i)
    cases.push_back({texts[i], ParseIds(lines[i])});
  return cases;
}

// All 46 llama.cpp test vectors, without BOS; plus decode round trips.
inline void ExpectLlamaSpmGolden(const Tokenizer& tok) {
  const auto cases = LoadLlamaSpmGolden();
  ASSERT_EQ(cases.size(), 46u);
  int passed = 0;
  for (const auto& c : cases) {
    const auto ids = tok.Encode(c.text, /*add_bos=*/false);
    EXPECT_EQ(ids, c.ids) << "input: '" << c.text << "'";
    passed += ids == c.ids;
    // With BOS the decoder drops the dummy-prefix space: the text comes back exactly.
    auto with_bos = tok.Encode(c.text, /*add_bos=*/true);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos[0], 1);
    EXPECT_EQ(tok.Decode(with_bos), c.text);
    EXPECT_EQ(tok.Decode(ids), c.text);
  }
  EXPECT_EQ(passed, 46);
}

#define SEPTET_REQUIRE_SHARED(rel)                                                      \
  do {                                                                                  \
    if (!::septet::testing::SharedFileExists(rel)) GTEST_SKIP() << "missing " << (rel); \
  } while (0)

}  // namespace septet::tok::testing
