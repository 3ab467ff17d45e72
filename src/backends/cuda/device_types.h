// Plain structs the CUDA launchers take (no CUDA headers: host tests include this).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace septet::cuda {

// Device rows start on this boundary (upload re-pitches every matrix), so the
// 4-byte fields of Q3P5 / Q4_G blocks, Q8_0's 2-byte fields and F32 / F16 elements
// are naturally aligned on the device. The bytes of each row are the stored bytes.
inline constexpr size_t kRowAlign = 16;

inline constexpr size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// A weight matrix in device memory, in its stored type: `rows` rows of
// `row_bytes` bytes (registry row_bytes(cols)), row r at data + r * pitch.
struct DeviceMatrix {
  DType type = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  size_t pitch = 0;  // RoundUp(row_bytes, kRowAlign)
  const uint8_t* data = nullptr;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * pitch; }
};

// INT8 activations on the device, structure-of-arrays for aligned loads. The
// numbers are exactly the registry's (same d, sum and codes, bit for bit):
//   Q8_A: per token t and 32-value block b: d[t * blocks + b], sum[t * blocks + b],
//         codes q[t * q_stride + 32 b .. + 31] (zero past n);
//   Q8_B: the same per 128-value block (blocks = ActBlocksQ8B(n)), for Q3P5;
//   Q8_R: one block per row (blocks = 1): d[t], sum[t], codes q[t * q_stride + i].
// q_stride = RoundUp(n, 32) bytes: every row is zero-padded to whole 32-value blocks,
// so kernels may read codes up to the padded end and padding contributes 0.
struct DeviceAct {
  int8_t* q = nullptr;
  float* d = nullptr;
  int32_t* sum = nullptr;
  int64_t q_stride = 0;
  int64_t blocks = 0;
};

inline constexpr int64_t ActStride(int64_t n) { return static_cast<int64_t>(RoundUp(static_cast<size_t>(n), 32)); }
inline constexpr int64_t ActBlocks(int64_t n) { return (n + 31) / 32; }
inline constexpr int64_t ActBlocksQ8B(int64_t n) { return (n + 127) / 128; }
// DeviceAct::blocks for a row of n values in `act_type` (Q8_A, Q8_B or Q8_R).
inline constexpr int64_t ActBlocksFor(DType act_type, int64_t n) {
  return act_type == DType::kQ8_R ? 1 : act_type == DType::kQ8_B ? ActBlocksQ8B(n) : ActBlocks(n);
}

}  // namespace septet::cuda
