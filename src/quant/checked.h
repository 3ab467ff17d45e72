// Validating entry points over the registry's raw row functions. The raw
// functions (TypeTraits::from_float / to_float / vec_dot) CHECK-fail on a broken
// precondition; these return InvalidArgument with a message naming the type, the
// argument and what was expected, and call the raw function only when every
// precondition holds. Use them wherever the arguments come from outside
// (files, tools, the public API).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace septet::quant {

// Largest row length the raw row functions of `t` accept:
//   Q3P5_SEED: kQ3P5SeedMaxRowLength (its int32 accumulator spans the row),
//   Q8_R:      kQ8RMaxRowLength (its int32 code sum spans the row),
//   others:    kMaxRowLengthAny (their int32 accumulators span one block; the cap
//              only keeps row_bytes arithmetic far from overflow).
inline constexpr int64_t kMaxRowLengthAny = int64_t{1} << 40;
int64_t MaxRowLength(DType t);

// Largest |w| a weight format can encode: formats with fp16 scale/offset fields
// (Q8_0, Q4_G, Q3P5) overflow them past the fp16 range; float-field formats
// accept any finite value.
float MaxAbsInput(DType t);

// Every entry point rejects, for a whole-block ggml type (registry.h), a row
// length n that is not a multiple of its block size.
//
// Quantizes n floats into dst (dst_bytes must be >= row_bytes(n)). Rejects: an
// unknown or input-only type (it has no quantizer), n < 0, n > MaxRowLength,
// null src/dst with n > 0, a short dst, non-finite inputs or inputs past
// MaxAbsInput, and importance values that are negative or not finite.
// `quantize`: a row quantizer that gives from_float's bytes (simd::FromFloat), or null
// for the registry's from_float.
using RowQuantizeFn = void (*)(const float* src, void* dst, int64_t n, const float* importance);
Status QuantizeRow(DType type, const float* src, int64_t n, void* dst, size_t dst_bytes,
                   const float* importance = nullptr, RowQuantizeFn quantize = nullptr);

// Dequantizes n values from src (src_bytes must be >= row_bytes(n)).
Status DequantizeRow(DType type, const void* src, size_t src_bytes, int64_t n, float* dst);

// Converts `rows` rows of n values of src_type (src_row bytes apart) into dst_type
// (dst_row bytes apart) through floats: DequantizeRow, then QuantizeRow, row by
// row. An error carries the failing row's index (first_row + its index here: a
// caller converting a matrix in ranges names the matrix's row) and the row
// function's message. `quantize` as in QuantizeRow.
Status ConvertRows(DType src_type, const uint8_t* src, size_t src_row, int64_t rows, int64_t n, DType dst_type,
                   uint8_t* dst, size_t dst_row, int64_t first_row = 0, RowQuantizeFn quantize = nullptr);

// sum_i w_i * x_i for a weight row of type w_type and an activation row already
// in GetTypeTraits(w_type).vec_dot_type (for float weight types: n floats).
Result<float> VecDotChecked(DType w_type, int64_t n, const void* w_row, size_t w_bytes,
                            const void* act_row, size_t act_bytes);

}  // namespace septet::quant
