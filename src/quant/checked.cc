#include "quant/checked.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "quant/q3p5_seed.h"
#include "quant/q8_act.h"
#include "quant/registry.h"

namespace septet::quant {
namespace {

constexpr float kFp16Max = 65504.0f;

std::string Name(DType t) { return std::string(DTypeName(t)); }

// The checks shared by every entry point; *traits is set on success.
Status CheckCommon(const char* op, DType type, int64_t n, const TypeTraits** traits) {
  *traits = FindTypeTraits(static_cast<uint32_t>(type));
  if (*traits == nullptr) {
    return InvalidArgument("%s: unknown dtype id %u", op, static_cast<unsigned>(type));
  }
  if (n < 0) return InvalidArgument("%s(%s): row length n = %lld, expected n >= 0", op,
                                    Name(type).c_str(), static_cast<long long>(n));
  if (n > MaxRowLength(type)) {
    return InvalidArgument(
        "%s(%s): row length n = %lld exceeds K_max = %lld (the largest n whose int32 "
        "accumulator cannot overflow; see docs/formats.md)",
        op, Name(type).c_str(), static_cast<long long>(n),
        static_cast<long long>(MaxRowLength(type)));
  }
  if (!RowLengthFits(**traits, n)) {
    return InvalidArgument("%s(%s): row length n = %lld is not a multiple of the block size %d (ggml formats "
                           "store whole blocks)",
                           op, Name(type).c_str(), static_cast<long long>(n), (*traits)->block_size);
  }
  return Status::Ok();
}

Status CheckBuffer(const char* op, DType type, const char* what, const void* p, size_t bytes,
                   size_t need, int64_t n) {
  if (n > 0 && p == nullptr) {
    return InvalidArgument("%s(%s): %s is null with n = %lld > 0", op, Name(type).c_str(), what,
                           static_cast<long long>(n));
  }
  if (n > 0 && bytes < need) {
    return InvalidArgument("%s(%s): %s has %zu bytes, row of n = %lld needs %zu", op,
                           Name(type).c_str(), what, bytes, static_cast<long long>(n), need);
  }
  return Status::Ok();
}

}  // namespace

int64_t MaxRowLength(DType t) {
  switch (t) {
    case DType::kQ3P5_SEED: return kQ3P5SeedMaxRowLength;
    case DType::kQ8_R: return kQ8RMaxRowLength;
    default: return kMaxRowLengthAny;
  }
}

float MaxAbsInput(DType t) {
  switch (t) {
    case DType::kQ8_0:  // d = amax / 127 is fine, but keep every fp16-field format uniform
    case DType::kQ4_G:  // m = min must be a finite fp16
    case DType::kQ3P5:  // m = min must be a finite 15-bit fp16
    case DType::kQ3P5_NL:  // D ~ max |w| is an fp16
    case DType::kQ4_NL:    // the same
    case DType::kQ4_T:     // the same
    case DType::kF16: return kFp16Max;
    default: return std::numeric_limits<float>::max();
  }
}

Status QuantizeRow(DType type, const float* src, int64_t n, void* dst, size_t dst_bytes,
                   const float* importance, RowQuantizeFn quantize) {
  const TypeTraits* tr = nullptr;
  SEPTET_RETURN_IF_ERROR(CheckCommon("QuantizeRow", type, n, &tr));
  if (tr->from_float == nullptr) {
    return InvalidArgument("QuantizeRow(%s): %s is input-only (septet reads it from GGUF files but has no "
                           "quantizer for it)",
                           Name(type).c_str(), Name(type).c_str());
  }
  SEPTET_RETURN_IF_ERROR(CheckBuffer("QuantizeRow", type, "src", src, SIZE_MAX, 0, n));
  SEPTET_RETURN_IF_ERROR(CheckBuffer("QuantizeRow", type, "dst", dst, dst_bytes, tr->row_bytes(n), n));
  const float limit = MaxAbsInput(type);
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(src[i]) || std::fabs(src[i]) > limit) {
      return InvalidArgument("QuantizeRow(%s): src[%lld] = %g, expected a finite value with |x| <= %g",
                             Name(type).c_str(), static_cast<long long>(i),
                             static_cast<double>(src[i]), static_cast<double>(limit));
    }
    if (importance != nullptr && !(std::isfinite(importance[i]) && importance[i] >= 0.0f)) {
      return InvalidArgument("QuantizeRow(%s): importance[%lld] = %g, expected finite and >= 0",
                             Name(type).c_str(), static_cast<long long>(i),
                             static_cast<double>(importance[i]));
    }
  }
  if (n == 0 && dst == nullptr) return Status::Ok();
  if (n == 0 && dst_bytes < tr->row_bytes(0)) {
    return InvalidArgument("QuantizeRow(%s): dst has %zu bytes, an empty row needs %zu",
                           Name(type).c_str(), dst_bytes, tr->row_bytes(0));
  }
  (quantize != nullptr ? quantize : tr->from_float)(src, dst, n, importance);
  return Status::Ok();
}

Status DequantizeRow(DType type, const void* src, size_t src_bytes, int64_t n, float* dst) {
  const TypeTraits* tr = nullptr;
  SEPTET_RETURN_IF_ERROR(CheckCommon("DequantizeRow", type, n, &tr));
  SEPTET_RETURN_IF_ERROR(CheckBuffer("DequantizeRow", type, "src", src, src_bytes, tr->row_bytes(n), n));
  SEPTET_RETURN_IF_ERROR(CheckBuffer("DequantizeRow", type, "dst", dst, SIZE_MAX, 0, n));
  if (n > 0) tr->to_float(src, dst, n);
  return Status::Ok();
}

Status ConvertRows(DType src_type, const uint8_t* src, size_t src_row, int64_t rows, int64_t n, DType dst_type,
                   uint8_t* dst, size_t dst_row, int64_t first_row, RowQuantizeFn quantize) {
  if (rows < 0) return InvalidArgument("ConvertRows: rows = %lld, expected >= 0", static_cast<long long>(rows));
  std::vector<float> row(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t r = 0; r < rows; ++r) {
    Status st = DequantizeRow(src_type, src + static_cast<size_t>(r) * src_row, src_row, n, row.data());
    if (st.ok()) st = QuantizeRow(dst_type, row.data(), n, dst + static_cast<size_t>(r) * dst_row, dst_row, nullptr, quantize);
    if (!st.ok()) return Status(st.code(), "row " + std::to_string(first_row + r) + ": " + st.message());
  }
  return Status::Ok();
}

Result<float> VecDotChecked(DType w_type, int64_t n, const void* w_row, size_t w_bytes,
                            const void* act_row, size_t act_bytes) {
  const TypeTraits* tr = nullptr;
  SEPTET_RETURN_IF_ERROR(CheckCommon("VecDot", w_type, n, &tr));
  if (tr->is_activation_only || tr->vec_dot == nullptr) {
    return InvalidArgument("VecDot(%s): an activation-only type has no vec_dot; pass a weight type",
                           Name(w_type).c_str());
  }
  const TypeTraits& act = GetTypeTraits(tr->vec_dot_type);
  if (n > MaxRowLength(act.type)) {
    return InvalidArgument("VecDot(%s): n = %lld exceeds the %s activation row limit %lld",
                           Name(w_type).c_str(), static_cast<long long>(n), act.name,
                           static_cast<long long>(MaxRowLength(act.type)));
  }
  SEPTET_RETURN_IF_ERROR(CheckBuffer("VecDot", w_type, "w_row", w_row, w_bytes, tr->row_bytes(n), n));
  SEPTET_RETURN_IF_ERROR(CheckBuffer("VecDot", w_type, "act_row", act_row, act_bytes, act.row_bytes(n), n));
  if (n == 0) return 0.0f;
  return tr->vec_dot(n, w_row, act_row);
}

}  // namespace septet::quant
