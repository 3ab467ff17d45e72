// WeightLayout::kQ4KRows16 and kQ5KRows16 (repack.h): Q4_K / Q5_K rows
// interleaved in groups of 16 for the AVX3_DL kernels (dot_q4k_rows16.cc): per
// super-block each field of the 16 rows' file blocks side by side, d and dmin as
// 32-byte fp16 vectors and every 4-byte word of scales, qh (Q5_K) and qs as a
// 64-byte plane, an int32 lane per row.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "core/check.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_internal.h"
#include "quant/ggml_kquants.h"

namespace septet::simd {
namespace {

// A field of the file block: `count` elements of `bytes` bytes at `file`;
// element k of lane r sits in the group block at group + 16 bytes k + bytes r
// (d and dmin: 32-byte fp16 vectors; the 4-byte words: 64-byte planes).
struct Field {
  size_t file, group, bytes;
  int count;
};
using quant::BlockQ4_K, quant::BlockQ5_K;
constexpr Field kQ4KFields[] = {
    {offsetof(BlockQ4_K, d), 0, 2, 1},
    {offsetof(BlockQ4_K, dmin), 32, 2, 1},
    {offsetof(BlockQ4_K, scales), Q4KRows16ScaleByte(0, 0, 0), 4, 3},
    {offsetof(BlockQ4_K, qs), Q4KRows16CodeByte(DType::kQ4_K, 0, 0, 0, 0), 4, 32},
};
constexpr Field kQ5KFields[] = {
    {offsetof(BlockQ5_K, d), 0, 2, 1},
    {offsetof(BlockQ5_K, dmin), 32, 2, 1},
    {offsetof(BlockQ5_K, scales), Q4KRows16ScaleByte(0, 0, 0), 4, 3},
    {offsetof(BlockQ5_K, qh), Q5KRows16HighByte(0, 0, 0), 4, 8},
    {offsetof(BlockQ5_K, qs), Q4KRows16CodeByte(DType::kQ5_K, 0, 0, 0, 0), 4, 32},
};
static_assert(Q4KRows16CodeByte(DType::kQ4_K, 1, 0, 0, 0) - Q4KRows16CodeByte(DType::kQ4_K, 0, 0, 0, 0) == 16 * 32 &&
                  Q4KRows16ScaleByte(1, 0, 0) - Q4KRows16ScaleByte(0, 0, 0) == 16 * 4 &&
                  Q5KRows16HighByte(1, 0, 0) - Q5KRows16HighByte(0, 0, 0) == 16 * 4,
              "word k of a field at 16 x 4 k: the planes of repack.h");

// Q4_K (kHigh false) or Q5_K.
template <bool kHigh>
struct Geometry {
  static constexpr DType kType = kHigh ? DType::kQ5_K : DType::kQ4_K;
  static constexpr cpu::WeightLayout kLayout = kHigh ? cpu::WeightLayout::kQ5KRows16 : cpu::WeightLayout::kQ4KRows16;
  static constexpr size_t kBytes = kHigh ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  static constexpr std::span<const Field> kFields = kHigh ? std::span<const Field>(kQ5KFields) : kQ4KFields;
};

template <class G>
void CheckView(const cpu::WeightView& w, cpu::WeightLayout layout) {
  SEPTET_CHECK(w.type == G::kType && w.layout == layout);
  SEPTET_CHECK(w.cols % quant::kQK == 0 && w.row_bytes == static_cast<size_t>(w.cols / quant::kQK) * G::kBytes);
}

// Lane `lane` of a group block <-> one file block, field by field.
template <class G, bool kToGroup>
void MoveLane(const uint8_t* src, int lane, uint8_t* dst) {
  for (const Field& fd : G::kFields) {
    for (int k = 0; k < fd.count; ++k) {
      const size_t at_file = fd.file + fd.bytes * k, at_group = fd.group + fd.bytes * (16 * k + lane);
      std::memcpy(dst + (kToGroup ? at_group : at_file), src + (kToGroup ? at_file : at_group), fd.bytes);
    }
  }
}
template <class G>
void PutLane(const uint8_t* fb, int /*ns*/, bool /*full*/, int lane, uint8_t* gb) {
  MoveLane<G, true>(fb, lane, gb);
}
template <class G>
void GetLane(const uint8_t* gb, int /*ns*/, bool /*full*/, int lane, uint8_t* fb) {
  MoveLane<G, false>(gb, lane, fb);
}

template <class G>
void Repack(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  CheckView<G>(w, cpu::WeightLayout::kFile);
  repack_internal::RepackRows16(w, G::kBytes, out, PutLane<G>, quant::kQK);  // padding rows: all zero (d = dmin = 0)
  *repacked = w;
  repacked->data = out->data();
  repacked->layout = G::kLayout;
}
template <class G>
void Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  CheckView<G>(w, G::kLayout);
  repack_internal::Rows16Row(w, G::kBytes, r, dst, GetLane<G>, quant::kQK);
}

}  // namespace

void RepackQ4KRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  Repack<Geometry<false>>(w, out, repacked);
}
void RepackQ5KRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked) {
  Repack<Geometry<true>>(w, out, repacked);
}
void Q4KRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) { Row<Geometry<false>>(w, r, dst); }
void Q5KRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst) { Row<Geometry<true>>(w, r, dst); }

}  // namespace septet::simd
