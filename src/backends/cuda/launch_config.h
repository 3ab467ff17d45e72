// Launch geometry of every kernel, as plain host functions so that a test can check
// them without a GPU. The .cu launchers use exactly these.
#pragma once

#include <algorithm>
#include <cstdint>

namespace septet::cuda {

struct LaunchDims {
  uint32_t grid_x = 1, grid_y = 1;
  uint32_t block = 1;  // threads per block (1-D)
};

inline constexpr int kWarp = 32;
// Matvec: one warp per output row, kMatVecWarps rows per block; grid.y = token.
inline constexpr int kMatVecWarps = 8;
// Elementwise kernels: grid-stride loops; the grid is capped (enough to fill any GPU).
inline constexpr int kElemThreads = 256;
inline constexpr int64_t kElemMaxBlocks = 65535;
// Row kernels (RMSNorm, Q8_R quantization): one block of kRowThreads per row.
inline constexpr int kRowThreads = 256;
// Attention: one block of kAttnWarps warps per (query head, token).
inline constexpr int kAttnWarps = 4;
inline constexpr int kAttnMaxHeadDim = 256;  // each lane holds head_dim / 32 <= 8 outputs
// Q8_A / Q8_B quantization: one warp per 32- / 128-value block, kQ8AWarps blocks per
// CUDA block.
inline constexpr int kQ8AWarps = 8;
// grid.y carries the token index; the context's chunk never exceeds this.
inline constexpr int64_t kMaxGridY = 65535;

inline constexpr int64_t CeilDiv64(int64_t a, int64_t b) { return (a + b - 1) / b; }

// y[t][r] for r < rows, t < m.
inline LaunchDims MatVecDims(int64_t rows, int64_t m) {
  return {static_cast<uint32_t>(CeilDiv64(rows, kMatVecWarps)), static_cast<uint32_t>(m),
          static_cast<uint32_t>(kMatVecWarps * kWarp)};
}
// n values per row, m rows.
inline LaunchDims QuantizeQ8ADims(int64_t n, int64_t m) {
  return {static_cast<uint32_t>(CeilDiv64(CeilDiv64(n, 32), kQ8AWarps)), static_cast<uint32_t>(m),
          static_cast<uint32_t>(kQ8AWarps * kWarp)};
}
// The same for Q8_B: one warp per 128-value block.
inline LaunchDims QuantizeQ8BDims(int64_t n, int64_t m) {
  return {static_cast<uint32_t>(CeilDiv64(CeilDiv64(n, 128), kQ8AWarps)), static_cast<uint32_t>(m),
          static_cast<uint32_t>(kQ8AWarps * kWarp)};
}
inline LaunchDims RowDims(int64_t m) { return {1, static_cast<uint32_t>(m), static_cast<uint32_t>(kRowThreads)}; }
// count elements handled by a grid-stride loop (count may exceed the grid).
inline LaunchDims ElementwiseDims(int64_t count) {
  const int64_t blocks = std::clamp<int64_t>(CeilDiv64(count, kElemThreads), 1, kElemMaxBlocks);
  return {static_cast<uint32_t>(blocks), 1, static_cast<uint32_t>(kElemThreads)};
}
inline LaunchDims AttentionDims(int64_t n_heads, int64_t m) {
  return {static_cast<uint32_t>(n_heads), static_cast<uint32_t>(m), static_cast<uint32_t>(kAttnWarps * kWarp)};
}

}  // namespace septet::cuda
