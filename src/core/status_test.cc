#include "core/status.h"

#include <gtest/gtest.h>

namespace septet {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd value %d", x);
  return x / 2;
}

Status UseHalf(int x, int* out) {
  SEPTET_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::Ok();
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = Corrupt("%s: tensor '%s' truncated", "a.gguf", "w");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_EQ(s.ToString(), "corrupt: a.gguf: tensor 'w' truncated");
}

TEST(Status, ResultAndMacros) {
  int v = 0;
  EXPECT_TRUE(UseHalf(8, &v).ok());
  EXPECT_EQ(v, 4);
  Status s = UseHalf(3, &v);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd value 3");
}

}  // namespace
}  // namespace septet
