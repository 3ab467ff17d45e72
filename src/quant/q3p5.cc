#include "quant/q3p5.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/affine_fit.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

size_t BlockBytesAt(int64_t n, int64_t i0) {
  const int64_t len = std::min<int64_t>(kQ3P5BlockSize, n - i0);
  return len == kQ3P5BlockSize ? sizeof(BlockQ3P5) : Q3P5ShortBlockBytes(len);
}

int NumSubBlocks(int r) { return static_cast<int>(CeilDiv(r, kQ3P5SubBlockSize)); }

// Weighted squared error of block weights [k0, k1) coded at (d, m), upgraded or not.
double RangeError(const float* w, const float* imp, int k0, int k1, float d, float m,
                  bool upgraded) {
  const float step = upgraded ? d * 0.5f : d;
  const int max_code = upgraded ? kQ3P5MaxCode4 : kQ3P5MaxCode3;
  double err = 0;
  for (int k = k0; k < k1; ++k) {
    const int c = NearestAffineCode(w[k], step, m, max_code);
    const double e = static_cast<double>(w[k]) - (m + step * static_cast<float>(c));
    err += ImportanceAt(imp, k) * e * e;
  }
  return err;
}

double BlockError(const float* w, const float* imp, int r, float d, float m, int sel,
                  bool has_ext) {
  double err = 0;
  for (int s = 0; s * kQ3P5SubBlockSize < r; ++s) {
    const int k0 = s * kQ3P5SubBlockSize;
    err += RangeError(w, imp, k0, std::min(r, k0 + kQ3P5SubBlockSize), d, m, has_ext && s == sel);
  }
  return err;
}

float RoundDForSearch(float d) { return Q3P5RoundD(d); }
float RoundMForSearch(float m) { return Q3P5RoundM(m); }

BlockQ3P5 QuantizeBlock(const float* w, const float* imp, int r, const AffineSearchFns& fns) {
  const bool has_ext = r == kQ3P5BlockSize;
  static constexpr AffineGrid kGrid{kQ3P5MaxCode3, &RoundDForSearch, &RoundMForSearch};
  // 1. 3-bit (d, m) search.
  const AffineParams p3 = SearchAffine(w, imp, r, kGrid, fns);

  // 2. sel: the sub-block whose upgrade to step d/2 reduces the weighted error most.
  int sel = 0;
  if (has_ext) {
    double best_gain = -1;
    for (int s = 0; s < kQ3P5SubBlocks; ++s) {
      const int k0 = s * kQ3P5SubBlockSize, k1 = k0 + kQ3P5SubBlockSize;
      const double gain = RangeError(w, imp, k0, k1, p3.d, p3.m, false) -
                          RangeError(w, imp, k0, k1, p3.d, p3.m, true);
      if (gain > best_gain) {
        best_gain = gain;
        sel = s;
      }
    }
  }

  // 3. Refit (d, m) with the mixed codes fixed: w ~= m + d * c, c = u or v / 2.
  float c[kQ3P5BlockSize];
  for (int k = 0; k < r; ++k) {
    const bool up = has_ext && k / kQ3P5SubBlockSize == sel;
    const int code = NearestAffineCode(w[k], up ? p3.d * 0.5f : p3.d, p3.m,
                                       up ? kQ3P5MaxCode4 : kQ3P5MaxCode3);
    c[k] = up ? 0.5f * static_cast<float>(code) : static_cast<float>(code);
  }
  AffineParams pm = p3;
  FitAffineLeastSquares(w, imp, c, r, &pm);

  // 4. Stored precision, codes recomputed with the stored values; keep the better.
  const uint16_t d15a = Q3P5EncodeD(pm.d), m15a = Q3P5EncodeM(pm.m);
  const uint16_t d15b = Q3P5EncodeD(p3.d), m15b = Q3P5EncodeM(p3.m);
  const double err_a = BlockError(w, imp, r, Q3P5DecodeD(d15a), Q3P5DecodeM(m15a), sel, has_ext);
  const double err_b = BlockError(w, imp, r, Q3P5DecodeD(d15b), Q3P5DecodeM(m15b), sel, has_ext);
  return err_b < err_a ? Q3P5EncodeBlock(w, r, d15b, m15b, sel)
                       : Q3P5EncodeBlock(w, r, d15a, m15a, sel);
}

}  // namespace

uint16_t Q3P5EncodeD(float d) {
  return static_cast<uint16_t>(FloatToFp16(std::fabs(d)) & 0x7FFFu);
}

float Q3P5DecodeD(uint16_t d15) { return Fp16ToFloat(static_cast<uint16_t>(d15 & 0x7FFFu)); }

uint16_t Q3P5EncodeM(float m) {
  // The nearest fp16 whose mantissa LSB is 0. It is within one fp16 ulp of the
  // nearest fp16 h, so it is one of h with the LSB cleared (c0) or its neighbours
  // c0 +- 2 (same sign, one 9-bit step up or down in magnitude). Ties -> c0.
  const uint16_t h = FloatToFp16(m);
  const uint16_t sign = h & 0x8000u;
  const uint16_t c0 = static_cast<uint16_t>(h & 0xFFFEu);
  uint16_t best = c0;
  float best_err = std::fabs(Fp16ToFloat(c0) - m);
  const uint16_t mag = c0 & 0x7FFFu;
  auto consider = [&](uint16_t cand) {
    const float v = Fp16ToFloat(cand);
    if (!std::isfinite(v)) return;
    const float e = std::fabs(v - m);
    if (e < best_err) {
      best_err = e;
      best = cand;
    }
  };
  if (mag + 2u <= 0x7C00u) consider(static_cast<uint16_t>(sign | (mag + 2)));
  if (mag >= 2) consider(static_cast<uint16_t>(sign | (mag - 2)));
  // An fp16 that overflowed to inf: fall back to the largest finite 15-bit value.
  if (!std::isfinite(Fp16ToFloat(best)) && std::isfinite(m)) best = sign | 0x7BFEu;
  return static_cast<uint16_t>(best >> 1);
}

float Q3P5DecodeM(uint16_t m15) { return Fp16ToFloat(static_cast<uint16_t>((m15 & 0x7FFFu) << 1)); }

uint32_t Q3P5PackHeader(uint16_t d15, int sel, uint16_t m15) {
  return (uint32_t{d15} & 0x7FFFu) | ((static_cast<uint32_t>(sel) & 3u) << 15) |
         ((uint32_t{m15} & 0x7FFFu) << 17);
}

Q3P5Params Q3P5UnpackHeader(uint32_t hdr) {
  Q3P5Params p;
  p.d = Q3P5DecodeD(static_cast<uint16_t>(hdr & 0x7FFFu));
  p.sel = static_cast<int>((hdr >> 15) & 3u);
  p.m = Q3P5DecodeM(static_cast<uint16_t>(hdr >> 17));
  return p;
}

void Q3P5PackCodes(const uint8_t* codes, int ns, int sel, BlockQ3P5* blk) {
  SEPTET_DCHECK(ns >= 1 && ns <= kQ3P5SubBlocks && sel >= 0 && sel < kQ3P5SubBlocks);
  for (int s = 0; s < ns; ++s) {
    Q3P5SubBlock& sb = blk->sub[s];
    sb = Q3P5SubBlock{};
    const bool up = ns == kQ3P5SubBlocks && s == sel;
    if (up) std::memset(blk->ext, 0, sizeof(blk->ext));
    for (int k = 0; k < kQ3P5SubBlockSize; ++k) {
      const int code = codes[s * kQ3P5SubBlockSize + k];
      SEPTET_DCHECK(code >= 0 && code <= (up ? kQ3P5MaxCode4 : kQ3P5MaxCode3));
      const int u = up ? code >> 1 : code;
      sb.lo[k / 4] = static_cast<uint8_t>(sb.lo[k / 4] | ((u & 3) << (2 * (k % 4))));
      sb.hi[k / 8] = static_cast<uint8_t>(sb.hi[k / 8] | (((u >> 2) & 1) << (k % 8)));
      if (up) blk->ext[k / 8] = static_cast<uint8_t>(blk->ext[k / 8] | ((code & 1) << (k % 8)));
    }
  }
}

void Q3P5UnpackCodes(const BlockQ3P5& blk, int ns, uint8_t* codes) {
  const int sel = static_cast<int>((blk.hdr >> 15) & 3u);
  for (int s = 0; s < ns; ++s) {
    const Q3P5SubBlock& sb = blk.sub[s];
    const bool up = ns == kQ3P5SubBlocks && s == sel;
    for (int k = 0; k < kQ3P5SubBlockSize; ++k) {
      const int u = ((sb.lo[k / 4] >> (2 * (k % 4))) & 3) | (((sb.hi[k / 8] >> (k % 8)) & 1) << 2);
      const int e = (blk.ext[k / 8] >> (k % 8)) & 1;
      codes[s * kQ3P5SubBlockSize + k] = static_cast<uint8_t>(up ? 2 * u + e : u);
    }
  }
}

int Q3P5NearestCode(float w, float d, float m, bool upgraded) {
  return upgraded ? NearestAffineCode(w, d * 0.5f, m, kQ3P5MaxCode4)
                  : NearestAffineCode(w, d, m, kQ3P5MaxCode3);
}

BlockQ3P5 Q3P5EncodeBlock(const float* w, int r, uint16_t d15, uint16_t m15, int sel) {
  const int ns = NumSubBlocks(r);
  SEPTET_CHECK_MSG(r >= 1 && r <= kQ3P5BlockSize, "Q3P5 block length must be 1..128");
  SEPTET_CHECK_MSG(sel == 0 || ns == kQ3P5SubBlocks, "Q3P5 short block must have sel = 0");
  BlockQ3P5 blk{};
  blk.hdr = Q3P5PackHeader(d15, sel, m15);
  const float d = Q3P5DecodeD(d15), m = Q3P5DecodeM(m15);
  uint8_t codes[kQ3P5BlockSize] = {};  // padding weights: code 0
  for (int k = 0; k < r; ++k) {
    const bool up = ns == kQ3P5SubBlocks && k / kQ3P5SubBlockSize == sel;
    codes[k] = static_cast<uint8_t>(Q3P5NearestCode(w[k], d, m, up));
  }
  Q3P5PackCodes(codes, ns, sel, &blk);
  return blk;
}

void Q3P5QuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  Q3P5QuantizeRowWith(src, dst, n, importance, AffineSearchFns{});
}

void Q3P5QuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const AffineSearchFns& fns) {
  CheckRowArgs(src, dst, n);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i0 = 0; i0 < n; i0 += kQ3P5BlockSize) {
    const int r = static_cast<int>(std::min<int64_t>(kQ3P5BlockSize, n - i0));
    const float* imp = importance ? importance + i0 : nullptr;
    if (imp != nullptr && std::none_of(imp, imp + r, [](float a) { return a > 0.0f; })) {
      imp = nullptr;  // all-zero importance: any choice is optimal; use the unweighted one
    }
    StoreBlock(out, QuantizeBlock(src + i0, imp, r, fns), BlockBytesAt(n, i0));
    out += BlockBytesAt(n, i0);
  }
}

namespace {

// Calls fn(i0, r, p, v) for each block of a row of n weights: the block's first
// index i0, its r weights, its header p and its codes in half steps h = d / 2
// (v = the 4-bit code in sub-block sel of a full block, 2u elsewhere), so that
// weight k is p.m + h v[k]; the dot products sum x_q v as their integer.
template <class Fn>
void ForEachBlock(int64_t n, const uint8_t* w, Fn fn) {
  for (int64_t i0 = 0; i0 < n; i0 += kQ3P5BlockSize) {
    const auto blk = LoadBlock<BlockQ3P5>(w, BlockBytesAt(n, i0));
    w += BlockBytesAt(n, i0);
    const int r = static_cast<int>(std::min<int64_t>(kQ3P5BlockSize, n - i0));
    const int ns = NumSubBlocks(r);
    const Q3P5Params p = Q3P5UnpackHeader(blk.hdr);
    uint8_t v[kQ3P5BlockSize];
    Q3P5UnpackCodes(blk, ns, v);
    for (int k = 0; k < r; ++k) {
      if (!(ns == kQ3P5SubBlocks && k / kQ3P5SubBlockSize == p.sel)) v[k] = static_cast<uint8_t>(2 * v[k]);
    }
    fn(i0, r, p, static_cast<const uint8_t*>(v));
  }
}

}  // namespace

void Q3P5DequantizeRow(const void* src, float* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  ForEachBlock(n, static_cast<const uint8_t*>(src), [&](int64_t i0, int r, const Q3P5Params& p, const uint8_t* v) {
    const float h = p.d * 0.5f;  // exact: d is an fp16 value, d / 2 a normal float
    for (int k = 0; k < r; ++k) dst[i0 + k] = p.m + h * static_cast<float>(v[k]);
  });
}

float Q3P5VecDot(int64_t n, const void* w_row, const void* act_row) {
  CheckRowArgs(w_row, act_row, n);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  ForEachBlock(n, static_cast<const uint8_t*>(w_row), [&](int64_t i0, int r, const Q3P5Params& p, const uint8_t* v) {
    const float h = p.d * 0.5f;
    for (int s = 0; s * kQ3P5SubBlockSize < r; ++s) {  // one Q8_A block per sub-block
      const auto xb = LoadBlock<BlockQ8A>(x + (i0 / kQ8ABlockSize + s) * sizeof(BlockQ8A));
      const int k_end = std::min(r - s * kQ3P5SubBlockSize, kQ3P5SubBlockSize);
      int32_t acc = 0;
      for (int k = 0; k < k_end; ++k) acc += int32_t{xb.qs[k]} * v[s * kQ3P5SubBlockSize + k];
      sum += xb.d * (h * static_cast<float>(acc) + p.m * static_cast<float>(xb.sum));
    }
  });
  return sum;
}

float Q3P5VecDotQ8B(int64_t n, const void* w_row, const void* act_row) {
  CheckRowArgs(w_row, act_row, n);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  ForEachBlock(n, static_cast<const uint8_t*>(w_row), [&](int64_t i0, int r, const Q3P5Params& p, const uint8_t* v) {
    const auto xb = LoadBlock<BlockQ8B>(x + (i0 / kQ8BBlockSize) * sizeof(BlockQ8B));  // one per block
    int32_t acc = 0;
    for (int k = 0; k < r; ++k) acc += int32_t{xb.qs[k]} * v[k];
    sum += xb.d * (p.d * 0.5f * static_cast<float>(acc) + p.m * static_cast<float>(xb.sum));
  });
  return sum;
}

size_t Q3P5RowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q3P5RowBytes(n);
}

}  // namespace septet::quant
