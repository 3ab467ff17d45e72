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
#include <type_traits>

#include "util/test_util.h"

namespace septet::quant {
namespace {

// The bits of a float / double (as uint32_t / uint64_t) and back.
template <typename T>
using BitsOf = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
template <typename T>
BitsOf<T> Bits(T v) {
  BitsOf<T> b;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
T FromBits(BitsOf<T> b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

template <typename T>
void ExpectSame(T v) {
  const T want = std::nearbyint(v), got = RoundNearestEven(v);
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
      ExpectSame(FromBits<float>(p + d));
      ExpectSame(FromBits<float>(p - d));
      ExpectSame(-FromBits<float>(p + d));
      if (HasFatalFailure()) return;
    }
  }
  auto rng = testing::MakeRng(11);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < (1 << 22); ++i) {
    ExpectSame(FromBits<float>(bits(rng)));
    if (HasFatalFailure()) return;
  }
}

TEST(RoundNearestEvenTest, DoubleEqualsNearbyintBitForBit) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (double v : {0.0, -0.0, 0.3, -0.3, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, 4503599627370495.5,
                   -4503599627370495.5, 4503599627370496.0, 4503599627370497.0, 1e300, -1e300, kInf, -kInf,
                   std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::denorm_min(),
                   -std::numeric_limits<double>::min()}) {
    ExpectSame(v);
  }
  // The 2^14 doubles on each side of every power of two from 2^-2 to 2^53, and 2^21
  // random bit patterns.
  for (int e = -2; e <= 53; ++e) {
    const uint64_t p = Bits(std::ldexp(1.0, e));
    for (uint64_t d = 0; d < (1u << 14); ++d) {
      ExpectSame(FromBits<double>(p + d));
      ExpectSame(FromBits<double>(p - d));
      ExpectSame(-FromBits<double>(p + d));
      if (HasFatalFailure()) return;
    }
  }
  auto rng = testing::MakeRng(12);
  std::uniform_int_distribution<uint64_t> bits;
  for (int i = 0; i < (1 << 21); ++i) {
    ExpectSame(FromBits<double>(bits(rng)));
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
