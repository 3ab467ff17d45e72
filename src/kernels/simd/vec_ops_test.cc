// Float ops (RmsNorm, Softmax, SiluMul, Dot, Axpy) against the scalar kernels in
// kernels/cpu/ (or a double-precision reference), on every compiled target.
// Tolerances, with u = 2^-24:
//   RmsNorm: both tiers sum squares in double and scale in double; the only
//     difference is the summation order of ss (relative ~n * 2^-53), so the
//     outputs agree to one f32 rounding: |d| <= 2u |ref|.
//   Softmax: f32 exp (hwy Exp, <= 1 ulp) of the f32 difference x - max (one
//     rounding, relative error |x - max| u in the exponential), f32 store,
//     double sum: |d| <= (8 + 2 (max - min)) u |ref| + 2 FLT_MIN (underflow to 0 allowed).
//   SiluMul: t = e^-|g| in f32 (1 ulp while t is normal; a subnormal t, g < -87.3, is
//     off by at most 2^-149 absolute), g t, 1 + t, divide, multiply: |d| <= 8u |ref| +
//     |g up| 2^-148 + 2 FLT_MIN (results below FLT_MIN may be rounded or flushed).
//   Dot: n f32 products in lanes vs a double sum: |d| <= gamma_{n+2} sum |a b|.
//   Axpy: one FMA, or a product and a sum on targets without FMA (2 roundings):
//     |d| <= 2u (|y| + |a x|).
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/swiglu.h"
#include "kernels/simd/simd_ops.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

using testing::Gamma;
using testing::kU;

class SimdVecOpsTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdVecOpsTestGroup, SimdVecOpsTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()),
                         ::hwy::TestParamTargetName);

const int64_t kLengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 33, 64, 100, 2048, 4099};

TEST_P(SimdVecOpsTest, RmsNorm) {
  auto rng = testing::MakeRng(1);
  for (int64_t n : kLengths) {
    const auto x = testing::RandomWeights(rng, n, 1.0f);
    const auto w = testing::RandomWeights(rng, n, 1.0f);
    std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    cpu::RmsNorm(ref.data(), x.data(), w.data(), n, 1e-5f);
    RmsNorm(got.data(), x.data(), w.data(), n, 1e-5f);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_LE(std::fabs(double{got[i]} - ref[i]), 2 * kU * std::fabs(ref[i]))
          << "n=" << n << " i=" << i << " simd " << got[i] << " ref " << ref[i] << " " << TargetName();
    }
  }
}

TEST_P(SimdVecOpsTest, Softmax) {
  auto rng = testing::MakeRng(2);
  for (int64_t n : kLengths) {
    auto x = testing::RandomWeights(rng, n, 4.0f);
    if (n > 4) x[3] = -200.0f;  // underflows to 0
    const float range = *std::max_element(x.begin(), x.end()) - *std::min_element(x.begin(), x.end());
    auto ref = x, got = x;
    cpu::Softmax(ref.data(), n);
    Softmax(got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double tol = (8 + 2 * std::min(double{range}, 200.0)) * kU * ref[i] + 2.0 * std::numeric_limits<float>::min();
      ASSERT_LE(std::fabs(double{got[i]} - ref[i]), tol)
          << "n=" << n << " i=" << i << " simd " << got[i] << " ref " << ref[i] << " " << TargetName();
    }
  }
}

TEST_P(SimdVecOpsTest, SiluMul) {
  auto rng = testing::MakeRng(3);
  for (int64_t n : kLengths) {
    auto g = testing::RandomWeights(rng, n, 3.0f);
    const auto u = testing::RandomWeights(rng, n, 1.0f);
    if (n > 8) {
      g[0] = -100.0f;  // silu(g) ~ -3.7e-42: subnormal
      g[1] = 100.0f;
      g[2] = 0.0f;
      g[5] = -20.0f;
      g[6] = -90.0f;  // e^-g overflows f32, silu(g) ~ -7.4e-38 is normal
      g[7] = -88.5f;
    }
    std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    cpu::SiluMul(ref.data(), g.data(), u.data(), n);
    SiluMul(got.data(), g.data(), u.data(), n);
    // Relative bound 8u for normal results; the absolute terms (header) cover a
    // subnormal e^-|g| and results below FLT_MIN.
    const double underflow = 2.0 * std::numeric_limits<float>::min();
    for (int64_t i = 0; i < n; ++i) {
      const double sub_t = std::fabs(double{g[i]} * u[i]) * std::ldexp(1.0, -148);
      ASSERT_LE(std::fabs(double{got[i]} - ref[i]), 8 * kU * std::fabs(ref[i]) + sub_t + underflow)
          << "n=" << n << " i=" << i << " g=" << g[i] << " simd " << got[i] << " ref " << ref[i] << " "
          << TargetName();
    }
  }
}

TEST_P(SimdVecOpsTest, DotAndAxpy) {
  auto rng = testing::MakeRng(4);
  for (int64_t n : kLengths) {
    const auto a = testing::RandomWeights(rng, n, 1.0f);
    const auto b = testing::RandomWeights(rng, n, 1.0f);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      ref += double{a[i]} * b[i];
      mag += std::fabs(double{a[i]} * b[i]);
    }
    const double k = static_cast<double>(n) + 2;
    ASSERT_LE(std::fabs(Dot(a.data(), b.data(), n) - ref), k * kU / (1 - k * kU) * mag) << "n=" << n;
    auto y = b;
    const float s = 0.37f;
    Axpy(s, a.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double want = double{b[i]} + double{s} * a[i];
      ASSERT_LE(std::fabs(y[i] - want), 2 * kU * (std::fabs(b[i]) + std::fabs(double{s} * a[i])))
          << "n=" << n << " i=" << i;
    }
  }
}

// AttendHead against a long double reference, for head sizes with and without
// vector tails and key counts on both sides of the 4-key groups and the
// two-chain pairs. Error model: a score sums hd products in f32 lanes (any
// order: at most hd + 2 roundings on a product's path) and is scaled (one more):
// |ds_t| <= E = gamma_{hd+3} scale sum_d |q_d k_td|. That moves each softmax
// weight by a factor within exp(+-2 E_max); the f32 exp and the normalisation
// add at most 8u relative (vec_ops.cc: Exp ~1 ulp, the sum in double). The
// weighted sum adds n_pos terms in two f32 chains plus their sum: at most
// n_pos + 2 roundings per term. With W = sum_t p_t |v_td|:
//   |out_d - ref_d| <= (exp(2 E_max) - 1 + 8u + gamma_{n_pos+2}) W + u |ref_d|.
TEST_P(SimdVecOpsTest, AttendHeadMatchesLongDoubleReference) {
  auto rng = testing::MakeRng(77);
  for (int64_t hd : {1, 3, 16, 48, 64, 80, 128, 130}) {
    for (int64_t n_pos : {1, 2, 3, 4, 5, 7, 8, 9, 33, 100}) {
      const int64_t stride = hd + 5;  // rows of a wider cache (other KV heads between)
      const auto q = testing::RandomWeights(rng, hd, 1.0f);
      const auto k = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      const auto v = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      const float scale = 0.125f;
      std::vector<float> probs(static_cast<size_t>(n_pos)), got(static_cast<size_t>(hd) + 1, -3.0f);
      AttendHead(q.data(), k.data(), v.data(), n_pos, hd, stride, scale, probs.data(), got.data());
      ASSERT_EQ(got[static_cast<size_t>(hd)], -3.0f) << "wrote past head_dim";
      std::vector<long double> p(static_cast<size_t>(n_pos));
      long double mx = -1e300L, e_max = 0;
      for (int64_t t = 0; t < n_pos; ++t) {
        long double d = 0, a = 0;
        for (int64_t i = 0; i < hd; ++i) {
          d += static_cast<long double>(q[i]) * k[t * stride + i];
          a += std::fabs(static_cast<long double>(q[i]) * k[t * stride + i]);
        }
        p[t] = d * scale;
        mx = std::max(mx, p[t]);
        e_max = std::max(e_max, static_cast<long double>(Gamma(static_cast<double>(hd + 3))) * scale * a);
      }
      long double z = 0;
      for (auto& e : p) z += (e = std::exp(e - mx));
      for (auto& e : p) e /= z;
      const double rel = std::expm1(2.0 * static_cast<double>(e_max)) + 8 * kU + Gamma(static_cast<double>(n_pos + 2));
      for (int64_t t = 0; t < n_pos; ++t) {
        ASSERT_NEAR(probs[t], static_cast<double>(p[t]), (std::expm1(2.0 * static_cast<double>(e_max)) + 8 * kU) *
                                                             static_cast<double>(p[t]) + 1e-30)
            << "hd=" << hd << " n_pos=" << n_pos << " t=" << t << " " << TargetName();
      }
      for (int64_t i = 0; i < hd; ++i) {
        long double ref = 0, w = 0;
        for (int64_t t = 0; t < n_pos; ++t) {
          ref += p[t] * v[t * stride + i];
          w += p[t] * std::fabs(v[t * stride + i]);
        }
        const double tol = rel * static_cast<double>(w) + kU * std::fabs(static_cast<double>(ref));
        ASSERT_NEAR(got[i], static_cast<double>(ref), tol)
            << "hd=" << hd << " n_pos=" << n_pos << " d=" << i << " " << TargetName();
      }
    }
  }
}

// The score arithmetic AttendHead documents (vec_ops.cc Scores), replayed in
// scalar code for a head of whole vectors of `lanes` floats: four lane
// accumulators, each an FMA chain over its vectors (then the single vectors
// past the blocks of four into the first), combined (a0 + a1) + (a2 + a3),
// then on the hand-written x86 targets Reduce4's folds (lanes (0 + 2) + (1 + 3)
// within each 128-bit block, then the blocks: 0 + 1, or (0 + 2) + (1 + 3)),
// times scale.
float ReplayScore(const float* q, const float* k, int64_t hd, int64_t lanes, float scale) {
  std::vector<float> a(static_cast<size_t>(4 * lanes), 0.0f);
  int64_t i = 0;
  for (; i + 4 * lanes <= hd; i += 4 * lanes) {
    for (int64_t j = 0; j < 4 * lanes; ++j) {
      a[static_cast<size_t>(j)] = std::fma(q[i + j], k[i + j], a[static_cast<size_t>(j)]);
    }
  }
  for (; i + lanes <= hd; i += lanes) {
    for (int64_t l = 0; l < lanes; ++l) {
      a[static_cast<size_t>(l)] = std::fma(q[i + l], k[i + l], a[static_cast<size_t>(l)]);
    }
  }
  std::vector<float> c(static_cast<size_t>(lanes)), blk(static_cast<size_t>(lanes / 4));
  for (int64_t l = 0; l < lanes; ++l) {
    const auto at = [&](int64_t v) { return a[static_cast<size_t>(v * lanes + l)]; };
    c[static_cast<size_t>(l)] = (at(0) + at(1)) + (at(2) + at(3));
  }
  for (int64_t b = 0; b < lanes / 4; ++b) {
    const float* cb = c.data() + 4 * b;
    blk[static_cast<size_t>(b)] = (cb[0] + cb[2]) + (cb[1] + cb[3]);
  }
  const float sum = lanes == 8 ? blk[0] + blk[1] : (blk[0] + blk[2]) + (blk[1] + blk[3]);
  return sum * scale;
}

// AttendHead's probabilities, bit for bit, are Softmax of the scores of that
// arithmetic on AVX2 (8 lanes) and AVX3 / AVX3_DL (16); elsewhere of Dot(q, k_t)
// * scale (one SumOfLanes per key, as Dot). So the key loops (a vector's lanes
// of keys at a time with the folds shared, four keys at a time, one at a time)
// change no number. Head sizes on both sides of the unrolled lengths (4, 8, 16
// vectors); key counts that are multiples of 4 (a lone key takes SumOfLanes on
// every target) on both sides of the key blocks.
TEST_P(SimdVecOpsTest, AttendHeadScoresFollowTheDocumentedArithmetic) {
  const int64_t target = GetParam();
  const int64_t lanes = target == HWY_AVX2 ? 8 : (target == HWY_AVX3 || target == HWY_AVX3_DL) ? 16 : 0;
  auto rng = testing::MakeRng(79);
  for (int64_t hd : {16, 32, 48, 64, 80, 128, 256}) {
    for (int64_t n_pos : {4, 8, 12, 16, 20, 28, 32, 36, 64, 68}) {
      const int64_t stride = hd + 7;
      const auto q = testing::RandomWeights(rng, hd, 1.0f);
      const auto k = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      const auto v = testing::RandomWeights(rng, n_pos * stride, 1.0f);
      const float scale = 0.125f;
      std::vector<float> probs(static_cast<size_t>(n_pos)), out(static_cast<size_t>(hd));
      AttendHead(q.data(), k.data(), v.data(), n_pos, hd, stride, scale, probs.data(), out.data());
      std::vector<float> p(static_cast<size_t>(n_pos));
      for (int64_t t = 0; t < n_pos; ++t) {
        const float* kt = k.data() + t * stride;
        p[static_cast<size_t>(t)] =
            lanes > 0 ? ReplayScore(q.data(), kt, hd, lanes, scale) : Dot(q.data(), kt, hd) * scale;
      }
      Softmax(p.data(), n_pos);
      ASSERT_EQ(0, std::memcmp(p.data(), probs.data(), static_cast<size_t>(n_pos) * sizeof(float)))
          << "hd=" << hd << " n_pos=" << n_pos << " " << TargetName();
    }
  }
}

// AttendGroup is AttendHead for several heads over the same keys and values,
// with the loops reordered: every head's output and probabilities must be
// AttendHead's, bit for bit (position counts on both sides of the 64-position
// value blocks, odd and even; head sizes with and without tails; groups above
// the 16 heads of one pass).
TEST_P(SimdVecOpsTest, AttendGroupIsAttendHeadPerHeadBitForBit) {
  auto rng = testing::MakeRng(78);
  for (int64_t hd : {3, 16, 64, 80, 128}) {
    for (int64_t n_pos : {1, 4, 7, 63, 64, 65, 130, 257}) {
      for (int64_t n_q : {1, 2, 3, 8, 17}) {
        const int64_t stride = hd + 3, q_stride = hd + 1, out_stride = hd + 2;
        const auto q = testing::RandomWeights(rng, n_q * q_stride, 1.0f);
        const auto k = testing::RandomWeights(rng, n_pos * stride, 1.0f);
        const auto v = testing::RandomWeights(rng, n_pos * stride, 1.0f);
        const float scale = 0.125f;
        std::vector<float> scores(static_cast<size_t>(n_q * n_pos)), got(static_cast<size_t>(n_q * out_stride), -3.0f);
        AttendGroup(q.data(), q_stride, n_q, k.data(), v.data(), n_pos, hd, stride, scale, scores.data(), got.data(),
                    out_stride);
        for (int64_t g = 0; g < n_q; ++g) {
          std::vector<float> p(static_cast<size_t>(n_pos)), want(static_cast<size_t>(hd));
          AttendHead(q.data() + g * q_stride, k.data(), v.data(), n_pos, hd, stride, scale, p.data(), want.data());
          ASSERT_EQ(0, std::memcmp(want.data(), got.data() + g * out_stride, static_cast<size_t>(hd) * sizeof(float)))
              << "hd=" << hd << " n_pos=" << n_pos << " n_q=" << n_q << " head " << g << " " << TargetName();
          ASSERT_EQ(0, std::memcmp(p.data(), scores.data() + g * n_pos, static_cast<size_t>(n_pos) * sizeof(float)));
          for (int64_t i = hd; i < out_stride; ++i) ASSERT_EQ(got[static_cast<size_t>(g * out_stride + i)], -3.0f);
        }
      }
    }
  }
}

// RotateInput runs cpu::InputRotation's float (double) operations in the same order: equal bits
// on every target (the rotation's accuracy is tested in kernels/cpu/hadamard_test.cc).
TEST_P(SimdVecOpsTest, RotateInputIsTheScalarRotationBitForBit) {
  auto rng = testing::MakeRng(11);
  for (int64_t n : {1, 2, 3, 4, 6, 8, 12, 16, 24, 64, 172, 576, 1536, 2048, 5632}) {
    const cpu::InputRotation rot(n);
    const std::vector<float> x = testing::RandomWeights(rng, n, 2.0f);
    std::vector<float> ref = x, got = x;
    rot.Apply(ref.data());
    RotateInput(rot, got.data());
    ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float))) << "n=" << n << " " << TargetName();
    // The double rotation (GPTQ's Hessian and the weight rows of a rotated quantize).
    std::vector<double> dref(x.begin(), x.end()), dgot = dref;
    for (size_t k = 0; k < dref.size(); ++k) dref[k] = dgot[k] = dref[k] * (1.0 + 1e-9 * static_cast<double>(k));
    rot.Apply(dref.data());
    RotateInput(rot, dgot.data());
    ASSERT_EQ(0, std::memcmp(dref.data(), dgot.data(), dref.size() * sizeof(double)))
        << "double, n=" << n << " " << TargetName();
  }
}

}  // namespace
}  // namespace septet::simd
