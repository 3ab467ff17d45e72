// MappedFile: the mapping and the read-into-memory fallback (SEPTET_NO_MMAP=1,
// what a filesystem that cannot mmap gets) hold the same bytes.
#include "core/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

#include <fstream>
#include <string>

namespace septet {
namespace {

// (The core tests link before the shared test helpers, so a plain temp file here.)
std::string WriteTemp(const std::vector<uint8_t>& bytes) {
  std::string path = "/tmp/septet_mapped_file_test_XXXXXX";
  const int fd = ::mkstemp(path.data());
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  return path;
}

class NoMmapEnv {
 public:
  NoMmapEnv() { ::setenv("SEPTET_NO_MMAP", "1", 1); }
  ~NoMmapEnv() { ::unsetenv("SEPTET_NO_MMAP"); }
};

TEST(MappedFileTest, ReadFallbackHoldsTheSameBytes) {
  std::vector<uint8_t> bytes(3 * 4096 + 17);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
  const std::string path = WriteTemp(bytes);
  auto mapped = MappedFile::Open(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  EXPECT_TRUE((*mapped)->mapped());
  EXPECT_EQ((*mapped)->fallback_reason(), "");
  std::shared_ptr<MappedFile> read;
  {
    NoMmapEnv env;
    auto r = MappedFile::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    read = *r;
  }
  EXPECT_FALSE(read->mapped());
  EXPECT_EQ(read->fallback_reason(), "SEPTET_NO_MMAP=1");
  ASSERT_EQ(read->size(), bytes.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(read->data()) % 4096, 0u);
  EXPECT_EQ(std::memcmp(read->data(), (*mapped)->data(), bytes.size()), 0);
  ::unlink(path.c_str());
}

// DropPages leaves the bytes readable: the mapping reads them in again, and the
// read-into-memory fallback (whose pages madvise would zero) is left alone.
// Ranges that are not the file's own bytes are ignored.
TEST(MappedFileTest, DroppedPagesReadTheSameBytesAgain) {
  std::vector<uint8_t> bytes(5 * 4096 + 123);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 29 + 3);
  const std::string path = WriteTemp(bytes);
  auto mapped = MappedFile::Open(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  std::shared_ptr<MappedFile> read;
  {
    NoMmapEnv env;
    auto r = MappedFile::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    read = *r;
  }
  for (const auto& f : {*mapped, read}) {
    ASSERT_EQ(std::memcmp(f->data(), bytes.data(), bytes.size()), 0);  // resident
    f->DropPages(f->data() + 100, bytes.size() - 200);
    f->DropPages(f->data(), f->size());
    f->DropPages(f->data() + 4096, f->size());  // runs past the end: ignored
    f->DropPages(bytes.data(), bytes.size());   // not this file's bytes: ignored
    EXPECT_EQ(std::memcmp(f->data(), bytes.data(), bytes.size()), 0) << (f->mapped() ? "mapped" : "read");
  }
  ::unlink(path.c_str());
}

TEST(MappedFileTest, FallbackStillReportsMissingFiles) {
  NoMmapEnv env;
  auto r = MappedFile::Open("/tmp/septet_mapped_file_test_no_such_file.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace septet
