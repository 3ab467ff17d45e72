#include "quant/registry.h"

#include <array>

#include "core/check.h"
#include "quant/float_types.h"

namespace septet {
namespace {

template <size_t kBytes>
size_t ElementRowBytes(int64_t n) {
  return static_cast<size_t>(n) * kBytes;
}

// One row per type. Keep in DType order of appearance in docs/formats.md.
const std::array<TypeTraits, 3> kTraits = {{
    {DType::kF32, "F32", 1, 4, 32.0, false, false, DType::kF32, &ElementRowBytes<4>,
     &quant::F32ToFloat, &quant::F32FromFloat, &quant::F32VecDot},
    {DType::kF16, "F16", 1, 2, 16.0, false, false, DType::kF32, &ElementRowBytes<2>,
     &quant::F16ToFloat, &quant::F16FromFloat, &quant::F16VecDot},
    {DType::kBF16, "BF16", 1, 2, 16.0, false, false, DType::kF32, &ElementRowBytes<2>,
     &quant::Bf16ToFloat, &quant::Bf16FromFloat, &quant::Bf16VecDot},
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
