// Choosing where a model runs: one factory for every backend's InferenceContext.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "model/inference_context.h"
#include "model/llama_model.h"

namespace septet::runtime {

struct BackendOptions {
  std::string backend = "cpu";  // "cpu" or "cuda"
  int32_t n_threads = 1;        // CPU worker threads (>= 1; ResolveThreads turns 0 into "all")
  std::string prefill = "own";  // CPU prompt matmuls: "own" (tiled int8 GEMM) or "blas" (OpenBLAS sgemm)
  int32_t n_seq = 1;            // sequences the context holds (batched decoding), each with n_ctx positions
  DType kv_type = DType::kF32;  // KV cache storage: F32, F16 or Q8_0 (CPU; the CUDA backend keeps F32)
  int64_t stream_from_layer = -1;  // CPU: >= 0 streams layers from this one on (model/layer_streamer.h)
  std::vector<int64_t> stream_layers = {};  // CPU: non-empty streams exactly these (MemoryPlan::streamed)
  // CPU backend: > 0 runs the embedding and layers [0, gpu_layers) on CUDA device 0
  // and the rest on the CPU (model/layer_split.h); 0: CPU only.
  int64_t gpu_layers = 0;
};

// Parses a --kv-type value ("f32", "f16", "q8_0", any case); the error names the flag.
Result<DType> ParseKvType(const std::string& name);

// kUnsupported for "cuda" or gpu_layers > 0 in a build without CUDA, or when no
// GPU is present; kInvalidArgument for an unknown backend name or gpu_layers
// outside [0, n_layers].
Result<std::unique_ptr<model::InferenceContext>> CreateContext(const model::LlamaModel& model, int64_t n_ctx,
                                                               const BackendOptions& options);

// 0 -> std::thread::hardware_concurrency() (at least 1); other values unchanged.
int32_t ResolveThreads(int32_t n_threads);

// True when this build has the CUDA backend compiled in.
bool CudaCompiledIn();

// Device-to-device copy bandwidth of CUDA device 0 (GB/s per repetition, counting
// bytes read + written; backends/cuda/bandwidth.h): what GPU decoding is compared
// with. kUnsupported in a build without CUDA or without a GPU.
Result<std::vector<double>> MeasureGpuCopyBandwidth(size_t bytes, int32_t repetitions);

}  // namespace septet::runtime
