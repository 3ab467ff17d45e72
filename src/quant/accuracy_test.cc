// Accuracy sanity on synthetic LLM-like weights (Gaussian, sigma 0.02, 1% outliers
// x8; septet::testing::RandomWeights): prints the RMS error of every weight format
// and of three baselines, and asserts the ordering
//   Q8_0 < Q4_G < Q3P5 < Q3P5_SEED,
// that Q3P5 beats plain round-to-nearest 3-bit min/max g128 at fp16 (d, m), and
// that each format is within a loose factor of the uniform-noise error model.
// docs/formats.md quotes the numbers this test prints ("[accuracy]" lines).
#include <gtest/gtest.h>

#include <cmath>

#include "quant/affine_fit.h"
#include "quant/quant_test_util.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

constexpr int64_t kN = 4096;  // a real row length (LLaMA-7B dim)
constexpr int kRows = 64;

double SumSq(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (static_cast<double>(a[i]) - b[i]) * (a[i] - b[i]);
  return s;
}

// Baseline 1: round-to-nearest 3-bit, g128, d = (max - min) / 7 and m = min as fp16.
std::vector<float> Rtn3G128(const std::vector<float>& w) {
  std::vector<float> out(w.size());
  for (size_t i0 = 0; i0 < w.size(); i0 += 128) {
    float lo = w[i0], hi = w[i0];
    for (size_t k = i0; k < i0 + 128; ++k) lo = std::fmin(lo, w[k]), hi = std::fmax(hi, w[k]);
    const float d = RoundFp16((hi - lo) / 7.0f), m = RoundFp16(lo);
    for (size_t k = i0; k < i0 + 128; ++k) {
      out[k] = m + d * static_cast<float>(NearestAffineCode(w[k], d, m, 7));
    }
  }
  return out;
}

// Baseline 2: pure 3-bit g64 with fp16 (d, m) = also 3.5 bpw, same (d, m) search.
float Fp16Round(float v) { return RoundFp16(v); }
std::vector<float> Search3G64(const std::vector<float>& w) {
  std::vector<float> out(w.size());
  static constexpr AffineGrid kGrid{7, &Fp16Round, &Fp16Round};
  for (size_t i0 = 0; i0 < w.size(); i0 += 64) {
    const AffineParams p = SearchAffine(w.data() + i0, nullptr, 64, kGrid);
    const float d = RoundFp16(p.d), m = RoundFp16(p.m);
    for (size_t k = i0; k < i0 + 64; ++k) out[k] = m + d * static_cast<float>(NearestAffineCode(w[k], d, m, 7));
  }
  return out;
}

// Baseline 3: Q3_K-style (3.4375 bpw): super-block 256 = 16 x 16, symmetric codes
// [-4, 3], a 6-bit scale per 16 relative to an fp16 super-scale; round-to-nearest
// only (llama.cpp's Q3_K quantizer also searches, so this is a lower bound on it).
std::vector<float> Q3KStyleRtn(const std::vector<float>& w) {
  std::vector<float> out(w.size());
  for (size_t i0 = 0; i0 < w.size(); i0 += 256) {
    float sc[16];
    float smax = 0;
    for (int j = 0; j < 16; ++j) {
      float amax = 0;
      for (int k = 0; k < 16; ++k) amax = std::fmax(amax, std::fabs(w[i0 + 16 * j + k]));
      sc[j] = amax / 4.0f;
      smax = std::fmax(smax, sc[j]);
    }
    const float dsup = RoundFp16(smax / 63.0f);
    for (int j = 0; j < 16; ++j) {
      const float s = dsup * static_cast<float>(dsup > 0 ? RoundClamp(sc[j] / dsup, 0, 63) : 0);
      for (int k = 0; k < 16; ++k) {
        const size_t i = i0 + 16 * j + k;
        out[i] = s > 0 ? s * static_cast<float>(RoundClamp(w[i] / s, -4, 3)) : 0.0f;
      }
    }
  }
  return out;
}

TEST(Accuracy, RmsErrorOrderingOnSyntheticWeights) {
  auto rng = septet::testing::MakeRng(7);
  const DType types[] = {DType::kQ8_0, DType::kQ4_G, DType::kQ3P5, DType::kQ3P5_SEED, DType::kQ3P5_NL, DType::kQ4_NL};
  double err[6] = {}, rtn = 0, g64 = 0, q3k = 0, signal = 0;
  double model_q8 = 0, model_q4 = 0, model_q3p5 = 0;  // uniform-noise predictions (sum of squares)
  for (int row = 0; row < kRows; ++row) {
    const auto w = septet::testing::RandomWeights(rng, kN);
    for (float v : w) signal += static_cast<double>(v) * v;
    for (int t = 0; t < 6; ++t) {
      err[t] += SumSq(w, testing::Dequantize(types[t], testing::Quantize(types[t], w.data(), kN), kN));
    }
    rtn += SumSq(w, Rtn3G128(w));
    g64 += SumSq(w, Search3G64(w));
    q3k += SumSq(w, Q3KStyleRtn(w));
    // Error model: uniform rounding noise step^2 / 12 per weight with min/max steps.
    for (int64_t i0 = 0; i0 < kN; i0 += 32) {
      float amax = 0;
      for (int k = 0; k < 32; ++k) amax = std::fmax(amax, std::fabs(w[i0 + k]));
      model_q8 += 32 * std::pow(amax / 127.0, 2) / 12;
    }
    for (int64_t i0 = 0; i0 < kN; i0 += 128) {
      float lo = w[i0], hi = w[i0];
      for (int k = 0; k < 128; ++k) lo = std::fmin(lo, w[i0 + k]), hi = std::fmax(hi, w[i0 + k]);
      model_q4 += 128 * std::pow((hi - lo) / 15.0, 2) / 12;
      // Q3P5: 3 sub-blocks at step R/7, one at R/14 (noise / 4): mean factor 13/16.
      model_q3p5 += 128 * (13.0 / 16.0) * std::pow((hi - lo) / 7.0, 2) / 12;
    }
  }
  const double count = static_cast<double>(kRows) * kN;
  auto rms = [&](double s) { return std::sqrt(s / count); };
  std::printf("[accuracy] weights: N(0, 0.02^2) with 1%% outliers x8, %d rows x %lld; RMS(w) = %.4e\n",
              kRows, static_cast<long long>(kN), rms(signal));
  const char* names[] = {"Q8_0 (8.5 bpw)", "Q4_G (4.25 bpw)", "Q3P5 (3.5 bpw)", "Q3P5_SEED (3.516 bpw)",
                         "Q3P5_NL (3.5 bpw)", "Q4_NL (4.25 bpw)"};
  for (int t = 0; t < 6; ++t) {
    std::printf("[accuracy] %-28s RMS error %.4e  (%.2f%% of RMS(w))\n", names[t], rms(err[t]),
                100 * rms(err[t]) / rms(signal));
  }
  std::printf("[accuracy] %-28s RMS error %.4e\n", "RTN 3-bit g128 fp16 d,m (3.25)", rms(rtn));
  std::printf("[accuracy] %-28s RMS error %.4e\n", "search 3-bit g64 fp16 (3.5)", rms(g64));
  std::printf("[accuracy] %-28s RMS error %.4e\n", "Q3_K-style RTN (3.4375)", rms(q3k));
  std::printf("[accuracy] model step^2/12: Q8_0 %.4e  Q4_G %.4e  Q3P5 %.4e\n", rms(model_q8),
              rms(model_q4), rms(model_q3p5));

  EXPECT_LT(err[0], err[1]);
  EXPECT_LT(err[1], err[2]);
  EXPECT_LT(err[2], err[3]);
  EXPECT_LT(err[2], rtn);
  // Q3P5_NL: a scale per 16 and levels for bell-shaped groups beat every 3.5-bit layout here.
  EXPECT_LT(err[4], err[2]);
  EXPECT_LT(err[4], g64);
  EXPECT_LT(err[4], q3k);
  // Q4_NL: at Q4_G's bits, below Q4_G.
  EXPECT_LT(err[5], err[1]);
  // Loose bounds: the quantizers only improve on min/max rounding, whose noise the
  // uniform model approximates; allow 1.5x for the model's crudeness (Gaussian,
  // not uniform, within a cell) - a failure means a real regression.
  EXPECT_LT(rms(err[0]), 1.5 * rms(model_q8));
  EXPECT_LT(rms(err[1]), 1.5 * rms(model_q4));
  EXPECT_LT(rms(err[2]), 1.5 * rms(model_q3p5));
}

}  // namespace
}  // namespace septet::quant
