#include "backends/cuda/gemm.h"

#include <algorithm>
#include <cinttypes>
#include <climits>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/kernels.h"

namespace septet::cuda {

GemmKind GemmKindOf(DType type) {
  switch (type) {
    case DType::kF32: return GemmKind::kF32Direct;
    case DType::kF16: return GemmKind::kF16Direct;
    case DType::kBF16: return GemmKind::kF32Tiles;
    default: return GemmKind::kF16Tiles;
  }
}

namespace {
size_t TileElemBytes(GemmKind k) { return k == GemmKind::kF32Tiles ? 4 : 2; }
}  // namespace

int64_t GemmTileRows(const DeviceMatrix& w) {
  const GemmKind kind = GemmKindOf(w.type);
  if (kind == GemmKind::kF32Direct || kind == GemmKind::kF16Direct || w.cols <= 0) return std::max<int64_t>(w.rows, 1);
  const int64_t row_bytes = w.cols * static_cast<int64_t>(TileElemBytes(kind));
  const int64_t fit = std::max<int64_t>(1, static_cast<int64_t>(kGemmTileBytes) / row_bytes);
  return std::clamp<int64_t>(fit, 1, std::max<int64_t>(w.rows, 1));
}

size_t GemmTileBytes(const DeviceMatrix& w) {
  const GemmKind kind = GemmKindOf(w.type);
  if (kind == GemmKind::kF32Direct || kind == GemmKind::kF16Direct) return 0;
  return static_cast<size_t>(GemmTileRows(w)) * static_cast<size_t>(w.cols) * TileElemBytes(kind);
}

Status GemmMatMul(cublasHandle_t handle, cudaStream_t stream, const DeviceMatrix& w, const float* x, int64_t m,
                  float* y, int64_t ldy, const GemmScratch& scratch) {
  if (m <= 0 || w.rows <= 0) return Status::Ok();
  if (w.rows > INT_MAX || w.cols > INT_MAX || m > INT_MAX || ldy > INT_MAX || ldy < w.rows) {
    return InvalidArgument("cuBLAS matmul: %" PRId64 " x %" PRId64 " weight, %" PRId64 " tokens: beyond int32 sizes",
                           w.rows, w.cols, m);
  }
  const GemmKind kind = GemmKindOf(w.type);
  const int k = static_cast<int>(w.cols), n = static_cast<int>(m), ldc = static_cast<int>(ldy);
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: W rows are columns of A (k x rows), op(A) = A^T; x rows are
  // columns of B (k x m); y rows are columns of C (rows x m, ld ldy).
  const void* b_ptr = x;
  cudaDataType_t b_type = CUDA_R_32F;
  if (kind == GemmKind::kF16Direct || kind == GemmKind::kF16Tiles) {
    if (scratch.x16 == nullptr || scratch.x16_elems < static_cast<size_t>(m * w.cols)) {
      return Internal("cuBLAS matmul: fp16 activation scratch too small");
    }
    SEPTET_CUDA_TRY(LaunchF32ToF16(x, m * w.cols, scratch.x16, stream), "launch F32ToF16");
    b_ptr = scratch.x16;
    b_type = CUDA_R_16F;
  }
  if (kind == GemmKind::kF32Direct || kind == GemmKind::kF16Direct) {
    const size_t elem = kind == GemmKind::kF32Direct ? 4 : 2;
    if (w.pitch % elem != 0) return Internal("cuBLAS matmul: weight pitch not a multiple of the element size");
    SEPTET_CUBLAS_TRY(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.rows), n, k, &alpha, w.data,
                                   kind == GemmKind::kF32Direct ? CUDA_R_32F : CUDA_R_16F,
                                   static_cast<int>(w.pitch / elem), b_ptr, b_type, k, &beta, y, CUDA_R_32F, ldc,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx (stored weights)");
    return Status::Ok();
  }
  const int64_t tile_rows = GemmTileRows(w);
  if (scratch.tile == nullptr || scratch.tile_bytes < GemmTileBytes(w)) {
    return Internal("cuBLAS matmul: tile scratch too small");
  }
  for (int64_t r0 = 0; r0 < w.rows; r0 += tile_rows) {
    const int64_t nr = std::min(tile_rows, w.rows - r0);
    if (kind == GemmKind::kF32Tiles) {
      SEPTET_CUDA_TRY(LaunchDequantRowsF32(w, nullptr, r0, nr, static_cast<float*>(scratch.tile), w.cols,
                                           stream),
                      "launch DequantRowsF32 (GEMM tile)");
    } else {
      SEPTET_CUDA_TRY(LaunchDequantRowsF16(w, nullptr, r0, nr, static_cast<uint16_t*>(scratch.tile), w.cols, stream),
                      "launch DequantRowsF16 (GEMM tile)");
    }
    SEPTET_CUBLAS_TRY(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nr), n, k, &alpha, scratch.tile,
                                   kind == GemmKind::kF32Tiles ? CUDA_R_32F : CUDA_R_16F, k, b_ptr, b_type, k, &beta,
                                   y + r0, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx (dequantized tile)");
  }
  return Status::Ok();
}

}  // namespace septet::cuda
