// WeightLayout::kLegacy4Rows8 (repack.h): Q4_0 / Q4_1 rows interleaved in groups
// of 8, so that one vector of the kernels (dot_legacy_rows8.cc) holds the same
// 4 + 4 weights of 8 rows and each of its int32 lanes is one row's dot.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "quant/ggml_legacy.h"

namespace septet::simd {
namespace {

constexpr int64_t kRows = 8;
constexpr int kBlock = quant::kGgmlLegacyBlockSize;

// A type's block: its bytes, where qs sits, the bytes before it (d, m).
struct Geometry {
  size_t block, qs;
};
Geometry GeometryOf(DType type) {
  SEPTET_CHECK(type == DType::kQ4_0 || type == DType::kQ4_1);
  if (type == DType::kQ4_0) return {sizeof(quant::BlockQ4_0), offsetof(quant::BlockQ4_0, qs)};
  return {sizeof(quant::BlockQ4_1), offsetof(quant::BlockQ4_1, qs)};
}

void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK((w.type == DType::kQ4_0 || w.type == DType::kQ4_1) && w.layout == layout);
  SEPTET_CHECK(w.cols % kBlock == 0 && w.row_bytes == static_cast<size_t>(w.cols / kBlock) * GeometryOf(w.type).block);
}

// Lane `lane` of a group block <-> one file block. The header fields (d, then m
// for Q4_1: 2 bytes each) go to 16 bytes per field, the 16 qs bytes to 4 quads.
void PutLane(DType type, const uint8_t* file_block, int lane, uint8_t* group_block) {
  const Geometry g = GeometryOf(type);
  for (size_t f = 0; f < g.qs / 2; ++f) std::memcpy(group_block + 16 * f + 2 * lane, file_block + 2 * f, 2);
  for (int c = 0; c < 4; ++c) {
    std::memcpy(group_block + Legacy4Rows8CodeByte(type, c, lane, 0), file_block + g.qs + 4 * c, 4);
  }
}
void GetLane(DType type, const uint8_t* group_block, int lane, uint8_t* file_block) {
  const Geometry g = GeometryOf(type);
  for (size_t f = 0; f < g.qs / 2; ++f) std::memcpy(file_block + 2 * f, group_block + 16 * f + 2 * lane, 2);
  for (int c = 0; c < 4; ++c) {
    std::memcpy(file_block + g.qs + 4 * c, group_block + Legacy4Rows8CodeByte(type, c, lane, 0), 4);
  }
}

}  // namespace

void RepackLegacy4Rows8(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  const size_t rb = w.row_bytes, bb = GeometryOf(w.type).block;
  const int64_t groups = (w.rows + kRows - 1) / kRows, nb = w.cols / kBlock;
  out->assign(static_cast<size_t>(groups * kRows) * rb, 0);  // padding rows: all zero (d = m = 0)
  ParallelRanges(groups, out->size(), [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      uint8_t* group = out->data() + static_cast<size_t>(g * kRows) * rb;
      for (int64_t r = g * kRows; r < std::min(w.rows, (g + 1) * kRows); ++r) {
        const int lane = static_cast<int>(r - g * kRows);
        for (int64_t b = 0; b < nb; ++b) PutLane(w.type, w.row(r) + b * bb, lane, group + b * kRows * bb);
      }
    }
  });
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kLegacy4Rows8;
}

void Legacy4Rows8Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kLegacy4Rows8);
  SEPTET_CHECK(0 <= r && r < w.rows);
  const size_t bb = GeometryOf(w.type).block;
  const uint8_t* group = w.data + static_cast<size_t>(r / kRows * kRows) * w.row_bytes;
  const int lane = static_cast<int>(r % kRows);
  for (int64_t b = 0; b < w.cols / kBlock; ++b) GetLane(w.type, group + b * kRows * bb, lane, dst + b * bb);
}

}  // namespace septet::simd
