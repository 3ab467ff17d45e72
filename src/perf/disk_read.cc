#include "perf/disk_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/clock.h"

namespace septet::perf {
namespace {

constexpr size_t kChunk = size_t{4} << 20;
constexpr size_t kAlign = 4096;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Reads [0, n) through fd into buf; returns bytes read or -errno.
int64_t ReadAll(int fd, uint8_t* buf, uint64_t n, bool direct) {
  uint64_t off = 0;
  while (off < n) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, n - off));
    if (direct) want = (want + kAlign - 1) / kAlign * kAlign;  // O_DIRECT: whole blocks (EOF ends it short)
    const ssize_t r = ::pread(fd, buf, want, static_cast<off_t>(off));
    if (r < 0) return -errno;
    if (r == 0) break;
    off += static_cast<uint64_t>(r);
  }
  return static_cast<int64_t>(std::min(off, n));
}

}  // namespace

Result<DiskReadResult> MeasureDiskRead(const std::string& path, size_t bytes) {
  if (bytes < (size_t{1} << 20)) return InvalidArgument("disk read probe: %zu bytes; expected at least 1 MiB", bytes);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound("%s: no such file", path.c_str());
    return IoError("%s: cannot stat: %s", path.c_str(), std::strerror(errno));
  }
  const uint64_t n = std::min<uint64_t>(bytes, static_cast<uint64_t>(st.st_size));
  if (n == 0) return InvalidArgument("%s: empty file; nothing to read", path.c_str());
  std::unique_ptr<uint8_t, FreeDeleter> buf(static_cast<uint8_t*>(std::aligned_alloc(kAlign, kChunk)));
  if (!buf) return OutOfRange("disk read probe: cannot allocate %zu bytes", kChunk);

  DiskReadResult res;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  res.direct = fd >= 0;
  if (fd < 0) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("%s: cannot open: %s", path.c_str(), std::strerror(errno));
    ::posix_fadvise(fd, 0, static_cast<off_t>(n), POSIX_FADV_DONTNEED);
  }
  uint64_t t0 = NowNs();
  int64_t got = ReadAll(fd, buf.get(), n, res.direct);
  if (got == -EINVAL && res.direct) {  // the filesystem refused O_DIRECT reads after all
    ::close(fd);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("%s: cannot open: %s", path.c_str(), std::strerror(errno));
    res.direct = false;
    ::posix_fadvise(fd, 0, static_cast<off_t>(n), POSIX_FADV_DONTNEED);
    t0 = NowNs();
    got = ReadAll(fd, buf.get(), n, false);
  }
  const uint64_t t1 = NowNs();
  ::close(fd);
  if (got < 0) return IoError("%s: read failed: %s", path.c_str(), std::strerror(static_cast<int>(-got)));
  res.bytes = static_cast<uint64_t>(got);
  res.seconds = static_cast<double>(t1 - t0) * 1e-9;
  res.gbs = res.seconds > 0 ? static_cast<double>(res.bytes) / res.seconds / 1e9 : 0;
  return res;
}

}  // namespace septet::perf
