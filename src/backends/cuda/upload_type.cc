#include "backends/cuda/upload_type.h"

#include "quant/checked.h"
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
  const size_t dst_rb = GetTypeTraits(*target).row_bytes(w.cols);
  out->assign(dst_rb * static_cast<size_t>(w.rows), 0);
  const Status st = quant::ConvertRows(w.type, w.data, w.row_bytes, w.rows, w.cols, *target, out->data(), dst_rb);
  if (!st.ok()) {
    return InvalidArgument("CUDA backend: converting tensor '%s' (%s) to %s for the device, %s", name.c_str(),
                           src->name, GetTypeTraits(*target).name, st.message().c_str());
  }
  *view = w;
  view->type = *target;
  view->data = out->data();
  view->row_bytes = dst_rb;
  return Status::Ok();
}

}  // namespace septet::cuda
