#include "quant/q4_g.h"

#include <algorithm>

#include "core/half.h"
#include "quant/affine_fit.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

float RoundD(float d) { return RoundFp16(d); }
float RoundM(float m) { return RoundFp16(m); }

// Byte length of the block starting at weight i0 of an n-weight row.
size_t BlockBytesAt(int64_t n, int64_t i0) {
  const int64_t len = std::min<int64_t>(kQ4GBlockSize, n - i0);
  return len == kQ4GBlockSize ? sizeof(BlockQ4G) : Q4GShortBlockBytes(len);
}

}  // namespace

int Q4GCode(const BlockQ4G& blk, int k) {
  const uint8_t byte = blk.qs[k / 2];
  return (k % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
}

BlockQ4G Q4GEncodeBlock(const float* w, int len, uint16_t d_fp16, uint16_t m_fp16) {
  BlockQ4G blk{};
  blk.d = d_fp16;
  blk.m = m_fp16;
  const float d = Fp16ToFloat(d_fp16);
  const float m = Fp16ToFloat(m_fp16);
  for (int k = 0; k < len; ++k) {
    const int u = NearestAffineCode(w[k], d, m, kQ4GMaxCode);
    blk.qs[k / 2] = static_cast<uint8_t>(blk.qs[k / 2] | (u << (4 * (k % 2))));
  }
  return blk;
}

void Q4GQuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  Q4GQuantizeRowWith(src, dst, n, importance, AffineSearchFns{});
}

void Q4GQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const AffineSearchFns& fns) {
  CheckRowArgs(src, dst, n);
  uint8_t* out = static_cast<uint8_t*>(dst);
  static constexpr AffineGrid kGrid{kQ4GMaxCode, &RoundD, &RoundM};
  for (int64_t i0 = 0; i0 < n; i0 += kQ4GBlockSize) {
    const int len = static_cast<int>(std::min<int64_t>(kQ4GBlockSize, n - i0));
    const AffineParams p =
        SearchAffine(src + i0, importance ? importance + i0 : nullptr, len, kGrid, fns);
    const BlockQ4G blk = Q4GEncodeBlock(src + i0, len, FloatToFp16(p.d), FloatToFp16(p.m));
    StoreBlock(out, blk, BlockBytesAt(n, i0));
    out += BlockBytesAt(n, i0);
  }
}

void Q4GDequantizeRow(const void* src, float* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  const uint8_t* in = static_cast<const uint8_t*>(src);
  for (int64_t i0 = 0; i0 < n; i0 += kQ4GBlockSize) {
    const auto blk = LoadBlock<BlockQ4G>(in, BlockBytesAt(n, i0));
    in += BlockBytesAt(n, i0);
    const float d = Fp16ToFloat(blk.d);
    const float m = Fp16ToFloat(blk.m);
    const int len = static_cast<int>(std::min<int64_t>(kQ4GBlockSize, n - i0));
    for (int k = 0; k < len; ++k) dst[i0 + k] = m + d * static_cast<float>(Q4GCode(blk, k));
  }
}

float Q4GVecDot(int64_t n, const void* w_row, const void* act_row) {
  CheckRowArgs(w_row, act_row, n);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t i0 = 0; i0 < n; i0 += kQ4GBlockSize) {
    const auto blk = LoadBlock<BlockQ4G>(w, BlockBytesAt(n, i0));
    w += BlockBytesAt(n, i0);
    const float d = Fp16ToFloat(blk.d);
    const float m = Fp16ToFloat(blk.m);
    const int len = static_cast<int>(std::min<int64_t>(kQ4GBlockSize, n - i0));
    for (int s = 0; s * kQ4GSubBlockSize < len; ++s) {
      const int64_t ab = i0 / kQ8ABlockSize + s;  // the activation block of sub-block s
      const auto xb = LoadBlock<BlockQ8A>(x + ab * sizeof(BlockQ8A));
      const int k_end = std::min(len, (s + 1) * kQ4GSubBlockSize);
      int32_t acc = 0;
      for (int k = s * kQ4GSubBlockSize; k < k_end; ++k) {
        acc += int32_t{xb.qs[k - s * kQ4GSubBlockSize]} * Q4GCode(blk, k);
      }
      sum += xb.d * (d * static_cast<float>(acc) + m * static_cast<float>(xb.sum));
    }
  }
  return sum;
}

size_t Q4GRowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q4GRowBytes(n);
}

}  // namespace septet::quant
