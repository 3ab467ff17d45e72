// WeightLayout::kQ6KRows16 (repack.h): Q6_K rows interleaved in groups of 16
// for the AVX3_DL kernels (dot_q6k_rows16.cc): per super-block each activation
// block's low code nibbles as four 64-byte planes of 16 rows (two quads a byte)
// and its high code bits as two (four quads a byte), each row's d and int8
// scales in lanes.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/ggml_kquants.h"

namespace septet::simd {
namespace {

constexpr size_t kFileBlock = sizeof(quant::BlockQ6_K);
constexpr size_t kQl = offsetof(quant::BlockQ6_K, ql), kQh = offsetof(quant::BlockQ6_K, qh),
                 kScales = offsetof(quant::BlockQ6_K, scales), kD = offsetof(quant::BlockQ6_K, d);
static_assert(kFileBlock == 210 && kQl == 0 && kQh == 128 && kScales == 192 && kD == 208);

void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK(w.type == DType::kQ6_K && w.layout == layout);
  SEPTET_CHECK(w.cols % quant::kQK == 0 && w.row_bytes == static_cast<size_t>(w.cols / quant::kQK) * kFileBlock);
}

uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
constexpr uint32_t kNibbles = 0x0F0F0F0Fu, kPairs = 0x03030303u;

// In a file block (ggml's order): weight p of activation block j = 4 H + k (H =
// 0, 1) has its low nibble in ql[64 H + 32 (k & 1) + p] (bits 4 (k >> 1) ..) and
// its high 2 bits in qh[32 H + p] (bits 2 k ..). Four consecutive weights p ..
// p + 3 (p a multiple of 4) as one word, a field a byte:
uint32_t FileLow(const uint8_t* fb, int j, int p) {
  const int k = j % 4;
  return Load32(fb + kQl + 64 * (j / 4) + 32 * (k & 1) + p) >> (4 * (k >> 1)) & kNibbles;
}
uint32_t FileHigh(const uint8_t* fb, int j, int p) {
  return Load32(fb + kQh + 32 * (j / 4) + p) >> (2 * (j % 4)) & kPairs;
}
// The same fields in lane `lane` of a group block.
uint32_t GroupLow(const uint8_t* gb, int lane, int j, int p) {
  const uint32_t v = Load32(gb + Q6KRows16LowByte(j, (p % 16) / 4, lane, 0));
  return p < 16 ? v & kNibbles : v >> 4 & kNibbles;
}
uint32_t GroupHigh(const uint8_t* gb, int lane, int j, int p) {
  return Load32(gb + Q6KRows16HighByte(j, p / 16, lane, 0)) >> (2 * ((p % 16) / 4)) & kPairs;
}

void PutLane(const uint8_t* fb, int /*ns*/, bool /*full*/, int lane, uint8_t* gb) {
  std::memcpy(gb + 2 * lane, fb + kD, 2);
  for (int i = 0; i < 16; ++i) gb[32 + 16 * i + lane] = fb[kScales + i];
  for (int j = 0; j < 8; ++j) {
    for (int c = 0; c < 4; ++c) {
      Store32(gb + Q6KRows16LowByte(j, c, lane, 0), FileLow(fb, j, 4 * c) | FileLow(fb, j, 16 + 4 * c) << 4);
    }
    for (int h = 0; h < 2; ++h) {
      uint32_t v = 0;
      for (int k = 0; k < 4; ++k) v |= FileHigh(fb, j, 16 * h + 4 * k) << (2 * k);
      Store32(gb + Q6KRows16HighByte(j, h, lane, 0), v);
    }
  }
}
void GetLane(const uint8_t* gb, int /*ns*/, bool /*full*/, int lane, uint8_t* fb) {
  std::memcpy(fb + kD, gb + 2 * lane, 2);
  for (int i = 0; i < 16; ++i) fb[kScales + i] = gb[32 + 16 * i + lane];
  for (int hb = 0; hb < 2; ++hb) {  // the super-block's halves: activation blocks 4 hb .. 4 hb + 3
    for (int p = 0; p < 32; p += 4) {
      for (int a = 0; a < 2; ++a) {
        const int j = 4 * hb + a;
        Store32(fb + kQl + 64 * hb + 32 * a + p, GroupLow(gb, lane, j, p) | GroupLow(gb, lane, j + 2, p) << 4);
      }
      uint32_t v = 0;
      for (int k = 0; k < 4; ++k) v |= GroupHigh(gb, lane, 4 * hb + k, p) << (2 * k);
      Store32(fb + kQh + 32 * hb + p, v);
    }
  }
}

}  // namespace

void RepackQ6KRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  repack_internal::RepackRows16(w, kFileBlock, out, PutLane, quant::kQK);  // padding rows: all zero (d = 0)
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ6KRows16;
}

void Q6KRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kQ6KRows16);
  repack_internal::Rows16Row(w, kFileBlock, r, dst, GetLane, quant::kQK);
}

}  // namespace septet::simd
