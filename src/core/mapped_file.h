// Read-only memory-mapped file. Weights are used straight from the mapping when
// their stored type is the compute type, so a model costs its file size in page
// cache, not in private memory.
//
// Fallback: when mmap fails (a filesystem that cannot map files), or when the
// environment sets SEPTET_NO_MMAP=1, the file is read into a private 4 KiB-aligned
// buffer instead. The bytes are the same; the cost is the file size in private
// memory and a full read at open. mapped() and fallback_reason() say which.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace septet {

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool mapped() const { return mapped_; }
  // Gives back the pages wholly inside [p, p + n) (a range of this file's bytes)
  // that this process has mapped: for bytes that will not be read again (a weight
  // repacked into an owned copy), so they leave the resident set. Reading them
  // later still works (the kernel reads them in again). Does nothing for the
  // read-into-memory fallback, whose bytes would be lost.
  void DropPages(const uint8_t* p, size_t n) const;
  // Why the file was read instead of mapped ("" when mapped).
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::string fallback_reason_;
};

}  // namespace septet
