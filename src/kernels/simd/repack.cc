#include "kernels/simd/repack.h"

#include <cstring>

#include "core/check.h"
#include "kernels/simd/kernels_internal.h"
#include "quant/q3p5.h"
#include "quant/registry.h"

namespace septet::simd {
namespace {

constexpr int kBlock = quant::kQ3P5BlockSize;
constexpr size_t kBlockBytes = sizeof(quant::BlockQ3P5);
constexpr int kSub = quant::kQ3P5SubBlockSize;
static_assert(kBlockBytes == 56 && kSub == 32);

// Copies the rows of w into *out and converts every block: full ones with
// `full`, a row's final short block of ns sub-blocks with `tail(src, ns, dst)`.
template <typename Full, typename Tail>
void ConvertBlocks(const cpu::WeightView& w, std::vector<uint8_t>* out, Full full, Tail tail) {
  const size_t rb = w.row_bytes;
  out->resize(rb * static_cast<size_t>(w.rows));
  const int64_t nb = w.cols / kBlock;
  const int ns = static_cast<int>((w.cols % kBlock + kSub - 1) / kSub);
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* src = w.row(r);
    uint8_t* dst = out->data() + static_cast<size_t>(r) * rb;
    for (int64_t b = 0; b < nb; ++b) full(src + b * kBlockBytes, dst + b * kBlockBytes);
    if (ns > 0) tail(src + nb * kBlockBytes, ns, dst + nb * kBlockBytes);
  }
}

}  // namespace

void Q3P5BlockToSlots(const uint8_t* file_block, uint8_t* slots_block) {
  quant::BlockQ3P5 blk;
  std::memcpy(&blk, file_block, kBlockBytes);
  uint8_t codes[kBlock];  // u, or v = 2u + e in sub-block sel
  quant::Q3P5UnpackCodes(blk, quant::kQ3P5SubBlocks, codes);
  const int sel = static_cast<int>((blk.hdr >> 15) & 3u);
  const uint8_t* c[4];
  for (int k = 0; k < 4; ++k) c[k] = codes + kSub * ((sel + k) & 3);
  uint8_t out[kBlockBytes] = {};
  std::memcpy(out, &blk.hdr, 4);
  for (int j = 0; j < kSub; ++j) {
    const int v0 = c[0][j], u1 = c[1][j], u2 = c[2][j], u3 = c[3][j];
    out[4 + j] = static_cast<uint8_t>(v0 | (u1 << 4) | ((u3 >> 2) << 7));
    const int nib = u2 | (((u3 >> 1) & 1) << 3);
    out[36 + j % 16] = static_cast<uint8_t>(out[36 + j % 16] | (nib << (4 * (j / 16))));
    const int bit = 8 * (j % 4) + j / 4;
    out[52 + bit / 8] = static_cast<uint8_t>(out[52 + bit / 8] | ((u3 & 1) << (bit % 8)));
  }
  std::memcpy(slots_block, out, kBlockBytes);
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
    codes[kSub * sel + j] = static_cast<uint8_t>(p & 15);
    codes[kSub * ((sel + 1) & 3) + j] = static_cast<uint8_t>((p >> 4) & 7);
    codes[kSub * ((sel + 2) & 3) + j] = static_cast<uint8_t>(nib & 7);
    codes[kSub * ((sel + 3) & 3) + j] = static_cast<uint8_t>(((p >> 7) << 2) | ((nib >> 3) << 1) | r);
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
  if (w.type == DType::kQ3P5 && detail::Q3P5SlotsIsFast()) {
    RepackQ3P5Slots(w, out, repacked);
    return true;
  }
  const bool is_float = w.type == DType::kF32 || w.type == DType::kF16 || w.type == DType::kBF16;
  if (is_float && detail::FloatPanelsIsFast()) {
    RepackFloatPanels(w, out, repacked);
    return true;
  }
  return false;
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
    case cpu::WeightLayout::kFloatPanels:
      out->resize(w.row_bytes * static_cast<size_t>(w.rows));
      for (int64_t r = 0; r < w.rows; ++r) FloatPanelRow(w, r, out->data() + static_cast<size_t>(r) * w.row_bytes);
      break;
  }
  *file_view = w;
  file_view->data = out->data();
  file_view->layout = cpu::WeightLayout::kFile;
}

void RowToFloat(const cpu::WeightView& w, int64_t r, float* out) {
  const TypeTraits& t = GetTypeTraits(w.type);
  if (w.layout == cpu::WeightLayout::kFile) return t.to_float(w.row(r), out, w.cols);
  if (w.layout == cpu::WeightLayout::kFloatPanels) {
    thread_local std::vector<uint8_t> row;
    row.resize(w.row_bytes);
    FloatPanelRow(w, r, row.data());
    return t.to_float(row.data(), out, w.cols);
  }
  std::vector<uint8_t> bytes;
  cpu::WeightView file;
  UnpackRows(cpu::WeightView{w.type, 1, w.cols, w.row(r), w.row_bytes, w.layout}, &bytes, &file);
  t.to_float(file.data, out, w.cols);
}

}  // namespace septet::simd
