// Pieces the block repacks (repack.cc: Q3P5 slots; repack_q3p5nl.cc: Q3P5_NL
// planes) share: the walk over a matrix's blocks and the bit-plane helpers that
// turn 2-bit and 1-bit code planes into one code bit per byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

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

}  // namespace septet::simd::repack_internal
