#include "quant/q3p5_seed.h"

#include <gtest/gtest.h>

#include <cmath>

#include "quant/checked.h"
#include "quant/q8_act.h"
#include "quant/quant_test_util.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

using testing::Gamma;
using testing::kU;

TEST(Q3P5Seed, Sizes) {
  EXPECT_EQ(Q3P5SeedRowBytes(0), 8u);
  EXPECT_EQ(Q3P5SeedRowBytes(1), 9u);
  EXPECT_EQ(Q3P5SeedRowBytes(2), 9u);
  EXPECT_EQ(Q3P5SeedRowBytes(3), 10u);
  EXPECT_EQ(Q3P5SeedRowBytes(64), 36u);   // 32 pairs = 224 bits = 28 bytes
  EXPECT_EQ(Q3P5SeedRowBytes(172), 84u);  // 86 pairs = 602 bits -> 76 bytes
  EXPECT_EQ(Q3P5SeedRowBytes(4096), 1800u);
  EXPECT_DOUBLE_EQ(kQ3P5SeedBitsPerWeight4096, 3.515625);
}

// All 128 pair codes, at 16 consecutive pair positions (every bit alignment mod
// 8 twice), round-trip; neighbouring pairs are untouched.
TEST(Q3P5Seed, AllPairCodesRoundTripAtEveryAlignment) {
  for (int code = 0; code < 128; ++code) {
    const int q4 = Q3P5SeedQ4(static_cast<uint8_t>(code)), q3 = Q3P5SeedQ3(static_cast<uint8_t>(code));
    ASSERT_GE(q4, -8);
    ASSERT_LE(q4, 7);
    ASSERT_GE(q3, -4);
    ASSERT_LE(q3, 3);
    ASSERT_EQ(Q3P5SeedPairCode(q4, q3), code);
    for (int64_t p = 0; p < 16; ++p) {
      uint8_t stream[16];
      std::memset(stream, 0, sizeof(stream));
      for (int64_t o = 0; o < 17; ++o) {
        if (o != p && 7 * o + 7 <= 128) Q3P5SeedPutPair(stream, o, static_cast<uint8_t>((o * 37 + 5) & 0x7F));
      }
      Q3P5SeedPutPair(stream, p, static_cast<uint8_t>(code));
      ASSERT_EQ(Q3P5SeedGetPair(stream, p), code) << "p " << p;
      for (int64_t o = 0; o < 17; ++o) {
        if (o != p && 7 * o + 7 <= 128) {
          ASSERT_EQ(Q3P5SeedGetPair(stream, o), (o * 37 + 5) & 0x7F) << "neighbour " << o;
        }
      }
      // LSB-first: bit b of pair p is stream bit 7p + b.
      for (int b = 0; b < 7; ++b) {
        const int64_t bit = 7 * p + b;
        ASSERT_EQ((stream[bit / 8] >> (bit % 8)) & 1, (code >> b) & 1);
      }
    }
  }
}

// Given (scale, offset): in-range values get within scale/2 (+ the float
// allowance derived as for Q3P5: t = fl(fl(w / scale) - offset) has relative
// error gamma_2 against |w / scale| + |offset|, decode fl(scale fl(q + offset))
// adds gamma_2 |deq|); odd positions clamp to [-4, 3], even to [-8, 7].
TEST(Q3P5Seed, ErrorBoundAndClampingForGivenParams) {
  auto rng = septet::testing::MakeRng(11);
  std::uniform_real_distribution<float> cell(-0.5f, 0.5f);
  for (int trial = 0; trial < 100; ++trial) {
    const float scale = std::exp2(static_cast<float>(static_cast<int>(rng() % 20)) - 15.0f) * 1.37f;
    const float offset = testing::Uniform(rng, 1, -3.0f, 3.0f)[0];
    const int64_t n = 64;
    std::vector<float> w(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const bool odd = i % 2 == 1;
      const int lo = odd ? -4 : -8, hi = odd ? 3 : 7;
      const int q = lo + static_cast<int>(i / 2) % (hi - lo + 1);  // every code of the range
      float off = cell(rng);
      if (q == lo) off = std::fabs(off);
      if (q == hi) off = -std::fabs(off);
      w[static_cast<size_t>(i)] = scale * (static_cast<float>(q) + offset + off);
    }
    std::vector<uint8_t> row(Q3P5SeedRowBytes(n));
    Q3P5SeedEncodeRow(w.data(), n, scale, offset, row.data());
    std::vector<float> deq(static_cast<size_t>(n));
    Q3P5SeedDequantizeRow(row.data(), deq.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double a = std::fabs(w[i] / scale) + std::fabs(offset);
      const double tol = scale / 2.0 + Gamma(2) * a * scale * 2 + Gamma(2) * std::fabs(deq[i]);
      ASSERT_LE(std::fabs(static_cast<double>(w[i]) - deq[i]), tol) << "trial " << trial << " i " << i;
    }
    // Clamping: an odd-position value at an even-position code (q = 6) can only
    // reach q3 = 3; the even position reaches it.
    std::vector<float> w2 = {scale * (6.0f + offset), scale * (6.0f + offset)};
    std::vector<uint8_t> row2(Q3P5SeedRowBytes(2));
    Q3P5SeedEncodeRow(w2.data(), 2, scale, offset, row2.data());
    const uint8_t c = Q3P5SeedGetPair(row2.data() + 8, 0);
    EXPECT_EQ(Q3P5SeedQ4(c), 6);
    EXPECT_EQ(Q3P5SeedQ3(c), 3);
  }
}

// The int32 bound. K_max = floor((2^31 - 1) / (127 * 8)) = 2113665.
TEST(Q3P5Seed, OverflowBoundAtKmax) {
  constexpr int64_t K = kQ3P5SeedMaxRowLength;
  static_assert(K == (int64_t{2147483647} / (127 * 8)));
  // (a) The derivation is tight: K_max products of the extremes (127 * -8) sum to
  // exactly -127 * 8 * K_max, representable in int32; one more would not be.
  int32_t acc = 0;
  for (int64_t i = 0; i < K; ++i) acc += int32_t{127} * int32_t{-8};
  EXPECT_EQ(int64_t{acc}, -int64_t{127} * 8 * K);
  EXPECT_GT(int64_t{127} * 8 * (K + 1), kInt32Max);

  // (b) A real Q3P5_SEED row of K_max weights at its extreme codes (q4 = -8,
  // q3 = -4) against x_q = +127 everywhere: the kernel's int32 accumulator gives
  // the exact int64 value.
  std::vector<uint8_t> stream(Q3P5SeedStreamBytes(K + 1), 0);
  for (int64_t p = 0; 2 * p < K + 1; ++p) Q3P5SeedPutPair(stream.data(), p, Q3P5SeedPairCode(-8, -4));
  std::vector<int8_t> xq(static_cast<size_t>(K + 1), 127);
  const int64_t expect = -int64_t{127} * (8 * ((K + 1) / 2) + 4 * (K / 2));
  EXPECT_EQ(int64_t{Q3P5SeedDotI32(stream.data(), xq.data(), K)}, expect);

  // (c) K_max + 1 is rejected: CHECK in the raw kernel, InvalidArgument when checked.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Q3P5SeedDotI32(stream.data(), xq.data(), K + 1), "K_max");
  std::vector<uint8_t> w_row(Q3P5SeedRowBytes(K + 1), 0);
  std::vector<uint8_t> x_row(Q8RRowBytes(K + 1), 0);
  EXPECT_DEATH(Q3P5SeedVecDot(K + 1, w_row.data(), x_row.data()), "K_max");
  const Result<float> r = VecDotChecked(DType::kQ3P5_SEED, K + 1, w_row.data(), w_row.size(),
                                        x_row.data(), x_row.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("2113665"), std::string::npos) << r.status().message();
  // And K_max itself is accepted.
  EXPECT_TRUE(VecDotChecked(DType::kQ3P5_SEED, K, w_row.data(), w_row.size(), x_row.data(),
                            x_row.size())
                  .ok());
}

// vec_dot = (int32 accumulator + offset * x_sum) * scale * x_d, by hand.
TEST(Q3P5Seed, VecDotFormula) {
  const float w[3] = {0.5f, -0.25f, 1.0f};
  std::vector<uint8_t> row(Q3P5SeedRowBytes(3));
  Q3P5SeedEncodeRow(w, 3, 0.25f, 0.5f, row.data());  // q = round(w / 0.25 - 0.5)
  const float x[3] = {127.0f, -64.0f, 1.0f};
  std::vector<uint8_t> act(Q8RRowBytes(3));
  Q8RQuantizeRow(x, act.data(), 3, nullptr);  // d = 1, q = x
  const uint8_t* s = row.data() + 8;
  const int q0 = Q3P5SeedQ4(Q3P5SeedGetPair(s, 0)), q1 = Q3P5SeedQ3(Q3P5SeedGetPair(s, 0)),
            q2 = Q3P5SeedQ4(Q3P5SeedGetPair(s, 1));
  const int32_t acc = 127 * q0 - 64 * q1 + 1 * q2;
  const float expect = 0.25f * (static_cast<float>(acc) + 0.5f * 64.0f);
  EXPECT_EQ(Q3P5SeedVecDot(3, row.data(), act.data()), expect);
}

}  // namespace
}  // namespace septet::quant
