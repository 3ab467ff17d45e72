#include "quant/q4_g.h"

#include <gtest/gtest.h>

#include <cmath>

#include "quant/quant_test_util.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

using testing::Gamma;
using testing::kU;

TEST(Q4G, SizesAndLayout) {
  EXPECT_EQ(Q4GRowBytes(128), 68u);
  EXPECT_EQ(Q4GRowBytes(64), 36u);
  EXPECT_EQ(Q4GRowBytes(172), 104u);
  EXPECT_EQ(Q4GRowBytes(33), 36u);
  // Weight k -> qs[k / 2], low nibble for even k.
  for (int k = 0; k < 128; ++k) {
    float w[128] = {};
    w[k] = 15.0f;  // d = 1, m = 0: code 15 at k, 0 elsewhere
    const BlockQ4G blk = Q4GEncodeBlock(w, 128, FloatToFp16(1.0f), FloatToFp16(0.0f));
    for (int j = 0; j < 64; ++j) {
      const uint8_t expect = j == k / 2 ? static_cast<uint8_t>(k % 2 == 0 ? 0x0F : 0xF0) : 0;
      ASSERT_EQ(blk.qs[j], expect) << "k " << k << " byte " << j;
    }
    for (int c = 0; c < 16; ++c) {
      w[k] = static_cast<float>(c);
      ASSERT_EQ(Q4GCode(Q4GEncodeBlock(w, 128, FloatToFp16(1.0f), FloatToFp16(0.0f)), k), c);
    }
  }
}

// Same derivation as Q3P5.ErrorBoundForGivenParams with C = 15, step d.
TEST(Q4G, ErrorBoundAndClampingForGivenParams) {
  auto rng = septet::testing::MakeRng(21);
  std::uniform_real_distribution<float> cell(-0.5f, 0.5f);
  for (int trial = 0; trial < 200; ++trial) {
    const uint16_t dh = FloatToFp16(std::exp2(testing::Uniform(rng, 1, -14.0f, 2.0f)[0]));
    const float d = Fp16ToFloat(dh);
    const uint16_t mh = FloatToFp16(testing::Uniform(rng, 1, -10.0f, 2.0f)[0] * d);
    const float m = Fp16ToFloat(mh);
    float w[128];
    for (int k = 0; k < 128; ++k) {
      const int c = k % 16;
      float off = cell(rng);
      if (c == 0) off = std::fabs(off);
      if (c == 15) off = -std::fabs(off);
      w[k] = m + d * (static_cast<float>(c) + off);
    }
    const BlockQ4G blk = Q4GEncodeBlock(w, 128, dh, mh);
    float deq[128];
    Q4GDequantizeRow(&blk, deq, 128);
    for (int k = 0; k < 128; ++k) {
      const double tol = d / 2.0 + 15 * Gamma(2) * d + kU * std::fabs(deq[k]);
      ASSERT_LE(std::fabs(static_cast<double>(w[k]) - deq[k]), tol) << trial << " " << k;
    }
    w[0] = m - 7.0f * d;
    w[1] = m + 40.0f * d;
    const BlockQ4G blk2 = Q4GEncodeBlock(w, 128, dh, mh);
    EXPECT_EQ(Q4GCode(blk2, 0), 0);
    EXPECT_EQ(Q4GCode(blk2, 1), 15);
  }
}

// The quantizer's codes are the nearest for its stored fp16 (d, m).
TEST(Q4G, QuantizerUsesStoredParams) {
  auto rng = septet::testing::MakeRng(22);
  for (int row = 0; row < 50; ++row) {
    const auto w = septet::testing::RandomWeights(rng, 128);
    BlockQ4G blk{};
    Q4GQuantizeRow(w.data(), &blk, 128, nullptr);
    const BlockQ4G re = Q4GEncodeBlock(w.data(), 128, blk.d, blk.m);
    ASSERT_EQ(0, std::memcmp(&re, &blk, sizeof(blk)));
  }
}

TEST(Q4G, AccumulatorBoundReachedExactly) {
  static_assert(kQ4GSubBlockSize * kActMaxAbs * kQ4GMaxCode == 60960);
  float w[128];
  for (float& v : w) v = 15.0f;
  const BlockQ4G blk = Q4GEncodeBlock(w, 128, FloatToFp16(1.0f), FloatToFp16(0.0f));
  std::vector<BlockQ8A> act(4);
  for (int b = 0; b < 4; ++b) {
    act[b].d = b == 0 ? 1.0f : 0.0f;
    act[b].sum = static_cast<int16_t>(127 * 32);
    for (auto& q : act[b].qs) q = 127;
  }
  EXPECT_EQ(Q4GVecDot(128, &blk, act.data()), 60960.0f);
}

}  // namespace
}  // namespace septet::quant
