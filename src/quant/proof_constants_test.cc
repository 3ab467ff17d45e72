// The Coq proofs (proofs/*.v, docs/proofs.md) are stated with integer
// constants copied from this code. This test keeps the two in step: it parses
// every `Definition <name> : Z := <integer>.` line of proofs/*.v and compares it
// with the C++ value of the same meaning. It fails when either side changes
// alone, when a proof constant has no C++ counterpart listed here, or when the
// proofs directory cannot be read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "quant/q3p5.h"
#include "quant/q3p5_seed.h"
#include "quant/q8_act.h"
#include "quant/quant_util.h"

namespace septet::quant {
namespace {

namespace fs = std::filesystem;

// Repository root, from this file's own path (<root>/src/quant/proof_constants_test.cc),
// as src/tokenizer/testing.h does: tests do not get SEPTET_SOURCE_DIR. Ninja passes
// the path relative to the build directory, where the test binary lives, so a
// relative __FILE__ is resolved against the binary's directory (any cwd works).
fs::path RepoRoot() {
  fs::path f = __FILE__;
  if (f.is_relative()) {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    f = (ec ? fs::current_path() : exe.parent_path()) / f;
  }
  return f.parent_path().parent_path().parent_path();
}

struct CoqConstant {
  int64_t value;
  std::string where;  // file:line
};

// name -> value of every `Definition <name> : Z := <integer>.` in dir/*.v.
// A name defined twice is reported through *error.
std::map<std::string, CoqConstant> ParseCoqZDefinitions(const fs::path& dir, std::string* error) {
  static const std::regex kDef(R"(^\s*Definition\s+([A-Za-z_][A-Za-z0-9_']*)\s*:\s*Z\s*:=\s*(-?[0-9]+)\s*\.)");
  std::map<std::string, CoqConstant> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".v") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::smatch m;
      if (!std::regex_search(line, m, kDef)) continue;
      const std::string where = file.filename().string() + ":" + std::to_string(n);
      const auto [it, inserted] = out.emplace(m[1].str(), CoqConstant{std::stoll(m[2].str()), where});
      if (!inserted) *error += "proof constant " + m[1].str() + " defined twice: " + it->second.where + ", " + where + "\n";
    }
  }
  return out;
}

// The range of values a decoder function of a 7-bit seed pair code can produce.
template <class F>
std::pair<int64_t, int64_t> SeedDecodedRange(F decode) {
  int lo = decode(0), hi = decode(0);
  for (int c = 0; c < 128; ++c) {
    lo = std::min(lo, decode(static_cast<uint8_t>(c)));
    hi = std::max(hi, decode(static_cast<uint8_t>(c)));
  }
  return {lo, hi};
}

TEST(ProofConstants, MatchCppConstexprs) {
  const auto q4 = SeedDecodedRange(Q3P5SeedQ4);
  const auto q3 = SeedDecodedRange(Q3P5SeedQ3);
  // proof name -> the C++ value it stands for (docs/proofs.md has the file:symbol map).
  const std::map<std::string, int64_t> cpp = {
      {"int32_max", kInt32Max},
      {"int32_min", std::numeric_limits<int32_t>::min()},
      {"int16_max", std::numeric_limits<int16_t>::max()},
      {"int16_min", std::numeric_limits<int16_t>::min()},
      {"act_max_abs", kActMaxAbs},
      {"q8a_block_size", kQ8ABlockSize},
      {"q8b_block_size", kQ8BBlockSize},
      {"q8r_max_row_length", kQ8RMaxRowLength},
      {"q3p5_block_size", kQ3P5BlockSize},
      {"q3p5_sub_block_size", kQ3P5SubBlockSize},
      {"q3p5_sub_blocks", kQ3P5SubBlocks},
      {"q3p5_max_code3", kQ3P5MaxCode3},
      {"q3p5_max_code4", kQ3P5MaxCode4},
      {"q3p5_max_acc_length", kQ3P5MaxAccLength},
      {"q3p5_max_block_acc", kQ3P5MaxBlockAcc},
      {"seed_pair_bits", kQ3P5SeedPairBits},
      {"seed_q4_min", q4.first},
      {"seed_q4_max", q4.second},
      {"seed_q3_min", q3.first},
      {"seed_q3_max", q3.second},
      {"seed_max_abs_code", kQ3P5SeedMaxAbsCode},
      {"seed_max_row_length", kQ3P5SeedMaxRowLength},
  };

  const fs::path dir = RepoRoot() / "proofs";
  ASSERT_TRUE(fs::is_directory(dir)) << dir << " not found";
  std::string error;
  const auto coq = ParseCoqZDefinitions(dir, &error);
  EXPECT_TRUE(error.empty()) << error;
  ASSERT_FALSE(coq.empty()) << "no `Definition <name> : Z := <integer>.` lines in " << dir;

  for (const auto& [name, value] : cpp) {
    const auto it = coq.find(name);
    if (it == coq.end()) {
      ADD_FAILURE() << "proofs/*.v no longer defines " << name << " (C++ value " << value << ")";
      continue;
    }
    EXPECT_EQ(it->second.value, value) << name << ": proofs/" << it->second.where << " says "
                                       << it->second.value << ", the C++ code " << value;
  }
  for (const auto& [name, c] : coq) {
    EXPECT_TRUE(cpp.count(name) == 1) << "proofs/" << c.where << " defines " << name << " = " << c.value
                                      << ", which has no C++ counterpart in this test";
  }
}

}  // namespace
}  // namespace septet::quant
