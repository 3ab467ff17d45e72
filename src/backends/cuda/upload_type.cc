#include "backends/cuda/upload_type.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/checked.h"
#include "quant/q8_0.h"
#include "quant/registry.h"

namespace septet::cuda {

bool HasDeviceKernel(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_G:
    case DType::kQ3P5:
    case DType::kQ3P5_SEED:
      return true;
    default:
      return false;
  }
}

DType DeviceActType(DType t) { return t == DType::kQ3P5 ? DType::kQ8_B : GetTypeTraits(t).vec_dot_type; }

std::optional<DType> DeviceWeightType(DType t) {
  if (HasDeviceKernel(t)) return t;
  const TypeTraits* tt = FindTypeTraits(static_cast<uint32_t>(t));
  if (tt == nullptr || tt->is_activation_only || tt->to_float == nullptr) return std::nullopt;
  return DType::kQ8_0;
}

size_t DeviceRowBytes(DType t, int64_t cols) {
  const std::optional<DType> d = DeviceWeightType(t);
  return d ? GetTypeTraits(*d).row_bytes(cols) : 0;
}

Status ConvertForDevice(const cpu::WeightView& w, const std::string& name, std::vector<uint8_t>* out,
                        cpu::WeightView* view) {
  const std::optional<DType> target = DeviceWeightType(w.type);
  const TypeTraits* src = FindTypeTraits(static_cast<uint32_t>(w.type));
  if (!target || src == nullptr) {
    return Unsupported("CUDA backend: tensor '%s' has type %s, which the device can neither read nor convert",
                       name.c_str(), src != nullptr ? src->name : "(unknown)");
  }
  if (w.layout != cpu::WeightLayout::kFile || w.rows <= 0 || w.cols <= 0 || w.data == nullptr ||
      w.row_bytes != src->row_bytes(w.cols)) {
    return Internal("CUDA backend: tensor '%s' has an inconsistent weight view for conversion", name.c_str());
  }
  // Q8_0 with the absmax scale d = fp16(amax / 127) and nearest codes: one pass, no
  // scale search (the registry's Q8_0 quantizer tries 17 scales per block at ~1 us per
  // weight, minutes for a 135M model at every context creation; measured on the GPU
  // machine, docs/benchmarks.md section 5).
  const size_t dst_rb = GetTypeTraits(*target).row_bytes(w.cols);
  out->assign(dst_rb * static_cast<size_t>(w.rows), 0);
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    const Status st = quant::DequantizeRow(w.type, w.row(r), w.row_bytes, w.cols, row.data());
    if (!st.ok()) {
      return InvalidArgument("CUDA backend: converting tensor '%s' (%s) to %s for the device, row %lld: %s",
                             name.c_str(), src->name, GetTypeTraits(*target).name, static_cast<long long>(r),
                             st.message().c_str());
    }
    for (int64_t k = 0; k < w.cols; ++k) {
      if (!std::isfinite(row[static_cast<size_t>(k)])) {
        return InvalidArgument("CUDA backend: converting tensor '%s' (%s) to %s for the device, row %lld: weight %lld "
                               "is %g (the file holds a non-finite weight)",
                               name.c_str(), src->name, GetTypeTraits(*target).name, static_cast<long long>(r),
                               static_cast<long long>(k), static_cast<double>(row[static_cast<size_t>(k)]));
      }
    }
    uint8_t* dst = out->data() + static_cast<size_t>(r) * dst_rb;
    for (int64_t k0 = 0; k0 < w.cols; k0 += quant::kQ8_0BlockSize) {
      const int len = static_cast<int>(std::min<int64_t>(quant::kQ8_0BlockSize, w.cols - k0));
      float amax = 0.0f;
      for (int k = 0; k < len; ++k) amax = std::fmax(amax, std::fabs(row[static_cast<size_t>(k0 + k)]));
      const quant::BlockQ8_0 blk =
          quant::Q8_0EncodeBlock(row.data() + k0, len, FloatToFp16(amax / static_cast<float>(quant::kQ8_0MaxCode)));
      std::memcpy(dst + static_cast<size_t>(k0 / quant::kQ8_0BlockSize) * sizeof(blk), &blk, sizeof(blk));
    }
  }
  *view = w;
  view->type = *target;
  view->data = out->data();
  view->row_bytes = dst_rb;
  return Status::Ok();
}

}  // namespace septet::cuda
