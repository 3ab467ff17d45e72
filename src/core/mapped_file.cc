#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace septet {
namespace {

// The whole file into a new 4 KiB-aligned buffer (*data; freed with std::free).
Status ReadWhole(int fd, const std::string& path, size_t size, const uint8_t** data) {
  constexpr size_t kAlign = 4096;
  uint8_t* buf = static_cast<uint8_t*>(std::aligned_alloc(kAlign, (size + kAlign - 1) / kAlign * kAlign));
  if (buf == nullptr) {
    return OutOfRange("%s: cannot allocate %zu bytes to read the file into memory (it could not be mapped)",
                      path.c_str(), size);
  }
  size_t off = 0;
  while (off < size) {
    const ssize_t r = ::pread(fd, buf + off, std::min<size_t>(size - off, size_t{64} << 20), static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = errno;
      std::free(buf);
      if (r == 0) return IoError("%s: file ended at byte %zu of %zu while reading it", path.c_str(), off, size);
      return IoError("%s: read failed at byte %zu: %s", path.c_str(), off, std::strerror(err));
    }
    off += static_cast<size_t>(r);
  }
  *data = buf;
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("%s: no such file", path.c_str());
    return IoError("%s: cannot open: %s", path.c_str(), std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return IoError("%s: cannot stat: %s", path.c_str(), std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("%s: not a regular file", path.c_str());
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    const char* no_mmap = std::getenv("SEPTET_NO_MMAP");
    if (no_mmap != nullptr && std::strcmp(no_mmap, "1") == 0) {
      f->fallback_reason_ = "SEPTET_NO_MMAP=1";
    } else {
      void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        f->data_ = static_cast<const uint8_t*>(p);
        f->mapped_ = true;
      } else {
        f->fallback_reason_ = std::string("mmap failed: ") + std::strerror(errno);
      }
    }
    if (!f->mapped_) {
      Status st = ReadWhole(fd, path, f->size_, &f->data_);
      if (!st.ok()) {
        ::close(fd);
        return st;
      }
    }
  }
  ::close(fd);
  return f;
}

void MappedFile::DropPages(const uint8_t* p, size_t n) const {
  const uintptr_t lo = reinterpret_cast<uintptr_t>(data_), at = reinterpret_cast<uintptr_t>(p);
  if (!mapped_ || at < lo || n > size_ || at - lo > size_ - n) return;  // not (wholly) this file's bytes
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t a = (at + page - 1) / page * page;
  const uintptr_t b = (at + n) / page * page;
  // A failure (e.g. locked pages) only leaves the pages resident.
  if (a < b) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ == nullptr) return;
  if (mapped_) {
    ::munmap(const_cast<uint8_t*>(data_), size_);
  } else {
    std::free(const_cast<uint8_t*>(data_));
  }
}

}  // namespace septet
