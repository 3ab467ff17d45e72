#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>

namespace septet {
namespace {

// Every fp16 bit pattern round-trips through float exactly (NaNs stay NaN).
TEST(Half, Fp16AllPatternsRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = Fp16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Fp16ToFloat(FloatToFp16(f)))) << h;
      continue;
    }
    EXPECT_EQ(FloatToFp16(f), h) << "pattern " << h << " value " << f;
  }
}

// Rounding is to nearest, ties to even: check midpoints between neighbours.
TEST(Half, Fp16RoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    const float lo = Fp16ToFloat(static_cast<uint16_t>(h));
    const float hi = Fp16ToFloat(static_cast<uint16_t>(h + 1));
    const float mid = lo + (hi - lo) * 0.5f;  // exact in float
    const uint16_t expect = (h % 2 == 0) ? static_cast<uint16_t>(h) : static_cast<uint16_t>(h + 1);
    EXPECT_EQ(FloatToFp16(mid), expect) << h;
    EXPECT_EQ(FloatToFp16(std::nextafter(mid, hi)), h + 1) << h;
    EXPECT_EQ(FloatToFp16(std::nextafter(mid, lo)), h) << h;
  }
  EXPECT_EQ(FloatToFp16(1e6f), 0x7C00);
  EXPECT_EQ(FloatToFp16(-1e6f), 0xFC00);
}

TEST(Half, Bf16RoundTripAndRounding) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = Bf16ToFloat(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToBf16(f), b);
  }
  // 1 + 2^-8 is the midpoint of 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(FloatToBf16(1.0f + 1.0f / 256.0f), FloatToBf16(1.0f));
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::nanf("")))));
}

}  // namespace
}  // namespace septet
