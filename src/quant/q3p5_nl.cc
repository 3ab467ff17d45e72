#include "quant/q3p5_nl.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/nl_codebook.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

int NumSubBlocks(int r) { return static_cast<int>(CeilDiv(r, kQ3P5NLSubBlockSize)); }

size_t BlockBytesAt(int64_t n, int64_t i0) {
  return Q3P5NLShortBlockBytes(std::min<int64_t>(kQ3P5NLBlockSize, n - i0));
}

// Midpoints of consecutive levels: the search phase codes w / t against them.
constexpr float kMid[7] = {-104.5f, -65.5f, -35.0f, -8.5f, 16.5f, 43.0f, 77.0f};
const NlCodebook kCodebook{kQ3P5NLLevels, kMid, 8, kQ3P5NLPadCode, kQ3P5NLMaxAbsLevel};

void QuantizeBlock(const float* w, const float* imp, int r, uint8_t* dst, const NlSearchFns& fns) {
  const int ng = static_cast<int>(CeilDiv(r, kQ3P5NLGroupSize));
  float t[kQ3P5NLGroups] = {};
  float pos = 0, neg = 0;
  for (int g = 0; g < ng; ++g) {
    const int k0 = g * kQ3P5NLGroupSize, len = std::min(r - k0, kQ3P5NLGroupSize);
    t[g] = NlSearchScale(kCodebook, w + k0, imp ? imp + k0 : nullptr, len, fns.scale_errors);
    pos = std::max(pos, t[g]);
    neg = std::max(neg, -t[g]);
  }
  // Step 2: D, stored as fp16 of 4096 d, saturated at the fp16 maximum (D ~ max |w|,
  // and the callers bound |w| by it; a saturated D only clamps the scales).
  const float d_want = std::max(pos / kQ3P5NLScaleMax, neg / -kQ3P5NLScaleMin);
  const uint16_t d16 = FloatToFp16(std::min(d_want / kQ3P5NLDUnit, 65504.0f));
  const float d = Fp16ToFloat(d16) * kQ3P5NLDUnit;
  // Step 3: integer scales with the stored d, codes recomputed.
  int8_t sc[kQ3P5NLGroups] = {};
  uint8_t codes[kQ3P5NLBlockSize];
  std::fill(codes, codes + kQ3P5NLBlockSize, static_cast<uint8_t>(kQ3P5NLPadCode));
  for (int g = 0; g < ng; ++g) {
    const int k0 = g * kQ3P5NLGroupSize, len = std::min(r - k0, kQ3P5NLGroupSize);
    sc[g] = static_cast<int8_t>(NlChooseScale(kCodebook, w + k0, imp ? imp + k0 : nullptr, len, d, t[g],
                                              kQ3P5NLScaleMin, kQ3P5NLScaleMax, codes + k0, fns.stored_errors));
  }
  Q3P5NLWriteBlock(d16, sc, codes, r, dst);
}

}  // namespace

Q3P5NLParams Q3P5NLReadParams(const uint8_t* p, int r) {
  const int ns = NumSubBlocks(r);
  Q3P5NLParams out;
  uint16_t d16 = 0;
  std::memcpy(&d16, p + 12 * ns, 2);
  out.d = Fp16ToFloat(d16) * kQ3P5NLDUnit;
  uint8_t raw[8] = {};
  std::memcpy(raw, p + 12 * ns + 2, static_cast<size_t>(CeilDiv(12 * ns, 8)));
  uint64_t bits = 0;
  for (int i = 5; i >= 0; --i) bits = (bits << 8) | raw[i];
  for (int g = 0; g < 2 * ns; ++g) {
    const int v = static_cast<int>((bits >> (6 * g)) & 63u);
    out.sc[g] = static_cast<int8_t>((v ^ 32) - 32);
  }
  return out;
}

void Q3P5NLReadCodes(const uint8_t* p, int r, uint8_t* codes) {
  const int ns = NumSubBlocks(r);
  for (int s = 0; s < ns; ++s) {
    const uint8_t* lo = p + 12 * s;
    const uint8_t* hi = lo + 8;
    for (int k = 0; k < kQ3P5NLSubBlockSize; ++k) {
      codes[s * kQ3P5NLSubBlockSize + k] =
          static_cast<uint8_t>(((lo[k / 4] >> (2 * (k % 4))) & 3) | (((hi[k / 8] >> (k % 8)) & 1) << 2));
    }
  }
}

void Q3P5NLWriteBlock(uint16_t d16, const int8_t* sc, const uint8_t* codes, int r, uint8_t* dst) {
  SEPTET_CHECK_MSG(r >= 1 && r <= kQ3P5NLBlockSize, "Q3P5_NL block length must be 1..128");
  const int ns = NumSubBlocks(r);
  std::memset(dst, 0, Q3P5NLShortBlockBytes(r));
  for (int s = 0; s < ns; ++s) {
    uint8_t* lo = dst + 12 * s;
    uint8_t* hi = lo + 8;
    for (int k = 0; k < kQ3P5NLSubBlockSize; ++k) {
      const int i = s * kQ3P5NLSubBlockSize + k;
      const int u = i < r ? codes[i] : kQ3P5NLPadCode;
      SEPTET_DCHECK(u >= 0 && u <= 7);
      lo[k / 4] = static_cast<uint8_t>(lo[k / 4] | ((u & 3) << (2 * (k % 4))));
      hi[k / 8] = static_cast<uint8_t>(hi[k / 8] | (((u >> 2) & 1) << (k % 8)));
    }
  }
  std::memcpy(dst + 12 * ns, &d16, 2);
  uint64_t bits = 0;
  for (int g = 0; g < 2 * ns; ++g) {
    const bool has_weights = g * kQ3P5NLGroupSize < r;
    const int v = has_weights ? sc[g] : 0;
    SEPTET_DCHECK(v >= kQ3P5NLScaleMin && v <= kQ3P5NLScaleMax);
    bits |= static_cast<uint64_t>(v & 63) << (6 * g);
  }
  for (int i = 0; i < CeilDiv(12 * ns, 8); ++i) dst[12 * ns + 2 + i] = static_cast<uint8_t>(bits >> (8 * i));
}

int Q3P5NLNearestCode(float w, float d, int s) { return NlNearestCode(kCodebook, w, d, s); }
const NlCodebook& Q3P5NLCodebook() { return kCodebook; }

void Q3P5NLQuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  Q3P5NLQuantizeRowWith(src, dst, n, importance, NlSearchFns{});
}

void Q3P5NLQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const NlSearchFns& fns) {
  CheckRowArgs(src, dst, n);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i0 = 0; i0 < n; i0 += kQ3P5NLBlockSize) {
    const int r = static_cast<int>(std::min<int64_t>(kQ3P5NLBlockSize, n - i0));
    const float* imp = importance ? importance + i0 : nullptr;
    if (imp != nullptr && std::none_of(imp, imp + r, [](float a) { return a > 0.0f; })) {
      imp = nullptr;  // all-zero importance: any choice is optimal; use the unweighted one
    }
    QuantizeBlock(src + i0, imp, r, out, fns);
    out += BlockBytesAt(n, i0);
  }
}

namespace {

// Calls fn(i0, r, params, codes) for each block of a row of n weights.
template <class Fn>
void ForEachBlock(int64_t n, const uint8_t* w, Fn fn) {
  for (int64_t i0 = 0; i0 < n; i0 += kQ3P5NLBlockSize) {
    const int r = static_cast<int>(std::min<int64_t>(kQ3P5NLBlockSize, n - i0));
    uint8_t codes[kQ3P5NLBlockSize];
    Q3P5NLReadCodes(w, r, codes);
    fn(i0, r, Q3P5NLReadParams(w, r), static_cast<const uint8_t*>(codes));
    w += BlockBytesAt(n, i0);
  }
}

}  // namespace

void Q3P5NLDequantizeRow(const void* src, float* dst, int64_t n) {
  CheckRowArgs(src, dst, n);
  ForEachBlock(n, static_cast<const uint8_t*>(src), [&](int64_t i0, int r, const Q3P5NLParams& p, const uint8_t* u) {
    for (int k = 0; k < r; ++k) dst[i0 + k] = Q3P5NLValue(p.d, p.sc[k / kQ3P5NLGroupSize], u[k]);
  });
}

float Q3P5NLVecDot(int64_t n, const void* w_row, const void* act_row) {
  CheckRowArgs(w_row, act_row, n);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  ForEachBlock(n, static_cast<const uint8_t*>(w_row), [&](int64_t i0, int r, const Q3P5NLParams& p, const uint8_t* u) {
    for (int s = 0; s * kQ3P5NLSubBlockSize < r; ++s) {  // one Q8_A block per sub-block
      const auto xb = LoadBlock<BlockQ8A>(x + (i0 / kQ8ABlockSize + s) * sizeof(BlockQ8A));
      const int k_end = std::min(r - s * kQ3P5NLSubBlockSize, kQ3P5NLSubBlockSize);
      int32_t acc[2] = {0, 0};
      for (int k = 0; k < k_end; ++k) {
        acc[k / kQ3P5NLGroupSize] += int32_t{xb.qs[k]} * kQ3P5NLLevels[u[s * kQ3P5NLSubBlockSize + k]];
      }
      const int32_t isum = p.sc[2 * s] * acc[0] + p.sc[2 * s + 1] * acc[1];
      sum += (p.d * xb.d) * static_cast<float>(isum);
    }
  });
  return sum;
}

size_t Q3P5NLRowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q3P5NLRowBytes(n);
}

}  // namespace septet::quant
