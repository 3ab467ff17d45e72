// A GGUF as users download it: SmolLM2-135M-Instruct quantized by llama.cpp
// (Q4_1 matmul weights, Q8_0 token_embd tied to the output, F32 norms), against
// the independent float64 oracle beside it
// (../shared/models/smollm2-135m-instruct/PROVENANCE.md: gguf-py's dequantization
// and a plain float64 forward pass).
//
// Computing in F32 (every matrix decoded once at load time, float activations
// throughout), the engine differs from the oracle only by float rounding:
// measured max |dlogit| ~3e-5 (relative ~1e-6) against a smallest top-1 margin
// of 0.0049 over the 96 greedy steps, so every greedy id must match.
// As stored, the Q8_0 classifier takes INT8 (Q8_A) activations, which moves
// logits by up to ~0.45 (measured, 1.2% of max |logit|): that path must keep the
// first id (margin 2.48) and is otherwise reported, not asserted.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/llama_context.h"
#include "model/llama_model.h"
#include "util/test_util.h"

namespace septet {
namespace {

const std::string kDir = "models/smollm2-135m-instruct/";

struct OracleCase {
  std::vector<int32_t> prompt, greedy;
};

std::vector<int32_t> ParseIds(const std::string& s) {
  std::vector<int32_t> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(std::stoi(x));
  return v;
}

// oracle/greedy.tsv: prompt ids, 32 greedy ids, then margins (header line first).
std::vector<OracleCase> ReadOracle() {
  std::ifstream in(testing::SharedFile(kDir + "oracle/greedy.tsv"));
  std::vector<OracleCase> out;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string prompt, greedy;
    std::getline(ss, prompt, '\t');
    std::getline(ss, greedy, '\t');
    out.push_back({ParseIds(prompt), ParseIds(greedy)});
  }
  return out;
}

std::vector<int32_t> Greedy(const model::LlamaModel& m, const std::vector<int32_t>& prompt, size_t n) {
  auto ctx = model::LlamaContext::Create(m, 128);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  if (!ctx.ok()) return {};
  std::vector<float> logits;
  std::vector<int32_t> got;
  if (!ctx.value()->Forward(prompt, model::LogitsMode::kLast, &logits).ok()) return {};
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    got.push_back(next);
    if (!ctx.value()->Forward({&next, 1}, model::LogitsMode::kLast, &logits).ok()) break;
  }
  return got;
}

size_t MatchingPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

TEST(ModelSmolLM2Test, GreedyIdsMatchFloat64Oracle) {
  const std::string path = kDir + "SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(testing::SharedFileExists(path));
  const std::vector<OracleCase> cases = ReadOracle();
  ASSERT_EQ(cases.size(), 3u);

  auto f32 = model::LlamaModel::Load(testing::SharedFile(path), model::ModelOptions{DType::kF32});
  ASSERT_TRUE(f32.ok()) << f32.status().ToString();
  for (const OracleCase& c : cases) EXPECT_EQ(Greedy(*f32.value(), c.prompt, c.greedy.size()), c.greedy);

  auto stored = model::LlamaModel::Load(testing::SharedFile(path), {});
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  for (size_t p = 0; p < cases.size(); ++p) {
    const std::vector<int32_t> got = Greedy(*stored.value(), cases[p].prompt, cases[p].greedy.size());
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got[0], cases[p].greedy[0]) << "prompt " << p;
    std::printf("[smollm2] as stored (Q4_1, Q8_0 classifier with INT8 activations): prompt %zu: %zu/%zu greedy "
                "ids match the oracle before the first difference\n",
                p, MatchingPrefix(got, cases[p].greedy), cases[p].greedy.size());
  }
}

}  // namespace
}  // namespace septet
