// Prefill matmul through cuBLAS: y[t][r] = W[r] . x[t] for m tokens at once.
//
//   F32 weights:       SGEMM on the stored rows (fp32 in, fp32 accumulate, no TF32:
//                      the handle keeps CUBLAS_DEFAULT_MATH).
//   F16 weights:       GemmEx on the stored rows; x rounded to fp16; fp32 accumulate.
//   BF16 weights:      rows dequantized (exactly) into fp32 tiles, then SGEMM. (fp16
//                      tiles could overflow: bf16 has fp32's range.)
//   quantized weights: rows dequantized into fp16 tiles (each value rounded once,
//                      relative error <= 2^-11), x rounded to fp16, GemmEx with fp32
//                      accumulation. Assumes |w|, |x| <= 65504 (fp16 range): true of
//                      Q8_0 / Q4_G / Q3P5 blocks made by septet's quantizers, which
//                      reject larger weights; activations of LLaMA models stay far below.
// Unlike the decode matvec (INT8 activations, the CPU reference's arithmetic), this path
// does not reproduce the CPU's Q8_A / Q8_R activation rounding; it is more accurate
// than it, and its tolerance is stated in the tests.
// Tiles bound the scratch: kGemmTileBytes of dequantized rows at a time.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/device_types.h"
#include "core/status.h"

namespace septet::cuda {

inline constexpr size_t kGemmTileBytes = size_t{64} << 20;

enum class GemmKind { kF32Direct, kF16Direct, kF32Tiles, kF16Tiles };
GemmKind GemmKindOf(DType type);
// Rows of W dequantized per tile (>= 1; all rows for the direct kinds).
int64_t GemmTileRows(const DeviceMatrix& w);
// Scratch bytes the tiles of W need (0 for the direct kinds).
size_t GemmTileBytes(const DeviceMatrix& w);

struct GemmScratch {
  void* tile = nullptr;      // >= GemmTileBytes(w)
  size_t tile_bytes = 0;
  uint16_t* x16 = nullptr;   // fp16 copy of x: >= m * w.cols elements for kF16*
  size_t x16_elems = 0;
};

// x: [m][w.cols] contiguous fp32 (device). y: row t at y + t * ldy (ldy >= w.rows).
// The handle must already be bound to `stream`.
Status GemmMatMul(cublasHandle_t handle, cudaStream_t stream, const DeviceMatrix& w, const float* x, int64_t m,
                  float* y, int64_t ldy, const GemmScratch& scratch);

}  // namespace septet::cuda
