// The GPU memory bandwidth a bandwidth-bound decode is compared with: device-to-
// device cudaMemcpy of a buffer far larger than L2, timed with CUDA events.
// STREAM's convention: bytes read + bytes written, 2 * bytes / time. One untimed
// copy warms up; each timed repetition is one copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace septet::cuda {

// GB/s (1e9 bytes per second) of each repetition. kUnsupported without a device;
// kInvalidArgument for bytes < 1 MiB, repetitions < 1, or when the two buffers do
// not fit in device memory.
Result<std::vector<double>> MeasureCopyBandwidth(size_t bytes, int32_t repetitions, int device = 0);

}  // namespace septet::cuda
