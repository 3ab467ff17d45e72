// The non-matmul ops of the forward pass: RMSNorm, RoPE, the KV cache write, causal
// GQA attention over the device KV cache (per-token sequence and position), SwiGLU
// gate, residual add, row gather. RMSNorm, RoPE and SwiGLU compute in
// double exactly as the CPU reference ops (with rounded intrinsics where the device
// compiler could otherwise fuse a multiply-add), so they differ from it only by the
// order of a double sum (RMSNorm) and the device's cos/sin/exp (<= 2 ulp in double):
// after rounding to float, at most an ulp. Attention uses fp32 with an online softmax.
#include <cuda_runtime.h>

#include <cmath>

#include "backends/cuda/kernels.h"
#include "backends/cuda/launch_config.h"

namespace septet::cuda {
namespace {

constexpr unsigned kFullMask = 0xFFFFFFFFu;

__global__ void RmsNormKernel(const float* x, const float* w, int64_t n, float eps, float* out) {
  __shared__ double s_part[kRowThreads / kWarp];
  const int64_t t = blockIdx.y;
  const float* xt = x + t * n;
  float* ot = out + t * n;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = xt[i];
    ss = __dadd_rn(ss, __dmul_rn(v, v));
  }
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(kFullMask, ss, o);
  if (threadIdx.x % kWarp == 0) s_part[threadIdx.x / kWarp] = ss;
  __syncthreads();  // every read of x above happens before any write below (out may alias x)
  ss = 0.0;
  for (int i = 0; i < kRowThreads / kWarp; ++i) ss += s_part[i];
  const double scale = 1.0 / sqrt(ss / static_cast<double>(n) + static_cast<double>(eps));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    ot[i] = static_cast<float>(__dmul_rn(__dmul_rn(static_cast<double>(xt[i]), scale), static_cast<double>(w[i])));
  }
}

__global__ void RopeKernel(float* x, int64_t m, int64_t row_stride, int64_t n_heads, int64_t head_dim, int64_t half,
                           const int32_t* pos, const double* inv_freq, bool half_pairing) {
  const int64_t per_token = n_heads * half;
  const int64_t total = m * per_token;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; item < total; item += step) {
    const int64_t t = item / per_token, h = (item % per_token) / half, i = item % half;
    const double angle = static_cast<double>(pos[t]) * inv_freq[i];
    double s, c;
    sincos(angle, &s, &c);
    const int64_t ia = half_pairing ? i : 2 * i;
    const int64_t ib = half_pairing ? i + half : 2 * i + 1;
    float* head = x + t * row_stride + h * head_dim;
    const double a = head[ia], b = head[ib];
    head[ia] = static_cast<float>(__dsub_rn(__dmul_rn(a, c), __dmul_rn(b, s)));
    head[ib] = static_cast<float>(__dadd_rn(__dmul_rn(a, s), __dmul_rn(b, c)));
  }
}

__global__ void KvStoreKernel(const float* k, const float* v, int64_t m, int64_t kv_dim, const int32_t* pos,
                              const int32_t* seq, int64_t seq_stride, float* k_cache, float* v_cache) {
  const int64_t total = m * kv_dim;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; item < total; item += step) {
    const int64_t t = item / kv_dim, j = item % kv_dim;
    const int64_t dst = static_cast<int64_t>(seq[t]) * seq_stride + static_cast<int64_t>(pos[t]) * kv_dim + j;
    k_cache[dst] = k[item];
    v_cache[dst] = v[item];
  }
}

__global__ void GatherRowsKernel(const float* src, const int32_t* idx, int64_t n, int64_t width, float* dst) {
  const int64_t total = n * width;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; item < total; item += step) {
    const int64_t i = item / width, j = item % width;
    dst[item] = src[static_cast<int64_t>(idx[i]) * width + j];
  }
}

// One block per (query head h, token t); warp w takes positions w, w + kAttnWarps, ...
// and keeps an online softmax (running max, normaliser, weighted value sum; lane l
// holds dims l, l + 32, ...). The warps' partial states are merged at the end.
__global__ void AttentionKernel(const float* q, const float* k_cache, const float* v_cache, const int32_t* pos,
                                const int32_t* seq, int64_t seq_stride, int64_t n_heads, int64_t group,
                                int64_t head_dim, float scale, float* out) {
  constexpr int kPer = kAttnMaxHeadDim / kWarp;
  __shared__ float s_max[kAttnWarps], s_norm[kAttnWarps];
  __shared__ float s_acc[kAttnWarps][kAttnMaxHeadDim];
  const int64_t h = blockIdx.x, t = blockIdx.y;
  const int lane = static_cast<int>(threadIdx.x) % kWarp, warp = static_cast<int>(threadIdx.x) / kWarp;
  const int64_t q_dim = n_heads * head_dim;
  const int64_t kv_dim = (n_heads / group) * head_dim;
  const int64_t kv_off = (h / group) * head_dim;
  const float* qh = q + t * q_dim + h * head_dim;
  k_cache += static_cast<int64_t>(seq[t]) * seq_stride;  // this token's sequence
  v_cache += static_cast<int64_t>(seq[t]) * seq_stride;
  float qr[kPer], acc[kPer];
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int64_t d = lane + kWarp * j;
    qr[j] = d < head_dim ? qh[d] : 0.0f;
    acc[j] = 0.0f;
  }
  float run_max = -INFINITY, run_norm = 0.0f;
  const int64_t n_pos = static_cast<int64_t>(pos[t]) + 1;  // causal
  for (int64_t p = warp; p < n_pos; p += kAttnWarps) {
    const float* kp = k_cache + p * kv_dim + kv_off;
    float dot = 0.0f;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int64_t d = lane + kWarp * j;
      if (d < head_dim) dot = fmaf(qr[j], kp[d], dot);
    }
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(kFullMask, dot, o);
    const float s = dot * scale;
    const float new_max = fmaxf(run_max, s);
    const float corr = expf(run_max - new_max);  // 0 on the first position (run_max = -inf)
    const float pw = expf(s - new_max);
    run_norm = run_norm * corr + pw;
    const float* vp = v_cache + p * kv_dim + kv_off;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int64_t d = lane + kWarp * j;
      if (d < head_dim) acc[j] = acc[j] * corr + pw * vp[d];
    }
    run_max = new_max;
  }
  if (lane == 0) {
    s_max[warp] = run_max;
    s_norm[warp] = run_norm;
  }
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int64_t d = lane + kWarp * j;
    if (d < head_dim) s_acc[warp][d] = acc[j];
  }
  __syncthreads();
  float gmax = -INFINITY;
  for (int w = 0; w < kAttnWarps; ++w) gmax = fmaxf(gmax, s_max[w]);  // finite: warp 0 saw position 0
  float norm = 0.0f;
  float wscale[kAttnWarps];
  for (int w = 0; w < kAttnWarps; ++w) {
    wscale[w] = s_norm[w] > 0.0f ? expf(s_max[w] - gmax) : 0.0f;  // a warp with no positions adds 0
    norm += s_norm[w] * wscale[w];
  }
  float* oh = out + t * q_dim + h * head_dim;
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float o = 0.0f;
    for (int w = 0; w < kAttnWarps; ++w) o += s_acc[w][d] * wscale[w];
    oh[d] = o / norm;
  }
}

__global__ void SiluMulKernel(float* out, const float* gate, const float* up, int64_t count) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) {
    const double g = gate[i];
    const double silu = g / (1.0 + exp(-g));  // -> 0 for g < -709 (exp overflows to inf), as the reference
    out[i] = static_cast<float>(__dmul_rn(silu, static_cast<double>(up[i])));
  }
}

__global__ void AddKernel(float* x, const float* y, int64_t count) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) x[i] += y[i];
}

}  // namespace

cudaError_t LaunchRmsNorm(const float* x, const float* w, int64_t m, int64_t n, float eps, float* out,
                          cudaStream_t stream) {
  if (m <= 0 || n <= 0) return cudaSuccess;
  if (m > kMaxGridY) return cudaErrorInvalidValue;
  const LaunchDims d = RowDims(m);
  RmsNormKernel<<<dim3(d.grid_x, d.grid_y), d.block, 0, stream>>>(x, w, n, eps, out);
  return cudaGetLastError();
}

cudaError_t LaunchRope(float* x, int64_t m, int64_t row_stride, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                       const int32_t* pos, const double* inv_freq, bool half_pairing, cudaStream_t stream) {
  if (n_rot % 2 != 0 || n_rot > head_dim) return cudaErrorInvalidValue;
  const int64_t half = n_rot / 2;
  if (m <= 0 || n_heads <= 0 || half == 0) return cudaSuccess;
  const LaunchDims d = ElementwiseDims(m * n_heads * half);
  RopeKernel<<<d.grid_x, d.block, 0, stream>>>(x, m, row_stride, n_heads, head_dim, half, pos, inv_freq,
                                               half_pairing);
  return cudaGetLastError();
}

cudaError_t LaunchKvStore(const float* k, const float* v, int64_t m, int64_t kv_dim, const int32_t* pos,
                          const int32_t* seq, int64_t seq_stride, float* k_cache, float* v_cache, cudaStream_t stream) {
  if (m <= 0 || kv_dim <= 0) return cudaSuccess;
  if (seq_stride < 0) return cudaErrorInvalidValue;
  const LaunchDims d = ElementwiseDims(m * kv_dim);
  KvStoreKernel<<<d.grid_x, d.block, 0, stream>>>(k, v, m, kv_dim, pos, seq, seq_stride, k_cache, v_cache);
  return cudaGetLastError();
}

cudaError_t LaunchAttention(const float* q, const float* k_cache, const float* v_cache, int64_t m,
                            const int32_t* pos, const int32_t* seq, int64_t seq_stride, int64_t n_heads,
                            int64_t n_kv_heads, int64_t head_dim, float scale, float* out, cudaStream_t stream) {
  if (m <= 0) return cudaSuccess;
  if (m > kMaxGridY || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim <= 0 ||
      head_dim > kAttnMaxHeadDim || n_heads > 0x7FFFFFFF || seq_stride < 0) {
    return cudaErrorInvalidValue;
  }
  const LaunchDims d = AttentionDims(n_heads, m);
  AttentionKernel<<<dim3(d.grid_x, d.grid_y), d.block, 0, stream>>>(q, k_cache, v_cache, pos, seq, seq_stride,
                                                                    n_heads, n_heads / n_kv_heads, head_dim, scale,
                                                                    out);
  return cudaGetLastError();
}

cudaError_t LaunchGatherRows(const float* src, const int32_t* idx, int64_t n, int64_t width, float* dst,
                             cudaStream_t stream) {
  if (n <= 0 || width <= 0) return cudaSuccess;
  const LaunchDims d = ElementwiseDims(n * width);
  GatherRowsKernel<<<d.grid_x, d.block, 0, stream>>>(src, idx, n, width, dst);
  return cudaGetLastError();
}

cudaError_t LaunchSiluMul(float* out, const float* gate, const float* up, int64_t count, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  const LaunchDims d = ElementwiseDims(count);
  SiluMulKernel<<<d.grid_x, d.block, 0, stream>>>(out, gate, up, count);
  return cudaGetLastError();
}

cudaError_t LaunchAdd(float* x, const float* y, int64_t count, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  const LaunchDims d = ElementwiseDims(count);
  AddKernel<<<d.grid_x, d.block, 0, stream>>>(x, y, count);
  return cudaGetLastError();
}

}  // namespace septet::cuda
