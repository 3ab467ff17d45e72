// C API: the Q3P5 codec and matvec over caller-owned arrays. Every size is
// checked (with overflow-safe products) before a kernel sees a pointer; the
// kernels themselves are the registry's scalar codec (quant/q3p5.h, via the
// validating quant/checked.h) and the SIMD matvec (kernels/simd/simd_ops.h).
#include <algorithm>
#include <vector>

#include "capi/capi_internal.h"
#include "kernels/cpu/weight_view.h"
#include "kernels/simd/simd_ops.h"
#include "quant/checked.h"
#include "quant/q3p5.h"
#include "quant/registry.h"

using namespace septet;        // NOLINT: the extern "C" definitions below
using namespace septet::capi;  // NOLINT

static_assert(SEPTET_Q3P5_K_MAX == quant::kQ3P5MaxAccLength);
static_assert(SEPTET_Q3P5_BLOCK_SIZE == quant::kQ3P5BlockSize);
static_assert(SEPTET_Q3P5_BLOCK_BYTES == sizeof(quant::BlockQ3P5));

namespace {

// rows >= 0, 0 <= cols <= MaxRowLength(Q3P5), rows * row_bytes(cols) and
// rows * cols representable; sets *row_bytes and *total_bytes.
septet_status CheckShape(const char* fn, int64_t rows, int64_t cols, size_t* row_bytes, size_t* total_bytes) {
  if (rows < 0 || cols < 0 || cols > quant::MaxRowLength(DType::kQ3P5)) {
    return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                    StrFormat("%s: rows = %lld, cols = %lld; expected rows >= 0 and 0 <= cols <= %lld", fn,
                              static_cast<long long>(rows), static_cast<long long>(cols),
                              static_cast<long long>(quant::MaxRowLength(DType::kQ3P5))));
  }
  *row_bytes = quant::Q3P5RowBytes(cols);
  size_t count = 0;
  if (__builtin_mul_overflow(static_cast<size_t>(rows), *row_bytes, total_bytes) ||
      __builtin_mul_overflow(static_cast<size_t>(rows), static_cast<size_t>(cols), &count)) {
    return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                    StrFormat("%s: rows = %lld x cols = %lld overflows size_t", fn, static_cast<long long>(rows),
                              static_cast<long long>(cols)));
  }
  return SEPTET_OK;
}

septet_status SizeMismatch(const char* fn, const char* what, size_t got, size_t want, int64_t rows, int64_t cols) {
  return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                  StrFormat("%s: %s = %zu; rows = %lld, cols = %lld need exactly %zu", fn, what, got,
                            static_cast<long long>(rows), static_cast<long long>(cols), want));
}

}  // namespace

extern "C" {

septet_status septet_q3p5_row_bytes(int64_t cols, size_t* out) {
  return Guard("septet_q3p5_row_bytes", [&] {
    if (out == nullptr) return NullArg("septet_q3p5_row_bytes", "out_bytes");
    size_t row = 0, total = 0;
    if (septet_status s = CheckShape("septet_q3p5_row_bytes", 1, cols, &row, &total); s != SEPTET_OK) return s;
    *out = row;
    return SEPTET_OK;
  });
}

septet_status septet_q3p5_quantize(const float* w, int64_t rows, int64_t cols, uint8_t* out, size_t capacity,
                                   size_t* n_bytes) {
  static constexpr const char* kFn = "septet_q3p5_quantize";
  return Guard(kFn, [&] {
    size_t row = 0, total = 0;
    if (septet_status s = CheckShape(kFn, rows, cols, &row, &total); s != SEPTET_OK) return s;
    if (n_bytes == nullptr) return NullArg(kFn, "n_bytes");
    if (w == nullptr && rows > 0 && cols > 0) return NullArg(kFn, "w");
    if (capacity < total) {
      *n_bytes = total;
      return SetError(SEPTET_ERR_BUFFER_TOO_SMALL,
                      StrFormat("%s: out_capacity = %zu but rows = %lld x %zu bytes per row need %zu", kFn, capacity,
                                static_cast<long long>(rows), row, total));
    }
    if (out == nullptr && total > 0) return NullArg(kFn, "out");
    for (int64_t r = 0; r < rows; ++r) {
      const Status st = quant::QuantizeRow(DType::kQ3P5, w + r * cols, cols, out + static_cast<size_t>(r) * row, row);
      if (!st.ok()) {
        return SetError(SEPTET_ERR_INVALID_ARGUMENT, StrFormat("%s: row %lld: %s", kFn, static_cast<long long>(r),
                                                               st.message().c_str()));
      }
    }
    *n_bytes = total;
    return SEPTET_OK;
  });
}

septet_status septet_q3p5_dequantize(const uint8_t* packed, size_t packed_bytes, int64_t rows, int64_t cols,
                                     float* out, size_t out_count) {
  static constexpr const char* kFn = "septet_q3p5_dequantize";
  return Guard(kFn, [&] {
    size_t row = 0, total = 0;
    if (septet_status s = CheckShape(kFn, rows, cols, &row, &total); s != SEPTET_OK) return s;
    const size_t count = static_cast<size_t>(rows) * static_cast<size_t>(cols);
    if (packed_bytes != total) return SizeMismatch(kFn, "packed_bytes", packed_bytes, total, rows, cols);
    if (out_count != count) return SizeMismatch(kFn, "out_count", out_count, count, rows, cols);
    if (count == 0) return SEPTET_OK;
    if (packed == nullptr) return NullArg(kFn, "packed");
    if (out == nullptr) return NullArg(kFn, "out");
    for (int64_t r = 0; r < rows; ++r) {
      const Status st = quant::DequantizeRow(DType::kQ3P5, packed + static_cast<size_t>(r) * row, row, cols,
                                             out + r * cols);
      if (!st.ok()) return FromStatus(st);
    }
    return SEPTET_OK;
  });
}

septet_status septet_q3p5_matvec(const uint8_t* packed, size_t packed_bytes, int64_t rows, int64_t cols,
                                 const float* x, size_t x_count, float* y, size_t y_count) {
  static constexpr const char* kFn = "septet_q3p5_matvec";
  return Guard(kFn, [&] {
    size_t row = 0, total = 0;
    if (septet_status s = CheckShape(kFn, rows, cols, &row, &total); s != SEPTET_OK) return s;
    if (packed_bytes != total) return SizeMismatch(kFn, "packed_bytes", packed_bytes, total, rows, cols);
    if (x_count != static_cast<size_t>(cols)) return SizeMismatch(kFn, "x_count", x_count, cols, rows, cols);
    if (y_count != static_cast<size_t>(rows)) return SizeMismatch(kFn, "y_count", y_count, rows, rows, cols);
    if (rows == 0) return SEPTET_OK;
    if (y == nullptr) return NullArg(kFn, "y");
    if (cols == 0) {  // an empty sum
      std::fill(y, y + rows, 0.0f);
      return SEPTET_OK;
    }
    if (packed == nullptr) return NullArg(kFn, "packed");
    if (x == nullptr) return NullArg(kFn, "x");
    cpu::WeightView w;  // the caller's bytes: file layout
    w.type = DType::kQ3P5;
    w.rows = rows;
    w.cols = cols;
    w.data = packed;
    w.row_bytes = row;
    // The activation row in the kernels' type for w, by the validating scalar
    // quantizer (finite x, |x| in range); the SIMD QuantizeActivation writes the
    // same bytes (simd_ops.h).
    const DType act_type = simd::ActivationType(w);
    std::vector<uint8_t> act(GetTypeTraits(act_type).row_bytes(cols));
    if (Status st = quant::QuantizeRow(act_type, x, cols, act.data(), act.size()); !st.ok()) {
      return SetError(SEPTET_ERR_INVALID_ARGUMENT, StrFormat("%s: x: %s", kFn, st.message().c_str()));
    }
    simd::MatVecRows(w, 0, rows, act.data(), y);
    return SEPTET_OK;
  });
}

}  // extern "C"
