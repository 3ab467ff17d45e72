#include "kernels/cpu/embedding.h"

#include "core/check.h"
#include "quant/registry.h"

namespace septet::cpu {

void EmbeddingRow(const WeightView& table, int64_t token, float* out) {
  SEPTET_DCHECK(token >= 0 && token < table.rows);
  SEPTET_CHECK(table.layout == WeightLayout::kFile);
  GetTypeTraits(table.type).to_float(table.row(token), out, table.cols);
}

}  // namespace septet::cpu
