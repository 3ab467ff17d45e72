// WeightLayout::kQ8_0Rows16 (repack.h): Q8_0 rows interleaved in groups of 16
// for the AVX3_DL kernels (dot_q8_rows16.cc): each block's codes as eight 64-byte
// quad planes of 16 rows with the sign bit flipped (the unsigned operand of
// vpdpbusd), each row's d in lanes.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/q8_0.h"

namespace septet::simd {
namespace {

constexpr size_t kFileBlock = sizeof(quant::BlockQ8_0);
static_assert(kFileBlock == 34 && offsetof(quant::BlockQ8_0, d) == 0 && offsetof(quant::BlockQ8_0, qs) == 2);
constexpr uint32_t kSignBits = 0x80808080u;

void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK(w.type == DType::kQ8_0 && w.layout == layout);
  SEPTET_CHECK(w.row_bytes == quant::Q8_0RowBytes(w.cols));
}

uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// A row's final partial block is zero-padded in the file, so every block moves whole.
void PutLane(const uint8_t* fb, int /*ns*/, bool /*full*/, int lane, uint8_t* gb) {
  std::memcpy(gb + 2 * lane, fb, 2);
  for (int q = 0; q < 8; ++q) Store32(gb + Q8_0Rows16CodeByte(q, lane, 0), Load32(fb + 2 + 4 * q) ^ kSignBits);
}
void GetLane(const uint8_t* gb, int /*ns*/, bool /*full*/, int lane, uint8_t* fb) {
  std::memcpy(fb, gb + 2 * lane, 2);
  for (int q = 0; q < 8; ++q) Store32(fb + 2 + 4 * q, Load32(gb + Q8_0Rows16CodeByte(q, lane, 0)) ^ kSignBits);
}

}  // namespace

void RepackQ8_0Rows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  repack_internal::RepackRows16(w, kFileBlock, out, PutLane, quant::kQ8_0BlockSize);  // padding rows: zero (d = 0)
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ8_0Rows16;
}

void Q8_0Rows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kQ8_0Rows16);
  repack_internal::Rows16Row(w, kFileBlock, r, dst, GetLane, quant::kQ8_0BlockSize);
}

}  // namespace septet::simd
