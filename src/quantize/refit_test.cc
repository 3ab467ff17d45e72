// The least-squares field refit (quantize/refit.h) and GPTQ re-rounding on preset grids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q4_nl.h"
#include "quant/registry.h"
#include "quantize/gptq.h"
#include "quantize/refit.h"
#include "util/test_util.h"

namespace septet::quantize {
namespace {

const DType kRefitTypes[] = {DType::kQ3P5, DType::kQ4_G, DType::kQ3P5_NL, DType::kQ4_NL};
constexpr int64_t kN = 300;  // two full blocks and a short one of 44
constexpr int64_t kBlocks = 3;
size_t BlockBytes(DType t) { return GetTypeTraits(t).block_bytes; }
bool IsNl(DType t) { return t == DType::kQ3P5_NL || t == DType::kQ4_NL; }

// Which bytes of a row of kN are fields (the rest: codes). Q3P5, Q4_G: each block's
// 4-byte header first; Q3P5_NL, Q4_NL: D and the scales after the codes (short block:
// after its ns sub-blocks' codes).
std::vector<bool> FieldBytes(DType t, size_t row_bytes) {
  std::vector<bool> f(row_bytes, false);
  for (int64_t b = 0; b < kBlocks; ++b) {
    const size_t p = static_cast<size_t>(b) * BlockBytes(t);
    if (!IsNl(t)) {
      for (size_t i = p; i < p + 4; ++i) f[i] = true;
      continue;
    }
    const int64_t r = std::min<int64_t>(128, kN - b * 128);
    const size_t ns = static_cast<size_t>((r + 31) / 32);
    const size_t codes = t == DType::kQ3P5_NL ? 12 * ns : 16 * ns;
    const size_t end = t == DType::kQ3P5_NL ? quant::Q3P5NLShortBlockBytes(r) : quant::Q4NLShortBlockBytes(r);
    for (size_t i = p + codes; i < p + end; ++i) f[i] = true;
  }
  return f;
}

// The row's bytes with the fields (or the codes, when `fields`) zeroed.
std::vector<uint8_t> Part(DType t, const uint8_t* row, size_t row_bytes, bool fields) {
  const std::vector<bool> mask = FieldBytes(t, row_bytes);
  std::vector<uint8_t> c(row, row + row_bytes);
  for (size_t i = 0; i < row_bytes; ++i) {
    if (mask[i] != fields) c[i] = 0;
  }
  return c;
}
std::vector<uint8_t> CodesOnly(DType t, const uint8_t* row, size_t row_bytes) { return Part(t, row, row_bytes, false); }
std::vector<uint8_t> FieldsOnly(DType t, const uint8_t* row, size_t row_bytes) { return Part(t, row, row_bytes, true); }

// Wrong fields with the codes kept: Q3P5 d x 1.07 and m x 0.93; Q4_G d and m a few ulps
// up; Q3P5_NL, Q4_NL: D x 1.07 and every other group scale one step towards 0.
void NudgeFields(DType t, uint8_t* row) {
  for (int64_t b = 0; b < kBlocks; ++b) {
    uint8_t* p = row + static_cast<size_t>(b) * BlockBytes(t);
    uint32_t hdr;
    std::memcpy(&hdr, p, 4);
    if (t == DType::kQ3P5) {
      const quant::Q3P5Params q = quant::Q3P5UnpackHeader(hdr);
      hdr = quant::Q3P5PackHeader(quant::Q3P5EncodeD(q.d * 1.07f), q.sel, quant::Q3P5EncodeM(q.m * 0.93f));
      std::memcpy(p, &hdr, 4);
    } else if (t == DType::kQ4_G) {
      hdr += 9u | (5u << 16);  // d16 + 9 ulps, m16 + 5 ulps (same sign)
      std::memcpy(p, &hdr, 4);
    } else if (t == DType::kQ4_NL) {
      const int r = static_cast<int>(std::min<int64_t>(quant::kQ4NLBlockSize, kN - b * quant::kQ4NLBlockSize));
      quant::Q4NLParams q = quant::Q4NLReadParams(p, r);
      uint8_t codes[quant::kQ4NLBlockSize];
      quant::Q4NLReadCodes(p, r, codes);
      for (int s = 0; s < quant::kQ4NLSubBlocks; s += 2) q.sc[s] = static_cast<int8_t>(q.sc[s] - (q.sc[s] > 0) + (q.sc[s] < 0));
      quant::Q4NLWriteBlock(FloatToFp16(q.d / quant::kQ4NLDUnit * 1.07f), q.sc, codes, r, p);
    } else {
      const int r = static_cast<int>(std::min<int64_t>(quant::kQ3P5NLBlockSize, kN - b * quant::kQ3P5NLBlockSize));
      quant::Q3P5NLParams q = quant::Q3P5NLReadParams(p, r);
      uint8_t codes[quant::kQ3P5NLBlockSize];
      quant::Q3P5NLReadCodes(p, r, codes);
      for (int g = 0; g < quant::kQ3P5NLGroups; g += 2) q.sc[g] = static_cast<int8_t>(q.sc[g] - (q.sc[g] > 0) + (q.sc[g] < 0));
      quant::Q3P5NLWriteBlock(FloatToFp16(q.d / quant::kQ3P5NLDUnit * 1.07f), q.sc, codes, r, p);
    }
  }
}

// H = (1/N) XᵀX of AR(1) inputs with a few loud channels: neighbours strongly correlated.
std::vector<double> CorrelatedHessian(std::mt19937_64& rng, int64_t n) {
  const int64_t samples = 2 * n;
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> x(static_cast<size_t>(samples * n)), h(static_cast<size_t>(n * n), 0.0);
  for (int64_t s = 0; s < samples; ++s) {
    double prev = 0;
    for (int64_t i = 0; i < n; ++i) x[s * n + i] = (prev = 0.85 * prev + nd(rng)) * (i % 9 == 0 ? 3.0 : 1.0);
  }
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) h[i * n + j] += x[s * n + i] * x[s * n + j] / samples;
  return h;
}

// (w - q)ᵀ H (w - q) of one row, q decoded from its bytes.
double OutputError(DType t, const float* w, const uint8_t* row, int64_t n, const std::vector<double>& h) {
  std::vector<float> q(static_cast<size_t>(n));
  GetTypeTraits(t).to_float(row, q.data(), n);
  double f = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) f += (w[i] - q[i]) * h[i * n + j] * (w[j] - q[j]);
  return f;
}

// wᵀ H w of one row, as H w and then the dot with w (chains of n terms each).
double WeightTerm(const float* w, int64_t n, const std::vector<double>& h) {
  double f = 0;
  for (int64_t i = 0; i < n; ++i) {
    double hw = 0;
    for (int64_t j = 0; j < n; ++j) hw += h[i * n + j] * w[j];
    f += w[i] * hw;
  }
  return f;
}

// Weights that lie exactly on a grid, stored with wrong fields but the right codes: the
// refit must find the stored fields back, bit for bit (the optimum f = 0 is storable).
TEST(Refit, RecoversExactFieldsWithTheCodesFixed) {
  auto rng = testing::MakeRng(21);
  const std::vector<double> h = CorrelatedHessian(rng, kN);
  for (DType t : kRefitTypes) {
    const TypeTraits& tr = GetTypeTraits(t);
    const size_t rb = tr.row_bytes(kN);
    const std::vector<float> w0 = testing::RandomWeights(rng, kN);
    std::vector<uint8_t> want(rb);
    tr.from_float(w0.data(), want.data(), kN, nullptr);
    std::vector<float> w(static_cast<size_t>(kN));
    tr.to_float(want.data(), w.data(), kN);  // exactly on the grid
    std::vector<uint8_t> got = want;
    NudgeFields(t, got.data());
    ASSERT_NE(got, want);
    ASSERT_GT(OutputError(t, w.data(), got.data(), kN, h), 0.0);
    double obj = -1;
    RefitRows(w.data(), 1, kN, h, t, got.data(), rb, &obj);
    EXPECT_EQ(got, want) << tr.name;
    // obj = f - wᵀHw, so obj + wᵀHw (this test's, WeightTerm) = wᵀHw - 2θᵀr + θᵀGθ = f is 0
    // here only up to cancellation. θ = (s, m) per block and the codes c give w = s c + m
    // (Q3P5_NL: w = θ_g L, m = 0), so every product the three terms sum is bounded in size
    // by one of |w|ᵀ|H||w|, ŵᵀ|H||w|, ŵᵀ|H|ŵ with ŵ = |s c| + |m| = |w - m| + |m|: the terms (weights 1, 2, 1) err by at most
    // γ_k (|w| + ŵ)ᵀ|H|(|w| + ŵ), where k bounds the longest chain of roundings: H w or H c
    // (cols), the dot with w or c (cols), the θ sums (one per parameter each) and the
    // three-term sum; u = 2^-53. (Bounding by |w|ᵀ|H||w| alone ignores the cancellation
    // between s c and a negative m, and failed for some seeds.)
    const bool nl = IsNl(t);
    const int64_t group = t == DType::kQ3P5_NL ? quant::kQ3P5NLGroupSize : quant::kQ4NLSubBlockSize;
    const int64_t np = nl ? (kN + group - 1) / group : 2 * kBlocks;
    std::vector<double> a(static_cast<size_t>(kN));
    for (int64_t i = 0; i < kN; ++i) {
      const uint8_t* blk = want.data() + static_cast<size_t>(i / quant::kQ3P5BlockSize) * BlockBytes(t);
      uint32_t hdr;
      std::memcpy(&hdr, blk, 4);
      const double m = nl ? 0.0
                          : t == DType::kQ3P5 ? quant::Q3P5UnpackHeader(hdr).m : Fp16ToFloat(static_cast<uint16_t>(hdr >> 16));
      a[i] = std::fabs(w[i]) + std::fabs(w[i] - m) + std::fabs(m);
    }
    double bound_sum = 0;
    for (int64_t i = 0; i < kN; ++i)
      for (int64_t j = 0; j < kN; ++j) bound_sum += a[i] * std::fabs(h[i * kN + j]) * a[j];
    const double u = std::ldexp(1.0, -53), k = static_cast<double>(2 * kN + 2 * np + 4);
    EXPECT_LT(std::fabs(obj + WeightTerm(w.data(), kN, h)), (k * u / (1 - k * u)) * bound_sum) << tr.name;
  }
}

// rows x kN random weights, row after row.
std::vector<float> RandomRows(std::mt19937_64& rng, int64_t rows) {
  std::vector<float> w;
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> wr = testing::RandomWeights(rng, kN);
    w.insert(w.end(), wr.begin(), wr.end());
  }
  return w;
}

// After GPTQ (both column orders), the refit keeps the codes, never raises a row's output
// error, reports it exactly (less wᵀHw), and lowers it in most rows on correlated inputs.
TEST(Refit, KeepsCodesAndLowersOutputErrorAfterGptq) {
  auto rng = testing::MakeRng(22);
  const int64_t rows = 24;
  const std::vector<double> h = CorrelatedHessian(rng, kN);
  const std::vector<float> w = RandomRows(rng, rows);
  for (bool act : {false, true}) {
    auto f = GptqPrepare(h, kN, 0.01, act);
    ASSERT_TRUE(f.ok());
    for (DType t : kRefitTypes) {
      SCOPED_TRACE(std::string(DTypeName(t)) + (act ? " act-order" : " natural order"));
      const size_t rb = GetTypeTraits(t).row_bytes(kN);
      std::vector<uint8_t> bytes(rb * rows);
      std::vector<float> q(w.size());
      GptqQuantizeRows(w.data(), rows, f.value(), t, false, q.data(), bytes.data(), rb);
      const std::vector<uint8_t> before = bytes;
      std::vector<double> obj(static_cast<size_t>(rows));
      RefitRows(w.data(), rows, kN, h, t, bytes.data(), rb, obj.data());
      double f0 = 0, f1 = 0;
      int improved = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const double e0 = OutputError(t, w.data() + r * kN, before.data() + r * rb, kN, h);
        const double e1 = OutputError(t, w.data() + r * kN, bytes.data() + r * rb, kN, h);
        EXPECT_LE(e1, e0 * (1 + 1e-9)) << "row " << r;
        EXPECT_NEAR(obj[static_cast<size_t>(r)] + WeightTerm(w.data() + r * kN, kN, h), e1, 1e-6 * e0) << "row " << r;
        EXPECT_EQ(CodesOnly(t, before.data() + r * rb, rb), CodesOnly(t, bytes.data() + r * rb, rb)) << "row " << r;
        f0 += e0;
        f1 += e1;
        improved += e1 < e0 * (1 - 1e-6);
      }
      std::printf("[refit] %-5s %-13s output error refit/gptq = %.3f, lower in %d of %d rows\n",
                  std::string(DTypeName(t)).c_str(), act ? "act-order" : "natural", f1 / f0, improved,
                  static_cast<int>(rows));
      // How much the refit gains depends on the draw (totals 0.84-0.996 of GPTQ's over 160
      // seeds; Q4_NL's int8 scales leave the least room), so no ratio is asserted. What it
      // must do: lower the error, not by a rounding, in most rows (measured 17-24 of 24 for
      // Q4_NL, 20-24 for the others, over 40 seeds; a refit that keeps GPTQ's fields lowers none).
      EXPECT_LT(f1, f0);
      EXPECT_GE(2 * improved, rows);
    }
  }
}

// GPTQ on preset grids: with the grids GPTQ itself fitted, the same pass gives the same
// bytes; with other grids (refitted), it keeps their fields exactly.
TEST(Refit, GptqOnPresetGridsKeepsTheirFields) {
  auto rng = testing::MakeRng(23);
  const int64_t rows = 19;
  const std::vector<double> h = CorrelatedHessian(rng, kN);
  const std::vector<float> w = RandomRows(rng, rows);
  for (bool act : {false, true}) {
    auto f = GptqPrepare(h, kN, 0.01, act);
    ASSERT_TRUE(f.ok());
    for (DType t : kRefitTypes) {
      SCOPED_TRACE(std::string(DTypeName(t)) + (act ? " act-order" : " natural order"));
      const size_t rb = GetTypeTraits(t).row_bytes(kN);
      std::vector<uint8_t> first(rb * rows), again(rb * rows);
      std::vector<float> q(w.size());
      GptqQuantizeRows(w.data(), rows, f.value(), t, false, q.data(), first.data(), rb);
      GptqQuantizeRows(w.data(), rows, f.value(), t, false, q.data(), again.data(), rb, first.data());
      EXPECT_EQ(first, again);
      std::vector<uint8_t> refit = first;
      RefitRows(w.data(), rows, kN, h, t, refit.data(), rb, nullptr);
      ASSERT_NE(refit, first);
      std::vector<uint8_t> rerounded = refit;  // preset = dst: in place
      GptqQuantizeRows(w.data(), rows, f.value(), t, false, q.data(), rerounded.data(), rb, rerounded.data());
      for (size_t r = 0; r < static_cast<size_t>(rows); ++r)
        ASSERT_EQ(FieldsOnly(t, rerounded.data() + r * rb, rb), FieldsOnly(t, refit.data() + r * rb, rb)) << "row " << r;
      std::vector<float> deq(static_cast<size_t>(kN));
      for (int64_t r = 0; r < rows; ++r) {  // q holds the decoded values of what was written
        GetTypeTraits(t).to_float(rerounded.data() + r * rb, deq.data(), kN);
        ASSERT_EQ(0, std::memcmp(deq.data(), q.data() + r * kN, sizeof(float) * kN)) << "row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace septet::quantize
