#include "kernels/simd/repack.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>

#include "core/check.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack_internal.h"
#include "quant/q3p5.h"
#include "quant/registry.h"

namespace septet::simd {
namespace {

using repack_internal::ConvertBlocks;
using repack_internal::EvenBits;
using repack_internal::kBlock;
using repack_internal::kBlockBytes;
using repack_internal::kSub;
using repack_internal::Spread;

// Bits r, r + 4, ..., r + 28 of x packed into 8 bits.
uint32_t Every4th(uint32_t x, int r) {
  x = (x >> r) & 0x11111111u;
  x = (x | (x >> 3)) & 0x03030303u;
  x = (x | (x >> 6)) & 0x000F000Fu;
  return (x | (x >> 12)) & 0xFFu;
}

// The block fields are read and written as little-endian words.
static_assert(std::endian::native == std::endian::little);

}  // namespace

void ParallelRanges(int64_t n, size_t bytes, const std::function<void(int64_t, int64_t)>& f) {
  constexpr size_t kBytesPerThread = 16 << 20;
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t threads =
      std::clamp<int64_t>(static_cast<int64_t>(bytes / kBytesPerThread), 1, std::max<int64_t>(1, std::min(hw, n)));
  if (threads <= 1) return f(0, n);
  std::vector<std::thread> pool;
  for (int64_t i = 1; i < threads; ++i) pool.emplace_back(f, n * i / threads, n * (i + 1) / threads);
  f(0, n / threads);
  for (std::thread& t : pool) t.join();
}

// Bit planes instead of a loop over weights (a 7B model has 52 million blocks):
// plane[k][i] holds bit i of the codes of slot k, bit j of the plane for weight j.
void Q3P5BlockToSlots(const uint8_t* file_block, uint8_t* slots_block) {
  uint32_t hdr;
  std::memcpy(&hdr, file_block, 4);
  const int sel = static_cast<int>((hdr >> 15) & 3u);
  uint32_t plane[4][4];
  for (int k = 0; k < 4; ++k) {
    const uint8_t* sub = file_block + 4 + 12 * ((sel + k) & 3);  // Q3P5SubBlock: lo[8], hi[4]
    uint64_t lo;
    uint32_t hi;
    std::memcpy(&lo, sub, 8);
    std::memcpy(&hi, sub + 8, 4);
    const uint32_t u0 = EvenBits(lo), u1 = EvenBits(lo >> 1);
    if (k == 0) {  // v = 2 u + e
      std::memcpy(&plane[0][0], file_block + 52, 4);
      plane[0][1] = u0;
      plane[0][2] = u1;
      plane[0][3] = hi;
    } else {
      plane[k][0] = u0;
      plane[k][1] = u1;
      plane[k][2] = hi;
      plane[k][3] = 0;
    }
  }
  std::memcpy(slots_block, &hdr, 4);
  for (int g = 0; g < 4; ++g) {  // P[j] = u1 | u2 << 3 | (u3 >> 1) << 6
    uint64_t word = Spread(plane[3][1], g) << 6 | Spread(plane[3][2], g) << 7;
    for (int i = 0; i < 3; ++i) word |= Spread(plane[1][i], g) << i | Spread(plane[2][i], g) << (3 + i);
    std::memcpy(slots_block + 4 + 8 * g, &word, 8);
  }
  for (int h = 0; h < 2; ++h) {  // Q[i] = v0[i] | v0[i + 16] << 4
    uint64_t word = 0;
    for (int half = 0; half < 2; ++half) {
      const int g = h + 2 * half;
      uint64_t n = 0;
      for (int i = 0; i < 4; ++i) n |= Spread(plane[0][i], g) << i;
      word |= n << (4 * half);
    }
    std::memcpy(slots_block + 36 + 8 * h, &word, 8);
  }
  for (int r = 0; r < 4; ++r) slots_block[52 + r] = static_cast<uint8_t>(Every4th(plane[3][0], r));  // bit 8 r + t = u3[4 t + r] & 1
}

void Q3P5SlotsToBlock(const uint8_t* slots_block, uint8_t* file_block) {
  uint32_t hdr;
  std::memcpy(&hdr, slots_block, 4);
  const int sel = static_cast<int>((hdr >> 15) & 3u);
  uint8_t codes[kBlock];
  for (int j = 0; j < kSub; ++j) {
    const int p = slots_block[4 + j];
    const int nib = (slots_block[36 + j % 16] >> (4 * (j / 16))) & 15;
    const int bit = 8 * (j % 4) + j / 4;
    const int r = (slots_block[52 + bit / 8] >> (bit % 8)) & 1;
    codes[kSub * sel + j] = static_cast<uint8_t>(nib);
    codes[kSub * ((sel + 1) & 3) + j] = static_cast<uint8_t>(p & 7);
    codes[kSub * ((sel + 2) & 3) + j] = static_cast<uint8_t>((p >> 3) & 7);
    codes[kSub * ((sel + 3) & 3) + j] = static_cast<uint8_t>(((p >> 6) << 1) | r);
  }
  quant::BlockQ3P5 blk{};
  blk.hdr = hdr;
  quant::Q3P5PackCodes(codes, quant::kQ3P5SubBlocks, sel, &blk);
  std::memcpy(file_block, &blk, kBlockBytes);
}

// A short block has no ext plane: every code is u = lo | hi << 2 (quant/q3p5.h;
// with 4 sub-blocks, the reference reads sub-block sel as v = 2u + 0, the same
// value). Its sel bits are kept in the header as they are.
void Q3P5ShortToSlots(const uint8_t* file_block, int ns, uint8_t* slots_block) {
  SEPTET_CHECK(ns >= 1 && ns <= quant::kQ3P5SubBlocks);
  uint8_t out[kBlockBytes] = {};
  std::memcpy(out, file_block, 4);
  for (int s = 0; s < ns; ++s) {
    const uint8_t* lo = file_block + 4 + 12 * s;  // Q3P5SubBlock: lo[8], hi[4]
    const uint8_t* hi = lo + 8;
    uint8_t* sub = out + 4 + 12 * s;
    for (int j = 0; j < kSub; ++j) {
      const int u = ((lo[j / 4] >> (2 * (j % 4))) & 3) | (((hi[j / 8] >> (j % 8)) & 1) << 2);
      sub[j % 8] = static_cast<uint8_t>(sub[j % 8] | ((u & 3) << (2 * (j / 8))));
      const int bit = 8 * (j % 4) + j / 4;
      sub[8 + bit / 8] = static_cast<uint8_t>(sub[8 + bit / 8] | ((u >> 2) << (bit % 8)));
    }
  }
  std::memcpy(slots_block, out, quant::Q3P5ShortBlockBytes(ns * kSub));
}

void Q3P5SlotsToShort(const uint8_t* slots_block, int ns, uint8_t* file_block) {
  SEPTET_CHECK(ns >= 1 && ns <= quant::kQ3P5SubBlocks);
  uint8_t out[kBlockBytes] = {};
  std::memcpy(out, slots_block, 4);
  for (int s = 0; s < ns; ++s) {
    const uint8_t* sub = slots_block + 4 + 12 * s;
    uint8_t* lo = out + 4 + 12 * s;
    uint8_t* hi = lo + 8;
    for (int j = 0; j < kSub; ++j) {
      const int bit = 8 * (j % 4) + j / 4;
      const int u = ((sub[j % 8] >> (2 * (j / 8))) & 3) | (((sub[8 + bit / 8] >> (bit % 8)) & 1) << 2);
      lo[j / 4] = static_cast<uint8_t>(lo[j / 4] | ((u & 3) << (2 * (j % 4))));
      hi[j / 8] = static_cast<uint8_t>(hi[j / 8] | ((u >> 2) << (j % 8)));
    }
  }
  std::memcpy(file_block, out, quant::Q3P5ShortBlockBytes(ns * kSub));
}

void RepackQ3P5Slots(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  SEPTET_CHECK(w.type == DType::kQ3P5 && w.layout == cpu::WeightLayout::kFile);
  SEPTET_CHECK(w.row_bytes == quant::Q3P5RowBytes(w.cols));
  ConvertBlocks(w, out, Q3P5BlockToSlots, Q3P5ShortToSlots);
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ3P5Slots;
}

bool RepackRows(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  if (w.layout != cpu::WeightLayout::kFile) return false;
  if (w.type == DType::kQ3P5 && detail::Q3P5Rows16IsFast()) {
    RepackQ3P5Rows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ3P5 && detail::Q3P5SlotsIsFast()) {
    RepackQ3P5Slots(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ3P5_NL && detail::Q3P5NLRows16IsFast()) {
    RepackQ3P5NLRows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ3P5_NL && detail::Q3P5SlotsIsFast()) {  // the same targets: AVX2 and up
    RepackQ3P5NLPlanes(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ4_NL && detail::Q4NLRows16IsFast()) {
    RepackQ4NLRows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ4_T && detail::Q4TRows16IsFast()) {
    RepackQ4TRows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ8_0 && detail::Q8_0Rows16IsFast()) {
    RepackQ8_0Rows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ6_K && detail::Q6KRows16IsFast()) {
    RepackQ6KRows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ4_G && detail::Q4GRows8IsFast()) {
    RepackQ4GRows8(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ4_K && detail::Q4KRows16IsFast()) {
    RepackQ4KRows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ5_K && detail::Q5KRows16IsFast()) {
    RepackQ5KRows16(w, out, repacked);
    return true;
  }
  if (w.type == DType::kQ4_K && detail::Q4KRows8IsFast()) {
    RepackQ4KRows8(w, out, repacked);
    return true;
  }
  if ((w.type == DType::kQ4_0 || w.type == DType::kQ4_1) && detail::Legacy4Rows16IsFast()) {
    RepackLegacy4Rows16(w, out, repacked);
    return true;
  }
  if ((w.type == DType::kQ4_0 || w.type == DType::kQ4_1) && detail::Legacy4Rows8IsFast()) {
    RepackLegacy4Rows8(w, out, repacked);
    return true;
  }
  const bool is_float = w.type == DType::kF32 || w.type == DType::kF16 || w.type == DType::kBF16;
  if (is_float && detail::FloatPanelsIsFast()) {
    RepackFloatPanels(w, out, repacked);
    return true;
  }
  return false;
}

namespace {

// For the layouts that interleave rows (float panels, Q4_G / Q4_0 / Q4_1 / Q4_K groups of 8, Q3P5's and
// Q3P5_NL's, Q4_NL's, Q4_T's, Q6_K's, Q8_0's, Q4_0's, Q4_1's, Q4_K's and Q5_K's of 16), the
// function that writes one row's file-layout bytes; null for the others, whose
// rows stay whole (a one-row view of them unpacks like the matrix).
using InterleavedRowFn = void (*)(const cpu::WeightView&, int64_t, uint8_t*);
InterleavedRowFn InterleavedRowOf(cpu::WeightLayout layout) {
  if (layout == cpu::WeightLayout::kFloatPanels) return FloatPanelRow;
  if (layout == cpu::WeightLayout::kQ4GRows8) return Q4GRows8Row;
  if (layout == cpu::WeightLayout::kLegacy4Rows8) return Legacy4Rows8Row;
  if (layout == cpu::WeightLayout::kQ4KRows8) return Q4KRows8Row;
  if (layout == cpu::WeightLayout::kQ3P5Rows16) return Q3P5Rows16Row;
  if (layout == cpu::WeightLayout::kQ3P5NLRows16) return Q3P5NLRows16Row;
  if (layout == cpu::WeightLayout::kQ4NLRows16) return Q4NLRows16Row;
  if (layout == cpu::WeightLayout::kQ4TRows16) return Q4TRows16Row;
  if (layout == cpu::WeightLayout::kQ6KRows16) return Q6KRows16Row;
  if (layout == cpu::WeightLayout::kQ8_0Rows16) return Q8_0Rows16Row;
  if (layout == cpu::WeightLayout::kLegacy4Rows16) return Legacy4Rows16Row;
  if (layout == cpu::WeightLayout::kQ4KRows16) return Q4KRows16Row;
  if (layout == cpu::WeightLayout::kQ5KRows16) return Q5KRows16Row;
  return nullptr;
}

}  // namespace

void UnpackRowRange(const cpu::WeightView& w, int64_t r0, int64_t r1, std::vector<uint8_t>* out,
                    cpu::WeightView* file_view) {
  const InterleavedRowFn row_of = InterleavedRowOf(w.layout);
  SEPTET_CHECK(row_of != nullptr && 0 <= r0 && r0 <= r1 && r1 <= w.rows);
  out->resize(static_cast<size_t>(r1 - r0) * w.row_bytes);
  for (int64_t r = r0; r < r1; ++r) row_of(w, r, out->data() + static_cast<size_t>(r - r0) * w.row_bytes);
  *file_view = cpu::WeightView{w.type, r1 - r0, w.cols, out->data(), w.row_bytes, cpu::WeightLayout::kFile};
}

void UnpackRows(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* file_view) {
  switch (w.layout) {
    case cpu::WeightLayout::kFile:
      out->assign(w.data, w.data + w.row_bytes * static_cast<size_t>(w.rows));
      break;
    case cpu::WeightLayout::kQ3P5Slots:
      SEPTET_CHECK(w.type == DType::kQ3P5);
      ConvertBlocks(w, out, Q3P5SlotsToBlock, Q3P5SlotsToShort);
      break;
    case cpu::WeightLayout::kQ3P5NLPlanes:
      UnpackQ3P5NLPlanes(w, out);
      break;
    case cpu::WeightLayout::kFloatPanels:
    case cpu::WeightLayout::kQ4GRows8:
    case cpu::WeightLayout::kLegacy4Rows8:
    case cpu::WeightLayout::kQ4KRows8:
    case cpu::WeightLayout::kQ3P5Rows16:
    case cpu::WeightLayout::kQ3P5NLRows16:
    case cpu::WeightLayout::kQ4NLRows16:
    case cpu::WeightLayout::kQ4TRows16:
    case cpu::WeightLayout::kQ6KRows16:
    case cpu::WeightLayout::kQ8_0Rows16:
    case cpu::WeightLayout::kLegacy4Rows16:
    case cpu::WeightLayout::kQ4KRows16:
    case cpu::WeightLayout::kQ5KRows16: {
      const InterleavedRowFn row_of = InterleavedRowOf(w.layout);
      out->resize(w.row_bytes * static_cast<size_t>(w.rows));
      for (int64_t r = 0; r < w.rows; ++r) row_of(w, r, out->data() + static_cast<size_t>(r) * w.row_bytes);
      break;
    }
  }
  *file_view = w;
  file_view->data = out->data();
  file_view->layout = cpu::WeightLayout::kFile;
}

void RowToFloat(const cpu::WeightView& w, int64_t r, float* out) {
  const TypeTraits& t = GetTypeTraits(w.type);
  if (w.layout == cpu::WeightLayout::kFile) return t.to_float(w.row(r), out, w.cols);
  if (const InterleavedRowFn row_of = InterleavedRowOf(w.layout)) {
    thread_local std::vector<uint8_t> row;
    row.resize(w.row_bytes);
    row_of(w, r, row.data());
    return t.to_float(row.data(), out, w.cols);
  }
  std::vector<uint8_t> bytes;
  cpu::WeightView file;
  UnpackRows(cpu::WeightView{w.type, 1, w.cols, w.row(r), w.row_bytes, w.layout}, &bytes, &file);
  t.to_float(file.data, out, w.cols);
}

}  // namespace septet::simd
