#include "quant/q8_act.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"

namespace septet::quant {
namespace {

// Symmetric INT8 of n values: d = max|x| / 127, q = round(x / d). Returns d and
// writes the codes; the sum is returned through *sum.
float QuantizeSymmetric(const float* x, int64_t n, int8_t* q, int64_t* sum) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  const float d = amax / static_cast<float>(kActMaxAbs);
  int64_t s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int v = d > 0.0f ? RoundClamp(x[i] / d, -kActMaxAbs, kActMaxAbs) : 0;
    q[i] = static_cast<int8_t>(v);
    s += v;
  }
  *sum = s;
  return d;
}

// Q8_A / Q8_B: blocks of kB values, each {d, sum, codes}; a final partial block
// is zero-padded (codes past n and the padding bytes are 0).
template <class Block, int kB>
void QuantizeBlocks(const float* src, void* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b * kB < n; ++b) {
    const int64_t len = std::min<int64_t>(kB, n - b * kB);
    Block blk{};
    int64_t sum = 0;
    blk.d = QuantizeSymmetric(src + b * kB, len, blk.qs, &sum);
    blk.sum = static_cast<int16_t>(sum);
    StoreBlock(out + b * sizeof(Block), blk);
  }
}

template <class Block, int kB>
void DequantizeBlocks(const void* src, float* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  const uint8_t* in = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b * kB < n; ++b) {
    const auto blk = LoadBlock<Block>(in + b * sizeof(Block));
    const int64_t len = std::min<int64_t>(kB, n - b * kB);
    for (int64_t k = 0; k < len; ++k) dst[b * kB + k] = blk.d * blk.qs[k];
  }
}

}  // namespace

void Q8AQuantizeRow(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  QuantizeBlocks<BlockQ8A, kQ8ABlockSize>(src, dst, n);
}

void Q8ADequantizeRow(const void* src, float* dst, int64_t n) { DequantizeBlocks<BlockQ8A, kQ8ABlockSize>(src, dst, n); }

size_t Q8ARowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q8ARowBytes(n);
}

void Q8BQuantizeRow(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  QuantizeBlocks<BlockQ8B, kQ8BBlockSize>(src, dst, n);
}

void Q8BDequantizeRow(const void* src, float* dst, int64_t n) { DequantizeBlocks<BlockQ8B, kQ8BBlockSize>(src, dst, n); }

size_t Q8BRowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q8BRowBytes(n);
}

void Q8RQuantizeRow(const float* src, void* dst, int64_t n, const float* /*importance*/) {
  CheckRowArgs(src, dst, n);
  SEPTET_CHECK_MSG(n <= kQ8RMaxRowLength, "Q8_R: row too long for its int32 code sum");
  if (dst == nullptr) return;  // n == 0 and no buffer: nothing to write
  uint8_t* out = static_cast<uint8_t*>(dst);
  std::memset(out, 0, Q8RRowBytes(n));  // header + codes + zero padding
  int64_t sum = 0;
  Q8RHeader hdr{};
  hdr.d = QuantizeSymmetric(src, n, reinterpret_cast<int8_t*>(out + sizeof(Q8RHeader)), &sum);
  hdr.sum = static_cast<int32_t>(sum);
  StoreBlock(out, hdr);
}

void Q8RDequantizeRow(const void* src, float* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  if (n == 0) return;
  const uint8_t* in = static_cast<const uint8_t*>(src);
  const auto hdr = LoadBlock<Q8RHeader>(in);
  const int8_t* q = reinterpret_cast<const int8_t*>(in + sizeof(Q8RHeader));
  for (int64_t i = 0; i < n; ++i) dst[i] = hdr.d * q[i];
}

size_t Q8RRowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q8RRowBytes(n);
}

}  // namespace septet::quant
