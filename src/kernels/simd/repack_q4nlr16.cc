// WeightLayout::kQ4NLRows16 and kQ4TRows16 (repack.h): Q4_NL (and Q4_T, its
// container) rows interleaved in groups of 16 for the AVX3_DL kernels
// (dot_q4nl_rows16.cc, dot_q4t_rows16.cc): each sub-block's codes as four 64-byte
// planes of 16 rows (two quads a byte), each row's D and scales in lanes.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/q4_nl.h"

namespace septet::simd {
namespace {

constexpr size_t kFileBlock = sizeof(quant::BlockQ4NL);
static_assert(kFileBlock == 68 && offsetof(quant::BlockQ4NL, d) == 64);

void CheckView(const cpu::WeightView& w, DType type, cpu::WeightLayout layout) {
  SEPTET_CHECK(w.type == type && w.layout == layout);
  SEPTET_CHECK(w.row_bytes == quant::Q4NLRowBytes(w.cols));
}

// A file block of ns sub-blocks (quant/q4_nl.h): code byte i (i < 16 ns) holds
// weight i (low nibble) and weight 16 ns + i (high nibble); then D, then
// ceil(ns / 2) scale bytes. Byte of weight k and the shift of its nibble (the
// short block's rule, nibble by nibble; full blocks go word by word):
struct Nibble {
  int byte, shift;
};
Nibble FileNibble(int ns, int k) { return k < 16 * ns ? Nibble{k, 0} : Nibble{k - 16 * ns, 4}; }

uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
constexpr uint32_t kLo = 0x0F0F0F0Fu;

// A full block word by word: file words W1 (bytes 32 h + 4 c ..) and W2 (bytes
// 32 h + 16 + 4 c ..) hold quad c and c + 4 of sub-block h in their low nibbles
// and of sub-block h + 2 in their high nibbles.
void PutLane(const uint8_t* fb, int ns, bool full, int lane, uint8_t* gb) {
  const int nsc = (ns + 1) / 2;
  std::memcpy(gb + 2 * lane, fb + 16 * ns, 2);
  std::memcpy(gb + 32 + nsc * lane, fb + 16 * ns + 2, static_cast<size_t>(nsc));
  if (full) {
    for (int h = 0; h < 2; ++h) {
      for (int c = 0; c < 4; ++c) {
        const uint32_t w1 = Load32(fb + 32 * h + 4 * c), w2 = Load32(fb + 32 * h + 16 + 4 * c);
        Store32(gb + Q4NLRows16CodeByte(4, h, c, lane, 0), (w1 & kLo) | (w2 & kLo) << 4);
        Store32(gb + Q4NLRows16CodeByte(4, h + 2, c, lane, 0), (w1 >> 4 & kLo) | (w2 & ~kLo));
      }
    }
    return;
  }
  for (int s = 0; s < ns; ++s) {
    for (int c = 0; c < 4; ++c) {
      for (int j = 0; j < 4; ++j) {
        const Nibble lo = FileNibble(ns, 32 * s + 4 * c + j), hi = FileNibble(ns, 32 * s + 16 + 4 * c + j);
        gb[Q4NLRows16CodeByte(ns, s, c, lane, j)] =
            static_cast<uint8_t>(((fb[lo.byte] >> lo.shift) & 15) | ((fb[hi.byte] >> hi.shift) & 15) << 4);
      }
    }
  }
}
void GetLane(const uint8_t* gb, int ns, bool full, int lane, uint8_t* fb) {
  const int nsc = (ns + 1) / 2;
  std::memcpy(fb + 16 * ns, gb + 2 * lane, 2);
  std::memcpy(fb + 16 * ns + 2, gb + 32 + nsc * lane, static_cast<size_t>(nsc));
  if (full) {
    for (int h = 0; h < 2; ++h) {
      for (int c = 0; c < 4; ++c) {
        const uint32_t a = Load32(gb + Q4NLRows16CodeByte(4, h, c, lane, 0));
        const uint32_t b = Load32(gb + Q4NLRows16CodeByte(4, h + 2, c, lane, 0));
        Store32(fb + 32 * h + 4 * c, (a & kLo) | (b & kLo) << 4);
        Store32(fb + 32 * h + 16 + 4 * c, (a >> 4 & kLo) | (b & ~kLo));
      }
    }
    return;
  }
  std::memset(fb, 0, static_cast<size_t>(16 * ns));
  for (int s = 0; s < ns; ++s) {
    for (int c = 0; c < 4; ++c) {
      for (int j = 0; j < 4; ++j) {
        const uint8_t v = gb[Q4NLRows16CodeByte(ns, s, c, lane, j)];
        const Nibble lo = FileNibble(ns, 32 * s + 4 * c + j), hi = FileNibble(ns, 32 * s + 16 + 4 * c + j);
        fb[lo.byte] = static_cast<uint8_t>(fb[lo.byte] | (v & 15) << lo.shift);
        fb[hi.byte] = static_cast<uint8_t>(fb[hi.byte] | (v >> 4) << hi.shift);
      }
    }
  }
}

void Repack(const cpu::WeightView& w, DType type, cpu::WeightLayout layout, std::vector<uint8_t>* out,
            cpu::WeightView* repacked) {
  CheckView(w, type, cpu::WeightLayout::kFile);
  repack_internal::RepackRows16(w, kFileBlock, out, PutLane);  // padding rows: all zero (D = 0)
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = layout;
}

}  // namespace

void RepackQ4NLRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  Repack(w, DType::kQ4_NL, cpu::WeightLayout::kQ4NLRows16, out, repacked);
}
void RepackQ4TRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  Repack(w, DType::kQ4_T, cpu::WeightLayout::kQ4TRows16, out, repacked);
}

void Q4NLRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, DType::kQ4_NL, cpu::WeightLayout::kQ4NLRows16);
  repack_internal::Rows16Row(w, kFileBlock, r, dst, GetLane);
}
void Q4TRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, DType::kQ4_T, cpu::WeightLayout::kQ4TRows16);
  repack_internal::Rows16Row(w, kFileBlock, r, dst, GetLane);
}

}  // namespace septet::simd
