// A STREAM-like memory bandwidth probe. Decoding one token reads every weight
// once, so the figure that bounds decode speed is the *read* bandwidth of buffers
// far larger than the last-level cache; copy is reported as well.
//
//   read: each thread sums its slice of a `bytes` buffer (bytes / time)
//   copy: each thread memcpy's its slice of src to dst; STREAM's convention counts
//         bytes read + bytes written (2 * bytes / time; write-allocate traffic
//         is not counted)
// Buffers are first touched by the threads that use them; one untimed pass warms
// them; the result is the median over the timed repetitions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "perf/stats.h"

namespace septet::perf {

struct BandwidthOptions {
  size_t bytes = size_t{512} << 20;  // per buffer; choose >> LLC
  int32_t n_threads = 1;
  int32_t repetitions = 5;
};

struct BandwidthResult {
  size_t bytes = 0;
  int32_t n_threads = 0;
  int32_t repetitions = 0;
  Summary read_gbs;  // 1e9 bytes per second
  Summary copy_gbs;
};

// InvalidArgument for bytes < 1 MiB, n_threads < 1 or repetitions < 1.
Result<BandwidthResult> MeasureBandwidth(const BandwidthOptions& options);

}  // namespace septet::perf
