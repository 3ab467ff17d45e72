#include "quant/registry.h"

#include <array>
#include <string>

#include "core/check.h"
#include "quant/float_types.h"
#include "quant/ggml_iq4.h"
#include "quant/ggml_kquants.h"
#include "quant/ggml_legacy.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q3p5_seed.h"
#include "quant/q4_g.h"
#include "quant/q4_nl.h"
#include "quant/q4_t.h"
#include "quant/q8_0.h"
#include "quant/q8_act.h"

namespace septet {
namespace {

template <size_t kBytes>
size_t ElementRowBytes(int64_t n) {
  return static_cast<size_t>(n) * kBytes;
}

// An input-only ggml row: quantized, stored, no from_float. vec_dot_type is Q8_A
// (every ggml type septet reads has an integer dot); F32 would mean decode-then-dot.
template <class Block>
constexpr TypeTraits Ggml(DType type, const char* name, int32_t block_size, double bpw, size_t (*row_bytes)(int64_t),
                          void (*to_float)(const void*, float*, int64_t),
                          float (*vec_dot)(int64_t, const void*, const void*), DType vec_dot_type = DType::kF32) {
  return {type, name, block_size, sizeof(Block), bpw, /*is_quantized=*/true, /*is_activation_only=*/false,
          /*is_input_only=*/true, vec_dot_type, row_bytes, to_float, /*from_float=*/nullptr, vec_dot,
          /*whole_blocks=*/true};
}
// A ggml row septet also writes (Q6_K): whole blocks, with a from_float.
template <class Block>
constexpr TypeTraits GgmlWritable(DType type, const char* name, int32_t block_size, double bpw,
                                  size_t (*row_bytes)(int64_t), void (*to_float)(const void*, float*, int64_t),
                                  void (*from_float)(const float*, void*, int64_t, const float*),
                                  float (*vec_dot)(int64_t, const void*, const void*), DType vec_dot_type) {
  TypeTraits t = Ggml<Block>(type, name, block_size, bpw, row_bytes, to_float, vec_dot, vec_dot_type);
  t.is_input_only = false;
  t.from_float = from_float;
  return t;
}

// One row per type. Keep in DType order of appearance in docs/formats.md.
// Activation-only rows have no vec_dot (nullptr) and name themselves as vec_dot_type.
const std::array<TypeTraits, 24> kTraits = {{
    {DType::kF32, "F32", 1, 4, 32.0, false, false, false, DType::kF32, &ElementRowBytes<4>,
     &quant::F32ToFloat, &quant::F32FromFloat, &quant::F32VecDot},
    {DType::kF16, "F16", 1, 2, 16.0, false, false, false, DType::kF32, &ElementRowBytes<2>,
     &quant::F16ToFloat, &quant::F16FromFloat, &quant::F16VecDot},
    {DType::kBF16, "BF16", 1, 2, 16.0, false, false, false, DType::kF32, &ElementRowBytes<2>,
     &quant::Bf16ToFloat, &quant::Bf16FromFloat, &quant::Bf16VecDot},
    {DType::kQ8_0, "Q8_0", quant::kQ8_0BlockSize, sizeof(quant::BlockQ8_0),
     quant::kQ8_0BitsPerWeight, true, false, false, DType::kQ8_A, &quant::Q8_0RowBytesFn,
     &quant::Q8_0DequantizeRow, &quant::Q8_0QuantizeRow, &quant::Q8_0VecDot},
    {DType::kQ4_G, "Q4_G", quant::kQ4GBlockSize, sizeof(quant::BlockQ4G),
     quant::kQ4GBitsPerWeight, true, false, false, DType::kQ8_A, &quant::Q4GRowBytesFn,
     &quant::Q4GDequantizeRow, &quant::Q4GQuantizeRow, &quant::Q4GVecDot},
    {DType::kQ3P5, "Q3P5", quant::kQ3P5BlockSize, sizeof(quant::BlockQ3P5),
     quant::kQ3P5BitsPerWeight, true, false, false, DType::kQ8_A, &quant::Q3P5RowBytesFn,
     &quant::Q3P5DequantizeRow, &quant::Q3P5QuantizeRow, &quant::Q3P5VecDot},
    {DType::kQ3P5_NL, "Q3P5_NL", quant::kQ3P5NLBlockSize, sizeof(quant::BlockQ3P5NL),
     quant::kQ3P5NLBitsPerWeight, true, false, false, DType::kQ8_A, &quant::Q3P5NLRowBytesFn,
     &quant::Q3P5NLDequantizeRow, &quant::Q3P5NLQuantizeRow, &quant::Q3P5NLVecDot},
    {DType::kQ4_NL, "Q4_NL", quant::kQ4NLBlockSize, sizeof(quant::BlockQ4NL), quant::kQ4NLBitsPerWeight, true,
     false, false, DType::kQ8_A, &quant::Q4NLRowBytesFn, &quant::Q4NLDequantizeRow, &quant::Q4NLQuantizeRow,
     &quant::Q4NLVecDot},
    {DType::kQ4_T, "Q4_T", quant::kQ4NLBlockSize, sizeof(quant::BlockQ4NL), quant::kQ4TBitsPerWeight, true, false,
     false, DType::kQ8_A, &quant::Q4TRowBytesFn, &quant::Q4TDequantizeRow, &quant::Q4TQuantizeRow, &quant::Q4TVecDot},
    {DType::kQ3P5_SEED, "Q3P5_SEED", 0, 0, quant::kQ3P5SeedBitsPerWeight4096, true, false,
     false, DType::kQ8_R, &quant::Q3P5SeedRowBytesFn, &quant::Q3P5SeedDequantizeRow,
     &quant::Q3P5SeedQuantizeRow, &quant::Q3P5SeedVecDot},
    {DType::kQ8_A, "Q8_A", quant::kQ8ABlockSize, sizeof(quant::BlockQ8A), quant::kQ8ABitsPerWeight,
     true, true, false, DType::kQ8_A, &quant::Q8ARowBytesFn, &quant::Q8ADequantizeRow,
     &quant::Q8AQuantizeRow, nullptr},
    {DType::kQ8_B, "Q8_B", quant::kQ8BBlockSize, sizeof(quant::BlockQ8B), quant::kQ8BBitsPerWeight,
     true, true, false, DType::kQ8_B, &quant::Q8BRowBytesFn, &quant::Q8BDequantizeRow,
     &quant::Q8BQuantizeRow, nullptr},
    {DType::kQ8_R, "Q8_R", 0, 0, quant::kQ8RBitsPerWeight4096, true, true, false, DType::kQ8_R,
     &quant::Q8RRowBytesFn, &quant::Q8RDequantizeRow, &quant::Q8RQuantizeRow, nullptr},
    // ggml block formats septet reads from GGUF: input-only, but for Q6_K, which it writes too.
    Ggml<quant::BlockQ4_0>(DType::kQ4_0, "Q4_0", quant::kGgmlLegacyBlockSize, quant::kQ4_0BitsPerWeight,
                           &quant::Q4_0RowBytesFn, &quant::Q4_0DequantizeRow, &quant::Q4_0VecDot, DType::kQ8_A),
    Ggml<quant::BlockQ4_1>(DType::kQ4_1, "Q4_1", quant::kGgmlLegacyBlockSize, quant::kQ4_1BitsPerWeight,
                           &quant::Q4_1RowBytesFn, &quant::Q4_1DequantizeRow, &quant::Q4_1VecDot, DType::kQ8_A),
    Ggml<quant::BlockQ5_0>(DType::kQ5_0, "Q5_0", quant::kGgmlLegacyBlockSize, quant::kQ5_0BitsPerWeight,
                           &quant::Q5_0RowBytesFn, &quant::Q5_0DequantizeRow, &quant::Q5_0VecDot, DType::kQ8_A),
    Ggml<quant::BlockQ5_1>(DType::kQ5_1, "Q5_1", quant::kGgmlLegacyBlockSize, quant::kQ5_1BitsPerWeight,
                           &quant::Q5_1RowBytesFn, &quant::Q5_1DequantizeRow, &quant::Q5_1VecDot, DType::kQ8_A),
    Ggml<quant::BlockQ2_K>(DType::kQ2_K, "Q2_K", quant::kQK, quant::kQ2_KBitsPerWeight,
                           &quant::Q2_KRowBytesFn, &quant::Q2_KDequantizeRow, &quant::Q2_KVecDot, DType::kQ8_A),
    Ggml<quant::BlockQ3_K>(DType::kQ3_K, "Q3_K", quant::kQK, quant::kQ3_KBitsPerWeight,
                           &quant::Q3_KRowBytesFn, &quant::Q3_KDequantizeRow, &quant::Q3_KVecDot, DType::kQ8_A),
    Ggml<quant::BlockQ4_K>(DType::kQ4_K, "Q4_K", quant::kQK, quant::kQ4_KBitsPerWeight,
                           &quant::Q4_KRowBytesFn, &quant::Q4_KDequantizeRow, &quant::Q4_KVecDot, DType::kQ8_A),
    Ggml<quant::BlockQ5_K>(DType::kQ5_K, "Q5_K", quant::kQK, quant::kQ5_KBitsPerWeight,
                           &quant::Q5_KRowBytesFn, &quant::Q5_KDequantizeRow, &quant::Q5_KVecDot, DType::kQ8_A),
    GgmlWritable<quant::BlockQ6_K>(DType::kQ6_K, "Q6_K", quant::kQK, quant::kQ6_KBitsPerWeight,
                                   &quant::Q6_KRowBytesFn, &quant::Q6_KDequantizeRow, &quant::Q6_KQuantizeRow,
                                   &quant::Q6_KVecDot, DType::kQ8_A),
    Ggml<quant::BlockIQ4_NL>(DType::kIQ4_NL, "IQ4_NL", quant::kIq4NlBlockSize, quant::kIQ4_NLBitsPerWeight,
                             &quant::IQ4_NLRowBytesFn, &quant::IQ4_NLDequantizeRow, &quant::IQ4_NLVecDot,
                             DType::kQ8_A),
    Ggml<quant::BlockIQ4_XS>(DType::kIQ4_XS, "IQ4_XS", quant::kIq4XsBlockSize, quant::kIQ4_XSBitsPerWeight,
                             &quant::IQ4_XSRowBytesFn, &quant::IQ4_XSDequantizeRow, &quant::IQ4_XSVecDot,
                             DType::kQ8_A),
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

bool CanQuantizeTo(DType t) {
  const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(t));
  return traits != nullptr && !traits->is_activation_only && !traits->is_input_only;
}

const char* WritableTypeNames() {
  static const std::string names = [] {
    std::string s;
    for (const auto& t : kTraits) {
      if (!CanQuantizeTo(t.type)) continue;
      if (!s.empty()) s += ", ";
      s += t.name;
    }
    return s;
  }();
  return names.c_str();
}

bool RowLengthFits(const TypeTraits& t, int64_t n) {
  return n >= 0 && (!t.whole_blocks || n % t.block_size == 0);
}

double RowBitsPerWeight(DType t, int64_t n) {
  if (n <= 0) return 0.0;
  return static_cast<double>(GetTypeTraits(t).row_bytes(n)) * 8.0 / static_cast<double>(n);
}

}  // namespace septet
