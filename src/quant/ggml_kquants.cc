#include "quant/ggml_kquants.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "quant/ggml_util.h"
#include "quant/q8_act.h"
#include "quant/quant_util.h"

namespace septet::quant {
namespace {

// The 2-bit field of weight e in a 64-byte plane shared by Q2_K and Q3_K:
// byte 32 * (e / 128) + e % 32, bit pair e / 32 % 4.
int TwoBits(const uint8_t* qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3; }

// The 4-bit field of weight e in the 128-byte plane of Q4_K / Q5_K:
// byte 32 * (e / 64) + e % 32, low nibble for even sub-blocks, high for odd.
int FourBits(const uint8_t* qs, int e) { return (qs[32 * (e / 64) + e % 32] >> (4 * (e / 32 % 2))) & 15; }

void DecodeQ2_K(const BlockQ2_K& b, float* out) {
  const float d = Fp16ToFloat(b.d), dmin = Fp16ToFloat(b.dmin);
  for (int s = 0; s < kQK / 16; ++s) {
    const float dl = d * static_cast<float>(b.scales[s] & 15);
    const float ml = dmin * static_cast<float>(b.scales[s] >> 4);
    for (int e = 16 * s; e < 16 * s + 16; ++e) out[e] = dl * static_cast<float>(TwoBits(b.qs, e)) - ml;
  }
}

void DecodeQ3_K(const BlockQ3_K& b, float* out) {
  const float d = Fp16ToFloat(b.d);
  for (int s = 0; s < kQK / 16; ++s) {
    const float dl = d * static_cast<float>(Q3_KScale(b.scales, s));
    for (int e = 16 * s; e < 16 * s + 16; ++e) {
      const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
      out[e] = dl * static_cast<float>(TwoBits(b.qs, e) - (high ? 0 : 4));
    }
  }
}

void DecodeQ4_K(const BlockQ4_K& b, float* out) {
  const float d = Fp16ToFloat(b.d), dmin = Fp16ToFloat(b.dmin);
  for (int j = 0; j < kQK / 32; ++j) {
    int sc = 0, mn = 0;
    KQuantScaleMin(b.scales, j, &sc, &mn);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
    for (int e = 32 * j; e < 32 * j + 32; ++e) out[e] = dl * static_cast<float>(FourBits(b.qs, e)) - ml;
  }
}

void DecodeQ5_K(const BlockQ5_K& b, float* out) {
  const float d = Fp16ToFloat(b.d), dmin = Fp16ToFloat(b.dmin);
  for (int j = 0; j < kQK / 32; ++j) {
    int sc = 0, mn = 0;
    KQuantScaleMin(b.scales, j, &sc, &mn);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
    for (int e = 32 * j; e < 32 * j + 32; ++e) {
      const int q = FourBits(b.qs, e) | ((b.qh[e % 32] >> j) & 1) << 4;
      out[e] = dl * static_cast<float>(q) - ml;
    }
  }
}

void DecodeQ6_K(const BlockQ6_K& b, float* out) {
  const float d = Fp16ToFloat(b.d);
  for (int s = 0; s < kQK / 16; ++s) {
    const float dl = d * static_cast<float>(b.scales[s]);
    for (int e = 16 * s; e < 16 * s + 16; ++e) out[e] = dl * static_cast<float>(Q6_KCode(b, e) - 32);
  }
}

// ---- vec_dot with Q8_A (the formulas: ggml_kquants.h) ----

constexpr int kSubs = kQK / kQ8ABlockSize;  // activation blocks per super-block
static_assert(kSubs == 8);

// The codes of super-block weights [32 j, 32 j + 32) into q[32].
void CodesQ4_K(const BlockQ4_K& b, int j, int* q) {
  for (int l = 0; l < 32; ++l) q[l] = FourBits(b.qs, 32 * j + l);
}
void CodesQ5_K(const BlockQ5_K& b, int j, int* q) {
  for (int l = 0; l < 32; ++l) q[l] = FourBits(b.qs, 32 * j + l) | ((b.qh[l] >> j) & 1) << 4;
}

template <class Block, void (*Codes)(const Block&, int, int*)>
float KQuantAffineDot(int64_t n, const void* w_row, const void* act_row) {
  ggml::CheckWholeBlockRow(w_row, act_row, n, kQK);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  int q[32];
  for (int64_t b = 0; b < n / kQK; ++b) {
    const auto blk = LoadBlock<Block>(w + b * sizeof(Block));
    const float d = Fp16ToFloat(blk.d), dmin = Fp16ToFloat(blk.dmin);
    for (int j = 0; j < kSubs; ++j) {
      const auto xb = LoadBlock<BlockQ8A>(x + (b * kSubs + j) * sizeof(BlockQ8A));
      int sc = 0, mn = 0;
      KQuantScaleMin(blk.scales, j, &sc, &mn);
      const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
      Codes(blk, j, q);
      int32_t acc = 0;
      for (int l = 0; l < 32; ++l) acc += q[l] * int32_t{xb.qs[l]};
      sum += xb.d * (dl * static_cast<float>(acc) - ml * static_cast<float>(xb.sum));
    }
  }
  return sum;
}

// Q3_K and Q6_K: a signed code per weight and one integer scale per 16 weights.
int SignedCodeQ3_K(const BlockQ3_K& b, int e) {
  return TwoBits(b.qs, e) - (((b.hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4);
}
int ScaleQ3_K(const BlockQ3_K& b, int s) { return Q3_KScale(b.scales, s); }
int SignedCodeQ6_K(const BlockQ6_K& b, int e) { return Q6_KCode(b, e) - 32; }
int ScaleQ6_K(const BlockQ6_K& b, int s) { return b.scales[s]; }

template <class Block, int (*Code)(const Block&, int), int (*Scale)(const Block&, int)>
float Sub16Dot(int64_t n, const void* w_row, const void* act_row) {
  ggml::CheckWholeBlockRow(w_row, act_row, n, kQK);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const auto blk = LoadBlock<Block>(w + b * sizeof(Block));
    const float d = Fp16ToFloat(blk.d);
    for (int j = 0; j < kSubs; ++j) {
      const auto xb = LoadBlock<BlockQ8A>(x + (b * kSubs + j) * sizeof(BlockQ8A));
      int32_t half[2] = {0, 0};  // the two 16-weight sub-blocks 2j, 2j + 1
      for (int l = 0; l < 32; ++l) half[l / 16] += Code(blk, 32 * j + l) * int32_t{xb.qs[l]};
      const int32_t acc = Scale(blk, 2 * j) * half[0] + Scale(blk, 2 * j + 1) * half[1];
      sum += (d * xb.d) * static_cast<float>(acc);
    }
  }
  return sum;
}

// ---- Q6_K quantization (septet writes Q6_K: formats.md §ggml types) ----

constexpr int kQ6Lo = -32, kQ6Hi = 31;  // the code minus 32
constexpr int kQ6Sub = 16;              // weights per int8 scale

// The weighted squared error of the 16 weights x at scale s (codes q = x / s
// rounded and clamped; s = 0 gives the zero codes).
double Q6SubError(const float* x, const float* imp, float s, int* q) {
  double err = 0;
  for (int i = 0; i < kQ6Sub; ++i) {
    q[i] = s != 0.0f ? RoundClamp(x[i] / s, kQ6Lo, kQ6Hi) : 0;
    const double e = static_cast<double>(x[i]) - static_cast<double>(s) * q[i];
    err += ImportanceAt(imp, i) * e * e;
  }
  return err;
}

// The signed float scale of one 16-weight sub-block: the weight of largest
// magnitude x_m on the code -32 (s = -x_m / 32, the one end of the code range
// that reaches 32), and divisors from 34 down to 28 each refitted by weighted
// least squares with its codes fixed; the candidate with the least error.
float Q6SubScale(const float* x, const float* imp) {
  int m = 0;
  for (int i = 1; i < kQ6Sub; ++i) {
    if (std::fabs(x[i]) > std::fabs(x[m])) m = i;
  }
  if (!(std::fabs(x[m]) > 0.0f) || !std::isfinite(x[m])) return 0.0f;
  int q[kQ6Sub];
  float best = -x[m] / 32.0f;
  double best_err = Q6SubError(x, imp, best, q);
  for (int k = -4; k <= 8; ++k) {
    const float s0 = -x[m] / (32.0f - 0.5f * static_cast<float>(k));
    Q6SubError(x, imp, s0, q);
    double num = 0, den = 0;
    for (int i = 0; i < kQ6Sub; ++i) {
      num += ImportanceAt(imp, i) * x[i] * q[i];
      den += ImportanceAt(imp, i) * q[i] * q[i];
    }
    const float s = den > 0 ? static_cast<float>(num / den) : s0;
    const double err = Q6SubError(x, imp, s, q);
    if (err < best_err) {
      best_err = err;
      best = s;
    }
  }
  return best;
}

// One super-block: the 16 float scales, d = max |scale| / 127 in fp16, each
// int8 scale a local best (no neighbour with less error, codes re-chosen for
// each) reached from round(scale / d), the codes stored as Q6_KCode reads them.
BlockQ6_K QuantizeQ6_KBlock(const float* x, const float* imp) {
  float s[kQK / kQ6Sub];
  float smax = 0.0f;
  for (int j = 0; j < kQK / kQ6Sub; ++j) {
    s[j] = Q6SubScale(x + kQ6Sub * j, imp ? imp + kQ6Sub * j : nullptr);
    smax = std::fmax(smax, std::fabs(s[j]));
  }
  BlockQ6_K b{};
  b.d = FloatToFp16(smax / 127.0f);
  const float d = Fp16ToFloat(b.d);
  int code[kQK];
  for (int j = 0; j < kQK / kQ6Sub; ++j) {
    const float* xs = x + kQ6Sub * j;
    const float* is = imp ? imp + kQ6Sub * j : nullptr;
    int q[kQ6Sub], best_q[kQ6Sub] = {};
    int best_sc = 0;
    if (d > 0.0f && std::isfinite(d)) {
      // From round(s_j / d), step to the neighbour with less error while there is one.
      best_sc = RoundClamp(s[j] / d, -127, 127);
      double best_err = Q6SubError(xs, is, d * static_cast<float>(best_sc), best_q);
      for (int dir : {1, -1}) {
        bool moved = false;
        for (int sc = best_sc + dir; sc >= -127 && sc <= 127; sc += dir) {
          const double err = Q6SubError(xs, is, d * static_cast<float>(sc), q);
          if (!(err < best_err)) break;
          best_err = err;
          best_sc = sc;
          std::copy(q, q + kQ6Sub, best_q);
          moved = true;
        }
        if (moved) break;
      }
    }
    b.scales[j] = static_cast<int8_t>(best_sc);
    for (int i = 0; i < kQ6Sub; ++i) code[kQ6Sub * j + i] = best_q[i] + 32;
  }
  for (int e = 0; e < kQK; ++e) {  // the inverse of Q6_KCode
    const int h = e / 128, r = e % 128;
    b.ql[64 * h + r % 64] |= static_cast<uint8_t>((code[e] & 15) << (4 * (r / 64)));
    b.qh[32 * h + r % 32] |= static_cast<uint8_t>((code[e] >> 4) << (2 * (r / 32)));
  }
  return b;
}

}  // namespace

void Q6_KQuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  ggml::CheckWholeBlockRow(src, dst, n, kQK);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const BlockQ6_K blk = QuantizeQ6_KBlock(src + b * kQK, importance ? importance + b * kQK : nullptr);
    std::memcpy(out + b * sizeof(BlockQ6_K), &blk, sizeof(blk));
  }
}

int Q6_KCode(const BlockQ6_K& b, int e) {
  SEPTET_DCHECK(0 <= e && e < kQK);
  const int h = e / 128, r = e % 128;
  const int low = (b.ql[64 * h + r % 64] >> (4 * (r / 64))) & 15;
  const int high = (b.qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
  return low | high << 4;
}

int Q3_KScale(const uint8_t* scales, int s) {
  const int low = s < 8 ? scales[s] & 15 : scales[s - 8] >> 4;
  const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (low | high << 4) - 32;
}

void KQuantScaleMin(const uint8_t* scales, int j, int* sc, int* mn) {
  SEPTET_DCHECK(0 <= j && j < 8);
  if (j < 4) {
    *sc = scales[j] & 63;
    *mn = scales[j + 4] & 63;
  } else {
    *sc = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4;
    *mn = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4;
  }
}

size_t Q2_KRowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ2_K>(n, kQK); }
void Q2_KDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ2_K, kQK, DecodeQ2_K>(src, dst, n);
}
float Q2_KVecDot(int64_t n, const void* w_row, const void* act_row) {
  ggml::CheckWholeBlockRow(w_row, act_row, n, kQK);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const auto blk = LoadBlock<BlockQ2_K>(w + b * sizeof(BlockQ2_K));
    const float d = Fp16ToFloat(blk.d), dmin = Fp16ToFloat(blk.dmin);
    for (int j = 0; j < kSubs; ++j) {
      const auto xb = LoadBlock<BlockQ8A>(x + (b * kSubs + j) * sizeof(BlockQ8A));
      int32_t acc = 0, mins = 0;
      for (int l = 0; l < 32; ++l) {
        const int s = 2 * j + l / 16;
        acc += (blk.scales[s] & 15) * TwoBits(blk.qs, 32 * j + l) * int32_t{xb.qs[l]};
        mins += (blk.scales[s] >> 4) * int32_t{xb.qs[l]};
      }
      sum += xb.d * (d * static_cast<float>(acc) - dmin * static_cast<float>(mins));
    }
  }
  return sum;
}

size_t Q3_KRowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ3_K>(n, kQK); }
void Q3_KDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ3_K, kQK, DecodeQ3_K>(src, dst, n);
}
float Q3_KVecDot(int64_t n, const void* w, const void* x) {
  return Sub16Dot<BlockQ3_K, SignedCodeQ3_K, ScaleQ3_K>(n, w, x);
}

size_t Q4_KRowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ4_K>(n, kQK); }
void Q4_KDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ4_K, kQK, DecodeQ4_K>(src, dst, n);
}
float Q4_KVecDot(int64_t n, const void* w, const void* x) { return KQuantAffineDot<BlockQ4_K, CodesQ4_K>(n, w, x); }

size_t Q5_KRowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ5_K>(n, kQK); }
void Q5_KDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ5_K, kQK, DecodeQ5_K>(src, dst, n);
}
float Q5_KVecDot(int64_t n, const void* w, const void* x) { return KQuantAffineDot<BlockQ5_K, CodesQ5_K>(n, w, x); }

size_t Q6_KRowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ6_K>(n, kQK); }
void Q6_KDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ6_K, kQK, DecodeQ6_K>(src, dst, n);
}
float Q6_KVecDot(int64_t n, const void* w, const void* x) {
  return Sub16Dot<BlockQ6_K, SignedCodeQ6_K, ScaleQ6_K>(n, w, x);
}

}  // namespace septet::quant
