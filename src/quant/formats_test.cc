// Properties every weight format must have, run through the registry for each
// type: shapes n = 0..300 (every tail), misaligned rows, no writes past
// row_bytes, vec_dot against the float reference with a derived tolerance, the
// blockwise integer dot distributing exactly over the dequantized values,
// determinism, and importance weighting lowering the weighted error.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "quant/quant_test_util.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

using testing::ComputeDotBound;
using testing::Dequantize;
using testing::DotDouble;
using testing::Quantize;
using testing::Traits;

class WeightFormatTest : public ::testing::TestWithParam<DType> {};

// Largest |w - deq(w)| relative to the row's max |w|, a loose sanity bound per
// format: step/2 of the coarsest grid the quantizer can choose, times 2 for the
// search's range shrink (clipping) candidates. Q8_0: step <= 2 amax/125 ->
// 1/64; Q4_G: range/15 over a range <= 2 amax -> 1/8 (x2 = 1/4 with clipping);
// Q3P5: range/7 -> 2/7 (~1/3 with clipping); Q3P5_SEED: the odd positions can
// only reach half the range and clamp (documented), so only |err| <= 1.5 amax.
double MaxRelError(DType t) {
  switch (t) {
    case DType::kQ8_0: return 1.0 / 64;
    case DType::kQ4_G: return 1.0 / 4;
    case DType::kQ3P5: return 1.0 / 2;
    case DType::kQ3P5_NL: return 0.6;  // the search's smallest scale reaches 0.6 amax (q3p5_nl.h)
    case DType::kQ4_NL: return 0.6;    // the same search (q4_nl.h)
    case DType::kQ4_T: return 0.62;    // its smallest scale reaches 127 |sc| d_eff = 2.2 rms >= 0.39 amax (q4_t.h; amax <= sqrt(32) rms)
    case DType::kQ3P5_SEED: return 1.5;
    default: return 1e-2;  // float types: at worst bf16's 2^-8 relative
  }
}

TEST_P(WeightFormatTest, AllShapesRoundTripAndDot) {
  const DType t = GetParam();
  const TypeTraits& tr = Traits(t);
  const DType at = tr.vec_dot_type;
  auto rng = septet::testing::MakeRng(static_cast<uint64_t>(t));
  for (int64_t n = 0; n <= 300; ++n) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const std::vector<float> w = septet::testing::RandomWeights(rng, n);
    const std::vector<float> x = testing::Uniform(rng, n, -2.0f, 2.0f);
    const size_t mis_w = static_cast<size_t>(n % 7), mis_x = static_cast<size_t>((n * 3) % 5);
    const testing::Row wq = Quantize(t, w.data(), n, nullptr, mis_w);
    ASSERT_TRUE(wq.GuardIntact()) << "from_float wrote past row_bytes";
    const std::vector<float> wd = Dequantize(t, wq, n);
    ASSERT_TRUE(wq.GuardIntact());

    double amax = 0;
    for (float v : w) amax = std::fmax(amax, std::fabs(v));
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_LE(std::fabs(static_cast<double>(w[i]) - wd[i]), MaxRelError(t) * amax + 1e-30)
          << "element " << i << " w=" << w[i] << " deq=" << wd[i];
    }

    // Activation row: the paired activation type (floats for float weight types).
    testing::Row xq;
    std::vector<float> xd;
    if (at == DType::kF32) {
      xq.bytes = static_cast<size_t>(n) * 4;
      xq.offset = mis_x;
      xq.storage.assign(mis_x + xq.bytes + testing::kGuard, testing::kCanary);
      if (n > 0) std::memcpy(xq.data(), x.data(), xq.bytes);
      xd = x;
    } else {
      xq = Quantize(at, x.data(), n, nullptr, mis_x);
      ASSERT_TRUE(xq.GuardIntact());
      xd = Dequantize(at, xq, n);
    }
    const float dot = n == 0 ? 0.0f : tr.vec_dot(n, wq.data(), xq.data());

    // (1) Distributes: vec_dot equals sum deq(w) deq(x) up to float rounding.
    const testing::DotBound bound = ComputeDotBound(t, n, wq.data(), xq.data());
    const double exact_q = DotDouble(wd, xd);
    EXPECT_LE(std::fabs(dot - exact_q), bound.Tolerance())
        << "vec_dot=" << dot << " sum deq(w)deq(x)=" << exact_q;

    // (2) Against the float reference: w x - w^ x^ = (w - w^) x + w^ (x - x^), so
    // |sum w x - sum w^ x^| <= sum |w - w^||x| + sum |w^||x - x^|.
    double quant_err = 0;
    for (int64_t i = 0; i < n; ++i) {
      quant_err += std::fabs(static_cast<double>(w[i]) - wd[i]) * std::fabs(x[i]) +
                   std::fabs(static_cast<double>(wd[i])) * std::fabs(static_cast<double>(x[i]) - xd[i]);
    }
    EXPECT_LE(std::fabs(dot - DotDouble(w, x)), quant_err * (1 + 1e-6) + bound.Tolerance());
  }
}

TEST_P(WeightFormatTest, NamedTailsHaveExactSizes) {
  const DType t = GetParam();
  for (int64_t n : {0, 1, 33, 64, 172, 4096}) {
    size_t expect = 0;
    switch (t) {
      case DType::kQ8_0: expect = Q8_0RowBytes(n); break;
      case DType::kQ4_G: expect = Q4GRowBytes(n); break;
      case DType::kQ3P5: expect = Q3P5RowBytes(n); break;
      case DType::kQ3P5_NL: expect = Q3P5NLRowBytes(n); break;
      case DType::kQ4_NL:
      case DType::kQ4_T: expect = Q4NLRowBytes(n); break;
      case DType::kQ3P5_SEED: expect = Q3P5SeedRowBytes(n); break;
      default: expect = static_cast<size_t>(n) * Traits(t).block_bytes; break;
    }
    EXPECT_EQ(Traits(t).row_bytes(n), expect) << n;
  }
}

TEST_P(WeightFormatTest, DeterministicAndAlignmentIndependent) {
  const DType t = GetParam();
  auto rng = septet::testing::MakeRng(100 + static_cast<uint64_t>(t));
  for (int64_t n : {1, 33, 64, 172, 300, 1024}) {
    const auto w = septet::testing::RandomWeights(rng, n);
    const auto imp = testing::Uniform(rng, n, 0.0f, 3.0f);
    const auto a = Quantize(t, w.data(), n, imp.data(), 0);
    const auto b = Quantize(t, w.data(), n, imp.data(), 3);
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.bytes)) << "n=" << n;
    // A misaligned copy of the input gives the same bytes too.
    std::vector<float> shifted(static_cast<size_t>(n) + 1);
    std::memcpy(shifted.data() + 1, w.data(), static_cast<size_t>(n) * 4);
    const auto c = Quantize(t, shifted.data() + 1, n, imp.data(), 1);
    ASSERT_EQ(0, std::memcmp(a.data(), c.data(), a.bytes)) << "n=" << n;
  }
}

// Importance weighting must pay off on the weighted objective: quantizing with
// the importance the error is measured with beats quantizing without it.
class QuantizedWeightFormatTest : public ::testing::TestWithParam<DType> {};

TEST_P(QuantizedWeightFormatTest, ImportanceLowersWeightedError) {
  const DType t = GetParam();
  auto rng = septet::testing::MakeRng(200 + static_cast<uint64_t>(t));
  std::normal_distribution<float> g(0.0f, 1.5f);
  double err_imp = 0, err_none = 0;
  const int64_t n = 512;
  for (int row = 0; row < 64; ++row) {
    const auto w = septet::testing::RandomWeights(rng, n);
    std::vector<float> imp(static_cast<size_t>(n));
    for (auto& a : imp) a = std::exp(g(rng));  // heavy-tailed, like activation statistics
    const auto d_imp = Dequantize(t, Quantize(t, w.data(), n, imp.data()), n);
    const auto d_none = Dequantize(t, Quantize(t, w.data(), n, nullptr), n);
    for (int64_t i = 0; i < n; ++i) {
      const double e1 = w[i] - d_imp[i], e0 = w[i] - d_none[i];
      err_imp += imp[i] * e1 * e1;
      err_none += imp[i] * e0 * e0;
    }
  }
  std::printf("[importance] %s weighted error: with %.6e, without %.6e (ratio %.3f)\n",
              Traits(t).name, err_imp, err_none, err_imp / err_none);
  EXPECT_LT(err_imp, err_none);
}

INSTANTIATE_TEST_SUITE_P(Formats, WeightFormatTest,
                         ::testing::Values(DType::kQ8_0, DType::kQ4_G, DType::kQ3P5, DType::kQ3P5_NL,
                                           DType::kQ4_NL, DType::kQ4_T, DType::kQ3P5_SEED, DType::kF32, DType::kF16,
                                           DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(GetTypeTraits(info.param).name);
                         });
INSTANTIATE_TEST_SUITE_P(Formats, QuantizedWeightFormatTest,
                         ::testing::Values(DType::kQ8_0, DType::kQ4_G, DType::kQ3P5, DType::kQ3P5_NL,
                                           DType::kQ4_NL, DType::kQ4_T, DType::kQ3P5_SEED),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(GetTypeTraits(info.param).name);
                         });

}  // namespace
}  // namespace septet::quant
