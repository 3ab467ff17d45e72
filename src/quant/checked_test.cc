#include "quant/checked.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "quant/registry.h"

namespace septet::quant {
namespace {

void ExpectInvalid(const Status& s, const char* needle) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(Checked, QuantizeRowRejectsBadArguments) {
  std::vector<float> x(64, 0.5f);
  std::vector<uint8_t> buf(1024);
  for (DType t : {DType::kQ8_0, DType::kQ4_G, DType::kQ3P5, DType::kQ3P5_SEED, DType::kQ8_A,
                  DType::kQ8_R, DType::kF16}) {
    SCOPED_TRACE(GetTypeTraits(t).name);
    EXPECT_TRUE(QuantizeRow(t, x.data(), 64, buf.data(), buf.size()).ok());
    ExpectInvalid(QuantizeRow(t, x.data(), -1, buf.data(), buf.size()), "n = -1");
    ExpectInvalid(QuantizeRow(t, nullptr, 64, buf.data(), buf.size()), "src is null");
    ExpectInvalid(QuantizeRow(t, x.data(), 64, nullptr, 0), "dst is null");
    ExpectInvalid(QuantizeRow(t, x.data(), 64, buf.data(), 3), "needs");
    std::vector<float> bad = x;
    bad[7] = std::numeric_limits<float>::quiet_NaN();
    ExpectInvalid(QuantizeRow(t, bad.data(), 64, buf.data(), buf.size()), "src[7]");
    bad[7] = std::numeric_limits<float>::infinity();
    ExpectInvalid(QuantizeRow(t, bad.data(), 64, buf.data(), buf.size()), "src[7]");
    std::vector<float> imp(64, 1.0f);
    imp[9] = -1.0f;
    ExpectInvalid(QuantizeRow(t, x.data(), 64, buf.data(), buf.size(), imp.data()), "importance[9]");
    EXPECT_TRUE(QuantizeRow(t, nullptr, 0, nullptr, 0).ok());  // empty row, no buffers
  }
  // fp16-field formats reject values their fields cannot hold.
  std::vector<float> big(64, 1e6f);
  ExpectInvalid(QuantizeRow(DType::kQ3P5, big.data(), 64, buf.data(), buf.size()), "65504");
  EXPECT_TRUE(QuantizeRow(DType::kQ3P5_SEED, big.data(), 64, buf.data(), buf.size()).ok());
  ExpectInvalid(QuantizeRow(static_cast<DType>(77), x.data(), 64, buf.data(), buf.size()), "unknown dtype");
}

TEST(Checked, DequantizeAndVecDotRejectBadArguments) {
  std::vector<float> x(64, 0.5f), out(64);
  std::vector<uint8_t> w(1024), a(1024);
  ASSERT_TRUE(QuantizeRow(DType::kQ3P5, x.data(), 64, w.data(), w.size()).ok());
  ASSERT_TRUE(QuantizeRow(DType::kQ8_A, x.data(), 64, a.data(), a.size()).ok());
  EXPECT_TRUE(DequantizeRow(DType::kQ3P5, w.data(), 28, 64, out.data()).ok());
  ExpectInvalid(DequantizeRow(DType::kQ3P5, w.data(), 27, 64, out.data()), "needs 28");
  ExpectInvalid(DequantizeRow(DType::kQ3P5, w.data(), 28, 64, nullptr), "dst is null");
  ExpectInvalid(DequantizeRow(DType::kQ3P5, w.data(), 28, -5, out.data()), "n = -5");

  const Result<float> ok = VecDotChecked(DType::kQ3P5, 64, w.data(), 28, a.data(), 80);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_NEAR(ok.value(), 64 * 0.25f, 64 * 0.25f * 0.02f);
  ExpectInvalid(VecDotChecked(DType::kQ3P5, 64, w.data(), 28, a.data(), 79).status(), "act_row");
  ExpectInvalid(VecDotChecked(DType::kQ3P5, 64, nullptr, 28, a.data(), 80).status(), "w_row is null");
  ExpectInvalid(VecDotChecked(DType::kQ8_A, 64, a.data(), 80, a.data(), 80).status(), "activation-only");
  ExpectInvalid(VecDotChecked(DType::kQ3P5, -1, w.data(), 28, a.data(), 80).status(), "n = -1");
  EXPECT_EQ(VecDotChecked(DType::kQ3P5, 0, nullptr, 0, nullptr, 0).value(), 0.0f);
}

// The raw registry functions CHECK the same preconditions (never UB).
TEST(Checked, RawFunctionsCheckFail) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const TypeTraits& tr = GetTypeTraits(DType::kQ3P5);
  float x[4] = {};
  uint8_t buf[64] = {};
  EXPECT_DEATH(tr.from_float(x, buf, -1, nullptr), "n must be >= 0");
  EXPECT_DEATH(tr.from_float(nullptr, buf, 4, nullptr), "null row pointer");
  EXPECT_DEATH(tr.to_float(nullptr, x, 4), "null row pointer");
  EXPECT_DEATH(tr.vec_dot(4, buf, nullptr), "null row pointer");
  EXPECT_DEATH(tr.row_bytes(-3), "n must be >= 0");
}

}  // namespace
}  // namespace septet::quant
