// Embedding lookup: the row of a [vocab][dim] table, dequantized to float
// with the table type's to_float (any registry type).
#pragma once

#include <cstdint>

#include "kernels/cpu/weight_view.h"

namespace septet::cpu {

// out: [table.cols]. token must be in [0, table.rows) (checked by the caller).
void EmbeddingRow(const WeightView& table, int64_t token, float* out);

}  // namespace septet::cpu
