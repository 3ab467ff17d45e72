// WeightLayout::kQ3P5NLPlanes (repack.h): Q3P5_NL full blocks with their 48 code
// bytes rearranged so that the AVX2 kernel (dot_q3p5nl.cc) gets the four
// sub-blocks' level indices with shifts and masks, in weight order.
#include <bit>
#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/q3p5_nl.h"

namespace septet::simd {
namespace {

using repack_internal::EvenBits;
using repack_internal::kSub;
using repack_internal::Spread;

static_assert(std::endian::native == std::endian::little);
static_assert(offsetof(quant::BlockQ3P5NL, d) == 48, "codes in bytes 0..47, fields in 48..55");

}  // namespace

// Bit planes instead of a loop over weights, as for the Q3P5 slots: plane[s][i]
// holds bit i of the codes of sub-block s, bit j of the plane for weight j.
void Q3P5NLBlockToPlanes(const uint8_t* file_block, uint8_t* planes_block) {
  uint32_t plane[4][3];
  for (int s = 0; s < 4; ++s) {
    const uint8_t* sub = file_block + 12 * s;  // Q3P5SubBlock: lo[8], hi[4]
    uint64_t lo;
    std::memcpy(&lo, sub, 8);
    plane[s][0] = EvenBits(lo);
    plane[s][1] = EvenBits(lo >> 1);
    std::memcpy(&plane[s][2], sub + 8, 4);
  }
  uint8_t out[56];
  for (int g = 0; g < 4; ++g) {  // A[j] = u0 | u1 << 3 | (u2 & 3) << 6
    uint64_t word = Spread(plane[2][0], g) << 6 | Spread(plane[2][1], g) << 7;
    for (int i = 0; i < 3; ++i) word |= Spread(plane[0][i], g) << i | Spread(plane[1][i], g) << (3 + i);
    std::memcpy(out + 8 * g, &word, 8);
  }
  for (int h = 0; h < 2; ++h) {  // B[p] = nibble(p) | nibble(p + 16) << 4
    uint64_t word = 0;
    for (int half = 0; half < 2; ++half) {
      const int g = h + 2 * half;
      const uint64_t n = Spread(plane[3][0], g) | Spread(plane[3][1], g) << 1 | Spread(plane[2][2], g) << 2 |
                         Spread(plane[3][2], g) << 3;
      word |= n << (4 * half);
    }
    std::memcpy(out + 32 + 8 * h, &word, 8);
  }
  std::memcpy(out + 48, file_block + 48, 8);  // D and the scales
  std::memcpy(planes_block, out, 56);
}

void Q3P5NLPlanesToBlock(const uint8_t* planes_block, uint8_t* file_block) {
  uint8_t codes[quant::kQ3P5NLBlockSize];
  for (int j = 0; j < kSub; ++j) {
    const int a = planes_block[j];
    const int nb = (planes_block[32 + j % 16] >> (4 * (j / 16))) & 15;
    codes[j] = static_cast<uint8_t>(a & 7);
    codes[kSub + j] = static_cast<uint8_t>((a >> 3) & 7);
    codes[2 * kSub + j] = static_cast<uint8_t>((a >> 6) | (((nb >> 2) & 1) << 2));
    codes[3 * kSub + j] = static_cast<uint8_t>((nb & 3) | ((nb >> 3) << 2));
  }
  // The file layout's code planes, and the fields as they are (D's bits copied, the
  // scales decoded and written back: every 6-bit pattern is a scale in [-32, 31]).
  uint16_t d16;
  std::memcpy(&d16, planes_block + 48, 2);
  quant::Q3P5NLWriteBlock(d16, quant::Q3P5NLReadParams(planes_block, quant::kQ3P5NLBlockSize).sc, codes,
                          quant::kQ3P5NLBlockSize, file_block);
}

void RepackQ3P5NLPlanes(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  SEPTET_CHECK(w.type == DType::kQ3P5_NL && w.layout == cpu::WeightLayout::kFile);
  SEPTET_CHECK(w.row_bytes == quant::Q3P5NLRowBytes(w.cols));
  repack_internal::ConvertBlocks(w, out, Q3P5NLBlockToPlanes, [](const uint8_t* src, int ns, uint8_t* dst) {
    std::memcpy(dst, src, quant::Q3P5NLShortBlockBytes(ns * kSub));  // short blocks keep the file layout
  });
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ3P5NLPlanes;
}

void UnpackQ3P5NLPlanes(const cpu::WeightView& w, std::vector<uint8_t>* out) {
  SEPTET_CHECK(w.type == DType::kQ3P5_NL && w.layout == cpu::WeightLayout::kQ3P5NLPlanes);
  repack_internal::ConvertBlocks(w, out, Q3P5NLPlanesToBlock, [](const uint8_t* src, int ns, uint8_t* dst) {
    std::memcpy(dst, src, quant::Q3P5NLShortBlockBytes(ns * kSub));
  });
}

}  // namespace septet::simd
