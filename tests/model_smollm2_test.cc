// A GGUF as users download it: SmolLM2-135M-Instruct quantized by llama.cpp
// (Q4_1 matmul weights, Q8_0 token_embd tied to the output, F32 norms), against
// the independent float64 oracle beside it
// (../shared/models/smollm2-135m-instruct/PROVENANCE.md: gguf-py's dequantization
// and a plain float64 forward pass).
//
// Computing in F32 (every matrix decoded once at load time, float activations
// throughout), the engine differs from the oracle only by float rounding:
// measured max |dlogit| ~3e-5 (relative ~1e-6) against a smallest top-1 margin
// of 0.0049 over the 96 greedy steps, so every greedy id must match. The test
// also measures that difference on prompt 0 against the oracle's stored logits
// (the 36 teacher-forced positions that predict its greedy ids) and asserts it
// below kF32Err = 1e-3.
//
// As stored, every matrix (Q4_1, and the Q8_0 classifier) takes INT8 (Q8_A)
// activations: each matmul input is rounded per block of 32 to steps of
// max|x| / 127 (error <= max|x| / 254 per element, bounded kernel by kernel in
// simd_matvec_test.cc). That moves the logits, and where the oracle's top-1
// margin is small it may legitimately flip a greedy id (PROVENANCE.md), so ids
// are asserted only where the measured activation-quantization error cannot:
//   * Teacher-forced along the oracle's own sequence (prompt + its greedy ids, so
//     each step's context and margin m_i are the oracle's), with dq = stored - F32
//     logits at step i: D_i = max_v |dq_v|, and the lead shift S_i = max_j
//     (dq_j - dq_t) over the contenders j of the oracle's id t (F32 gap to t <=
//     2 (D_i + kF32Err); no other token can overtake t). Measured over the 96
//     steps: max D_i = 1.52 (3.3% of max |logit| 45.8; most of it moves all
//     logits alike) and max S_i = 0.60. Asserted: max D_i <= kMaxInt8Shift = 3
//     and max S_i <= kMaxLeadShift = 1 (a broken integer kernel moves logits by
//     O(max |logit|)).
//   * The oracle's id at step i cannot lose its lead if m_i > S_i + 2 kF32Err,
//     so it must be the stored top-1 wherever m_i > kMaxLeadShift + 2 kF32Err
//     (54 of the 96 steps); the other steps are printed as excluded, with m_i,
//     S_i and whether the id flipped (3 do: margins 0.220, 0.005, 0.069).
//   * Free-running greedy decoding (what `generate` does: token by token, which
//     gives the prefill's logits, so it follows the teacher-forced top-1s until
//     it leaves the oracle's sequence) must follow the oracle at least up to the
//     first excluded step; how far it goes is printed.
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
#include "quantize/quantizer.h"
#include "util/test_util.h"

namespace septet {
namespace {

const std::string kDir = "models/smollm2-135m-instruct/";

struct OracleCase {
  std::vector<int32_t> prompt, greedy;
  std::vector<double> margins;  // oracle top-1 margin at each greedy step
};

std::vector<int32_t> ParseIds(const std::string& s) {
  std::vector<int32_t> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(std::stoi(x));
  return v;
}

std::vector<double> ParseDoubles(const std::string& s) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(std::stod(x));
  return v;
}

// oracle/greedy.tsv: prompt ids, 32 greedy ids, min margin, per-step margins (header line first).
std::vector<OracleCase> ReadOracle() {
  std::ifstream in(testing::SharedFile(kDir + "oracle/greedy.tsv"));
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

// Logits of every position of `tokens` [tokens.size()][vocab], row-major.
std::vector<float> AllLogits(const model::LlamaModel& m, const std::vector<int32_t>& tokens) {
  auto ctx = model::LlamaContext::Create(m, 128);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  std::vector<float> logits;
  if (ctx.ok()) {
    EXPECT_TRUE(ctx.value()->Forward(tokens, model::LogitsMode::kAll, &logits).ok());
  }
  return logits;
}

// The oracle's sequence: the prompt, then its greedy ids but the last.
std::vector<int32_t> TeacherTokens(const OracleCase& c) {
  std::vector<int32_t> t = c.prompt;
  t.insert(t.end(), c.greedy.begin(), c.greedy.end() - 1);
  return t;
}

size_t MatchingPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

// max |logit - oracle logit| over prompt 0's teacher-forced positions (the oracle's
// stored logits_p0.f32); -1 when the oracle files do not read back.
double MaxErrorVsOracleP0(const model::LlamaModel& model, const OracleCase& c0) {
  const int64_t vocab = model.hparams().vocab;
  std::ifstream in(testing::SharedFile(kDir + "oracle/logits_p0.f32"), std::ios::binary);
  const std::vector<int32_t> tokens = TeacherTokens(c0);
  std::ifstream ids_in(testing::SharedFile(kDir + "oracle/tokens_p0.txt"));
  std::string ids;
  std::getline(ids_in, ids);
  std::vector<int32_t> oracle_tokens = tokens;  // the file: prompt 0 and all 32 greedy ids
  oracle_tokens.push_back(c0.greedy.back());
  EXPECT_EQ(ParseIds(ids), oracle_tokens);
  std::vector<float> oracle(oracle_tokens.size() * static_cast<size_t>(vocab));
  in.read(reinterpret_cast<char*>(oracle.data()), static_cast<std::streamsize>(oracle.size() * sizeof(float)));
  EXPECT_TRUE(in.good()) << "oracle/logits_p0.f32: expected [" << oracle_tokens.size() << "][vocab] floats";
  const std::vector<float> got = AllLogits(model, tokens);
  EXPECT_EQ(got.size(), tokens.size() * static_cast<size_t>(vocab));
  if (!in.good() || got.size() != tokens.size() * static_cast<size_t>(vocab)) return -1;
  double err = 0;
  for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::fabs(double{got[i]} - oracle[i]));
  return err;
}

// Bounds of the header comment.
constexpr double kF32Err = 1e-3;       // |F32 logits - oracle logits|
constexpr double kMaxInt8Shift = 3.0;  // max D_i: |stored logits - F32 logits| (INT8 activations)
constexpr double kMaxLeadShift = 1.0;  // max S_i: how far INT8 activations move a top-1's lead

TEST(ModelSmolLM2Test, GreedyIdsMatchFloat64Oracle) {
  const std::string path = kDir + "SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(testing::SharedFileExists(path));
  const std::vector<OracleCase> cases = ReadOracle();
  ASSERT_EQ(cases.size(), 3u);
  for (const OracleCase& c : cases) ASSERT_EQ(c.margins.size(), c.greedy.size());

  auto f32 = model::LlamaModel::Load(testing::SharedFile(path), model::ModelOptions{DType::kF32});
  ASSERT_TRUE(f32.ok()) << f32.status().ToString();
  for (const OracleCase& c : cases) EXPECT_EQ(Greedy(*f32.value(), c.prompt, c.greedy.size()), c.greedy);
  const int64_t vocab = f32.value()->hparams().vocab;

  // F32 against the oracle's stored logits (prompt 0, every teacher-forced position).
  {
    const double err = MaxErrorVsOracleP0(*f32.value(), cases[0]);
    EXPECT_LE(err, kF32Err);
    std::printf("[smollm2] F32 vs float64 oracle, prompt 0, %zu positions: max |dlogit| %.2g (bound %.0e)\n",
                TeacherTokens(cases[0]).size(), err, kF32Err);
  }

  auto stored = model::LlamaModel::Load(testing::SharedFile(path), {});
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  // Per prompt p and greedy step i, teacher-forced: D = max_v |stored - F32|,
  // S = the largest gain of a contender j over the oracle's id t, (dq_j - dq_t)
  // with dq = stored - F32, over the j whose F32 gap to t is <= 2 (D + kF32Err)
  // (no other token can overtake t), and the stored top-1.
  struct Step {
    double d = 0, s = 0;
    int32_t top1 = -1;
  };
  std::vector<std::vector<Step>> steps(cases.size());
  double max_d = 0, max_s = 0, max_logit = 0;
  for (size_t p = 0; p < cases.size(); ++p) {
    const std::vector<int32_t> tokens = TeacherTokens(cases[p]);
    const std::vector<float> q = AllLogits(*stored.value(), tokens), f = AllLogits(*f32.value(), tokens);
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
  EXPECT_LE(max_d, kMaxInt8Shift) << "INT8 activations moved the logits too far (max |logit| " << max_logit << ")";
  EXPECT_LE(max_s, kMaxLeadShift) << "INT8 activations moved a top-1's lead too far";
  const double threshold = kMaxLeadShift + 2 * kF32Err;
  std::printf("[smollm2] as stored (Q4_1 + Q8_0, INT8 activations), teacher-forced over 96 steps: max |dlogit| vs "
              "F32 %.3f (%.1f%% of max |logit| %.1f; bound %.2f), max lead shift %.3f (bound %.2f); ids asserted where "
              "the oracle margin > %.2f + 2 * %.0e\n",
              max_d, 100 * max_d / max_logit, max_logit, kMaxInt8Shift, max_s, kMaxLeadShift, kMaxLeadShift, kF32Err);
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
      std::printf("[smollm2]   prompt %zu step %2zu excluded: oracle margin %.3f <= %.3f (lead shift here %.3f); "
                  "stored top-1 %d, oracle %d%s\n",
                  p, i, c.margins[i], threshold, st.s, st.top1, c.greedy[i], st.top1 == c.greedy[i] ? "" : " (flipped)");
    }
    const std::vector<int32_t> got = Greedy(*stored.value(), c.prompt, c.greedy.size());
    ASSERT_FALSE(got.empty());
    const size_t prefix = MatchingPrefix(got, c.greedy);
    EXPECT_GE(prefix, first_excluded) << "prompt " << p << ": free-running greedy left the oracle before any step "
                                      << "whose margin allows it";
    std::printf("[smollm2] prompt %zu: %zu/%zu steps asserted; free-running greedy follows the oracle for %zu/%zu ids "
                "(first excluded step: %zu)\n",
                p, asserted, c.greedy.size(), prefix, c.greedy.size(), first_excluded);
  }
}

// A rotated model (`septet quantize --rotate`, kernels/cpu/hadamard.h) computes the same
// function: every matmul weight row is rotated by T in double and rounded to float (one
// rounding, as the F32 decode of Q4_1 is exact), and each input by T in float (log2(b) <= 9
// rounding steps of its block's sum), a few u more per product than the unrotated F32 run,
// far inside kF32Err. So the Q4_1 model written as rotated F32 must meet the same bounds:
// every greedy id of the oracle and its stored logits within kF32Err.
TEST(ModelSmolLM2Test, RotatedF32MatchesFloat64Oracle) {
  const std::string path = kDir + "SmolLM2-135M-Instruct.Q4_1.gguf";
  ASSERT_TRUE(testing::SharedFileExists(path));
  const std::vector<OracleCase> cases = ReadOracle();
  ASSERT_EQ(cases.size(), 3u);
  quantize::QuantizeOptions o;
  o.input = testing::SharedFile(path);
  o.output = testing::TempDir() + "/smollm2-rotated-f32.gguf";
  o.type = "F32";
  o.rotate = true;
  o.force = true;
  o.threads = 2;
  const auto rep = quantize::QuantizeModel(o);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  struct Remove {
    std::string p;
    ~Remove() { std::remove(p.c_str()); }
  } remove{o.output};
  auto rot = model::LlamaModel::Load(o.output, {});
  ASSERT_TRUE(rot.ok()) << rot.status().ToString();
  EXPECT_EQ(rot.value()->hparams().rotation, model::InputRotationKind::kHadamardV1);
  for (const OracleCase& c : cases) EXPECT_EQ(Greedy(*rot.value(), c.prompt, c.greedy.size()), c.greedy);
  const double err = MaxErrorVsOracleP0(*rot.value(), cases[0]);
  EXPECT_GE(err, 0);
  EXPECT_LE(err, kF32Err);
  std::printf("[smollm2] rotated F32 vs float64 oracle, prompt 0: max |dlogit| %.2g (bound %.0e)\n", err, kF32Err);
}

}  // namespace
}  // namespace septet
