// The type registry: one row per tensor element type. Adding a weight format
// is one struct (src/quant/<fmt>.h) + one row here (registry.cc).
//
// Conventions for every row-level function (a "row" is one output channel of a
// weight matrix stored as [n_out][n_in], i.e. a row of W^T, length n = n_in):
//   * row_bytes(n) is the exact storage of one row of n values, including every
//     scale/offset and the padding of a final partial block (see formats.md).
//   * from_float(src, dst, n, importance) quantizes n floats; `importance` is
//     null or n non-negative weights for the rounding-error objective
//     sum_i importance[i] * (w_i - dequant_i)^2.
//   * to_float(src, dst, n) dequantizes n values.
//   * vec_dot(n, w_row, act_row) returns sum_i w_i * x_i where act_row holds x
//     in the row's `vec_dot_type` (itself made by that type's from_float).
//     For float types vec_dot_type is kF32 and act_row is const float*.
//     Activation-only types (Q8_A, Q8_R) have vec_dot == nullptr.
//   * The ggml block formats other than Q8_0 (Q4_0 ... IQ4_XS) have rows of whole
//     blocks (ggml's rule, ggml_util.h; whole_blocks): the raw functions CHECK
//     n % block_size == 0 and row_bytes rounds a partial block up. All but Q6_K
//     are input-only: read from GGUF files and never produced, from_float ==
//     nullptr, and every caller that quantizes (quantizer, compute type,
//     gen-weights) refuses them. Q6_K is written too (the output head beside the
//     narrow types, as llama.cpp does; quant/ggml_kquants.h), on whole blocks only.
//     All pair with Q8_A (an integer dot per block, formulas in their headers).
//   * The raw functions CHECK-fail on n < 0, null pointers with n > 0, and rows
//     longer than their int32 bound; quant/checked.h has validating wrappers
//     that return InvalidArgument instead.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace septet {

struct TypeTraits {
  DType type;
  const char* name;
  int32_t block_size;     // values per block; 1 for float types; 0 = whole-row format
  size_t block_bytes;     // bytes per full block (0 for whole-row formats)
  double bits_per_weight; // exact all-in bpw of a full block (row formats: for n=4096)
  bool is_quantized;
  bool is_activation_only;  // never stored in files
  bool is_input_only;       // read from files, never written: from_float == nullptr
  DType vec_dot_type;     // the activation type vec_dot expects
  size_t (*row_bytes)(int64_t n);
  void (*to_float)(const void* src, float* dst, int64_t n);
  void (*from_float)(const float* src, void* dst, int64_t n, const float* importance);
  float (*vec_dot)(int64_t n, const void* w_row, const void* act_row);
  bool whole_blocks = false;  // rows are whole blocks (ggml's rule): n % block_size == 0
};

// True when a row of n values of type t can be stored: any n >= 0, or a multiple
// of the block size for the whole_blocks types.
bool RowLengthFits(const TypeTraits& t, int64_t n);

// Never null for a DType enumerator; CHECK-fails for a raw value that is not one.
const TypeTraits& GetTypeTraits(DType t);
// nullptr when `raw` is not a known type id.
const TypeTraits* FindTypeTraits(uint32_t raw);

// True when septet can write weights of type t (a compute type, a quantizer or
// gen-weights target): it has a registry row that is neither activation-only
// nor input-only.
bool CanQuantizeTo(DType t);
// The names of those types, comma-separated in registry order ("F32, F16, ...",
// for messages and help texts).
const char* WritableTypeNames();

// Exact all-in bits per weight of one row of n values (row_bytes * 8 / n).
double RowBitsPerWeight(DType t, int64_t n);

}  // namespace septet
