#include "quant/q3p5_seed.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "quant/affine_fit.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

double RowError(const float* w, const float* imp, int64_t n, float scale, float offset) {
  double err = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int q = Q3P5SeedNearestCode(w[i], scale, offset, i % 2 == 1);
    const double e = static_cast<double>(w[i]) - scale * (static_cast<float>(q) + offset);
    err += ImportanceAt(imp, i) * e * e;
  }
  return err;
}

int SignedCodeAt(const uint8_t* stream, int64_t i) {
  const uint8_t code7 = Q3P5SeedGetPair(stream, i / 2);
  return i % 2 == 0 ? Q3P5SeedQ4(code7) : Q3P5SeedQ3(code7);
}

}  // namespace

void Q3P5SeedPutPair(uint8_t* stream, int64_t p, uint8_t code7) {
  const int64_t bit = kQ3P5SeedPairBits * p;
  const int64_t byte = bit / 8;
  const int shift = static_cast<int>(bit % 8);
  const uint32_t mask = 0x7Fu << shift;
  const uint32_t val = (uint32_t{code7} & 0x7Fu) << shift;
  stream[byte] = static_cast<uint8_t>((stream[byte] & ~mask) | val);
  if (shift + kQ3P5SeedPairBits > 8) {  // the pair spills into the next byte
    stream[byte + 1] = static_cast<uint8_t>((stream[byte + 1] & ~(mask >> 8)) | (val >> 8));
  }
}

uint8_t Q3P5SeedGetPair(const uint8_t* stream, int64_t p) {
  const int64_t bit = kQ3P5SeedPairBits * p;
  const int64_t byte = bit / 8;
  const int shift = static_cast<int>(bit % 8);
  uint32_t v = stream[byte];
  if (shift + kQ3P5SeedPairBits > 8) v |= uint32_t{stream[byte + 1]} << 8;
  return static_cast<uint8_t>((v >> shift) & 0x7Fu);
}

int Q3P5SeedNearestCode(float w, float scale, float offset, bool odd) {
  if (!(scale > 0.0f)) return 0;  // a constant row: w = scale * offset for every code... use 0
  return odd ? RoundClamp(w / scale - offset, -4, 3) : RoundClamp(w / scale - offset, -8, 7);
}

void Q3P5SeedEncodeRow(const float* src, int64_t n, float scale, float offset, void* dst) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  const Q3P5SeedHeader hdr{scale, offset};
  StoreBlock(out, hdr);
  uint8_t* stream = out + sizeof(Q3P5SeedHeader);
  std::memset(stream, 0, Q3P5SeedStreamBytes(n));
  for (int64_t p = 0; 2 * p < n; ++p) {
    const int q4 = Q3P5SeedNearestCode(src[2 * p], scale, offset, false);
    // Odd n: the last pair has no odd weight; its 3-bit field stays 0 (padding).
    const uint8_t code = 2 * p + 1 < n
                             ? Q3P5SeedPairCode(q4, Q3P5SeedNearestCode(src[2 * p + 1], scale, offset, true))
                             : static_cast<uint8_t>(q4 + 8);
    Q3P5SeedPutPair(stream, p, code);
  }
}

void Q3P5SeedQuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  CheckRowArgs(src, dst, n);
  if (dst == nullptr) return;
  const float* imp = importance;
  if (imp != nullptr) {
    bool any = false;
    for (int64_t i = 0; i < n && !any; ++i) any = imp[i] > 0.0f;
    if (!any) imp = nullptr;  // all-zero importance: use the unweighted objective
  }
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    if (imp != nullptr && !(imp[i] > 0.0f)) continue;
    lo = std::fmin(lo, src[i]);
    hi = std::fmax(hi, src[i]);
  }
  float best_scale = 0.0f;
  float best_offset = 0.0f;
  if (n > 0 && hi > lo) {
    double best_err = std::numeric_limits<double>::infinity();
    std::vector<float> codes(static_cast<size_t>(n));
    auto consider = [&](float scale, float offset) {
      if (!(scale > 0.0f) || !std::isfinite(scale) || !std::isfinite(offset)) return;
      const double err = RowError(src, imp, n, scale, offset);
      if (err < best_err) {
        best_err = err;
        best_scale = scale;
        best_offset = offset;
      }
    };
    for (int j = 0; j <= 18; ++j) {
      const float scale = (0.30f + 0.05f * static_cast<float>(j)) * (hi - lo) / 15.0f;
      const float offsets[3] = {lo / scale + 8.0f, hi / scale - 7.0f, (lo + hi) / (2.0f * scale) + 0.5f};
      for (float offset : offsets) {
        consider(scale, offset);
        // Refit w ~= a * q + b with the codes fixed: scale = a, offset = b / a.
        for (int64_t i = 0; i < n; ++i) {
          codes[static_cast<size_t>(i)] =
              static_cast<float>(Q3P5SeedNearestCode(src[i], scale, offset, i % 2 == 1));
        }
        AffineParams ab;
        if (n <= std::numeric_limits<int>::max() &&
            FitAffineLeastSquares(src, imp, codes.data(), static_cast<int>(n), &ab) && ab.d > 0.0f) {
          consider(ab.d, ab.m / ab.d);
        }
      }
    }
  } else if (n > 0) {
    // Constant row (or one value): w = scale * (0 + offset) with scale = |w| or 1.
    best_scale = lo != 0.0f ? std::fabs(lo) : 1.0f;
    best_offset = lo / best_scale;
  }
  Q3P5SeedEncodeRow(src, n, best_scale, best_offset, dst);
}

void Q3P5SeedDequantizeRow(const void* src, float* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  if (n == 0) return;
  const uint8_t* in = static_cast<const uint8_t*>(src);
  const auto hdr = LoadBlock<Q3P5SeedHeader>(in);
  const uint8_t* stream = in + sizeof(Q3P5SeedHeader);
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = hdr.scale * (static_cast<float>(SignedCodeAt(stream, i)) + hdr.offset);
  }
}

int32_t Q3P5SeedDotI32(const uint8_t* stream, const int8_t* x_q, int64_t n) {
  CheckRowArgs(stream, x_q, n);
  SEPTET_CHECK_MSG(n <= kQ3P5SeedMaxRowLength,
                   "Q3P5_SEED: row longer than K_max = (2^31-1)/(127*8) = 2113665; the int32 "
                   "accumulator could overflow");
  int32_t acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += int32_t{x_q[i]} * SignedCodeAt(stream, i);
  return acc;
}

float Q3P5SeedVecDot(int64_t n, const void* w_row, const void* act_row) {
  CheckRowArgs(w_row, act_row, n);
  SEPTET_CHECK_MSG(n <= kQ3P5SeedMaxRowLength,
                   "Q3P5_SEED: row longer than K_max = (2^31-1)/(127*8) = 2113665; the int32 "
                   "accumulator could overflow");
  if (n == 0) return 0.0f;
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  const auto wh = LoadBlock<Q3P5SeedHeader>(w);
  const auto xh = LoadBlock<Q8RHeader>(x);
  const int32_t acc = Q3P5SeedDotI32(w + sizeof(Q3P5SeedHeader),
                                     reinterpret_cast<const int8_t*>(x + sizeof(Q8RHeader)), n);
  return (xh.d * wh.scale) * (static_cast<float>(acc) + wh.offset * static_cast<float>(xh.sum));
}

size_t Q3P5SeedRowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q3P5SeedRowBytes(n);
}

}  // namespace septet::quant
