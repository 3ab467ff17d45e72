// The CUDA kernels of the LLaMA forward pass, as host-callable launchers
// (definitions in matvec.cu and ops.cu). Each enqueues work on `stream` and returns
// cudaGetLastError(): a bad launch is reported at once; a fault while running
// surfaces at the next synchronizing call (the context checks both).
//
// Shapes are in elements; every row-major [m][n] buffer has its row stride given
// explicitly where it can differ from n. The math of each kernel mirrors the CPU
// reference op named beside it (src/kernels/cpu, src/quant); the tests in this
// directory state and check the tolerance of each.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/device_types.h"

namespace septet::cuda {

// ---- matvec.cu ----

// INT8 activations of x [m][x_stride] (first n values of each row), bit-identical to
// the registry's Q8_A (blocks of 32), Q8_B (blocks of 128) and Q8_R (one scale per
// row) quantizers.
cudaError_t LaunchQuantizeQ8A(const float* x, int64_t m, int64_t n, int64_t x_stride, const DeviceAct& act,
                              cudaStream_t stream);
cudaError_t LaunchQuantizeQ8B(const float* x, int64_t m, int64_t n, int64_t x_stride, const DeviceAct& act,
                              cudaStream_t stream);
cudaError_t LaunchQuantizeQ8R(const float* x, int64_t m, int64_t n, int64_t x_stride, const DeviceAct& act,
                              cudaStream_t stream);
// The quantizer of `act_type` (DeviceActType of the weights); a no-op for F32 (the
// float matvec reads x itself).
cudaError_t LaunchQuantizeActivation(DType act_type, const float* x, int64_t m, int64_t n, int64_t x_stride,
                                     const DeviceAct& act, cudaStream_t stream);

// y[t * y_stride + r] = sum_k W[r][k] x_t[k] for r < w.rows, t < m (m <= kMaxGridY):
//   F32 / F16 / BF16 weights read x [m][x_stride] (fp32 multiply-accumulate);
//   Q8_0 / Q4_G read `act` as Q8_A, Q3P5 as Q8_B, Q3P5_SEED as Q8_R (DeviceActType;
//   quantized from x first).
cudaError_t LaunchMatVec(const DeviceMatrix& w, const float* x, int64_t x_stride, const DeviceAct& act, int64_t m,
                         float* y, int64_t y_stride, cudaStream_t stream);

// Dequantized rows: out[i * ld + k] = value k of row r_i, k < w.cols, i < nrows,
// with r_i = ids[i] when ids is non-null (embedding lookup; ids in [0, w.rows) are
// the caller's contract) and r_i = r0 + i otherwise (a GEMM tile). The F32 output
// equals the type's to_float bit for bit; F16 output is that value rounded to
// nearest-even fp16 (out holds fp16 bit patterns).
cudaError_t LaunchDequantRowsF32(const DeviceMatrix& w, const int32_t* ids, int64_t r0, int64_t nrows, float* out,
                                 int64_t ld, cudaStream_t stream);
cudaError_t LaunchDequantRowsF16(const DeviceMatrix& w, const int32_t* ids, int64_t r0, int64_t nrows, uint16_t* out,
                                 int64_t ld, cudaStream_t stream);
// out[i] = fp16(x[i]) (round to nearest even), i < count.
cudaError_t LaunchF32ToF16(const float* x, int64_t count, uint16_t* out, cudaStream_t stream);

// ---- ops.cu ----

// cpu::RmsNorm per row: out[t][i] = x[t][i] / sqrt(mean(x[t]^2) + eps) * w[i], rows of
// n contiguous values (double sum of squares, like the reference). out may alias x.
cudaError_t LaunchRmsNorm(const float* x, const float* w, int64_t m, int64_t n, float eps, float* out,
                          cudaStream_t stream);
// cpu::Rope on m token rows of x (row t at x + t * row_stride, n_heads heads of
// head_dim), token t at position pos[t] (device array). inv_freq: [n_rot / 2] doubles
// on the device.
cudaError_t LaunchRope(float* x, int64_t m, int64_t row_stride, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                       const int32_t* pos, const double* inv_freq, bool half_pairing, cudaStream_t stream);
// KV cache write of m token rows: k_cache[seq[t] * seq_stride + pos[t] * kv_dim + j] =
// k[t * kv_dim + j] for j < kv_dim, and the same for v (one layer's planes).
cudaError_t LaunchKvStore(const float* k, const float* v, int64_t m, int64_t kv_dim, const int32_t* pos,
                          const int32_t* seq, int64_t seq_stride, float* k_cache, float* v_cache, cudaStream_t stream);
// Causal GQA attention (cpu::AttendHead per query head): token t of
// q [m][n_heads * head_dim], at position pos[t] of sequence seq[t], attends over
// positions 0 .. pos[t] of that sequence's planes, which start at
// k_cache / v_cache + seq[t] * seq_stride ([n_ctx][n_kv_heads * head_dim] each);
// query head h reads KV head h / (n_heads / n_kv_heads). out: [m][n_heads * head_dim].
// pos / seq are device arrays; head_dim <= kAttnMaxHeadDim.
cudaError_t LaunchAttention(const float* q, const float* k_cache, const float* v_cache, int64_t m,
                            const int32_t* pos, const int32_t* seq, int64_t seq_stride, int64_t n_heads,
                            int64_t n_kv_heads, int64_t head_dim, float scale, float* out, cudaStream_t stream);
// dst[i * width + j] = src[idx[i] * width + j], i < n, j < width (idx on the device).
cudaError_t LaunchGatherRows(const float* src, const int32_t* idx, int64_t n, int64_t width, float* dst,
                             cudaStream_t stream);
// cpu::SiluMul: out[i] = silu(gate[i]) * up[i] (in double, like the reference).
cudaError_t LaunchSiluMul(float* out, const float* gate, const float* up, int64_t count, cudaStream_t stream);
// x[i] += y[i].
cudaError_t LaunchAdd(float* x, const float* y, int64_t count, cudaStream_t stream);

}  // namespace septet::cuda
