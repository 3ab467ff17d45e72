// Writing a file so that a crash never leaves a half-written one under its final name
// (internal to io; GgufWriter and GgufStreamWriter write through it):
//   CreateTempFile(path)   -> `path.tmp.<pid>`, opened for writing
//   WriteAll(fd, ...) ...
//   CommitTempFile(...)    -> fsync, close, rename onto `path`, fsync the directory
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace septet::io {

// Refuses an existing `path` unless overwrite (the message names the file and --force),
// then creates `path.tmp.<pid>`: its name goes to *tmp, its descriptor to *fd.
Status CreateTempFile(const std::string& path, bool overwrite, std::string* tmp, int* fd);

// Writes all n bytes, retrying short and interrupted writes; errors name `path`.
Status WriteAll(int fd, const void* data, size_t n, const std::string& path);

// fsyncs and closes fd (closed in any case), then renames tmp onto path; without
// overwrite the rename fails if path has appeared meanwhile. On failure tmp is
// removed; on success the directory is fsynced so that the rename is durable.
Status CommitTempFile(int fd, const std::string& tmp, const std::string& path, bool overwrite);

}  // namespace septet::io
