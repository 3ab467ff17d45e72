// Weight-reading kernels: INT8 activation quantization, the decode matvec for every
// weight type, dequantization to fp32 / fp16 rows (embedding lookup, GEMM tiles).
//
// Matvec layout: one warp per output row (kMatVecWarps rows per block), grid.y = token.
// Lane l walks the row's units l, l + 32, ... (quant_decode.h): for a 4096-wide Q3P5
// row that is 128 sub-blocks, 4 per lane, each 12 contiguous bytes (+ the 4-byte
// header, + ext for one sub-block in four), so a warp streams the row front to back.
// Integer dot products use dp4a on the activation's INT8 codes; every per-unit float
// term (per block for Q3P5, whose 4 sub-block lanes first add their integer dots)
// equals the reference's, and the lane sums meet in a butterfly reduction.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backends/cuda/kernels.h"
#include "backends/cuda/launch_config.h"
#include "backends/cuda/quant_decode.h"

namespace septet::cuda {
namespace {

constexpr unsigned kFullMask = 0xFFFFFFFFu;

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
__device__ __forceinline__ int32_t WarpSumInt(int32_t v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// The reference's RoundClamp(v, -127, 127): nearest, ties to even; NaN -> -127.
__device__ __forceinline__ int RoundClamp127(float v) {
  const float r = rintf(v);
  if (!(r >= -127.0f)) return -127;
  if (r > 127.0f) return 127;
  return static_cast<int>(r);
}

// ---- Q8_A: one warp per 32-value block ----
__global__ void QuantizeQ8AKernel(const float* x, int64_t n, int64_t x_stride, DeviceAct act) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int64_t b = static_cast<int64_t>(blockIdx.x) * kQ8AWarps + threadIdx.x / kWarp;
  const int64_t t = blockIdx.y;
  if (b >= act.blocks) return;  // whole warp leaves together
  const int64_t k = b * 32 + lane;
  const float v = k < n ? x[t * x_stride + k] : 0.0f;
  const float amax = WarpMax(fabsf(v));
  const float d = amax / 127.0f;  // IEEE division, as the reference
  const int q = (d > 0.0f && k < n) ? RoundClamp127(v / d) : 0;
  const int32_t sum = WarpSumInt(q);
  act.q[t * act.q_stride + k] = static_cast<int8_t>(q);
  if (lane == 0) {
    act.d[t * act.blocks + b] = d;
    act.sum[t * act.blocks + b] = sum;
  }
}

// ---- Q8_B: one warp per 128-value block, lane l holds values l, l + 32, l + 64, l + 96 ----
__global__ void QuantizeQ8BKernel(const float* x, int64_t n, int64_t x_stride, DeviceAct act) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int64_t b = static_cast<int64_t>(blockIdx.x) * kQ8AWarps + threadIdx.x / kWarp;
  const int64_t t = blockIdx.y;
  if (b >= act.blocks) return;  // whole warp leaves together
  float v[4];
  float amax = 0.0f;
  for (int j = 0; j < 4; ++j) {
    const int64_t k = b * 128 + lane + 32 * j;
    v[j] = k < n ? x[t * x_stride + k] : 0.0f;
    amax = fmaxf(amax, fabsf(v[j]));
  }
  amax = WarpMax(amax);
  const float d = amax / 127.0f;  // IEEE division, as the reference
  int32_t sum = 0;
  for (int j = 0; j < 4; ++j) {
    const int64_t k = b * 128 + lane + 32 * j;
    const int q = (d > 0.0f && k < n) ? RoundClamp127(v[j] / d) : 0;
    sum += q;
    if (k < act.q_stride) act.q[t * act.q_stride + k] = static_cast<int8_t>(q);
  }
  sum = WarpSumInt(sum);
  if (lane == 0) {
    act.d[t * act.blocks + b] = d;
    act.sum[t * act.blocks + b] = sum;
  }
}

// ---- Q8_R: one block per row ----
__global__ void QuantizeQ8RKernel(const float* x, int64_t n, int64_t x_stride, DeviceAct act) {
  __shared__ float s_max[kRowThreads / kWarp];
  __shared__ int32_t s_sum[kRowThreads / kWarp];
  const int64_t t = blockIdx.y;
  const float* xt = x + t * x_stride;
  const int lane = static_cast<int>(threadIdx.x) % kWarp, warp = static_cast<int>(threadIdx.x) / kWarp;
  float amax = 0.0f;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) amax = fmaxf(amax, fabsf(xt[k]));
  amax = WarpMax(amax);
  if (lane == 0) s_max[warp] = amax;
  __syncthreads();
  amax = 0.0f;
  for (int w = 0; w < kRowThreads / kWarp; ++w) amax = fmaxf(amax, s_max[w]);
  const float d = amax / 127.0f;
  int32_t sum = 0;
  int8_t* qt = act.q + t * act.q_stride;
  for (int64_t k = threadIdx.x; k < act.q_stride; k += blockDim.x) {
    const int q = (d > 0.0f && k < n) ? RoundClamp127(xt[k] / d) : 0;
    qt[k] = static_cast<int8_t>(q);
    sum += q;  // |sum| <= 127 n < 2^31 (n <= K_max, checked at upload)
  }
  sum = WarpSumInt(sum);
  if (lane == 0) s_sum[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t total = 0;
    for (int w = 0; w < kRowThreads / kWarp; ++w) total += s_sum[w];
    act.d[t] = d;
    act.sum[t] = total;
  }
}

// ---- matvec ----
template <DType kType>
__global__ void MatVecKernel(DeviceMatrix w, const float* x, int64_t x_stride, DeviceAct act, float* y,
                             int64_t y_stride) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kMatVecWarps + threadIdx.x / kWarp;
  const int64_t t = blockIdx.y;
  if (r >= w.rows) return;  // whole warp leaves together
  const uint8_t* row = w.data + r * static_cast<int64_t>(w.pitch);
  const int64_t n = w.cols;
  float sum = 0.0f;
  if constexpr (kType == DType::kF32 || kType == DType::kF16 || kType == DType::kBF16) {
    const float* xt = x + t * x_stride;
    for (int64_t k = lane; k < n; k += kWarp) sum = fmaf(decode::DequantAt(kType, row, n, k), xt[k], sum);
  } else if constexpr (kType == DType::kQ3P5_SEED) {
    const int8_t* xq = act.q + t * act.q_stride;
    int32_t acc = 0;
    for (int64_t c = lane; c < (n + 15) / 16; c += kWarp) acc += decode::SeedChunkDot(row, n, c, xq);
    acc = WarpSumInt(acc);
    if (lane == 0) y[t * y_stride + r] = decode::SeedCombine(row, acc, act.d[t], act.sum[t]);
    return;
  } else {
    const int8_t* xq = act.q + t * act.q_stride;
    const float* xd = act.d + t * act.blocks;
    const int32_t* xs = act.sum + t * act.blocks;
    const int64_t units = (n + 31) / 32;
    if constexpr (kType == DType::kQ3P5) {
      // Q8_B: the 4 lanes holding a block's sub-blocks (u0 is a multiple of 32) add
      // their integer dots, and the first of them adds the block's float term.
      for (int64_t u0 = 0; u0 < units; u0 += kWarp) {
        const int64_t u = u0 + lane;
        int32_t acc = u < units ? decode::Q3P5UnitAcc(row, n, u, xq) : 0;
        acc += __shfl_xor_sync(kFullMask, acc, 1);
        acc += __shfl_xor_sync(kFullMask, acc, 2);
        if (u < units && (u & 3) == 0) {
          sum = decode::AddRn(sum, decode::Q3P5BlockTerm(row, u >> 2, acc, xd[u >> 2], xs[u >> 2]));
        }
      }
    } else {
      for (int64_t u = lane; u < units; u += kWarp) {
        float term;
        if constexpr (kType == DType::kQ8_0) {
          term = decode::Q8_0UnitDot(row, u, xq, xd[u]);
        } else {
          static_assert(kType == DType::kQ4_G);
          term = decode::Q4GUnitDot(row, u, xq, xd[u], xs[u]);
        }
        sum = decode::AddRn(sum, term);
      }
    }
  }
  sum = WarpSum(sum);
  if (lane == 0) y[t * y_stride + r] = sum;
}

// ---- dequantized rows ----
__device__ __forceinline__ void StoreValue(float* p, float v) { *p = v; }
__device__ __forceinline__ void StoreValue(uint16_t* p, float v) { *p = __half_as_ushort(__float2half_rn(v)); }

template <typename Out>
__global__ void DequantRowsKernel(DeviceMatrix w, const int32_t* ids, int64_t r0, int64_t nrows, Out* out,
                                  int64_t ld) {
  const int64_t total = nrows * w.cols;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t rr = i / w.cols, k = i % w.cols;
    const int64_t r = ids != nullptr ? static_cast<int64_t>(ids[rr]) : r0 + rr;
    StoreValue(out + rr * ld + k, decode::DequantAt(w.type, w.data + r * static_cast<int64_t>(w.pitch), w.cols, k));
  }
}

__global__ void F32ToF16Kernel(const float* x, int64_t count, uint16_t* out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) {
    out[i] = __half_as_ushort(__float2half_rn(x[i]));
  }
}

template <DType kType>
void LaunchMatVecT(const DeviceMatrix& w, const float* x, int64_t x_stride, const DeviceAct& act, int64_t m, float* y,
                   int64_t y_stride, cudaStream_t stream) {
  const LaunchDims d = MatVecDims(w.rows, m);
  MatVecKernel<kType><<<dim3(d.grid_x, d.grid_y), d.block, 0, stream>>>(w, x, x_stride, act, y, y_stride);
}

// An activation quantizer over m rows of n values into `act` of `blocks` blocks per row.
using QuantizeKernel = void (*)(const float*, int64_t, int64_t, DeviceAct);
cudaError_t LaunchQuantizer(QuantizeKernel kernel, int64_t blocks, const LaunchDims& d, const float* x, int64_t m,
                            int64_t n, int64_t x_stride, const DeviceAct& act, cudaStream_t stream) {
  if (m <= 0 || n <= 0) return cudaSuccess;
  if (m > kMaxGridY || act.blocks != blocks || act.q_stride < ActStride(n)) return cudaErrorInvalidValue;
  kernel<<<dim3(d.grid_x, d.grid_y), d.block, 0, stream>>>(x, n, x_stride, act);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchQuantizeQ8A(const float* x, int64_t m, int64_t n, int64_t x_stride, const DeviceAct& act,
                              cudaStream_t stream) {
  return LaunchQuantizer(QuantizeQ8AKernel, ActBlocks(n), QuantizeQ8ADims(n, m), x, m, n, x_stride, act, stream);
}

cudaError_t LaunchQuantizeQ8B(const float* x, int64_t m, int64_t n, int64_t x_stride, const DeviceAct& act,
                              cudaStream_t stream) {
  return LaunchQuantizer(QuantizeQ8BKernel, ActBlocksQ8B(n), QuantizeQ8BDims(n, m), x, m, n, x_stride, act, stream);
}

cudaError_t LaunchQuantizeQ8R(const float* x, int64_t m, int64_t n, int64_t x_stride, const DeviceAct& act,
                              cudaStream_t stream) {
  return LaunchQuantizer(QuantizeQ8RKernel, 1, RowDims(m), x, m, n, x_stride, act, stream);
}

cudaError_t LaunchQuantizeActivation(DType act_type, const float* x, int64_t m, int64_t n, int64_t x_stride,
                                     const DeviceAct& act, cudaStream_t stream) {
  switch (act_type) {
    case DType::kQ8_A: return LaunchQuantizeQ8A(x, m, n, x_stride, act, stream);
    case DType::kQ8_B: return LaunchQuantizeQ8B(x, m, n, x_stride, act, stream);
    case DType::kQ8_R: return LaunchQuantizeQ8R(x, m, n, x_stride, act, stream);
    case DType::kF32: return cudaSuccess;
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t LaunchMatVec(const DeviceMatrix& w, const float* x, int64_t x_stride, const DeviceAct& act, int64_t m,
                         float* y, int64_t y_stride, cudaStream_t stream) {
  if (m <= 0 || w.rows <= 0) return cudaSuccess;
  if (m > kMaxGridY || CeilDiv64(w.rows, kMatVecWarps) > 0x7FFFFFFF) return cudaErrorInvalidValue;
  switch (w.type) {
    case DType::kF32: LaunchMatVecT<DType::kF32>(w, x, x_stride, act, m, y, y_stride, stream); break;
    case DType::kF16: LaunchMatVecT<DType::kF16>(w, x, x_stride, act, m, y, y_stride, stream); break;
    case DType::kBF16: LaunchMatVecT<DType::kBF16>(w, x, x_stride, act, m, y, y_stride, stream); break;
    case DType::kQ8_0: LaunchMatVecT<DType::kQ8_0>(w, x, x_stride, act, m, y, y_stride, stream); break;
    case DType::kQ4_G: LaunchMatVecT<DType::kQ4_G>(w, x, x_stride, act, m, y, y_stride, stream); break;
    case DType::kQ3P5: LaunchMatVecT<DType::kQ3P5>(w, x, x_stride, act, m, y, y_stride, stream); break;
    case DType::kQ3P5_SEED: LaunchMatVecT<DType::kQ3P5_SEED>(w, x, x_stride, act, m, y, y_stride, stream); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t LaunchDequantRowsF32(const DeviceMatrix& w, const int32_t* ids, int64_t r0, int64_t nrows, float* out,
                                 int64_t ld, cudaStream_t stream) {
  if (nrows <= 0 || w.cols <= 0) return cudaSuccess;
  const LaunchDims d = ElementwiseDims(nrows * w.cols);
  DequantRowsKernel<float><<<d.grid_x, d.block, 0, stream>>>(w, ids, r0, nrows, out, ld);
  return cudaGetLastError();
}

cudaError_t LaunchDequantRowsF16(const DeviceMatrix& w, const int32_t* ids, int64_t r0, int64_t nrows, uint16_t* out,
                                 int64_t ld, cudaStream_t stream) {
  if (nrows <= 0 || w.cols <= 0) return cudaSuccess;
  const LaunchDims d = ElementwiseDims(nrows * w.cols);
  DequantRowsKernel<uint16_t><<<d.grid_x, d.block, 0, stream>>>(w, ids, r0, nrows, out, ld);
  return cudaGetLastError();
}

cudaError_t LaunchF32ToF16(const float* x, int64_t count, uint16_t* out, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  const LaunchDims d = ElementwiseDims(count);
  F32ToF16Kernel<<<d.grid_x, d.block, 0, stream>>>(x, count, out);
  return cudaGetLastError();
}

}  // namespace septet::cuda
