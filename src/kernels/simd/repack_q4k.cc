// WeightLayout::kQ4KRows8 (repack.h): Q4_K rows interleaved in groups of 8, so
// that one vector of the kernels (dot_q4k_rows8.cc) holds the same weights of 8
// rows and each of its int32 lanes is one row's dot.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "quant/ggml_kquants.h"

namespace septet::simd {
namespace {

constexpr int64_t kRows = 8;
constexpr size_t kBlock = sizeof(quant::BlockQ4_K);
constexpr size_t kScales = offsetof(quant::BlockQ4_K, scales), kQs = offsetof(quant::BlockQ4_K, qs);
static_assert(kBlock == 144 && offsetof(quant::BlockQ4_K, d) == 0 && offsetof(quant::BlockQ4_K, dmin) == 2 &&
              kScales == 4 && kQs == 16);

void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK(w.type == DType::kQ4_K && w.layout == layout);
  SEPTET_CHECK(w.cols % quant::kQK == 0 && w.row_bytes == static_cast<size_t>(w.cols / quant::kQK) * kBlock);
}

// Lane `lane` of a group super-block <-> one file super-block.
void PutLane(const uint8_t* file_block, int lane, uint8_t* group_block) {
  std::memcpy(group_block + 2 * lane, file_block, 2);
  std::memcpy(group_block + 16 + 2 * lane, file_block + 2, 2);
  for (int k = 0; k < 12; ++k) group_block[32 + 8 * k + lane] = file_block[kScales + k];
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 8; ++c) std::memcpy(group_block + 128 + 256 * p + 32 * c + 4 * lane, file_block + kQs + 32 * p + 4 * c, 4);
  }
}
void GetLane(const uint8_t* group_block, int lane, uint8_t* file_block) {
  std::memcpy(file_block, group_block + 2 * lane, 2);
  std::memcpy(file_block + 2, group_block + 16 + 2 * lane, 2);
  for (int k = 0; k < 12; ++k) file_block[kScales + k] = group_block[32 + 8 * k + lane];
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 8; ++c) std::memcpy(file_block + kQs + 32 * p + 4 * c, group_block + 128 + 256 * p + 32 * c + 4 * lane, 4);
  }
}

}  // namespace

void RepackQ4KRows8(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  const int64_t groups = (w.rows + kRows - 1) / kRows, nsb = w.cols / quant::kQK;
  out->assign(static_cast<size_t>(groups * kRows) * w.row_bytes, 0);  // padding rows: all zero
  ParallelRanges(groups, out->size(), [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      uint8_t* group = out->data() + static_cast<size_t>(g * kRows) * w.row_bytes;
      const int lanes = static_cast<int>(std::min(kRows, w.rows - g * kRows));
      for (int64_t b = 0; b < nsb; ++b) {
        for (int lane = 0; lane < lanes; ++lane) {
          PutLane(w.row(g * kRows + lane) + b * kBlock, lane, group + b * kRows * kBlock);
        }
      }
    }
  });
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ4KRows8;
}

void Q4KRows8Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kQ4KRows8);
  SEPTET_CHECK(0 <= r && r < w.rows);
  const uint8_t* group = w.data + static_cast<size_t>(r / kRows * kRows) * w.row_bytes;
  const int lane = static_cast<int>(r % kRows);
  for (int64_t b = 0; b < w.cols / quant::kQK; ++b) GetLane(group + b * kRows * kBlock, lane, dst + b * kBlock);
}

}  // namespace septet::simd
