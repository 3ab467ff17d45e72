// WeightLayout::kQ3P5Rows16 (repack.h): Q3P5 rows interleaved in groups of 16,
// so that one 512-bit vector of the AVX3_DL kernels (dot_q3p5_rows16.cc) holds
// the same 4 weights of 16 rows and each of its int32 lanes is one row's dot.
// The code planes (PutRows16Planes / GetRows16Planes) serve Q3P5_NL's rows of 16
// as well (repack_q3p5nlr16.cc).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/q3p5.h"

namespace septet::simd {
namespace {

void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK(w.type == DType::kQ3P5 && w.layout == layout);
  SEPTET_CHECK(w.row_bytes == quant::Q3P5RowBytes(w.cols));
}

// Byte i of kBitSpread[n] = bit i of the nibble n: a quad's 4 one-bit fields
// to its 4 bytes. kLoSpread[b]: byte i = bits 2 i, 2 i + 1 of b (a file lo byte
// holds a quad's low 2 bits of u).
constexpr auto kBitSpread = [] {
  std::array<uint32_t, 16> t{};
  for (uint32_t n = 0; n < 16; ++n) {
    for (int i = 0; i < 4; ++i) t[n] |= ((n >> i) & 1u) << (8 * i);
  }
  return t;
}();
constexpr auto kLoSpread = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    for (int i = 0; i < 4; ++i) t[b] |= ((b >> (2 * i)) & 3u) << (8 * i);
  }
  return t;
}();

void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace

namespace repack_internal {

void PutRows16Planes(const uint8_t* subs, int ns, int lane, uint8_t* gb) {
  constexpr uint32_t k1 = 0x01010101u, k3 = 0x03030303u;
  for (int s = 0; s < ns; ++s) {
    const uint8_t* sub = subs + 12 * s;
    uint32_t d[8];
    for (int q = 0; q < 8; ++q) d[q] = kLoSpread[sub[q]] | kBitSpread[(sub[8 + q / 2] >> (4 * (q % 2))) & 15u] << 2;
    Store32(gb + Q3P5Rows16PlaneByte(s, 0, lane, 0), d[0] | d[1] << 3 | (d[6] & k3) << 6);
    Store32(gb + Q3P5Rows16PlaneByte(s, 1, lane, 0), d[2] | d[3] << 3 | (d[7] & k3) << 6);
    Store32(gb + Q3P5Rows16PlaneByte(s, 2, lane, 0),
            d[4] | ((d[6] >> 2) & k1) << 3 | ((d[7] >> 2) & k1) << 4 | d[5] << 5);
  }
}

}  // namespace repack_internal

namespace {

// Lane `lane` of a group block (zero before) <- one file block (ns sub-blocks;
// ns == 4 with `full`: the 56-byte block with its ext plane). Per sub-block, the
// codes of quad q as one word D_q (byte i = u of weight 4 q + i), the planes of
// repack.h as byte-wise ors of them (no field crosses a byte).
void PutLane(const uint8_t* fb, int ns, bool full, int lane, uint8_t* gb) {
  uint32_t hdr;
  std::memcpy(&hdr, fb, 4);
  const uint16_t lo = static_cast<uint16_t>(hdr & 0xFFFFu), hi = static_cast<uint16_t>(hdr >> 16);
  std::memcpy(gb + 2 * lane, &lo, 2);
  std::memcpy(gb + 32 + 2 * lane, &hi, 2);
  repack_internal::PutRows16Planes(fb + 4, ns, lane, gb);
  if (full) {
    uint32_t ext, e = 0;
    std::memcpy(&ext, fb + 52, 4);  // bit k: weight k of sub-block sel
    for (int q = 0; q < 8; ++q) e |= kBitSpread[(ext >> (4 * q)) & 15u] << q;
    Store32(gb + Q3P5Rows16ExtByte(lane, 0), e);
  }
}
uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
// Bit 0 of each byte of x (the others 0) gathered into a nibble, byte i to bit i.
uint32_t GatherBits(uint32_t x) { return (x | x >> 7 | x >> 14 | x >> 21) & 15u; }

}  // namespace

namespace repack_internal {

void GetRows16Planes(const uint8_t* gb, int ns, int lane, uint8_t* subs) {
  std::memset(subs, 0, static_cast<size_t>(12 * ns));
  constexpr uint32_t k1 = 0x01010101u, k3 = 0x03030303u, k7 = 0x07070707u;
  for (int s = 0; s < ns; ++s) {
    uint8_t* sub = subs + 12 * s;
    const uint32_t p0 = Load32(gb + Q3P5Rows16PlaneByte(s, 0, lane, 0));
    const uint32_t p1 = Load32(gb + Q3P5Rows16PlaneByte(s, 1, lane, 0));
    const uint32_t p2 = Load32(gb + Q3P5Rows16PlaneByte(s, 2, lane, 0));
    const uint32_t d[8] = {p0 & k7,
                           (p0 >> 3) & k7,
                           p1 & k7,
                           (p1 >> 3) & k7,
                           p2 & k7,
                           (p2 >> 5) & k7,
                           ((p0 >> 6) & k3) | ((p2 >> 3) & k1) << 2,
                           ((p1 >> 6) & k3) | ((p2 >> 4) & k1) << 2};
    for (int q = 0; q < 8; ++q) {
      const uint32_t x = d[q] & k3, y = x | x >> 6;  // byte i's 2 bits to bits 2 i (i < 2) and 16 + 2 (i - 2)
      sub[q] = static_cast<uint8_t>((y & 0x0Fu) | ((y >> 12) & 0xF0u));
      sub[8 + q / 2] = static_cast<uint8_t>(sub[8 + q / 2] | GatherBits((d[q] >> 2) & k1) << (4 * (q % 2)));
    }
  }
}

}  // namespace repack_internal

namespace {

// The inverse: one file block from lane `lane` of a group block, each quad's word
// D_q unpicked from the planes.
void GetLane(const uint8_t* gb, int ns, bool full, int lane, uint8_t* fb) {
  uint16_t lo, hi;
  std::memcpy(&lo, gb + 2 * lane, 2);
  std::memcpy(&hi, gb + 32 + 2 * lane, 2);
  const uint32_t hdr = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  std::memcpy(fb, &hdr, 4);
  repack_internal::GetRows16Planes(gb, ns, lane, fb + 4);
  if (full) {
    const uint32_t e = Load32(gb + Q3P5Rows16ExtByte(lane, 0));
    uint32_t ext = 0;
    for (int q = 0; q < 8; ++q) ext |= GatherBits((e >> q) & 0x01010101u) << (4 * q);
    std::memcpy(fb + 52, &ext, 4);
  }
}

}  // namespace

void RepackQ3P5Rows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView(w, cpu::WeightLayout::kFile);
  repack_internal::RepackRows16(w, repack_internal::kBlockBytes, out, PutLane);  // padding rows: all zero (d = m = 0)
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = cpu::WeightLayout::kQ3P5Rows16;
}

void Q3P5Rows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView(w, cpu::WeightLayout::kQ3P5Rows16);
  repack_internal::Rows16Row(w, repack_internal::kBlockBytes, r, dst, GetLane);
}

}  // namespace septet::simd
