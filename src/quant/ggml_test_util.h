// Test-only (header-only): well-formed random rows of the input-only ggml block
// formats, for tests that need weights of those types without a quantizer
// (septet never writes them). Code bytes are uniform random, so every code and
// sub-scale value occurs; each fp16 scale field (d, dmin, m) is a finite value
// of moderate size, |v| in [2^log2_lo, 2^log2_hi] (default [2^-10, 2^-2]),
// either sign. Also the per-weight parts of the Q8_A dot formula of the types
// paired with Q8_A (GgmlQ8ADotParts), for error bounds.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "quant/ggml_iq4.h"
#include "quant/ggml_kquants.h"
#include "quant/ggml_legacy.h"
#include "quant/q8_0.h"
#include "quant/registry.h"

namespace septet::quant::testing {

// Byte offsets of the fp16 scale fields in one block of `t`.
inline std::vector<size_t> GgmlScaleOffsets(DType t) {
  switch (t) {
    case DType::kQ4_0: return {offsetof(BlockQ4_0, d)};
    case DType::kQ4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
    case DType::kQ5_0: return {offsetof(BlockQ5_0, d)};
    case DType::kQ5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
    case DType::kQ8_0: return {offsetof(BlockQ8_0, d)};
    case DType::kQ2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case DType::kQ3_K: return {offsetof(BlockQ3_K, d)};
    case DType::kQ4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case DType::kQ5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case DType::kQ6_K: return {offsetof(BlockQ6_K, d)};
    case DType::kIQ4_NL: return {offsetof(BlockIQ4_NL, d)};
    case DType::kIQ4_XS: return {offsetof(BlockIQ4_XS, d)};
    default: SEPTET_CHECK_MSG(false, "GgmlScaleOffsets: not a ggml block format"); return {};
  }
}

// `rows` rows of `cols` values (a multiple of the block size) of type `t`,
// packed (row_bytes(cols) apart) at dst.
inline void FillRandomGgmlRows(DType t, int64_t rows, int64_t cols, std::mt19937_64& rng, uint8_t* dst,
                               float log2_lo = -10.0f, float log2_hi = -2.0f) {
  const TypeTraits& tr = GetTypeTraits(t);
  SEPTET_CHECK(tr.block_size > 0 && cols % tr.block_size == 0);
  const std::vector<size_t> scales = GgmlScaleOffsets(t);
  const int64_t blocks = rows * (cols / tr.block_size);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> log2_mag(log2_lo, log2_hi);
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t* blk = dst + static_cast<size_t>(b) * tr.block_bytes;
    for (size_t i = 0; i < tr.block_bytes; ++i) blk[i] = static_cast<uint8_t>(byte(rng));
    for (size_t off : scales) {
      const float v = std::exp2(log2_mag(rng)) * (byte(rng) < 128 ? -1.0f : 1.0f);
      const uint16_t h = FloatToFp16(v);
      std::memcpy(blk + off, &h, 2);
    }
  }
}

// Multiplies every fp16 scale field (d, dmin, m) of `rows` packed rows of type t
// by one common factor, chosen so that the root mean square of the dequantized
// values becomes about target_rms (each value is linear in those fields; the
// factor's fp16 rounding makes it approximate). Random rows from
// FillRandomGgmlRows are thereby shaped like a trained model's (e.g. std
// 1/sqrt(fan_in)), whatever the type's code range.
inline void ScaleGgmlRowsToRms(DType t, int64_t rows, int64_t cols, uint8_t* data, double target_rms) {
  const TypeTraits& tr = GetTypeTraits(t);
  SEPTET_CHECK(tr.block_size > 0 && cols % tr.block_size == 0 && target_rms > 0);
  const size_t rb = tr.row_bytes(cols);
  std::vector<float> v(static_cast<size_t>(cols));
  double ss = 0;
  for (int64_t r = 0; r < rows; ++r) {
    tr.to_float(data + static_cast<size_t>(r) * rb, v.data(), cols);
    for (float x : v) ss += double{x} * x;
  }
  const double rms = std::sqrt(ss / static_cast<double>(rows * cols));
  if (!(rms > 0)) return;
  const float factor = static_cast<float>(target_rms / rms);
  const std::vector<size_t> scales = GgmlScaleOffsets(t);
  for (int64_t b = 0; b < rows * (cols / tr.block_size); ++b) {
    uint8_t* blk = data + static_cast<size_t>(b) * tr.block_bytes;
    for (size_t off : scales) {
      uint16_t h = 0;
      std::memcpy(&h, blk + off, 2);
      h = FloatToFp16(Fp16ToFloat(h) * factor);
      std::memcpy(blk + off, &h, 2);
    }
  }
}

// For a ggml type paired with Q8_A (all of them):
// the exact weights its vec_dot formula dots with, split as w_k = a_k + b_k, in
// double. a_k multiplies the integer code sum (step * code: d * (q - 8),
// d * q, fl(d * sc) * q, d * sc * (q - 32), d * (scale - 32) * q, d * (ls - 32) * L), b_k the activation code sum (the
// min: m, -fl(dmin * mn); 0 for the symmetric types). The formulas (and which
// products are rounded to float first) are in quant/ggml_legacy.h and
// quant/ggml_kquants.h. Error bounds use M = sum_k |x~_k| (|a_k| + |b_k|).
inline void GgmlQ8ADotParts(DType t, const uint8_t* row, int64_t n, std::vector<double>* a, std::vector<double>* b) {
  const TypeTraits& tr = GetTypeTraits(t);
  SEPTET_CHECK(tr.vec_dot_type == DType::kQ8_A && tr.whole_blocks && n % tr.block_size == 0);
  a->assign(static_cast<size_t>(n), 0.0);
  b->assign(static_cast<size_t>(n), 0.0);
  const auto nib = [](const uint8_t* qs, int k) { return k < 16 ? qs[k] & 15 : qs[k - 16] >> 4; };
  const auto bit5 = [](const uint8_t* qh, int k) { return ((qh[k / 8] >> (k % 8)) & 1) << 4; };
  for (int64_t blk_i = 0; blk_i < n / tr.block_size; ++blk_i) {
    const uint8_t* p = row + blk_i * tr.block_bytes;
    double* pa = a->data() + blk_i * tr.block_size;
    double* pb = b->data() + blk_i * tr.block_size;
    switch (t) {
      case DType::kQ4_0: {
        const auto k = LoadBlock<BlockQ4_0>(p);
        for (int i = 0; i < 32; ++i) pa[i] = double{Fp16ToFloat(k.d)} * (nib(k.qs, i) - 8);
        break;
      }
      case DType::kQ4_1: {
        const auto k = LoadBlock<BlockQ4_1>(p);
        for (int i = 0; i < 32; ++i) {
          pa[i] = double{Fp16ToFloat(k.d)} * nib(k.qs, i);
          pb[i] = Fp16ToFloat(k.m);
        }
        break;
      }
      case DType::kQ5_0: {
        const auto k = LoadBlock<BlockQ5_0>(p);
        for (int i = 0; i < 32; ++i) pa[i] = double{Fp16ToFloat(k.d)} * ((nib(k.qs, i) | bit5(k.qh, i)) - 16);
        break;
      }
      case DType::kQ5_1: {
        const auto k = LoadBlock<BlockQ5_1>(p);
        for (int i = 0; i < 32; ++i) {
          pa[i] = double{Fp16ToFloat(k.d)} * (nib(k.qs, i) | bit5(k.qh, i));
          pb[i] = Fp16ToFloat(k.m);
        }
        break;
      }
      case DType::kQ4_K:
      case DType::kQ5_K: {
        const bool q5 = t == DType::kQ5_K;
        BlockQ4_K k4{};
        BlockQ5_K k5{};
        if (q5) {
          k5 = LoadBlock<BlockQ5_K>(p);
        } else {
          k4 = LoadBlock<BlockQ4_K>(p);
        }
        const float d = Fp16ToFloat(q5 ? k5.d : k4.d), dmin = Fp16ToFloat(q5 ? k5.dmin : k4.dmin);
        const uint8_t* scales = q5 ? k5.scales : k4.scales;
        const uint8_t* qs = q5 ? k5.qs : k4.qs;
        for (int e = 0; e < kQK; ++e) {
          int sc = 0, mn = 0;
          KQuantScaleMin(scales, e / 32, &sc, &mn);
          int q = (qs[32 * (e / 64) + e % 32] >> (4 * (e / 32 % 2))) & 15;
          if (q5) q |= ((k5.qh[e % 32] >> (e / 32)) & 1) << 4;
          pa[e] = double{d * static_cast<float>(sc)} * q;
          pb[e] = -double{dmin * static_cast<float>(mn)};
        }
        break;
      }
      case DType::kQ6_K: {
        const auto k = LoadBlock<BlockQ6_K>(p);
        for (int e = 0; e < kQK; ++e) {
          pa[e] = double{Fp16ToFloat(k.d)} * k.scales[e / 16] * (Q6_KCode(k, e) - 32);
        }
        break;
      }
      case DType::kQ2_K: {  // d * sc * q - dmin * mn (ggml_kquants.h)
        const auto k = LoadBlock<BlockQ2_K>(p);
        for (int e = 0; e < kQK; ++e) {
          const int sc = k.scales[e / 16] & 15, mn = k.scales[e / 16] >> 4;
          pa[e] = double{Fp16ToFloat(k.d)} * sc * ((k.qs[32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3);
          pb[e] = -double{Fp16ToFloat(k.dmin)} * mn;
        }
        break;
      }
      case DType::kQ3_K: {  // d * (scale - 32) * q, q in [-4, 3] (ggml_kquants.h)
        const auto k = LoadBlock<BlockQ3_K>(p);
        for (int e = 0; e < kQK; ++e) {
          const int s = e / 16;
          const int low = s < 8 ? k.scales[s] & 15 : k.scales[s - 8] >> 4;
          const int scale = (low | ((k.scales[8 + s % 4] >> (2 * (s / 4))) & 3) << 4) - 32;
          const int q = ((k.qs[32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3) -
                        (((k.hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4);
          pa[e] = double{Fp16ToFloat(k.d)} * scale * q;
        }
        break;
      }
      case DType::kIQ4_NL: {  // d * L[code] (ggml_iq4.h)
        const auto k = LoadBlock<BlockIQ4_NL>(p);
        for (int i = 0; i < 32; ++i) pa[i] = double{Fp16ToFloat(k.d)} * kIq4Levels[nib(k.qs, i)];
        break;
      }
      case DType::kIQ4_XS: {  // d * (ls - 32) * L[code]
        const auto k = LoadBlock<BlockIQ4_XS>(p);
        for (int e = 0; e < kIq4XsBlockSize; ++e) {
          const int ib = e / 32;
          const int ls = ((k.scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | ((k.scales_h >> (2 * ib)) & 3) << 4;
          pa[e] = double{Fp16ToFloat(k.d)} * (ls - 32) * kIq4Levels[nib(k.qs + 16 * ib, e % 32)];
        }
        break;
      }
      default: SEPTET_CHECK_MSG(false, "GgmlQ8ADotParts: not a ggml type paired with Q8_A");
    }
  }
}

}  // namespace septet::quant::testing
