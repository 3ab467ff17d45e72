// The row loops shared by the input-only ggml block formats (ggml_legacy.h,
// ggml_kquants.h, ggml_iq4.h). Internal to the quant module.
//
// Those formats are read from GGUF files and never written, so they follow
// ggml's rule rather than septet's padding convention: a row is whole blocks.
// row_bytes(n) still rounds up (so that it never fails on a size read from a
// file), but the row functions CHECK n % block_size == 0; the GGUF reader and
// quant/checked.h reject other lengths with an error first.
//
// Each format supplies one block decoder, Decode(const Block&, float* out),
// that writes block_size floats. VecDot below, the dot of the formats paired
// with F32 activations, is the float types' dot (float_types.h) applied to
// those values: products and sums in double over the row in index order,
// rounded to float once at the end. (The formats paired with Q8_A have their
// own integer dot: ggml_legacy.h, ggml_kquants.h.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "quant/quant_util.h"

namespace septet::quant::ggml {

inline void CheckWholeBlockRow(const void* a, const void* b, int64_t n, int block_size) {
  CheckRowArgs(a, b, n);
  SEPTET_CHECK_MSG(n % block_size == 0, "ggml block formats need rows of whole blocks (n % block_size == 0)");
}

template <class Block>
size_t RowBytes(int64_t n, int block_size) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return static_cast<size_t>(CeilDiv(n, block_size)) * sizeof(Block);
}

template <class Block, int kBlockSize, void (*Decode)(const Block&, float*)>
void DequantizeRow(const void* src, float* dst, int64_t n) {
  CheckWholeBlockRow(src, dst, n, kBlockSize);
  const uint8_t* in = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kBlockSize; ++b) {
    Decode(LoadBlock<Block>(in + b * sizeof(Block)), dst + b * kBlockSize);
  }
}

// act_row: n floats (vec_dot_type F32), any alignment.
template <class Block, int kBlockSize, void (*Decode)(const Block&, float*)>
float VecDot(int64_t n, const void* w_row, const void* act_row) {
  CheckWholeBlockRow(w_row, act_row, n, kBlockSize);
  const uint8_t* w = static_cast<const uint8_t*>(w_row);
  const uint8_t* x = static_cast<const uint8_t*>(act_row);
  double acc = 0.0;
  float wv[kBlockSize], xv[kBlockSize];
  for (int64_t b = 0; b < n / kBlockSize; ++b) {
    Decode(LoadBlock<Block>(w + b * sizeof(Block)), wv);
    std::memcpy(xv, x + b * kBlockSize * sizeof(float), sizeof(xv));
    for (int k = 0; k < kBlockSize; ++k) acc += static_cast<double>(wv[k]) * xv[k];
  }
  return static_cast<float>(acc);
}

}  // namespace septet::quant::ggml
