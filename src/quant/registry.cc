#include "quant/registry.h"

#include <array>

#include "core/check.h"
#include "quant/float_types.h"
#include "quant/q3p5.h"
#include "quant/q3p5_seed.h"
#include "quant/q4_g.h"
#include "quant/q8_0.h"
#include "quant/q8_act.h"

namespace septet {
namespace {

template <size_t kBytes>
size_t ElementRowBytes(int64_t n) {
  return static_cast<size_t>(n) * kBytes;
}

// One row per type. Keep in DType order of appearance in docs/formats.md.
// Activation-only rows have no vec_dot (nullptr) and name themselves as vec_dot_type.
const std::array<TypeTraits, 9> kTraits = {{
    {DType::kF32, "F32", 1, 4, 32.0, false, false, DType::kF32, &ElementRowBytes<4>,
     &quant::F32ToFloat, &quant::F32FromFloat, &quant::F32VecDot},
    {DType::kF16, "F16", 1, 2, 16.0, false, false, DType::kF32, &ElementRowBytes<2>,
     &quant::F16ToFloat, &quant::F16FromFloat, &quant::F16VecDot},
    {DType::kBF16, "BF16", 1, 2, 16.0, false, false, DType::kF32, &ElementRowBytes<2>,
     &quant::Bf16ToFloat, &quant::Bf16FromFloat, &quant::Bf16VecDot},
    {DType::kQ8_0, "Q8_0", quant::kQ8_0BlockSize, sizeof(quant::BlockQ8_0),
     quant::kQ8_0BitsPerWeight, true, false, DType::kQ8_A, &quant::Q8_0RowBytesFn,
     &quant::Q8_0DequantizeRow, &quant::Q8_0QuantizeRow, &quant::Q8_0VecDot},
    {DType::kQ4_G, "Q4_G", quant::kQ4GBlockSize, sizeof(quant::BlockQ4G),
     quant::kQ4GBitsPerWeight, true, false, DType::kQ8_A, &quant::Q4GRowBytesFn,
     &quant::Q4GDequantizeRow, &quant::Q4GQuantizeRow, &quant::Q4GVecDot},
    {DType::kQ3P5, "Q3P5", quant::kQ3P5BlockSize, sizeof(quant::BlockQ3P5),
     quant::kQ3P5BitsPerWeight, true, false, DType::kQ8_A, &quant::Q3P5RowBytesFn,
     &quant::Q3P5DequantizeRow, &quant::Q3P5QuantizeRow, &quant::Q3P5VecDot},
    {DType::kQ3P5_SEED, "Q3P5_SEED", 0, 0, quant::kQ3P5SeedBitsPerWeight4096, true, false,
     DType::kQ8_R, &quant::Q3P5SeedRowBytesFn, &quant::Q3P5SeedDequantizeRow,
     &quant::Q3P5SeedQuantizeRow, &quant::Q3P5SeedVecDot},
    {DType::kQ8_A, "Q8_A", quant::kQ8ABlockSize, sizeof(quant::BlockQ8A), quant::kQ8ABitsPerWeight,
     true, true, DType::kQ8_A, &quant::Q8ARowBytesFn, &quant::Q8ADequantizeRow,
     &quant::Q8AQuantizeRow, nullptr},
    {DType::kQ8_R, "Q8_R", 0, 0, quant::kQ8RBitsPerWeight4096, true, true, DType::kQ8_R,
     &quant::Q8RRowBytesFn, &quant::Q8RDequantizeRow, &quant::Q8RQuantizeRow, nullptr},
}};

}  // namespace

const TypeTraits* FindTypeTraits(uint32_t raw) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == raw) return &t;
  }
  return nullptr;
}

const TypeTraits& GetTypeTraits(DType t) {
  const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(t));
  SEPTET_CHECK_MSG(traits != nullptr, "no registry row for this DType");
  return *traits;
}

double RowBitsPerWeight(DType t, int64_t n) {
  if (n <= 0) return 0.0;
  return static_cast<double>(GetTypeTraits(t).row_bytes(n)) * 8.0 / static_cast<double>(n);
}

}  // namespace septet
