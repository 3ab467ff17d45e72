#include "quant/q3p5.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "quant/q8_act.h"
#include "quant/quant_test_util.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

using testing::Gamma;
using testing::kU;

TEST(Q3P5, SizesAndBitsPerWeight) {
  EXPECT_EQ(sizeof(BlockQ3P5), 56u);
  EXPECT_DOUBLE_EQ(kQ3P5BitsPerWeight, 3.5);
  EXPECT_EQ(Q3P5RowBytes(64), 28u);  // stories260K dim: a short block of 2 sub-blocks
  EXPECT_DOUBLE_EQ(Q3P5RowBitsPerWeight(64), 3.5);
  EXPECT_EQ(Q3P5RowBytes(172), 84u);  // stories260K ffn: 56 + (4 + 2 * 12)
  EXPECT_NEAR(Q3P5RowBitsPerWeight(172), 672.0 / 172, 1e-12);
  EXPECT_EQ(Q3P5RowBytes(33), 4u + 24u);
  EXPECT_EQ(Q3P5RowBytes(1), 16u);
  EXPECT_EQ(Q3P5RowBytes(4096), 32u * 56u);
}

TEST(Q3P5, HeaderFieldsRoundTrip) {
  for (uint32_t d15 = 0; d15 < 0x7C00u; d15 += 7) {  // finite non-negative fp16 magnitudes
    for (int sel = 0; sel < 4; ++sel) {
      const uint16_t m15 = static_cast<uint16_t>((d15 * 2654435761u) & 0x7FFFu);
      const uint32_t hdr = Q3P5PackHeader(static_cast<uint16_t>(d15), sel, m15);
      const Q3P5Params p = Q3P5UnpackHeader(hdr);
      EXPECT_EQ(FloatToFp16(p.d), d15);
      EXPECT_EQ(p.sel, sel);
      ASSERT_EQ(hdr >> 17, m15);
      if (std::isfinite(p.m)) {
        EXPECT_EQ(FloatToFp16(p.m), static_cast<uint16_t>(m15 << 1));
      }
    }
  }
}

// m keeps 9 mantissa bits: the stored value must be the nearest such fp16 (brute
// force over every finite 15-bit code).
TEST(Q3P5, EncodeMIsNearest) {
  auto rng = septet::testing::MakeRng(1);
  std::vector<float> ms = testing::Uniform(rng, 2000, -4.0f, 4.0f);
  for (float v : testing::Uniform(rng, 500, -1e-3f, 1e-3f)) ms.push_back(v);
  for (float v : {0.0f, -0.0f, 65504.0f, -65504.0f, 1e-8f, 0.1f}) ms.push_back(v);
  for (float m : ms) {
    const float got = Q3P5DecodeM(Q3P5EncodeM(m));
    float best = std::numeric_limits<float>::infinity();
    for (uint32_t c = 0; c < 0x8000u; ++c) {
      const float v = Q3P5DecodeM(static_cast<uint16_t>(c));
      if (std::isfinite(v)) best = std::fmin(best, std::fabs(v - m));
    }
    ASSERT_EQ(std::fabs(got - m), best) << "m=" << m << " stored=" << got;
  }
}

// Every code value in every position of every sub-block, for every sel, packs and
// unpacks to itself; the other positions (random codes) are unaffected.
TEST(Q3P5, PackUnpackEveryCodeEveryPositionEverySel) {
  auto rng = septet::testing::MakeRng(2);
  for (int sel = 0; sel < 4; ++sel) {
    for (int pos = 0; pos < 128; ++pos) {
      const bool up = pos / 32 == sel;
      for (int code = 0; code <= (up ? 15 : 7); ++code) {
        uint8_t codes[128];
        for (int k = 0; k < 128; ++k) {
          codes[k] = static_cast<uint8_t>(rng() % (k / 32 == sel ? 16 : 8));
        }
        codes[pos] = static_cast<uint8_t>(code);
        BlockQ3P5 blk{};
        blk.hdr = Q3P5PackHeader(0x3C00, sel, 0);
        Q3P5PackCodes(codes, 4, sel, &blk);
        uint8_t back[128];
        Q3P5UnpackCodes(blk, 4, back);
        ASSERT_EQ(0, std::memcmp(codes, back, 128)) << "sel " << sel << " pos " << pos;
      }
    }
  }
  // Short blocks: ns = 1..3, no ext plane, every 3-bit code in every position.
  for (int ns = 1; ns <= 3; ++ns) {
    for (int pos = 0; pos < 32 * ns; ++pos) {
      for (int code = 0; code < 8; ++code) {
        uint8_t codes[128] = {};
        codes[pos] = static_cast<uint8_t>(code);
        BlockQ3P5 blk{};
        Q3P5PackCodes(codes, ns, 0, &blk);
        uint8_t back[128] = {};
        Q3P5UnpackCodes(blk, ns, back);
        ASSERT_EQ(0, std::memcmp(codes, back, 128));
        ASSERT_EQ(blk.ext[0] | blk.ext[1] | blk.ext[2] | blk.ext[3], 0);
      }
    }
  }
}

// The documented bit positions, checked byte by byte for single set codes.
TEST(Q3P5, LayoutMatchesSpec) {
  for (int sel = 0; sel < 4; ++sel) {
    for (int pos = 0; pos < 128; ++pos) {
      const int s = pos / 32, k = pos % 32;
      const bool up = s == sel;
      uint8_t codes[128] = {};
      codes[pos] = up ? 15 : 7;  // u = 7 (all three bits), e = 1 when upgraded
      BlockQ3P5 blk{};
      blk.hdr = Q3P5PackHeader(0, sel, 0);
      Q3P5PackCodes(codes, 4, sel, &blk);
      uint8_t bytes[56];
      std::memcpy(bytes, &blk, 56);
      uint8_t expect[56] = {};
      const uint32_t hdr = Q3P5PackHeader(0, sel, 0);
      std::memcpy(expect, &hdr, 4);
      expect[4 + 12 * s + k / 4] = static_cast<uint8_t>(3 << (2 * (k % 4)));  // lo plane
      expect[4 + 12 * s + 8 + k / 8] = static_cast<uint8_t>(1 << (k % 8));    // hi plane
      if (up) expect[52 + k / 8] = static_cast<uint8_t>(1 << (k % 8));       // ext plane
      ASSERT_EQ(0, std::memcmp(bytes, expect, 56)) << "sel " << sel << " pos " << pos;
    }
  }
  // hdr bit fields: d in 0-14, sel in 15-16, m in 17-31.
  EXPECT_EQ(Q3P5PackHeader(0x7FFF, 0, 0), 0x00007FFFu);
  EXPECT_EQ(Q3P5PackHeader(0, 3, 0), 0x00018000u);
  EXPECT_EQ(Q3P5PackHeader(0, 0, 0x7FFF), 0xFFFE0000u);
}

// Error bound for given stored (d, m), exhaustive over codes and randomized over
// values inside each code's cell. Derivation (formats.md, "error model"): with
// step s (d, or d/2 in sub-block sel) and max code C, the encoder computes
// t = fl(fl(w - m) / s) = a (1 + theta), a = (w - m) / s in [0, C], |theta| <=
// gamma_2, so |a - round(t)| <= 1/2 + C gamma_2; decoding fl(m + s c) (s c is
// exact: 11-bit d times a 4-bit code) adds u |deq|. Hence
//   |w - deq| <= s / 2 + C gamma_2 s + u |deq|.
// Outside [m, m + C s] the code clamps to 0 or C and the error is the distance to
// that end (checked below, up to the same decode rounding).
TEST(Q3P5, ErrorBoundForGivenParams) {
  auto rng = septet::testing::MakeRng(3);
  std::uniform_real_distribution<float> cell(-0.5f, 0.5f);
  std::uniform_int_distribution<int> dexp(0x1000, 0x5000);
  for (int trial = 0; trial < 200; ++trial) {
    const uint16_t d15 = static_cast<uint16_t>(dexp(rng));
    const uint16_t m15 = static_cast<uint16_t>(Q3P5EncodeM(testing::Uniform(rng, 1, -1.0f, 0.5f)[0] *
                                                           Q3P5DecodeD(d15) * 8));
    const float d = Q3P5DecodeD(d15), m = Q3P5DecodeM(m15);
    const int sel = trial % 4;
    for (int s = 0; s < 4; ++s) {
      const bool up = s == sel;
      const float step = up ? d * 0.5f : d;
      const int C = up ? 15 : 7;
      float w[128];
      for (int k = 0; k < 128; ++k) w[k] = m;  // other sub-blocks: irrelevant
      // Exhaustive over codes, 2 random values per code cell (32 positions).
      for (int k = 0; k < 32; ++k) {
        const int c = k % (C + 1);
        float off = cell(rng);
        if (c == 0) off = std::fabs(off);
        if (c == C) off = -std::fabs(off);
        w[32 * s + k] = m + step * (static_cast<float>(c) + off);
      }
      const BlockQ3P5 blk = Q3P5EncodeBlock(w, 128, d15, m15, sel);
      float deq[128];
      Q3P5DequantizeRow(&blk, deq, 128);
      for (int k = 32 * s; k < 32 * s + 32; ++k) {
        const double err = std::fabs(static_cast<double>(w[k]) - deq[k]);
        const double tol = step / 2.0 + C * Gamma(2) * step + kU * std::fabs(deq[k]);
        ASSERT_LE(err, tol) << "trial " << trial << " s " << s << " k " << k;
      }
      // Clamping outside the range: below m -> m, above m + C step -> the top.
      w[32 * s] = m - 3.0f * step;
      w[32 * s + 1] = m + (static_cast<float>(C) + 5.0f) * step;
      const BlockQ3P5 blk2 = Q3P5EncodeBlock(w, 128, d15, m15, sel);
      Q3P5DequantizeRow(&blk2, deq, 128);
      EXPECT_EQ(deq[32 * s], m);
      EXPECT_NEAR(deq[32 * s + 1], m + static_cast<float>(C) * step, kU * std::fabs(deq[32 * s + 1]));
    }
  }
}

// A full block whose sub-block 2 has by far the largest spread-within-step error
// gets sel = 2; a short block never has sel != 0 or an ext plane.
TEST(Q3P5, QuantizerPicksUpgradeWhereItHelpsMost) {
  auto rng = septet::testing::MakeRng(4);
  std::vector<float> w = testing::Uniform(rng, 128, -1.0f, 1.0f);
  for (int k = 0; k < 128; ++k) {
    if (k / 32 != 2) w[static_cast<size_t>(k)] = std::round(w[static_cast<size_t>(k)] * 3.5f) / 3.5f;
  }
  // Sub-blocks 0, 1, 3 sit on a 3-bit grid (no rounding error); 2 does not.
  BlockQ3P5 blk{};
  Q3P5QuantizeRow(w.data(), &blk, 128, nullptr);
  EXPECT_EQ(Q3P5UnpackHeader(blk.hdr).sel, 2);
  // Importance can move the choice: make sub-block 0 dominate the objective.
  std::vector<float> w2 = testing::Uniform(rng, 128, -1.0f, 1.0f);
  std::vector<float> imp(128, 1e-4f);
  for (int k = 0; k < 32; ++k) imp[static_cast<size_t>(k)] = 100.0f;
  Q3P5QuantizeRow(w2.data(), &blk, 128, imp.data());
  EXPECT_EQ(Q3P5UnpackHeader(blk.hdr).sel, 0);
  for (int r : {1, 31, 32, 33, 64, 96, 100, 127}) {
    std::vector<uint8_t> row(Q3P5RowBytes(r), 0xFF);
    Q3P5QuantizeRow(w.data(), row.data(), r, nullptr);
    BlockQ3P5 b{};
    std::memcpy(&b, row.data(), row.size());
    EXPECT_EQ(Q3P5UnpackHeader(b.hdr).sel, 0) << r;
  }
}

// After quantization every in-range weight got the nearest code for the stored
// (d, m): the quantizer recomputes codes with the rounded fields.
TEST(Q3P5, QuantizerUsesStoredParams) {
  auto rng = septet::testing::MakeRng(5);
  for (int row = 0; row < 50; ++row) {
    const int64_t n = 128 * 3 + 40;
    const auto w = septet::testing::RandomWeights(rng, n);
    std::vector<uint8_t> q(Q3P5RowBytes(n));
    Q3P5QuantizeRow(w.data(), q.data(), n, nullptr);
    size_t off = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 128) {
      const int r = static_cast<int>(std::min<int64_t>(128, n - i0));
      const size_t bytes = r == 128 ? 56 : Q3P5ShortBlockBytes(r);
      BlockQ3P5 blk{};
      std::memcpy(&blk, q.data() + off, bytes);
      off += bytes;
      const Q3P5Params p = Q3P5UnpackHeader(blk.hdr);
      const BlockQ3P5 re = Q3P5EncodeBlock(w.data() + i0, r, static_cast<uint16_t>(blk.hdr & 0x7FFF),
                                           static_cast<uint16_t>(blk.hdr >> 17), p.sel);
      ASSERT_EQ(0, std::memcmp(&re, &blk, bytes)) << "block at " << i0;
    }
  }
}

// int32 bound: |acc_s| <= 32 * 127 * 15 = 60960 (kQ3P5MaxAccLength >= 32 is
// static_asserted in q3p5.h); all-extreme codes and activations reach it exactly.
TEST(Q3P5, AccumulatorBoundReachedExactly) {
  static_assert(kQ3P5SubBlockSize * kActMaxAbs * kQ3P5MaxCode4 == 60960);
  uint8_t codes[128];
  for (int k = 0; k < 128; ++k) codes[k] = k / 32 == 1 ? 15 : 7;  // v = 15 in sel, 14 elsewhere
  BlockQ3P5 blk{};
  blk.hdr = Q3P5PackHeader(Q3P5EncodeD(2.0f), 1, Q3P5EncodeM(0.0f));  // h = 1, m = 0
  Q3P5PackCodes(codes, 4, 1, &blk);
  std::vector<BlockQ8A> act(4);
  for (int b = 0; b < 4; ++b) {
    act[b].d = b == 1 ? 1.0f : 0.0f;  // only sub-block sel contributes
    act[b].sum = static_cast<int16_t>(-127 * 32);
    for (auto& q : act[b].qs) q = -127;
  }
  EXPECT_EQ(Q3P5VecDot(128, &blk, act.data()), -60960.0f);
  // All four sub-blocks: -127 * 32 * (15 + 3 * 14), exact in float.
  for (auto& a : act) a.d = 1.0f;
  EXPECT_EQ(Q3P5VecDot(128, &blk, act.data()), -127.0f * 32.0f * (15.0f + 3.0f * 14.0f));
}

// Q3P5 x Q8_B: the integer block sum is exact, and each block term
// x_d (h acc + m x_sum) is rounded at most 4 times, then nb - 1 additions:
// |vec_dot - exact| <= gamma_{nb + 3} M, M = sum_k |x~_k| (|h| c_k + |m|),
// with the exact dot of the decoded weights and x~ = x_d x_q in double.
TEST(Q3P5, VecDotQ8BMatchesExactDot) {
  auto rng = septet::testing::MakeRng(128);
  for (int64_t n : {1, 31, 32, 100, 128, 129, 172, 300, 576, 1000, 4096}) {
    for (int rep = 0; rep < 5; ++rep) {
      const auto w = septet::testing::RandomWeights(rng, n, 0.05f);
      const auto x = septet::testing::RandomWeights(rng, n, 1.0f);
      std::vector<uint8_t> row(Q3P5RowBytes(n));
      Q3P5QuantizeRow(w.data(), row.data(), n, nullptr);
      std::vector<uint8_t> act(Q8BRowBytes(n));
      Q8BQuantizeRow(x.data(), act.data(), n, nullptr);
      std::vector<float> xq(static_cast<size_t>(n));
      Q8BDequantizeRow(act.data(), xq.data(), n);
      double exact = 0, mag = 0;
      size_t off = 0;
      for (int64_t i0 = 0; i0 < n; i0 += 128) {
        const int r = static_cast<int>(std::min<int64_t>(128, n - i0));
        const int ns = (r + 31) / 32;
        const size_t bytes = r == 128 ? sizeof(BlockQ3P5) : Q3P5ShortBlockBytes(r);
        BlockQ3P5 blk{};
        std::memcpy(&blk, row.data() + off, bytes);
        off += bytes;
        const Q3P5Params p = Q3P5UnpackHeader(blk.hdr);
        uint8_t codes[128] = {};
        Q3P5UnpackCodes(blk, ns, codes);
        for (int k = 0; k < r; ++k) {
          const int c = (ns == 4 && k / 32 == p.sel) ? codes[k] : 2 * codes[k];
          exact += double{xq[i0 + k]} * (double{p.m} + p.d / 2.0 * c);
          mag += std::fabs(double{xq[i0 + k]}) * (std::fabs(p.d / 2.0) * c + std::fabs(double{p.m}));
        }
      }
      const double nb = std::ceil(static_cast<double>(n) / 128.0);
      ASSERT_LE(std::fabs(Q3P5VecDotQ8B(n, row.data(), act.data()) - exact), Gamma(nb + 3) * mag) << "n=" << n;
    }
  }
}

// |acc| <= 128 * 127 * 15 (kQ3P5MaxBlockAcc); every code and activation at its
// extreme gives 127 * (32 * 15 + 96 * 14), exact in float.
TEST(Q3P5, BlockAccumulatorBoundQ8B) {
  uint8_t codes[128];
  for (int k = 0; k < 128; ++k) codes[k] = k / 32 == 2 ? 15 : 7;
  BlockQ3P5 blk{};
  blk.hdr = Q3P5PackHeader(Q3P5EncodeD(2.0f), 2, Q3P5EncodeM(0.0f));  // h = 1, m = 0
  Q3P5PackCodes(codes, 4, 2, &blk);
  BlockQ8B act{};
  act.d = 1.0f;
  act.sum = static_cast<int16_t>(-127 * 128);
  for (auto& q : act.qs) q = -127;
  EXPECT_EQ(Q3P5VecDotQ8B(128, &blk, &act), -127.0f * (32 * 15 + 96 * 14));
  EXPECT_LE(127 * (32 * 15 + 96 * 14), kQ3P5MaxBlockAcc);
}

}  // namespace
}  // namespace septet::quant
