// Pieces the block repacks (repack.cc: Q3P5 slots; repack_q3p5nl.cc: Q3P5_NL
// planes; repack_q3p5r16.cc, repack_q3p5nlr16.cc: both in rows of 16) share: the
// walks over a matrix's blocks and row groups (the latter also Q4_NL's, Q6_K's,
// Q8_0's, Q4_0's / Q4_1's and Q4_K's / Q5_K's: repack_q4nlr16.cc, repack_q6kr16.cc,
// repack_q8r16.cc, repack_legacy.cc, repack_q4kr16.cc), and the bit-plane helpers
// that turn 2-bit and 1-bit code planes into one code bit per byte.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "kernels/cpu/weight_view.h"
#include "kernels/simd/repack.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"

namespace septet::simd::repack_internal {

// Both formats: blocks of 128 weights in 56 bytes, 4 code sub-blocks of 32.
inline constexpr int kBlock = 128;
inline constexpr size_t kBlockBytes = 56;
inline constexpr int kSub = 32;
static_assert(quant::kQ3P5BlockSize == kBlock && sizeof(quant::BlockQ3P5) == kBlockBytes &&
              quant::kQ3P5SubBlockSize == kSub);
static_assert(quant::kQ3P5NLBlockSize == kBlock && sizeof(quant::BlockQ3P5NL) == kBlockBytes &&
              quant::kQ3P5NLSubBlockSize == kSub);

// Copies the rows of w into *out and converts every block: full ones with
// `full`, a row's final short block of ns sub-blocks with `tail(src, ns, dst)`.
template <typename Full, typename Tail>
void ConvertBlocks(const cpu::WeightView& w, std::vector<uint8_t>* out, Full full, Tail tail) {
  const size_t rb = w.row_bytes;
  out->resize(rb * static_cast<size_t>(w.rows));
  const int64_t nb = w.cols / kBlock;
  const int ns = static_cast<int>((w.cols % kBlock + kSub - 1) / kSub);
  ParallelRanges(w.rows, out->size(), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* src = w.row(r);
      uint8_t* dst = out->data() + static_cast<size_t>(r) * rb;
      for (int64_t b = 0; b < nb; ++b) full(src + b * kBlockBytes, dst + b * kBlockBytes);
      if (ns > 0) tail(src + nb * kBlockBytes, ns, dst + nb * kBlockBytes);
    }
  });
}

// Bits 0, 2, 4, ..., 62 of x packed into 32 bits.
inline uint32_t EvenBits(uint64_t x) {
  x &= 0x5555555555555555ull;
  x = (x | (x >> 1)) & 0x3333333333333333ull;
  x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0Full;
  x = (x | (x >> 4)) & 0x00FF00FF00FF00FFull;
  x = (x | (x >> 8)) & 0x0000FFFF0000FFFFull;
  x = (x | (x >> 16)) & 0x00000000FFFFFFFFull;
  return static_cast<uint32_t>(x);
}

// kSpread[b]: bit i of b moved to bit 0 of byte i.
struct SpreadTable {
  uint64_t v[256];
  constexpr SpreadTable() : v() {
    for (int b = 0; b < 256; ++b) {
      for (int i = 0; i < 8; ++i) v[b] |= static_cast<uint64_t>((b >> i) & 1) << (8 * i);
    }
  }
};
inline constexpr SpreadTable kSpread;

// Bits 8 g .. 8 g + 7 of a 32-weight bit plane, one per byte (weights 8 g .. 8 g + 7).
inline uint64_t Spread(uint32_t plane, int g) { return kSpread.v[(plane >> (8 * g)) & 0xFFu]; }

// ---- Rows interleaved by 16 (kQ3P5Rows16, kQ3P5NLRows16, kQ4NLRows16, kQ6KRows16, kQ8_0Rows16,
// kLegacy4Rows16, kQ4KRows16, kQ5KRows16, kQ4TRows16; repack.h) ----

// The code planes of ns sub-blocks of a file block (12 bytes each at subs, as
// quant::Q3P5SubBlock) into lane `lane` of the group block at gb, and back (the
// 12 ns bytes at subs written whole).
void PutRows16Planes(const uint8_t* subs, int ns, int lane, uint8_t* gb);
void GetRows16Planes(const uint8_t* gb, int ns, int lane, uint8_t* subs);

// w (file layout, blocks of `block` weights, 128 unless said, in block_bytes
// bytes) into *out in groups of 16 rows, the last padded with zero rows:
// put(file_block, ns, full, lane, group_block) for each block of each row (ns
// sub-blocks of 32; full: a whole block, ns = 4 then). Block b starts at b
// block_bytes in a row and at 16 b block_bytes in a group (every full block
// before the short one in both).
template <class Put>
void RepackRows16(const cpu::WeightView& w, size_t block_bytes, std::vector<uint8_t>* out, const Put& put,
                  int64_t block = kBlock) {
  constexpr int64_t kRows = kQ3P5GroupRows;
  const int64_t groups = (w.rows + kRows - 1) / kRows;
  const int64_t nb = w.cols / block;
  const int ns = static_cast<int>((w.cols % block + kSub - 1) / kSub);
  out->assign(static_cast<size_t>(groups * kRows) * w.row_bytes, 0);
  ParallelRanges(groups, out->size(), [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      uint8_t* group = out->data() + static_cast<size_t>(g * kRows) * w.row_bytes;
      const int lanes = static_cast<int>(std::min(kRows, w.rows - g * kRows));
      for (int64_t b = 0; b <= nb; ++b) {
        if (b == nb && ns == 0) break;
        for (int lane = 0; lane < lanes; ++lane) {
          const size_t at = static_cast<size_t>(b) * block_bytes;
          put(w.row(g * kRows + lane) + at, b < nb ? 4 : ns, b < nb, lane, group + kRows * at);
        }
      }
    }
  });
}

// Row r of a rows-of-16 view in the file layout (w.row_bytes bytes to dst):
// get(group_block, ns, full, lane, file_block) for each of its blocks.
template <class Get>
void Rows16Row(const cpu::WeightView& w, size_t block_bytes, int64_t r, uint8_t* dst, const Get& get,
               int64_t block = kBlock) {
  SEPTET_CHECK(0 <= r && r < w.rows);
  constexpr int64_t kRows = kQ3P5GroupRows;
  const uint8_t* group = w.data + static_cast<size_t>(r / kRows * kRows) * w.row_bytes;
  const int lane = static_cast<int>(r % kRows);
  const int64_t nb = w.cols / block;
  const int ns = static_cast<int>((w.cols % block + kSub - 1) / kSub);
  for (int64_t b = 0; b <= nb; ++b) {
    if (b == nb && ns == 0) break;
    const size_t at = static_cast<size_t>(b) * block_bytes;
    get(group + kRows * at, b < nb ? 4 : ns, b < nb, lane, dst + at);
  }
}

}  // namespace septet::simd::repack_internal
