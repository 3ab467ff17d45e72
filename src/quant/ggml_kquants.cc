#include "quant/ggml_kquants.h"

#include "core/half.h"
#include "quant/ggml_util.h"
#include "quant/q8_act.h"

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

int Q3_KScale(const uint8_t* scales, int s) {
  const int low = s < 8 ? scales[s] & 15 : scales[s - 8] >> 4;
  const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (low | high << 4) - 32;
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

float Q6_KDot(int64_t n, const void* w_row, const void* act_row) {
  ggml::CheckWholeBlockRow(w_row, act_row, n, kQK);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const auto blk = LoadBlock<BlockQ6_K>(w + b * sizeof(BlockQ6_K));
    const float d = Fp16ToFloat(blk.d);
    for (int j = 0; j < kSubs; ++j) {
      const auto xb = LoadBlock<BlockQ8A>(x + (b * kSubs + j) * sizeof(BlockQ8A));
      int32_t half[2] = {0, 0};  // the two 16-weight sub-blocks 2j, 2j + 1
      for (int l = 0; l < 32; ++l) half[l / 16] += (Q6_KCode(blk, 32 * j + l) - 32) * int32_t{xb.qs[l]};
      const int32_t acc = blk.scales[2 * j] * half[0] + blk.scales[2 * j + 1] * half[1];
      sum += (d * xb.d) * static_cast<float>(acc);
    }
  }
  return sum;
}

}  // namespace

int Q6_KCode(const BlockQ6_K& b, int e) {
  SEPTET_DCHECK(0 <= e && e < kQK);
  const int h = e / 128, r = e % 128;
  const int low = (b.ql[64 * h + r % 64] >> (4 * (r / 64))) & 15;
  const int high = (b.qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
  return low | high << 4;
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
float Q2_KVecDot(int64_t n, const void* w, const void* x) { return ggml::VecDot<BlockQ2_K, kQK, DecodeQ2_K>(n, w, x); }

size_t Q3_KRowBytesFn(int64_t n) { return ggml::RowBytes<BlockQ3_K>(n, kQK); }
void Q3_KDequantizeRow(const void* src, float* dst, int64_t n) {
  ggml::DequantizeRow<BlockQ3_K, kQK, DecodeQ3_K>(src, dst, n);
}
float Q3_KVecDot(int64_t n, const void* w, const void* x) { return ggml::VecDot<BlockQ3_K, kQK, DecodeQ3_K>(n, w, x); }

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
float Q6_KVecDot(int64_t n, const void* w, const void* x) { return Q6_KDot(n, w, x); }

}  // namespace septet::quant
