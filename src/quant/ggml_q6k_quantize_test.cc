// Q6_KQuantizeRow (septet writes Q6_K for output heads; ggml_kquants.h). The
// decoder it must agree with is Q6_KDequantizeRow, itself checked bit for bit
// against the PyPI gguf package (ggml_types_test.cc), so a block this writes
// reads the same in llama.cpp.
//
// * Exact rows: blocks built from a fp16 d, int8 scales with one of magnitude
//   127, and codes with a -32 in every sub-block are representable, and the
//   search starts from that very scale (-x_m / 32, then d = max |s| / 127), so
//   the row comes back bit for bit: a wrong nibble or bit-pair position, a
//   wrong sub-block scale index or a sign slip shows here.
// * Gaussian rows: with the stored scales, every weight's code is the nearest
//   one in [-32, 31] (|x - q dl| <= |x - q' dl| for q' = q +- 1), each sub-block's
//   int8 scale is at least as good as its two neighbours (the search's claim),
//   and the error is no worse than rounding to a step of max|x| / 32 per 16
//   weights (the search's first candidate; the int8 scales of a Gaussian block
//   are 60-127, so their rounding moves the step by < 1 %): the mean over the
//   row of e^2 / step^2 is at most 1/12 (uniform rounding error) with 25 %
//   slack, about 9 standard deviations of that mean over 1024 weights. (A block
//   with an outlier has small int8 scales beside it, whose rounding costs more:
//   those rows get the first two checks only.) An all-zero sub-block stays zero.
// * Importance: weights with 100x importance end up with less squared error
//   than with uniform importance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "quant/ggml_kquants.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

constexpr int kSub = 16;

std::vector<BlockQ6_K> Blocks(const std::vector<uint8_t>& bytes) {
  std::vector<BlockQ6_K> b(bytes.size() / sizeof(BlockQ6_K));
  std::memcpy(b.data(), bytes.data(), b.size() * sizeof(BlockQ6_K));
  return b;
}

std::vector<uint8_t> Quantize(const std::vector<float>& x, const float* imp = nullptr) {
  std::vector<uint8_t> q(Q6_KRowBytesFn(static_cast<int64_t>(x.size())));
  Q6_KQuantizeRow(x.data(), q.data(), static_cast<int64_t>(x.size()), imp);
  return q;
}

TEST(Q6_KQuantize, RegistryWritesQ6_KOnWholeBlocks) {
  const TypeTraits& t = GetTypeTraits(DType::kQ6_K);
  EXPECT_TRUE(CanQuantizeTo(DType::kQ6_K));
  EXPECT_FALSE(t.is_input_only);
  EXPECT_TRUE(t.whole_blocks);
  EXPECT_EQ(t.from_float, &Q6_KQuantizeRow);
  EXPECT_TRUE(RowLengthFits(t, 512));
  EXPECT_FALSE(RowLengthFits(t, 576));
}

TEST(Q6_KQuantize, RepresentableRowsComeBackBitForBit) {
  auto rng = testing::MakeRng(61);
  std::uniform_int_distribution<int> code(-32, 31), scale(-127, 127), pos(0, kSub - 1), sub(0, 15);
  std::uniform_real_distribution<float> mag(-14.0f, 2.0f);
  for (int trial = 0; trial < 200; ++trial) {
    const int nblocks = 1 + trial % 3;
    std::vector<float> x(static_cast<size_t>(256 * nblocks));
    for (int b = 0; b < nblocks; ++b) {
      const float d = Fp16ToFloat(FloatToFp16(std::ldexp(1.0f, static_cast<int>(mag(rng)))));
      int sc[16];
      for (int& s : sc) {
        do {
          s = scale(rng);
        } while (s == 0);
      }
      sc[sub(rng)] = (trial % 2) ? 127 : -127;  // d = max |s| / 127 exactly
      for (int j = 0; j < 16; ++j) {
        int q[kSub];
        for (int& v : q) v = code(rng);
        q[pos(rng)] = -32;  // the sub-block's largest magnitude on the code -32
        for (int i = 0; i < kSub; ++i) {
          // The decoder's value: fl(fl(d * sc) * q).
          x[static_cast<size_t>(256 * b + kSub * j + i)] = (d * static_cast<float>(sc[j])) * static_cast<float>(q[i]);
        }
      }
    }
    const std::vector<uint8_t> q = Quantize(x);
    std::vector<float> back(x.size());
    Q6_KDequantizeRow(q.data(), back.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(back[i], x[i]) << "trial " << trial << " weight " << i;
  }
}

TEST(Q6_KQuantize, NearestCodesLocallyBestScalesAndTheStepsError) {
  auto rng = testing::MakeRng(62);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> x = testing::RandomWeights(rng, 256 * 4, 0.02f);
    if (trial % 4 == 1) x[static_cast<size_t>(trial * 37 % 1024)] *= 40.0f;  // an outlier
    if (trial % 4 == 2) std::fill(x.begin() + 256, x.begin() + 272, 0.0f);   // an all-zero sub-block
    const std::vector<uint8_t> q = Quantize(x);
    const std::vector<BlockQ6_K> blocks = Blocks(q);
    std::vector<float> back(x.size());
    Q6_KDequantizeRow(q.data(), back.data(), static_cast<int64_t>(x.size()));
    double normalized = 0;  // sum over sub-blocks of mean e^2 / step^2
    int subs = 0;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const float d = Fp16ToFloat(blocks[b].d);
      for (int j = 0; j < 16; ++j) {
        const size_t i0 = 256 * b + kSub * j;
        const auto err_at = [&](int sc) {
          const float dl = d * static_cast<float>(sc);
          double e2 = 0;
          for (int i = 0; i < kSub; ++i) {
            const int c = dl != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(x[i0 + i] / dl)), -32, 31) : 0;
            const double e = static_cast<double>(x[i0 + i]) - static_cast<double>(dl) * c;
            e2 += e * e;
          }
          return e2;
        };
        const int sc = blocks[b].scales[j];
        const float dl = d * static_cast<float>(sc);
        double e2 = 0, amax = 0;
        for (int i = 0; i < kSub; ++i) {
          const int c = Q6_KCode(blocks[b], kSub * j + i) - 32;
          const double xi = x[i0 + i];
          for (int nb : {c - 1, c + 1}) {
            if (nb < -32 || nb > 31) continue;
            EXPECT_LE(std::fabs(xi - double{dl} * c), std::fabs(xi - double{dl} * nb) * (1 + 1e-6) + 1e-30)
                << "block " << b << " sub " << j << " weight " << i;
          }
          const double e = xi - back[i0 + i];
          e2 += e * e;
          amax = std::max(amax, std::fabs(xi));
        }
        for (int nb : {sc - 1, sc + 1}) {
          if (nb >= -127 && nb <= 127) {
            EXPECT_LE(e2, err_at(nb) * (1 + 1e-9) + 1e-30) << "sub " << j << " sc " << nb;
          }
        }
        if (amax == 0) {
          EXPECT_EQ(e2, 0.0) << "an all-zero sub-block";
          continue;
        }
        const double step = amax / 32.0;
        normalized += e2 / kSub / (step * step);
        ++subs;
      }
    }
    if (trial % 4 != 1) {
      EXPECT_LE(normalized / subs, 1.25 / 12.0) << "trial " << trial;
    }
  }
}

TEST(Q6_KQuantize, ImportanceLowersTheWeightedError) {
  auto rng = testing::MakeRng(63);
  std::vector<float> x = testing::RandomWeights(rng, 256 * 8, 1.0f);
  std::vector<float> imp(x.size(), 1.0f);
  for (size_t i = 0; i < imp.size(); i += 5) imp[i] = 100.0f;
  const auto weighted_error = [&](const std::vector<uint8_t>& q) {
    std::vector<float> back(x.size());
    Q6_KDequantizeRow(q.data(), back.data(), static_cast<int64_t>(x.size()));
    double e = 0;
    for (size_t i = 0; i < x.size(); ++i) e += imp[i] * (double{x[i]} - back[i]) * (double{x[i]} - back[i]);
    return e;
  };
  EXPECT_LT(weighted_error(Quantize(x, imp.data())), weighted_error(Quantize(x)));
}

}  // namespace
}  // namespace septet::quant
