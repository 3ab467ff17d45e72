// WeightLayout::kQ4GRows8 (repack.h): Q4_G rows interleaved in groups of 8, so
// that one vector of the AVX2 kernel (dot_q4g_rows8.cc) holds the same 4 weights
// of 8 rows and each of its int32 lanes is one row's dot.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "quant/q4_g.h"

namespace septet::simd {
namespace {

constexpr int64_t kRows = kQ4GGroupRows;
constexpr int kBlock = quant::kQ4GBlockSize;
constexpr int kSub = quant::kQ4GSubBlockSize;
constexpr size_t kFileBlockBytes = sizeof(quant::BlockQ4G);

// Code k (0..31) of sub-block s of a file block (nibble k of the sub-block's 16
// bytes). quant::Q4GCode reads the same nibble, but out of line and from a whole
// BlockQ4G: the repack through it took 27 ms for a 4096 x 4096 matrix, 4.4-5.7 ms
// with this (simd_kernels_bench BM_Repack_Q4_G).
int FileCode(const uint8_t* file_block, int s, int k) {
  const uint8_t b = file_block[4 + 16 * s + k / 2];
  return k % 2 == 0 ? b & 15 : b >> 4;
}

// One row (lane) of a group block of ns sub-blocks: file block -> group block.
void PutLane(const uint8_t* file_block, int ns, int lane, uint8_t* group_block) {
  std::memcpy(group_block + 2 * lane, file_block, 2);           // d
  std::memcpy(group_block + 16 + 2 * lane, file_block + 2, 2);  // m
  for (int s = 0; s < ns; ++s) {
    for (int c = 0; c < 4; ++c) {
      for (int i = 0; i < 4; ++i) {
        group_block[Q4GRows8CodeByte(s, c, lane, i)] =
            static_cast<uint8_t>(FileCode(file_block, s, 4 * c + i) | FileCode(file_block, s, 16 + 4 * c + i) << 4);
      }
    }
  }
}

// The inverse: lane `lane` of a group block back into a file block of ns sub-blocks.
void GetLane(const uint8_t* group_block, int ns, int lane, uint8_t* file_block) {
  std::memcpy(file_block, group_block + 2 * lane, 2);
  std::memcpy(file_block + 2, group_block + 16 + 2 * lane, 2);
  for (int s = 0; s < ns; ++s) {
    uint8_t codes[kSub];
    for (int c = 0; c < 4; ++c) {
      for (int i = 0; i < 4; ++i) {
        const uint8_t b = group_block[Q4GRows8CodeByte(s, c, lane, i)];
        codes[4 * c + i] = b & 15;
        codes[16 + 4 * c + i] = b >> 4;
      }
    }
    for (int k = 0; k < kSub / 2; ++k) file_block[4 + 16 * s + k] = static_cast<uint8_t>(codes[2 * k] | codes[2 * k + 1] << 4);
  }
}

int64_t FullBlocks(const cpu::WeightView& w) { return w.cols / kBlock; }

}  // namespace

void RepackQ4GRows8(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  SEPTET_CHECK(w.type == DType::kQ4_G && w.layout == cpu::WeightLayout::kFile);
  SEPTET_CHECK(w.row_bytes == quant::Q4GRowBytes(w.cols));
  const size_t rb = w.row_bytes;
  const int64_t groups = (w.rows + kRows - 1) / kRows;
  out->assign(static_cast<size_t>(groups * kRows) * rb, 0);  // padding rows: all zero (d = m = 0)
  const int64_t nb = FullBlocks(w);
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  ParallelRanges(groups, out->size(), [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      uint8_t* group = out->data() + static_cast<size_t>(g * kRows) * rb;
      for (int64_t r = g * kRows; r < std::min(w.rows, (g + 1) * kRows); ++r) {
        const int lane = static_cast<int>(r - g * kRows);
        for (int64_t b = 0; b < nb; ++b) {
          PutLane(w.row(r) + b * kFileBlockBytes, 4, lane, group + b * kRows * kFileBlockBytes);
        }
        if (ns > 0) PutLane(w.row(r) + nb * kFileBlockBytes, ns, lane, group + nb * kRows * kFileBlockBytes);
      }
    }
  });
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ4GRows8;
}

void Q4GRows8Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  SEPTET_CHECK(w.type == DType::kQ4_G && w.layout == cpu::WeightLayout::kQ4GRows8 && 0 <= r && r < w.rows);
  const uint8_t* group = w.data + static_cast<size_t>(r / kRows * kRows) * w.row_bytes;
  const int lane = static_cast<int>(r % kRows);
  const int64_t nb = FullBlocks(w);
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  for (int64_t b = 0; b < nb; ++b) GetLane(group + b * kRows * kFileBlockBytes, 4, lane, dst + b * kFileBlockBytes);
  if (ns > 0) GetLane(group + nb * kRows * kFileBlockBytes, ns, lane, dst + nb * kFileBlockBytes);
}

}  // namespace septet::simd
