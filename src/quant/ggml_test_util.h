// Test-only (header-only): well-formed random rows of the input-only ggml block
// formats, for tests that need weights of those types without a quantizer
// (septet never writes them). Code bytes are uniform random, so every code and
// sub-scale value occurs; each fp16 scale field (d, dmin, m) is a finite value
// of moderate size, |v| in [2^log2_lo, 2^log2_hi] (default [2^-10, 2^-2]),
// either sign.
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

}  // namespace septet::quant::testing
