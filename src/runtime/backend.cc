#include "runtime/backend.h"

#include <cinttypes>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "kernels/kv_rows.h"
#include "model/llama_context.h"

#ifdef SEPTET_HAVE_CUDA
#include "backends/cuda/bandwidth.h"
#include "backends/cuda/cuda_context.h"
#endif

namespace septet::runtime {

bool CudaCompiledIn() {
#ifdef SEPTET_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

Result<std::vector<double>> MeasureGpuCopyBandwidth(size_t bytes, int32_t repetitions) {
#ifdef SEPTET_HAVE_CUDA
  return cuda::MeasureCopyBandwidth(bytes, repetitions);
#else
  (void)bytes;
  (void)repetitions;
  return Unsupported("GPU bandwidth: this septet was built without CUDA");
#endif
}

Result<DType> ParseKvType(const std::string& name) {
  const std::optional<DType> t = ParseDType(name);
  if (!t || !kernels::IsKvType(*t)) {
    return InvalidArgument("--kv-type '%s': expected f32, f16 or q8_0", name.c_str());
  }
  return *t;
}

int32_t ResolveThreads(int32_t n_threads) {
  if (n_threads != 0) return n_threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int32_t>(hw);
}

Result<std::unique_ptr<model::InferenceContext>> CreateContext(const model::LlamaModel& model, int64_t n_ctx,
                                                               const BackendOptions& options) {
  if (options.n_threads < 0) return InvalidArgument("threads = %d; expected >= 0 (0 = all)", options.n_threads);
  if (options.backend == "cpu") {
    model::CpuOptions cpu;
    cpu.n_threads = ResolveThreads(options.n_threads);
    cpu.n_seq = options.n_seq;
    cpu.kv_type = options.kv_type;
    cpu.stream_from_layer = options.stream_from_layer;
    cpu.stream_layers = options.stream_layers;
    if (options.gpu_layers < 0 || options.gpu_layers > model.hparams().n_layers) {
      return InvalidArgument("--gpu-layers %" PRId64 ": expected 0 .. %" PRId64 " (the model's layers)",
                             options.gpu_layers, model.hparams().n_layers);
    }
    if (options.gpu_layers > 0) {
#ifdef SEPTET_HAVE_CUDA
      if (options.kv_type != DType::kF32) {
        return Unsupported("--gpu-layers with --kv-type %s: the GPU layers keep an f32 KV cache only",
                           std::string(DTypeName(options.kv_type)).c_str());
      }
      auto front = cuda::CreateCudaFront(model, options.gpu_layers, n_ctx, options.n_seq, model::LlamaContext::kMaxBatch);
      if (!front.ok()) {
        return Status(front.status().code(),
                      "--gpu-layers " + std::to_string(options.gpu_layers) + ": " + front.status().message());
      }
      cpu.front = std::shared_ptr<model::LayerFront>(std::move(front).value());
#else
      return Unsupported("--gpu-layers %" PRId64 ": no CUDA device: this septet was built without CUDA (reconfigure "
                         "with -DSEPTET_CUDA=ON on a machine with nvcc)",
                         options.gpu_layers);
#endif
    }
    if (options.prefill == "blas") {
      cpu.prefill = kernels::PrefillPath::kBlas;
    } else if (options.prefill != "own") {
      return InvalidArgument("unknown prefill path '%s'; expected 'own' or 'blas'", options.prefill.c_str());
    }
    SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<model::LlamaContext> ctx, model::LlamaContext::Create(model, n_ctx, cpu));
    return std::unique_ptr<model::InferenceContext>(std::move(ctx));
  }
  if (options.backend == "cuda") {
    if (options.gpu_layers > 0) {
      return InvalidArgument("--gpu-layers %" PRId64 " goes with --backend cpu (backend 'cuda' runs every layer "
                             "on the GPU)",
                             options.gpu_layers);
    }
#ifdef SEPTET_HAVE_CUDA
    if (options.stream_from_layer >= 0 || !options.stream_layers.empty()) return Unsupported("--mem-budget: the CUDA backend does not stream layers");
    if (options.kv_type != DType::kF32) {
      return Unsupported("--kv-type %s: the CUDA backend stores its KV cache as f32 only",
                         std::string(DTypeName(options.kv_type)).c_str());
    }
    return cuda::CreateCudaContext(model, n_ctx, options.n_seq);
#else
    return Unsupported("backend 'cuda': this septet was built without CUDA (reconfigure with -DSEPTET_CUDA=ON on a "
                       "machine with nvcc)");
#endif
  }
  return InvalidArgument("unknown backend '%s'; expected 'cpu' or 'cuda'", options.backend.c_str());
}

}  // namespace septet::runtime
