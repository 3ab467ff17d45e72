#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace septet::io {
namespace {

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status ExistsError(const std::string& path) {
  return InvalidArgument("%s: file already exists; use --force to overwrite it", path.c_str());
}

}  // namespace

Status CreateTempFile(const std::string& path, bool overwrite, std::string* tmp, int* fd) {
  if (!overwrite && PathExists(path)) return ExistsError(path);
  *tmp = path + ".tmp." + std::to_string(::getpid());
  *fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (*fd < 0) return IoError("%s: cannot create: %s", tmp->c_str(), std::strerror(errno));
  return Status::Ok();
}

Status WriteAll(int fd, const void* data, size_t n, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("%s: write failed: %s", path.c_str(), std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status CommitTempFile(int fd, const std::string& tmp, const std::string& path, bool overwrite) {
  Status st;
  if (::fsync(fd) != 0) st = IoError("%s: fsync failed: %s", tmp.c_str(), std::strerror(errno));
  if (::close(fd) != 0 && st.ok()) st = IoError("%s: close failed: %s", tmp.c_str(), std::strerror(errno));
  if (st.ok()) {
    int rc = 0;
    if (overwrite) {
      rc = ::rename(tmp.c_str(), path.c_str());
    } else {
      // Atomic "create if absent": fails with EEXIST if someone created `path` meanwhile.
      rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
      if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {  // filesystem without NOREPLACE
        rc = PathExists(path) ? (errno = EEXIST, -1) : ::rename(tmp.c_str(), path.c_str());
      }
    }
    if (rc != 0) {
      st = errno == EEXIST ? ExistsError(path)
                           : IoError("%s: cannot rename %s onto it: %s", path.c_str(), tmp.c_str(),
                                     std::strerror(errno));
    }
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // Make the rename itself durable.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace septet::io
