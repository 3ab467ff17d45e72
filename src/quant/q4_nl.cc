#include "quant/q4_nl.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/nl_codebook.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

int NumSubBlocks(int r) { return static_cast<int>(CeilDiv(r, kQ4NLSubBlockSize)); }

size_t BlockBytesAt(int64_t n, int64_t i0) { return Q4NLShortBlockBytes(std::min<int64_t>(kQ4NLBlockSize, n - i0)); }

// Midpoints of consecutive levels: the search phase codes w / t against them.
constexpr float kMid[15] = {-115.0f, -93.5f, -76.0f, -61.0f, -47.5f, -35.0f, -22.5f, -10.0f,
                            2.0f,    14.0f,  26.0f,  39.0f,  53.0f,  68.5f,  89.0f};
const NlCodebook kCodebook{kQ4NLLevels, kMid, 16, kQ4NLPadCode, kQ4NLMaxAbsLevel};

void QuantizeBlock(const float* w, const float* imp, int r, uint8_t* dst, const NlSearchFns& fns) {
  const int ns = NumSubBlocks(r);
  float t[kQ4NLSubBlocks] = {};
  float pos = 0, neg = 0;
  for (int s = 0; s < ns; ++s) {
    const int k0 = s * kQ4NLSubBlockSize, len = std::min(r - k0, kQ4NLSubBlockSize);
    t[s] = NlSearchScale(kCodebook, w + k0, imp ? imp + k0 : nullptr, len, fns.scale_errors);
    pos = std::max(pos, t[s]);
    neg = std::max(neg, -t[s]);
  }
  // Step 2: D, stored as fp16 of 1024 d, saturated at the fp16 maximum (D ~ max |w|,
  // and the callers bound |w| by it; a saturated D only clamps the scales).
  const float d_want = std::max(pos / kQ4NLScaleMax, neg / -kQ4NLScaleMin);
  const uint16_t d16 = FloatToFp16(std::min(d_want / kQ4NLDUnit, 65504.0f));
  const float d = Fp16ToFloat(d16) * kQ4NLDUnit;
  // Step 3: integer scales with the stored d, codes recomputed.
  int8_t sc[kQ4NLSubBlocks] = {};
  uint8_t codes[kQ4NLBlockSize];
  std::fill(codes, codes + kQ4NLBlockSize, static_cast<uint8_t>(kQ4NLPadCode));
  for (int s = 0; s < ns; ++s) {
    const int k0 = s * kQ4NLSubBlockSize, len = std::min(r - k0, kQ4NLSubBlockSize);
    sc[s] = static_cast<int8_t>(NlChooseScale(kCodebook, w + k0, imp ? imp + k0 : nullptr, len, d, t[s],
                                              kQ4NLScaleMin, kQ4NLScaleMax, codes + k0, fns.stored_errors));
  }
  Q4NLWriteBlock(d16, sc, codes, r, dst);
}

}  // namespace

Q4NLParams Q4NLReadParams(const uint8_t* p, int r) {
  const int ns = NumSubBlocks(r);
  Q4NLParams out;
  uint16_t d16 = 0;
  std::memcpy(&d16, p + 16 * ns, 2);
  out.d = Fp16ToFloat(d16) * kQ4NLDUnit;
  const uint8_t* sc = p + 16 * ns + 2;
  for (int s = 0; s < ns; ++s) {
    const int v = (sc[s / 2] >> (4 * (s % 2))) & 15;
    out.sc[s] = static_cast<int8_t>((v ^ 8) - 8);
  }
  return out;
}

void Q4NLReadCodes(const uint8_t* p, int r, uint8_t* codes) {
  const int half = 16 * NumSubBlocks(r);
  for (int i = 0; i < 2 * half; ++i) codes[i] = static_cast<uint8_t>((p[i % half] >> (4 * (i / half))) & 15);
}

void Q4NLWriteBlock(uint16_t d16, const int8_t* sc, const uint8_t* codes, int r, uint8_t* dst) {
  SEPTET_CHECK_MSG(r >= 1 && r <= kQ4NLBlockSize, "Q4_NL block length must be 1..128");
  const int ns = NumSubBlocks(r), half = 16 * ns;
  std::memset(dst, 0, Q4NLShortBlockBytes(r));
  for (int i = 0; i < 2 * half; ++i) {
    const int u = i < r ? codes[i] : kQ4NLPadCode;
    SEPTET_DCHECK(u >= 0 && u <= 15);
    dst[i % half] = static_cast<uint8_t>(dst[i % half] | (u << (4 * (i / half))));
  }
  std::memcpy(dst + half, &d16, 2);
  for (int s = 0; s < ns; ++s) {
    const int v = sc[s];
    SEPTET_DCHECK(v >= kQ4NLScaleMin && v <= kQ4NLScaleMax);
    dst[half + 2 + s / 2] = static_cast<uint8_t>(dst[half + 2 + s / 2] | ((v & 15) << (4 * (s % 2))));
  }
}

int Q4NLNearestCode(float w, float d, int s) { return NlNearestCode(kCodebook, w, d, s); }
const NlCodebook& Q4NLCodebook() { return kCodebook; }

void Q4NLQuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  Q4NLQuantizeRowWith(src, dst, n, importance, NlSearchFns{});
}

void Q4NLQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const NlSearchFns& fns) {
  CheckRowArgs(src, dst, n);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i0 = 0; i0 < n; i0 += kQ4NLBlockSize) {
    const int r = static_cast<int>(std::min<int64_t>(kQ4NLBlockSize, n - i0));
    const float* imp = importance ? importance + i0 : nullptr;
    if (imp != nullptr && std::none_of(imp, imp + r, [](float a) { return a > 0.0f; })) {
      imp = nullptr;  // all-zero importance: any choice is optimal; use the unweighted one
    }
    QuantizeBlock(src + i0, imp, r, out, fns);
    out += BlockBytesAt(n, i0);
  }
}

void Q4NLDequantizeRow(const void* src, float* dst, int64_t n) {
  Q4NLContainerDequantize(src, dst, n, [](int u) { return int{kQ4NLLevels[u]}; });
}

float Q4NLVecDot(int64_t n, const void* w_row, const void* act_row) {
  return Q4NLContainerVecDot(n, w_row, act_row, [](int u) { return int{kQ4NLLevels[u]}; });
}

size_t Q4NLRowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q4NLRowBytes(n);
}

}  // namespace septet::quant
