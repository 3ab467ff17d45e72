#include "model/layer_split.h"

#include <algorithm>
#include <cinttypes>

#include "io/model_file.h"
#include "model/memory_plan.h"

namespace septet::model {
namespace {

constexpr uint64_t kF = sizeof(float);
// The CUDA backend's cuBLAS path dequantizes at most this many bytes of weight
// rows at a time (backends/cuda/gemm.h kGemmTileBytes).
constexpr uint64_t kGpuGemmTileCap = uint64_t{64} << 20;

uint64_t RoundUp32(int64_t n) { return static_cast<uint64_t>((n + 31) / 32 * 32); }

}  // namespace

uint64_t GpuFrontScratchBytes(const LlamaHParams& hp, int64_t chunk) {
  const uint64_t c = static_cast<uint64_t>(chunk);
  const int64_t max_cols = std::max({hp.dim, hp.q_dim(), hp.ffn_dim});
  // Same buffers as CudaContext::Create: token ids / positions / sequence ids /
  // rows ([4][chunk] int32), the chunk's rows x, xb, proj [dim], q, att [q_dim],
  // k, v [kv_dim], gate, up [ffn_dim], the INT8 activations with their scales
  // and sums, the fp16 activations and the GEMM tile (cuBLAS for m >= 16).
  return 4 * c * sizeof(int32_t) +
         c * kF * static_cast<uint64_t>(3 * hp.dim + 2 * hp.q_dim() + 2 * hp.kv_dim() + 2 * hp.ffn_dim) +
         c * RoundUp32(max_cols) + 2 * c * static_cast<uint64_t>((max_cols + 31) / 32) * 4 +
         c * static_cast<uint64_t>(max_cols) * 2 + kGpuGemmTileCap;
}

Result<LayerSplit> SplitLayers(const PlanInput& in, const SplitRequest& req) {
  const LlamaHParams& hp = in.hp;
  if (hp.n_layers <= 0) return InvalidArgument("%s: the model has no layers", in.label.c_str());
  if (req.n_ctx <= 0) return InvalidArgument("--ctx %" PRId64 ": expected > 0", req.n_ctx);
  if (req.n_seq <= 0) return InvalidArgument("--parallel %d: expected > 0", req.n_seq);
  if (req.chunk <= 0) return InvalidArgument("layer split: chunk %" PRId64 ": expected > 0", req.chunk);
  if (req.gpu_layers > hp.n_layers || req.gpu_layers < -1) {
    return InvalidArgument("--gpu-layers %" PRId64 ": expected 0 .. %" PRId64 " (the model's layers)", req.gpu_layers,
                           hp.n_layers);
  }
  if (req.gpu_layers < 0 && req.gpu_mem == 0) {
    return InvalidArgument("layer split: give --gpu-layers N or --gpu-mem SIZE");
  }
  std::vector<uint64_t> layer(static_cast<size_t>(hp.n_layers), 0);
  uint64_t embd = 0;
  for (const PlanTensor& t : in.tensors) {
    const int64_t l = BlockIndex(t.name);
    if (l >= hp.n_layers) {
      return InvalidArgument("%s: tensor '%s' names layer %" PRId64 " of a %" PRId64 "-layer model", in.label.c_str(),
                             t.name.c_str(), l, hp.n_layers);
    }
    if (l >= 0) layer[static_cast<size_t>(l)] += t.bytes;
    if (t.name == "token_embd.weight") embd = t.bytes;
  }
  // F32 K and V of one layer (CUDA keeps F32), every position of every sequence.
  const uint64_t kv_layer = 2 * static_cast<uint64_t>(hp.kv_dim()) * kF * static_cast<uint64_t>(req.n_ctx) *
                            static_cast<uint64_t>(req.n_seq);
  const int64_t chunk = std::min<int64_t>(req.chunk, req.n_ctx * req.n_seq);
  const uint64_t scratch = GpuFrontScratchBytes(hp, chunk);
  const auto gpu_bytes = [&](int64_t n) {
    if (n == 0) return uint64_t{0};
    uint64_t b = embd + scratch;
    for (int64_t l = 0; l < n; ++l) b += layer[static_cast<size_t>(l)] + kv_layer;
    return b;
  };

  int64_t n = req.gpu_layers;
  if (n < 0) {
    n = 0;
    while (n < hp.n_layers && gpu_bytes(n + 1) <= req.gpu_mem) ++n;
  } else if (req.gpu_mem > 0 && gpu_bytes(n) > req.gpu_mem) {
    return OutOfRange("--gpu-layers %" PRId64 " does not fit in --gpu-mem %" PRIu64 " bytes: token_embd %" PRIu64
                      " + layers 0..%" PRId64 " %" PRIu64 " + their F32 KV cache %" PRIu64 " (n_ctx %" PRId64
                      " x %d sequence(s)) + scratch %" PRIu64 " = %" PRIu64 " bytes",
                      n, req.gpu_mem, embd, n - 1, gpu_bytes(n) - embd - scratch - kv_layer * static_cast<uint64_t>(n),
                      kv_layer * static_cast<uint64_t>(n), req.n_ctx, req.n_seq, scratch, gpu_bytes(n));
  }

  LayerSplit s;
  s.n_layers = hp.n_layers;
  s.gpu_layers = n;
  s.device.assign(static_cast<size_t>(hp.n_layers), LayerDevice::kCpu);
  for (int64_t l = 0; l < n; ++l) {
    s.device[static_cast<size_t>(l)] = LayerDevice::kGpu;
    s.gpu_weight_bytes += layer[static_cast<size_t>(l)];
  }
  for (int64_t l = n; l < hp.n_layers; ++l) s.cpu_layer_bytes += layer[static_cast<size_t>(l)];
  if (n > 0) {
    s.gpu_weight_bytes += embd;
    s.gpu_kv_bytes = kv_layer * static_cast<uint64_t>(n);
    s.gpu_scratch_bytes = scratch;
    s.boundary_bytes_per_token = static_cast<uint64_t>(hp.dim) * kF;
  }
  return s;
}

}  // namespace septet::model
