// quant_util.h's rounding: RoundNearestEven against std::nearbyint bit for bit,
// and RoundClamp's clamping and NaN.
#include "quant/quant_util.h"

#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "util/test_util.h"

namespace septet::quant {
namespace {

uint32_t Bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}
float FromBits(uint32_t b) {
  float v;
  std::memcpy(&v, &b, 4);
  return v;
}

void ExpectSame(float v) {
  const float want = std::nearbyint(v), got = RoundNearestEven(v);
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << "bits " << Bits(v);
  } else {
    ASSERT_EQ(Bits(got), Bits(want)) << "v = " << v << " (bits " << Bits(v) << "): " << got << " vs " << want;
  }
}

TEST(RoundNearestEvenTest, EqualsNearbyintBitForBit) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (float v : {0.0f, -0.0f, 0.3f, -0.3f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f, 8388607.5f,
                  -8388607.5f, 8388608.0f, 8388609.0f, 4194303.5f, 1e30f, -1e30f, kInf, -kInf,
                  std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
                  -std::numeric_limits<float>::min()}) {
    ExpectSame(v);
  }
  // Every float whose magnitude is below 2^24 with exponent steps at the boundaries: each
  // of the 2^21 values around every power of two from 2^-2 to 2^24, and 2^22 random bit patterns.
  for (int e = -2; e <= 24; ++e) {
    const uint32_t p = Bits(std::ldexp(1.0f, e));
    for (uint32_t d = 0; d < (1u << 16); ++d) {
      ExpectSame(FromBits(p + d));
      ExpectSame(FromBits(p - d));
      ExpectSame(-FromBits(p + d));
      if (HasFatalFailure()) return;
    }
  }
  auto rng = testing::MakeRng(11);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < (1 << 22); ++i) {
    ExpectSame(FromBits(bits(rng)));
    if (HasFatalFailure()) return;
  }
}

uint64_t Bits64(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}
double FromBits64(uint64_t b) {
  double v;
  std::memcpy(&v, &b, 8);
  return v;
}

void ExpectSame64(double v) {
  const double want = std::nearbyint(v), got = RoundNearestEven(v);
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << "bits " << Bits64(v);
  } else {
    ASSERT_EQ(Bits64(got), Bits64(want)) << "v = " << v << " (bits " << Bits64(v) << "): " << got << " vs " << want;
  }
}

TEST(RoundNearestEvenTest, DoubleEqualsNearbyintBitForBit) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (double v : {0.0, -0.0, 0.3, -0.3, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, 4503599627370495.5,
                   -4503599627370495.5, 4503599627370496.0, 4503599627370497.0, 1e300, -1e300, kInf, -kInf,
                   std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::denorm_min(),
                   -std::numeric_limits<double>::min()}) {
    ExpectSame64(v);
  }
  // The 2^14 doubles on each side of every power of two from 2^-2 to 2^53, and 2^21
  // random bit patterns.
  for (int e = -2; e <= 53; ++e) {
    const uint64_t p = Bits64(std::ldexp(1.0, e));
    for (uint64_t d = 0; d < (1u << 14); ++d) {
      ExpectSame64(FromBits64(p + d));
      ExpectSame64(FromBits64(p - d));
      ExpectSame64(-FromBits64(p + d));
      if (HasFatalFailure()) return;
    }
  }
  auto rng = testing::MakeRng(12);
  std::uniform_int_distribution<uint64_t> bits;
  for (int i = 0; i < (1 << 21); ++i) {
    ExpectSame64(FromBits64(bits(rng)));
    if (HasFatalFailure()) return;
  }
}

TEST(RoundClampTest, ClampsAndMapsNanToLo) {
  EXPECT_EQ(RoundClamp(2.5f, 0, 7), 2);
  EXPECT_EQ(RoundClamp(3.5f, 0, 7), 4);
  EXPECT_EQ(RoundClamp(-0.5f, 0, 7), 0);
  EXPECT_EQ(RoundClamp(-3.7f, -8, 7), -4);
  EXPECT_EQ(RoundClamp(9.0f, 0, 7), 7);
  EXPECT_EQ(RoundClamp(-1e30f, -8, 7), -8);
  EXPECT_EQ(RoundClamp(std::numeric_limits<float>::infinity(), 0, 7), 7);
  EXPECT_EQ(RoundClamp(std::numeric_limits<float>::quiet_NaN(), -8, 7), -8);
}

}  // namespace
}  // namespace septet::quant
