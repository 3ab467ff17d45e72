// WeightLayout::kQ3P5NLRows16 (repack.h): Q3P5_NL rows interleaved in groups of
// 16 for the AVX3_DL kernels (dot_q3p5nl_rows16.cc): Q3P5's code planes of 16
// rows (repack_q3p5r16.cc), each row's D and 48-bit scale field in lanes.
#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/q3p5_nl.h"

namespace septet::simd {
namespace {

static_assert(offsetof(quant::BlockQ3P5NL, d) == 48 && offsetof(quant::BlockQ3P5NL, sc) == 50);

void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK(w.type == DType::kQ3P5_NL && w.layout == layout);
  SEPTET_CHECK(w.row_bytes == quant::Q3P5NLRowBytes(w.cols));
}

// A file block of ns sub-blocks: its codes (12 ns bytes), D at 12 ns, then
// Q3P5NLScaleBytes(ns) bytes of scales, the first two of them at the group's
// 32 + 2 lane and the rest (Q3P5NLRows16ScaleExtra(ns) bytes) beyond the planes.
void PutLane(const uint8_t* fb, int ns, bool /*full*/, int lane, uint8_t* gb) {
  repack_internal::PutRows16Planes(fb, ns, lane, gb);
  std::memcpy(gb + 2 * lane, fb + 12 * ns, 2);
  std::memcpy(gb + 32 + 2 * lane, fb + 12 * ns + 2, 2);
  const int extra = Q3P5NLRows16ScaleExtra(ns);
  std::memcpy(gb + Q3P5NLRows16ScaleByte(ns, lane, 0), fb + 12 * ns + 4, static_cast<size_t>(extra));
}
void GetLane(const uint8_t* gb, int ns, bool /*full*/, int lane, uint8_t* fb) {
  repack_internal::GetRows16Planes(gb, ns, lane, fb);
  std::memcpy(fb + 12 * ns, gb + 2 * lane, 2);
  std::memcpy(fb + 12 * ns + 2, gb + 32 + 2 * lane, 2);
  const int extra = Q3P5NLRows16ScaleExtra(ns);
  std::memcpy(fb + 12 * ns + 4, gb + Q3P5NLRows16ScaleByte(ns, lane, 0), static_cast<size_t>(extra));
}

}  // namespace

void RepackQ3P5NLRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  repack_internal::RepackRows16(w, repack_internal::kBlockBytes, out, PutLane);  // padding rows: all zero (D = 0)
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ3P5NLRows16;
}

void Q3P5NLRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kQ3P5NLRows16);
  repack_internal::Rows16Row(w, repack_internal::kBlockBytes, r, dst, GetLane);
}

}  // namespace septet::simd
