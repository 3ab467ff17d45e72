// Sequential read bandwidth of a file: what streaming layers from disk can reach.
// Reads `bytes` (or the whole file when smaller) from offset 0 in 4 MiB pread()s.
// The page cache is bypassed with O_DIRECT where the filesystem supports it;
// otherwise the range is dropped from the cache first (posix_fadvise DONTNEED),
// which the kernel may not fully honour (pages mapped elsewhere stay), so the
// result says which way it was read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace septet::perf {

struct DiskReadResult {
  uint64_t bytes = 0;   // read
  double seconds = 0;
  double gbs = 0;       // 1e9 bytes per second
  bool direct = false;  // O_DIRECT (uncached) rather than after a cache drop
};

// NotFound / IoError naming the file; InvalidArgument for bytes < 1 MiB.
Result<DiskReadResult> MeasureDiskRead(const std::string& path, size_t bytes);

}  // namespace septet::perf
