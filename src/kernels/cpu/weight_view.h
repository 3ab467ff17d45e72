// A weight matrix as the kernels see it: `rows` output channels, each a
// contiguous row of `cols` values stored in `type` (registry row_bytes(cols)
// bytes per row). The memory belongs to someone else (a file mapping or a
// model-owned buffer).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace septet::cpu {

// How the bytes of a row are arranged. kFile: the registry (file) layout, the
// only one the scalar reference (registry vec_dot / to_float, kernels/cpu/)
// accepts. Other layouts are load-time repacks for the SIMD kernels
// (kernels/simd/repack.h), same row_bytes, same information.
enum class WeightLayout : uint8_t {
  kFile = 0,
  kQ3P5Slots = 1,   // Q3P5 full blocks rearranged for AVX2 (kernels/simd/repack.h)
  kFloatPanels = 2,  // F32/F16/BF16 rows interleaved in panels of 16 (kernels/simd/repack.h)
  kQ3P5NLPlanes = 3,  // Q3P5_NL full blocks' codes rearranged for AVX2 (kernels/simd/repack.h)
  kQ4GRows8 = 4,  // Q4_G rows interleaved in groups of 8 (kernels/simd/repack.h)
  kLegacy4Rows8 = 5,  // Q4_0 / Q4_1 rows interleaved in groups of 8 (kernels/simd/repack.h)
  kQ4KRows8 = 6,  // Q4_K rows interleaved in groups of 8 (kernels/simd/repack.h)
  kQ3P5Rows16 = 7,  // Q3P5 rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kQ3P5NLRows16 = 8,  // Q3P5_NL rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kQ4NLRows16 = 9,  // Q4_NL rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kQ6KRows16 = 10,  // Q6_K rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kQ8_0Rows16 = 11,  // Q8_0 rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kLegacy4Rows16 = 12,  // Q4_0 / Q4_1 rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kQ4KRows16 = 13,  // Q4_K rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kQ5KRows16 = 14,  // Q5_K rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
  kQ4TRows16 = 15,  // Q4_T rows interleaved in groups of 16, AVX3_DL (kernels/simd/repack.h)
};

struct WeightView {
  DType type = DType::kF32;
  int64_t rows = 0;  // n_out
  int64_t cols = 0;  // n_in
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;  // GetTypeTraits(type).row_bytes(cols)
  WeightLayout layout = WeightLayout::kFile;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

}  // namespace septet::cpu
