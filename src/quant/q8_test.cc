// Q8_0 (weights) and the INT8 activation formats Q8_A / Q8_R.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "quant/q8_0.h"
#include "quant/q8_act.h"
#include "quant/quant_test_util.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

using testing::Gamma;
using testing::kU;

// ggml's block_q8_0 bytes decode as d * q.
TEST(Q8_0, GgmlBlockLayout) {
  uint8_t bytes[34];
  const uint16_t d = FloatToFp16(0.125f);
  std::memcpy(bytes, &d, 2);
  for (int k = 0; k < 32; ++k) bytes[2 + k] = static_cast<uint8_t>(static_cast<int8_t>(k * 8 - 127));
  float out[32];
  Q8_0DequantizeRow(bytes, out, 32);
  for (int k = 0; k < 32; ++k) EXPECT_EQ(out[k], 0.125f * static_cast<float>(k * 8 - 127));
}

// For a given fp16 d: |w - d q| <= d/2 + 127 gamma_1 d + u |deq| inside
// [-127 d, 127 d] (t = fl(w / d): 1 rounding; deq = fl(d q): 1 rounding), and
// clamping to +-127 d outside.
TEST(Q8_0, ErrorBoundAndClampingForGivenScale) {
  auto rng = septet::testing::MakeRng(31);
  std::uniform_real_distribution<float> cell(-0.5f, 0.5f);
  for (int trial = 0; trial < 500; ++trial) {
    const uint16_t dh = FloatToFp16(std::exp2(testing::Uniform(rng, 1, -14.0f, 4.0f)[0]));
    const float d = Fp16ToFloat(dh);
    float w[32];
    for (int k = 0; k < 32; ++k) {
      const int q = -127 + static_cast<int>((trial * 32 + k) % 255);  // every code over the trials
      float off = cell(rng);
      if (q == -127) off = std::fabs(off);
      if (q == 127) off = -std::fabs(off);
      w[k] = d * (static_cast<float>(q) + off);
    }
    const BlockQ8_0 blk = Q8_0EncodeBlock(w, 32, dh);
    float deq[32];
    Q8_0DequantizeRow(&blk, deq, 32);
    for (int k = 0; k < 32; ++k) {
      ASSERT_LE(std::fabs(static_cast<double>(w[k]) - deq[k]),
                d / 2.0 + 127 * Gamma(1) * d + kU * std::fabs(deq[k]));
    }
    w[0] = 200.0f * d;
    w[1] = -200.0f * d;
    const BlockQ8_0 blk2 = Q8_0EncodeBlock(w, 32, dh);
    EXPECT_EQ(blk2.qs[0], 127);
    EXPECT_EQ(blk2.qs[1], -127);
  }
}

TEST(Q8_0, AccumulatorBound) {
  static_assert(kQ8_0BlockSize * int64_t{kActMaxAbs} * kQ8_0MaxCode == 516128);
  BlockQ8_0 w{};
  w.d = FloatToFp16(1.0f);
  BlockQ8A x{};
  x.d = 1.0f;
  for (int k = 0; k < 32; ++k) {
    w.qs[k] = -127;
    x.qs[k] = 127;
  }
  EXPECT_EQ(Q8_0VecDot(32, &w, &x), -516128.0f);
}

// Q8_A (blocks of 32) and Q8_B (blocks of 128): codes in [-127, 127] (never
// -128), sum field = sum of codes, per-element error <= d/2 + 127 gamma_1 d +
// u |deq| (as for Q8_0, with the float d), the tail zero-padded, the 2 padding
// bytes zero.
struct BlockedAct {
  DType type;
  int64_t block;      // values per block
  size_t bytes;       // bytes per block
  size_t qs;          // offset of the codes
  size_t pad;         // offset of the 2 padding bytes
};

TEST(Q8A, QuantizeProperties) {
  for (const BlockedAct a : {BlockedAct{DType::kQ8_A, 32, 40, 6, 38}, BlockedAct{DType::kQ8_B, 128, 136, 8, 6}}) {
    auto rng = septet::testing::MakeRng(32);
    for (int64_t n = 0; n <= 300; ++n) {
      auto x = testing::Uniform(rng, n, -3.0f, 3.0f);
      if (n > 5) x[3] = -10.0f;  // a negative max: must map to -127, not -128
      const testing::Row r = testing::Quantize(a.type, x.data(), n, nullptr, static_cast<size_t>(n % 3));
      ASSERT_TRUE(r.GuardIntact());
      ASSERT_EQ(r.bytes, static_cast<size_t>((n + a.block - 1) / a.block) * a.bytes);
      const std::vector<float> xd = testing::Dequantize(a.type, r, n);
      for (int64_t b = 0; b * a.block < n; ++b) {
        const uint8_t* blk = r.data() + b * a.bytes;
        float d;
        int16_t sum_field;
        std::memcpy(&d, blk, 4);
        std::memcpy(&sum_field, blk + 4, 2);
        const int8_t* qs = reinterpret_cast<const int8_t*>(blk + a.qs);
        int sum = 0;
        for (int64_t k = 0; k < a.block; ++k) {
          ASSERT_GE(qs[k], -127);
          sum += qs[k];
          if (b * a.block + k >= n) {
            ASSERT_EQ(qs[k], 0) << "tail padding";
          }
        }
        ASSERT_EQ(sum_field, sum) << DTypeName(a.type);
        ASSERT_EQ(blk[a.pad], 0);
        ASSERT_EQ(blk[a.pad + 1], 0);
        for (int64_t k = 0; k < a.block && b * a.block + k < n; ++k) {
          const int64_t i = b * a.block + k;
          ASSERT_LE(std::fabs(static_cast<double>(x[i]) - xd[i]), d / 2.0 + 127 * Gamma(1) * d + kU * std::fabs(xd[i]))
              << DTypeName(a.type);
        }
      }
    }
  }
}

TEST(Q8R, QuantizeProperties) {
  auto rng = septet::testing::MakeRng(33);
  for (int64_t n = 0; n <= 70; ++n) {
    auto x = testing::Uniform(rng, n, -3.0f, 3.0f);
    const testing::Row r = testing::Quantize(DType::kQ8_R, x.data(), n, nullptr, static_cast<size_t>(n % 5));
    ASSERT_TRUE(r.GuardIntact());
    ASSERT_EQ(r.bytes, 8 + 4 * static_cast<size_t>((n + 3) / 4));
    const auto hdr = LoadBlock<Q8RHeader>(r.data());
    const int8_t* q = reinterpret_cast<const int8_t*>(r.data() + 8);
    int64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_GE(q[i], -127);
      sum += q[i];
      ASSERT_LE(std::fabs(x[i] - hdr.d * q[i]), hdr.d / 2.0 + 127 * Gamma(1) * hdr.d + 4 * kU);
    }
    for (size_t i = static_cast<size_t>(n); i + 8 < r.bytes; ++i) ASSERT_EQ(q[i], 0) << "padding";
    ASSERT_EQ(hdr.sum, sum);
  }
}

TEST(Q8R, RejectsRowsPastItsSumBound) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  float x = 0;
  uint8_t buf[16];
  EXPECT_DEATH(Q8RQuantizeRow(&x, buf, kQ8RMaxRowLength + 1, nullptr), "int32 code sum");
}

}  // namespace
}  // namespace septet::quant
