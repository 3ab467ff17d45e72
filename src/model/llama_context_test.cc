#include "model/llama_context.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/simd/simd_ops.h"
#include "model/testing_model.h"
#include "quant/registry.h"

namespace septet::model {
namespace {

using testing::MakeTinyLlama;
using testing::TinyLlamaSpec;
using Mat = std::vector<std::vector<double>>;  // [rows][cols]

// ---- an independent float64 LLaMA forward pass, written for clarity, not speed ----

Mat Dequant(const ModelFile& f, const std::string& name) {
  const TensorInfo* t = f.FindTensor(name);
  const TypeTraits& tt = GetTypeTraits(t->dtype);
  Mat m(static_cast<size_t>(t->rows()), std::vector<double>(static_cast<size_t>(t->cols())));
  std::vector<float> row(static_cast<size_t>(t->cols()));
  for (int64_t r = 0; r < t->rows(); ++r) {
    tt.to_float(t->data + r * tt.row_bytes(t->cols()), row.data(), t->cols());
    std::copy(row.begin(), row.end(), m[static_cast<size_t>(r)].begin());
  }
  return m;
}

std::vector<double> Apply(const Mat& w, const std::vector<double>& x) {
  std::vector<double> y(w.size(), 0.0);
  for (size_t r = 0; r < w.size(); ++r) {
    for (size_t c = 0; c < x.size(); ++c) y[r] += w[r][c] * x[c];
  }
  return y;
}

std::vector<double> Norm(const std::vector<double>& x, const Mat& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double s = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[0][i];
  return y;
}

void RefRope(std::vector<double>* x, int64_t heads, int64_t hd, int64_t n_rot, int64_t pos, bool half) {
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      const double theta = std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
      const int64_t a = h * hd + (half ? i : 2 * i), b = h * hd + (half ? i + n_rot / 2 : 2 * i + 1);
      const std::complex<double> z = std::complex<double>((*x)[a], (*x)[b]) * std::polar(1.0, pos * theta);
      (*x)[a] = z.real();
      (*x)[b] = z.imag();
    }
  }
}

// Per layer and residual block (2 l: attention, 2 l + 1: feed-forward), the residual
// stream h as the block's output u is added to it, both [n_tokens][dim].
struct BlockTrace {
  Mat h, u;
};

// Logits [n_tokens][vocab]; `trace` (optional) receives 2 n_layers BlockTraces.
Mat ReferenceForward(const ModelFile& f, const TinyLlamaSpec& s, const std::vector<int32_t>& tokens, bool half,
                     std::vector<BlockTrace>* trace = nullptr) {
  const size_t T = tokens.size();
  if (trace) trace->assign(static_cast<size_t>(2 * s.n_layers), BlockTrace{Mat(T), Mat(T)});
  const int64_t hd = s.dim / s.n_heads;
  const Mat embd = Dequant(f, "token_embd.weight");
  Mat x(T);
  for (size_t t = 0; t < T; ++t) x[t] = embd[static_cast<size_t>(tokens[t])];
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const Mat wq = Dequant(f, p + "attn_q.weight"), wk = Dequant(f, p + "attn_k.weight");
    const Mat wv = Dequant(f, p + "attn_v.weight"), wo = Dequant(f, p + "attn_output.weight");
    const Mat an = Dequant(f, p + "attn_norm.weight"), fn = Dequant(f, p + "ffn_norm.weight");
    const Mat wg = Dequant(f, p + "ffn_gate.weight"), wu = Dequant(f, p + "ffn_up.weight");
    const Mat wd = Dequant(f, p + "ffn_down.weight");
    Mat q(T), k(T), v(T);
    for (size_t t = 0; t < T; ++t) {
      const auto xn = Norm(x[t], an, 1e-5);
      q[t] = Apply(wq, xn);
      k[t] = Apply(wk, xn);
      v[t] = Apply(wv, xn);
      RefRope(&q[t], s.n_heads, hd, s.n_rot, static_cast<int64_t>(t), half);
      RefRope(&k[t], s.n_kv_heads, hd, s.n_rot, static_cast<int64_t>(t), half);
    }
    for (size_t t = 0; t < T; ++t) {
      std::vector<double> att(static_cast<size_t>(s.n_heads * hd), 0.0);
      for (int64_t h = 0; h < s.n_heads; ++h) {
        const int64_t g = h / (s.n_heads / s.n_kv_heads);
        std::vector<double> sc(t + 1);
        double mx = -1e300, z = 0;
        for (size_t u = 0; u <= t; ++u) {
          double d = 0;
          for (int64_t j = 0; j < hd; ++j) d += q[t][h * hd + j] * k[u][g * hd + j];
          sc[u] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, sc[u]);
        }
        for (double& e : sc) z += (e = std::exp(e - mx));
        for (size_t u = 0; u <= t; ++u) {
          for (int64_t j = 0; j < hd; ++j) att[h * hd + j] += sc[u] / z * v[u][g * hd + j];
        }
      }
      const auto o = Apply(wo, att);
      if (trace) (*trace)[static_cast<size_t>(2 * l)].h[t] = x[t], (*trace)[static_cast<size_t>(2 * l)].u[t] = o;
      for (size_t i = 0; i < o.size(); ++i) x[t][i] += o[i];
      const auto xn = Norm(x[t], fn, 1e-5);
      auto gate = Apply(wg, xn);
      const auto up = Apply(wu, xn);
      for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      const auto d = Apply(wd, gate);
      if (trace) (*trace)[static_cast<size_t>(2 * l + 1)].h[t] = x[t], (*trace)[static_cast<size_t>(2 * l + 1)].u[t] = d;
      for (size_t i = 0; i < d.size(); ++i) x[t][i] += d[i];
    }
  }
  const Mat on = Dequant(f, "output_norm.weight");
  const Mat wout = Dequant(f, s.tied ? "token_embd.weight" : "output.weight");
  Mat logits(T);
  for (size_t t = 0; t < T; ++t) logits[t] = Apply(wout, Norm(x[t], on, 1e-5));
  return logits;
}

std::vector<int32_t> SomeTokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> t;
  for (int64_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 7 + 3) % vocab));
  return t;
}

double MaxAbsDiff(const std::vector<float>& got, const Mat& ref, double* max_ref) {
  double d = 0;
  *max_ref = 0;
  const size_t vocab = ref[0].size();
  for (size_t t = 0; t < ref.size(); ++t) {
    for (size_t i = 0; i < vocab; ++i) {
      d = std::max(d, std::fabs(got[t * vocab + i] - ref[t][i]));
      *max_ref = std::max(*max_ref, std::fabs(ref[t][i]));
    }
  }
  return d;
}

// Tolerance: the engine rounds to float after every op (~2^-24 relative each).
// A token's logits pass through ~15 rounding stages per layer; with weights of
// std 1/sqrt(fan_in) the Jacobians are O(1), so the accumulated relative error is
// ~n_layers * 15 * 2^-24 ~ 2e-6 of the logit scale. 2e-5 leaves 10x headroom,
// and a real bug (wrong pairing, head mapping, mask) moves logits by O(1) -- the
// test checks that too, so it can fail.
constexpr double kRelTol = 2e-5;

struct Case {
  const char* name;
  TinyLlamaSpec spec;
};

class ForwardVsReferenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardVsReferenceTest, AllPositionLogitsMatchFloat64) {
  const TinyLlamaSpec& s = GetParam().spec;
  auto model = LlamaModel::FromFile(MakeTinyLlama(s), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto ctx = LlamaContext::Create(*model.value(), 32);
  ASSERT_TRUE(ctx.ok());
  const auto tokens = SomeTokens(12, s.vocab);
  std::vector<float> logits;
  ASSERT_TRUE(ctx.value()->Forward(tokens, LogitsMode::kAll, &logits).ok());
  const bool half = s.pairing == "half";
  double scale = 0;
  const double diff = MaxAbsDiff(logits, ReferenceForward(model.value()->file(), s, tokens, half), &scale);
  EXPECT_LE(diff, kRelTol * scale) << "max |logit| " << scale;
  // The reference discriminates: the other RoPE pairing is far off.
  double unused = 0;
  const double wrong = MaxAbsDiff(logits, ReferenceForward(model.value()->file(), s, tokens, !half), &unused);
  EXPECT_GT(wrong, 100 * kRelTol * scale);
}

// The residual observer (calibration's view of each block's update) sees the reference's
// residual stream and block outputs, in layer and block order, every token of the call.
TEST(LlamaContextTest, ResidualObserverSeesEachBlocksStreamAndUpdate) {
  const TinyLlamaSpec s;
  auto model = LlamaModel::FromFile(MakeTinyLlama(s), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto ctx = LlamaContext::Create(*model.value(), 32);
  ASSERT_TRUE(ctx.ok());
  const auto tokens = SomeTokens(12, s.vocab);
  std::vector<BlockTrace> ref;
  ReferenceForward(model.value()->file(), s, tokens, false, &ref);
  std::vector<std::pair<int64_t, ResidualBlock>> seen;
  double diff = 0, scale = 0;
  ctx.value()->SetResidualObserver(
      [&](int64_t layer, ResidualBlock block, const float* h, const float* u, int64_t m, int64_t dim) {
        seen.emplace_back(layer, block);
        ASSERT_EQ(m, static_cast<int64_t>(tokens.size()));
        ASSERT_EQ(dim, s.dim);
        const BlockTrace& r = ref[static_cast<size_t>(2 * layer + static_cast<int64_t>(block))];
        for (int64_t t = 0; t < m; ++t) {
          for (int64_t i = 0; i < dim; ++i) {
            diff = std::max({diff, std::fabs(h[t * dim + i] - r.h[t][i]), std::fabs(u[t * dim + i] - r.u[t][i])});
            scale = std::max({scale, std::fabs(r.h[t][i]), std::fabs(r.u[t][i])});
          }
        }
      });
  std::vector<float> logits;
  ASSERT_TRUE(ctx.value()->Forward(tokens, LogitsMode::kAll, &logits).ok());
  ASSERT_EQ(seen.size(), static_cast<size_t>(2 * s.n_layers));
  for (int64_t l = 0; l < s.n_layers; ++l) {
    EXPECT_EQ(seen[2 * l], std::make_pair(l, ResidualBlock::kAttention));
    EXPECT_EQ(seen[2 * l + 1], std::make_pair(l, ResidualBlock::kFfn));
  }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(diff, kRelTol * scale) << "max |h|, |u| " << scale;  // the logits' error model, one stage earlier
}

TinyLlamaSpec With(void (*edit)(TinyLlamaSpec*)) {
  TinyLlamaSpec s;
  edit(&s);
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ForwardVsReferenceTest,
    ::testing::Values(Case{"gqa_interleaved", TinyLlamaSpec{}},
                      Case{"gqa_half", With([](TinyLlamaSpec* s) { s->pairing = "half"; })},
                      Case{"mha_tied", With([](TinyLlamaSpec* s) { s->n_kv_heads = 4; s->tied = true; })},
                      Case{"mqa_partial_rotary_half", With([](TinyLlamaSpec* s) {
                             s->n_kv_heads = 1;
                             s->n_rot = 4;
                             s->pairing = "half";
                           })},
                      Case{"partial_rotary_interleaved", With([](TinyLlamaSpec* s) { s->n_rot = 6; })}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(LlamaContextTest, ChunkedPrefillEqualsTokenByToken) {
  TinyLlamaSpec s;
  auto model = LlamaModel::FromFile(MakeTinyLlama(s), {});
  ASSERT_TRUE(model.ok());
  const int64_t n = LlamaContext::kMaxBatch + 9;  // two chunks
  auto batch = LlamaContext::Create(*model.value(), n);
  auto single = LlamaContext::Create(*model.value(), n);
  ASSERT_TRUE(batch.ok() && single.ok());
  const auto tokens = SomeTokens(n, s.vocab);
  std::vector<float> all, one, last;
  ASSERT_TRUE(batch.value()->Forward(tokens, LogitsMode::kAll, &all).ok());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(single.value()->Forward({&tokens[i], 1}, LogitsMode::kLast, &one).ok());
    ASSERT_TRUE(std::equal(one.begin(), one.end(), all.begin() + i * s.vocab)) << "position " << i;
  }
  batch.value()->Truncate(0);
  ASSERT_TRUE(batch.value()->Forward(tokens, LogitsMode::kLast, &last).ok());
  EXPECT_EQ(last, one);
}

TEST(LlamaContextTest, LoadTimeConversionEqualsStoredType) {
  // F32 file + compute type F16 must equal a file that stores the same weights as
  // F16: load-time quantization is exactly the stored codec.
  TinyLlamaSpec s32;
  TinyLlamaSpec s16;
  s16.matrix_type = DType::kF16;
  // (Repack off: the stored file then stays mapped, which is checked too.)
  auto converted = LlamaModel::FromFile(MakeTinyLlama(s32), ModelOptions{DType::kF16, false});
  auto stored = LlamaModel::FromFile(MakeTinyLlama(s16), ModelOptions{std::nullopt, false});
  ASSERT_TRUE(converted.ok() && stored.ok());
  EXPECT_GT(converted.value()->weights().owned_bytes, 0u);
  EXPECT_EQ(stored.value()->weights().owned_bytes, 0u);
  auto a = LlamaContext::Create(*converted.value(), 16);
  auto b = LlamaContext::Create(*stored.value(), 16);
  const auto tokens = SomeTokens(10, s32.vocab);
  std::vector<float> la, lb;
  ASSERT_TRUE(a.value()->Forward(tokens, LogitsMode::kAll, &la).ok());
  ASSERT_TRUE(b.value()->Forward(tokens, LogitsMode::kAll, &lb).ok());
  EXPECT_EQ(la, lb);
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::fabs(double{x}));
  return m;
}
double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(double{a[i]} - b[i]));
  return m;
}

// Weights stored in an input-only ggml type (random well-formed blocks scaled
// to a trained model's size: testing_model.h), token_embd read by to_float,
// against the same file converted to F32 at load time.
//  * Every such type pairs with Q8_A (the integer kernels), which rounds
//    every matmul input to INT8 per block of 32, an error
//    of at most max|x_block| / 254 per element. There are 4 n_layers + 1 such
//    inputs (q/k/v, attention output, gate/up, down per layer; the classifier);
//    with O(1) Jacobians (the assumption behind kRelTol above) each moves the
//    logits by at most about 1/254 of their scale, so
//      max |stored - F32| <= (4 n_layers + 1) / 254 * max |logit|.
//    The bound is not vacuous: the F32 logits of a model with other weights
//    (another seed) are more than 4 times as far.
TEST(LlamaContextTest, GgmlStoredTypesMatchTheirF32Conversion) {
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K,
                  DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS}) {
    const TypeTraits& tr = GetTypeTraits(t);
    SCOPED_TRACE(tr.name);
    TinyLlamaSpec s;
    s.dim = tr.block_size == 256 ? 256 : 64;
    s.ffn = s.dim;
    s.n_rot = 16;
    s.tied = true;
    s.matrix_type = t;
    s.embd_type = t;
    auto stored = LlamaModel::FromFile(MakeTinyLlama(s), {});
    // F32 in the file layout: the generic kernel's dot (a float panel sums in another order).
    auto converted = LlamaModel::FromFile(MakeTinyLlama(s), ModelOptions{DType::kF32, false});
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    ASSERT_TRUE(converted.ok()) << converted.status().ToString();
    // Served from the mapping, except Q4_0 / Q4_1 / Q4_K, which x86 SIMD targets repack into rows of 8
    // (AVX3_DL: into rows of 16), and Q5_K and Q6_K, which AVX3_DL repacks into rows of 16.
    const std::string target = simd::TargetName();
    const bool dl = target == "AVX3_DL";
    const bool legacy = t == DType::kQ4_0 || t == DType::kQ4_1;
    const bool repacks = ((t == DType::kQ5_K || t == DType::kQ6_K) && dl) ||
                         ((legacy || t == DType::kQ4_K) && (target == "AVX2" || target == "AVX3" || dl));
    EXPECT_EQ(stored.value()->weights().owned_bytes > 0, repacks);
    const cpu::WeightLayout packed = t == DType::kQ6_K        ? cpu::WeightLayout::kQ6KRows16
                                     : t == DType::kQ5_K      ? cpu::WeightLayout::kQ5KRows16
                                     : t == DType::kQ4_K && dl ? cpu::WeightLayout::kQ4KRows16
                                     : t == DType::kQ4_K      ? cpu::WeightLayout::kQ4KRows8
                                     : dl                     ? cpu::WeightLayout::kLegacy4Rows16
                                                              : cpu::WeightLayout::kLegacy4Rows8;
    EXPECT_EQ(stored.value()->weights().layers[0].w_down.layout, repacks ? packed : cpu::WeightLayout::kFile);
    auto a = LlamaContext::Create(*stored.value(), 16);
    auto b = LlamaContext::Create(*converted.value(), 16);
    ASSERT_TRUE(a.ok() && b.ok());
    const auto tokens = SomeTokens(10, s.vocab);
    std::vector<float> la, lb;
    ASSERT_TRUE(a.value()->Forward(tokens, LogitsMode::kAll, &la).ok());
    ASSERT_TRUE(b.value()->Forward(tokens, LogitsMode::kAll, &lb).ok());
    ASSERT_TRUE(std::all_of(la.begin(), la.end(), [](float v) { return std::isfinite(v); }));
    ASSERT_EQ(tr.vec_dot_type, DType::kQ8_A);
    const double scale = MaxAbs(lb), diff = MaxAbsDiff(la, lb);
    const double tol = (4.0 * static_cast<double>(s.n_layers) + 1.0) / 254.0 * scale;
    EXPECT_LE(diff, tol) << "max |logit| " << scale;
    TinyLlamaSpec other = s;
    other.seed = s.seed + 1;
    auto wrong = LlamaModel::FromFile(MakeTinyLlama(other), ModelOptions{DType::kF32});
    ASSERT_TRUE(wrong.ok());
    auto c = LlamaContext::Create(*wrong.value(), 16);
    ASSERT_TRUE(c.ok());
    std::vector<float> lc;
    ASSERT_TRUE(c.value()->Forward(tokens, LogitsMode::kAll, &lc).ok());
    const double other_diff = MaxAbsDiff(la, lc);
    EXPECT_GT(other_diff, 4 * tol) << "the bound does not discriminate";
    std::printf("[ggml %s] INT8 activations: max |dlogit| %.3g = %.2f%% of max |logit| %.3g (bound %.2f%%; "
                "other weights: %.0f%%)\n",
                tr.name, diff, 100 * diff / scale, scale, 100 * tol / scale, 100 * other_diff / scale);
  }
}

// Input-only types cannot be a compute type: septet has no quantizer for them.
TEST(LlamaContextTest, InputOnlyComputeTypeIsRejected) {
  auto m = LlamaModel::FromFile(MakeTinyLlama({}), ModelOptions{DType::kQ4_K});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("input-only"), std::string::npos) << m.status().message();
}

TEST(LlamaContextTest, ErrorsLeaveStateUnchanged) {
  auto model = LlamaModel::FromFile(MakeTinyLlama({}), {});
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(LlamaContext::Create(*model.value(), 0).status().code(), StatusCode::kInvalidArgument);
  auto ctx = LlamaContext::Create(*model.value(), 4);
  ASSERT_TRUE(ctx.ok());
  std::vector<float> logits;
  EXPECT_EQ(ctx.value()->Forward({}, LogitsMode::kLast, &logits).code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> five = SomeTokens(5, 40);
  const Status over = ctx.value()->Forward(five, LogitsMode::kLast, &logits);
  EXPECT_EQ(over.code(), StatusCode::kOutOfRange);
  EXPECT_NE(over.message().find("n_ctx = 4"), std::string::npos);
  const std::vector<int32_t> bad = {1, -3};
  EXPECT_EQ(ctx.value()->Forward(bad, LogitsMode::kLast, &logits).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ctx.value()->n_past(), 0);
}

}  // namespace
}  // namespace septet::model
