// The SmolLM2-135M-Instruct float64 oracle (../shared/models/smollm2-135m-instruct/
// oracle, PROVENANCE.md there) and the checks every backend's SmolLM2 test makes
// against it (tests/model_smollm2_test.cc on the CPU, backends/cuda/
// cuda_smollm2_test.cc on the GPU). The bounds and their derivation are in
// model_smollm2_test.cc's header comment. Header-only; test code only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "model/inference_context.h"
#include "model/llama_model.h"
#include "util/test_util.h"

namespace septet::testing::smollm2 {

inline const std::string kDir = "models/smollm2-135m-instruct/";
inline const std::string kModel = kDir + "SmolLM2-135M-Instruct.Q4_1.gguf";

// Bounds of model_smollm2_test.cc's header comment.
constexpr double kF32Err = 1e-3;       // |F32 logits - oracle logits|
constexpr double kMaxInt8Shift = 3.0;  // max D_i: |stored logits - F32 logits| (INT8 activations)
constexpr double kMaxLeadShift = 1.0;  // max S_i: how far INT8 activations move a top-1's lead

struct OracleCase {
  std::vector<int32_t> prompt, greedy;
  std::vector<double> margins;  // oracle top-1 margin at each greedy step
};

// A comma-separated list, each item read by `conv` (std::stoi, std::stod).
template <typename T, typename Conv>
std::vector<T> ParseList(const std::string& s, Conv conv) {
  std::vector<T> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(static_cast<T>(conv(x)));
  return v;
}
inline std::vector<int32_t> ParseIds(const std::string& s) {
  return ParseList<int32_t>(s, [](const std::string& x) { return std::stoi(x); });
}
inline std::vector<double> ParseDoubles(const std::string& s) {
  return ParseList<double>(s, [](const std::string& x) { return std::stod(x); });
}

// oracle/greedy.tsv: prompt ids, 32 greedy ids, min margin, per-step margins (header line first).
inline std::vector<OracleCase> ReadOracle() {
  std::ifstream in(SharedFile(kDir + "oracle/greedy.tsv"));
  std::vector<OracleCase> out;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string prompt, greedy, min_margin, margins;
    std::getline(ss, prompt, '\t');
    std::getline(ss, greedy, '\t');
    std::getline(ss, min_margin, '\t');
    std::getline(ss, margins, '\t');
    out.push_back({ParseIds(prompt), ParseIds(greedy), ParseDoubles(margins)});
  }
  return out;
}

// Makes a fresh inference context (n_ctx >= 128) for a model: the backend under test.
using ContextFactory = std::function<std::unique_ptr<model::InferenceContext>(const model::LlamaModel&)>;

inline std::vector<int32_t> Greedy(const ContextFactory& make, const model::LlamaModel& m,
                                   const std::vector<int32_t>& prompt, size_t n) {
  auto ctx = make(m);
  if (!ctx) return {};
  std::vector<float> logits;
  std::vector<int32_t> got;
  const Status st = ctx->Forward(prompt, model::LogitsMode::kLast, &logits);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return {};
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    got.push_back(next);
    if (!ctx->Forward({&next, 1}, model::LogitsMode::kLast, &logits).ok()) break;
  }
  return got;
}

// Logits of every position of `tokens` [tokens.size()][vocab], row-major.
inline std::vector<float> AllLogits(const ContextFactory& make, const model::LlamaModel& m,
                                    const std::vector<int32_t>& tokens) {
  auto ctx = make(m);
  std::vector<float> logits;
  if (ctx) {
    const Status st = ctx->Forward(tokens, model::LogitsMode::kAll, &logits);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return logits;
}

// The oracle's sequence: the prompt, then its greedy ids but the last.
inline std::vector<int32_t> TeacherTokens(const OracleCase& c) {
  std::vector<int32_t> t = c.prompt;
  t.insert(t.end(), c.greedy.begin(), c.greedy.end() - 1);
  return t;
}

inline size_t MatchingPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

// max |logit - oracle logit| over prompt 0's teacher-forced positions (the oracle's
// stored logits_p0.f32); -1 when the oracle files do not read back.
inline double MaxErrorVsOracleP0(const ContextFactory& make, const model::LlamaModel& model, const OracleCase& c0) {
  const int64_t vocab = model.hparams().vocab;
  std::ifstream in(SharedFile(kDir + "oracle/logits_p0.f32"), std::ios::binary);
  const std::vector<int32_t> tokens = TeacherTokens(c0);
  std::ifstream ids_in(SharedFile(kDir + "oracle/tokens_p0.txt"));
  std::string ids;
  std::getline(ids_in, ids);
  std::vector<int32_t> oracle_tokens = tokens;  // the file: prompt 0 and all 32 greedy ids
  oracle_tokens.push_back(c0.greedy.back());
  EXPECT_EQ(ParseIds(ids), oracle_tokens);
  std::vector<float> oracle(oracle_tokens.size() * static_cast<size_t>(vocab));
  in.read(reinterpret_cast<char*>(oracle.data()), static_cast<std::streamsize>(oracle.size() * sizeof(float)));
  EXPECT_TRUE(in.good()) << "oracle/logits_p0.f32: expected [" << oracle_tokens.size() << "][vocab] floats";
  const std::vector<float> got = AllLogits(make, model, tokens);
  EXPECT_EQ(got.size(), tokens.size() * static_cast<size_t>(vocab));
  if (!in.good() || got.size() != tokens.size() * static_cast<size_t>(vocab)) return -1;
  double err = 0;
  for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::fabs(double{got[i]} - oracle[i]));
  return err;
}

// The F32 checks: every greedy id of the three prompts, and prompt 0's logits within
// kF32Err of the oracle's. `tag` prefixes the printed line.
inline void ExpectF32MatchesOracle(const ContextFactory& make, const model::LlamaModel& f32,
                                   const std::vector<OracleCase>& cases, const char* tag) {
  for (const OracleCase& c : cases) EXPECT_EQ(Greedy(make, f32, c.prompt, c.greedy.size()), c.greedy);
  const double err = MaxErrorVsOracleP0(make, f32, cases[0]);
  EXPECT_GE(err, 0);
  EXPECT_LE(err, kF32Err);
  std::printf("[%s] F32 vs float64 oracle, prompt 0, %zu positions: max |dlogit| %.2g (bound %.0e)\n", tag,
              TeacherTokens(cases[0]).size(), err, kF32Err);
}

// The as-stored checks (INT8 activations, or any other rounding of the matmul inputs
// and weights the backend does), teacher-forced against the same backend's F32 run:
// per prompt p and greedy step i, D = max_v |stored - F32|, S = the largest gain of a
// contender j over the oracle's id t, (dq_j - dq_t) with dq = stored - F32, over the
// j whose F32 gap to t is <= 2 (D + kF32Err) (no other token can overtake t), and the
// stored top-1; ids asserted where the oracle margin exceeds kMaxLeadShift + 2 kF32Err,
// free-running greedy must follow the oracle up to the first excluded step.
inline void ExpectStoredTracksOracle(const ContextFactory& make, const model::LlamaModel& stored,
                                     const model::LlamaModel& f32, const std::vector<OracleCase>& cases,
                                     const char* tag, const char* what) {
  const int64_t vocab = f32.hparams().vocab;
  struct Step {
    double d = 0, s = 0;
    int32_t top1 = -1;
  };
  std::vector<std::vector<Step>> steps(cases.size());
  double max_d = 0, max_s = 0, max_logit = 0;
  for (size_t p = 0; p < cases.size(); ++p) {
    const std::vector<int32_t> tokens = TeacherTokens(cases[p]);
    const std::vector<float> q = AllLogits(make, stored, tokens), f = AllLogits(make, f32, tokens);
    ASSERT_EQ(q.size(), tokens.size() * static_cast<size_t>(vocab));
    ASSERT_EQ(f.size(), q.size());
    for (size_t i = 0; i < cases[p].greedy.size(); ++i) {
      const float* qi = q.data() + (cases[p].prompt.size() - 1 + i) * static_cast<size_t>(vocab);
      const float* fi = f.data() + (qi - q.data());
      const int32_t t = cases[p].greedy[i];
      Step st;
      for (int64_t v = 0; v < vocab; ++v) {
        st.d = std::max(st.d, std::fabs(double{qi[v]} - fi[v]));
        max_logit = std::max(max_logit, std::fabs(double{fi[v]}));
      }
      const double dq_t = double{qi[t]} - fi[t];
      for (int64_t v = 0; v < vocab; ++v) {
        if (v == t || double{fi[t]} - fi[v] > 2 * (st.d + kF32Err)) continue;
        st.s = std::max(st.s, (double{qi[v]} - fi[v]) - dq_t);
      }
      st.top1 = static_cast<int32_t>(std::max_element(qi, qi + vocab) - qi);
      steps[p].push_back(st);
      max_d = std::max(max_d, st.d);
      max_s = std::max(max_s, st.s);
    }
  }
  EXPECT_LE(max_d, kMaxInt8Shift) << "the stored model's logits moved too far from F32 (max |logit| " << max_logit
                                  << ")";
  EXPECT_LE(max_s, kMaxLeadShift) << "the stored model moved a top-1's lead too far";
  const double threshold = kMaxLeadShift + 2 * kF32Err;
  std::printf("[%s] as stored (%s), teacher-forced over 96 steps: max |dlogit| vs F32 %.3f (%.1f%% of max |logit| "
              "%.1f; bound %.2f), max lead shift %.3f (bound %.2f); ids asserted where the oracle margin > %.2f + 2 * "
              "%.0e\n",
              tag, what, max_d, 100 * max_d / max_logit, max_logit, kMaxInt8Shift, max_s, kMaxLeadShift,
              kMaxLeadShift, kF32Err);
  for (size_t p = 0; p < cases.size(); ++p) {
    const OracleCase& c = cases[p];
    size_t first_excluded = c.greedy.size(), asserted = 0;
    for (size_t i = 0; i < c.greedy.size(); ++i) {
      const Step& st = steps[p][i];
      if (c.margins[i] > threshold) {
        ++asserted;
        EXPECT_EQ(st.top1, c.greedy[i]) << "prompt " << p << " step " << i << ": oracle margin " << c.margins[i]
                                        << ", lead shift " << st.s;
        continue;
      }
      first_excluded = std::min(first_excluded, i);
      std::printf("[%s]   prompt %zu step %2zu excluded: oracle margin %.3f <= %.3f (lead shift here %.3f); "
                  "stored top-1 %d, oracle %d%s\n",
                  tag, p, i, c.margins[i], threshold, st.s, st.top1, c.greedy[i],
                  st.top1 == c.greedy[i] ? "" : " (flipped)");
    }
    const std::vector<int32_t> got = Greedy(make, stored, c.prompt, c.greedy.size());
    ASSERT_FALSE(got.empty());
    const size_t prefix = MatchingPrefix(got, c.greedy);
    EXPECT_GE(prefix, first_excluded) << "prompt " << p << ": free-running greedy left the oracle before any step "
                                      << "whose margin allows it";
    std::printf("[%s] prompt %zu: %zu/%zu steps asserted; free-running greedy follows the oracle for %zu/%zu ids "
                "(first excluded step: %zu)\n",
                tag, p, asserted, c.greedy.size(), prefix, c.greedy.size(), first_excluded);
  }
}

}  // namespace septet::testing::smollm2
