// A weight matrix as the kernels see it: `rows` output channels, each a
// contiguous row of `cols` values stored in `type` (registry row_bytes(cols)
// bytes per row). The memory belongs to someone else (a file mapping or a
// model-owned buffer).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace septet::cpu {

struct WeightView {
  DType type = DType::kF32;
  int64_t rows = 0;  // n_out
  int64_t cols = 0;  // n_in
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;  // GetTypeTraits(type).row_bytes(cols)

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

}  // namespace septet::cpu
