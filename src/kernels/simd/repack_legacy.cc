// WeightLayout::kLegacy4Rows8 and kLegacy4Rows16 (repack.h): Q4_0 / Q4_1 rows
// interleaved in groups of 8 (16), so that one vector of the kernels
// (dot_legacy_rows8.cc, dot_legacy_rows16.cc) holds the same 4 + 4 weights of 8
// (16) rows and each of its int32 lanes is one row's dot.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/ggml_legacy.h"

namespace septet::simd {
namespace {

constexpr int64_t kRows = 8;
constexpr int kBlock = quant::kGgmlLegacyBlockSize;

// Q4_0 (kMin false: d, qs) or Q4_1 (d, m, qs): the block bytes and the 2-byte
// header fields before qs.
template <bool kMin>
struct Geometry {
  static constexpr DType kType = kMin ? DType::kQ4_1 : DType::kQ4_0;
  static constexpr size_t kBlock = kMin ? sizeof(quant::BlockQ4_1) : sizeof(quant::BlockQ4_0);
  static constexpr size_t kQs = kMin ? offsetof(quant::BlockQ4_1, qs) : offsetof(quant::BlockQ4_0, qs);
  static constexpr size_t kFields = kQs / 2;
};

size_t BlockBytes(DType type) {
  return type == DType::kQ4_1 ? Geometry<true>::kBlock : Geometry<false>::kBlock;
}

void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK((w.type == DType::kQ4_0 || w.type == DType::kQ4_1) && w.layout == layout);
  SEPTET_CHECK(w.cols % kBlock == 0 && w.row_bytes == static_cast<size_t>(w.cols / kBlock) * BlockBytes(w.type));
}

// Lane `lane` of a group block <-> one file block. The header fields (d, then m
// for Q4_1: 2 bytes each) go to 16 bytes per field, the 16 qs bytes to 4 quads.
template <class G>
void PutLane(const uint8_t* file_block, int lane, uint8_t* group_block) {
  for (size_t f = 0; f < G::kFields; ++f) std::memcpy(group_block + 16 * f + 2 * lane, file_block + 2 * f, 2);
  for (int c = 0; c < 4; ++c) {
    std::memcpy(group_block + Legacy4Rows8CodeByte(G::kType, c, lane, 0), file_block + G::kQs + 4 * c, 4);
  }
}
template <class G>
void GetLane(const uint8_t* group_block, int lane, uint8_t* file_block) {
  for (size_t f = 0; f < G::kFields; ++f) std::memcpy(file_block + 2 * f, group_block + 16 * f + 2 * lane, 2);
  for (int c = 0; c < 4; ++c) {
    std::memcpy(file_block + G::kQs + 4 * c, group_block + Legacy4Rows8CodeByte(G::kType, c, lane, 0), 4);
  }
}
// The same for a group of 16 rows: 32 bytes a header field.
template <class G>
void PutLane16(const uint8_t* file_block, int /*ns*/, bool /*full*/, int lane, uint8_t* group_block) {
  for (size_t f = 0; f < G::kFields; ++f) std::memcpy(group_block + 32 * f + 2 * lane, file_block + 2 * f, 2);
  for (int c = 0; c < 4; ++c) {
    std::memcpy(group_block + Legacy4Rows16CodeByte(G::kType, c, lane, 0), file_block + G::kQs + 4 * c, 4);
  }
}
template <class G>
void GetLane16(const uint8_t* group_block, int /*ns*/, bool /*full*/, int lane, uint8_t* file_block) {
  for (size_t f = 0; f < G::kFields; ++f) std::memcpy(file_block + 2 * f, group_block + 32 * f + 2 * lane, 2);
  for (int c = 0; c < 4; ++c) {
    std::memcpy(file_block + G::kQs + 4 * c, group_block + Legacy4Rows16CodeByte(G::kType, c, lane, 0), 4);
  }
}

// Groups [g0, g1) of w (file layout) into `out`, block after block, lane after lane
// (the output is written in order; the 8 rows are read side by side).
template <class G>
void PutGroups(const cpu::WeightView& w, int64_t g0, int64_t g1, uint8_t* out) {
  const int64_t nb = w.cols / kBlock;
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* group = out + static_cast<size_t>(g * kRows) * w.row_bytes;
    const int lanes = static_cast<int>(std::min(kRows, w.rows - g * kRows));
    for (int64_t b = 0; b < nb; ++b) {
      for (int lane = 0; lane < lanes; ++lane) {
        PutLane<G>(w.row(g * kRows + lane) + b * G::kBlock, lane, group + b * kRows * G::kBlock);
      }
    }
  }
}

}  // namespace

void RepackLegacy4Rows8(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  const int64_t groups = (w.rows + kRows - 1) / kRows;
  out->assign(static_cast<size_t>(groups * kRows) * w.row_bytes, 0);  // padding rows: all zero (d = m = 0)
  ParallelRanges(groups, out->size(), [&](int64_t g0, int64_t g1) {
    if (w.type == DType::kQ4_1) return PutGroups<Geometry<true>>(w, g0, g1, out->data());
    PutGroups<Geometry<false>>(w, g0, g1, out->data());
  });
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kLegacy4Rows8;
}

void Legacy4Rows8Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kLegacy4Rows8);
  SEPTET_CHECK(0 <= r && r < w.rows);
  const size_t bb = BlockBytes(w.type);
  const uint8_t* group = w.data + static_cast<size_t>(r / kRows * kRows) * w.row_bytes;
  const int lane = static_cast<int>(r % kRows);
  for (int64_t b = 0; b < w.cols / kBlock; ++b) {
    const uint8_t* gb = group + b * kRows * bb;
    if (w.type == DType::kQ4_1) {
      GetLane<Geometry<true>>(gb, lane, dst + b * bb);
    } else {
      GetLane<Geometry<false>>(gb, lane, dst + b * bb);
    }
  }
}

void RepackLegacy4Rows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  // Padding rows: all zero (d = m = 0).
  if (w.type == DType::kQ4_1) {
    repack_internal::RepackRows16(w, Geometry<true>::kBlock, out, PutLane16<Geometry<true>>, kBlock);
  } else {
    repack_internal::RepackRows16(w, Geometry<false>::kBlock, out, PutLane16<Geometry<false>>, kBlock);
  }
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kLegacy4Rows16;
}

void Legacy4Rows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kLegacy4Rows16);
  if (w.type == DType::kQ4_1) {
    return repack_internal::Rows16Row(w, Geometry<true>::kBlock, r, dst, GetLane16<Geometry<true>>, kBlock);
  }
  repack_internal::Rows16Row(w, Geometry<false>::kBlock, r, dst, GetLane16<Geometry<false>>, kBlock);
}

}  // namespace septet::simd
