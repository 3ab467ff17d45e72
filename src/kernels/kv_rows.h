// Rows of a KV cache in its storage type (F32, F16 or Q8_0):
//   F32   kv_dim floats
//   F16   kv_dim IEEE binary16, round to nearest even (core/half.h)
//   Q8_0  ceil(kv_dim / 32) blocks of quant/q8_0.h (fp16 d + 32 int8, 8.5 bits per
//         value); one block per 32 consecutive values of the row, whatever the head
//         boundaries; d = fp16(amax / 127), q = round(x / d) clamped to +-127
//         (the plain absmax rule: the weight quantizer's 17-candidate search is too
//         slow for a per-token store, and KV rows are written once, read often)
// Reading a slice [first, first + n) of a row gives exactly what the registry's
// to_float gives for those elements of the whole row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace septet::kernels {

// F32, F16 and Q8_0.
bool IsKvType(DType t);
// Bytes of one row of n values (CHECK: IsKvType).
size_t KvRowBytes(DType t, int64_t n);
// Converts n floats into one row (KvRowBytes(t, n) bytes at dst).
void KvRowFromFloat(DType t, const float* src, int64_t n, uint8_t* dst);
// Elements [first, first + n) of a row into out[n].
void KvRowToFloat(DType t, const uint8_t* row, int64_t first, int64_t n, float* out);

}  // namespace septet::kernels
