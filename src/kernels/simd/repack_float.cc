// WeightLayout::kFloatPanels (repack.h): F32 / F16 / BF16 rows interleaved in
// panels of 16, k-major. Element bytes are moved as they are, so the inverse is
// exact for any value (NaN payloads and signed zeros included).
#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"

namespace septet::simd {
namespace {

size_t ElemBytes(DType t) {
  SEPTET_CHECK_MSG(t == DType::kF32 || t == DType::kF16 || t == DType::kBF16,
                   "float panels: weight type is not F32/F16/BF16");
  return t == DType::kF32 ? 4 : 2;
}

// Byte offset of (row r, column k) in the panel buffer of w.
size_t PanelOffset(const cpu::WeightView& w, size_t es, int64_t r, int64_t k) {
  const int64_t p = r / kFloatPanelRows, j = r % kFloatPanelRows;
  return (static_cast<size_t>(p * w.cols + k) * kFloatPanelRows + static_cast<size_t>(j)) * es;
}

// Panel by panel, k-major: the 16 source rows are read side by side (16
// sequential streams), the destination is written in order.
template <typename E>
void Interleave(const cpu::WeightView& w, uint8_t* dst_bytes, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = std::min<int64_t>(kFloatPanelRows, w.rows - p * kFloatPanelRows);
    const uint8_t* src[kFloatPanelRows];
    for (int64_t j = 0; j < n; ++j) src[j] = w.row(p * kFloatPanelRows + j);
    uint8_t* dst = dst_bytes + static_cast<size_t>(p) * FloatPanelBytes(w);
    for (int64_t k = 0; k < w.cols; ++k, dst += kFloatPanelRows * sizeof(E)) {
      E e[kFloatPanelRows] = {};
      for (int64_t j = 0; j < n; ++j) std::memcpy(&e[j], src[j] + static_cast<size_t>(k) * sizeof(E), sizeof(E));
      std::memcpy(dst, e, sizeof(e));
    }
  }
}

}  // namespace

void RepackFloatPanels(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  SEPTET_CHECK(w.layout == cpu::WeightLayout::kFile);
  const size_t es = ElemBytes(w.type);
  SEPTET_CHECK(w.row_bytes == es * static_cast<size_t>(w.cols));
  const int64_t panels = (w.rows + kFloatPanelRows - 1) / kFloatPanelRows;
  out->assign(static_cast<size_t>(panels) * FloatPanelBytes(w), 0);  // padding rows stay zero
  ParallelRanges(panels, out->size(), [&](int64_t p0, int64_t p1) {
    if (es == 4) {
      Interleave<uint32_t>(w, out->data(), p0, p1);
    } else {
      Interleave<uint16_t>(w, out->data(), p0, p1);
    }
  });
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kFloatPanels;
}

// Row r of a kFloatPanels view in the file layout (row_bytes bytes at dst).
void FloatPanelRow(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  SEPTET_CHECK(w.layout == cpu::WeightLayout::kFloatPanels && 0 <= r && r < w.rows);
  const size_t es = ElemBytes(w.type);
  const uint8_t* src = w.data + PanelOffset(w, es, r, 0);
  for (int64_t k = 0; k < w.cols; ++k) std::memcpy(dst + k * es, src + static_cast<size_t>(k) * kFloatPanelRows * es, es);
}

}  // namespace septet::simd
