// The disk read probe reads what it says, from the file it is given.
#include "perf/disk_read.h"

#include <gtest/gtest.h>

#include <vector>

#include "util/test_util.h"

namespace septet::perf {
namespace {

TEST(DiskReadTest, ReadsTheRequestedBytesOrTheWholeFile) {
  const std::vector<uint8_t> bytes((size_t{3} << 20) + 123, 7);
  const std::string path = testing::WriteTempFile("disk_read_test.bin", bytes);
  auto r = MeasureDiskRead(path, size_t{2} << 20);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bytes, uint64_t{2} << 20);
  EXPECT_GT(r->gbs, 0.0);
  auto whole = MeasureDiskRead(path, size_t{64} << 20);  // more than the file: all of it
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->bytes, bytes.size());
}

TEST(DiskReadTest, ErrorsNameTheFileOrTheSize) {
  auto missing = MeasureDiskRead(testing::TempDir() + "/no_such_model.gguf", size_t{1} << 20);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no_such_model.gguf"), std::string::npos);
  auto tiny = MeasureDiskRead("/dev/null", 1000);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("1 MiB"), std::string::npos) << tiny.status().message();
}

}  // namespace
}  // namespace septet::perf
