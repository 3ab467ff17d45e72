// Splitting the layers between a GPU and the CPU (--gpu-layers N, --gpu-mem G).
//
//   device (CUDA)   token_embd lookup, layers [0, N), their KV cache (F32: the
//                   CUDA backend keeps F32), scratch for one chunk
//   boundary        after layer N - 1 the hidden rows [m][dim] (F32) are copied
//                   device -> host: dim * 4 bytes per token, once per chunk
//   host (CPU)      layers [N, n_layers), their KV cache (in --kv-type), the
//                   output norm and the output head (logits), the CPU scratch
//
// The embedding sits on the device side so that one copy per chunk crosses the
// boundary (token ids go up, hidden rows come down). With N = 0 nothing runs on
// the device; with N = n_layers the CPU computes only the logits.
//
// This file is pure arithmetic over the plan input (model/memory_plan.h): it is
// what `septet plan --gpu-mem` prints and what `--gpu-mem` on generate / bench
// uses to choose N. The CUDA context re-checks its real allocation against
// cudaMemGetInfo when it is created.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "model/forward_chunk.h"
#include "model/hparams.h"

namespace septet::model {

struct PlanInput;

enum class LayerDevice : uint8_t { kGpu, kCpu };

struct SplitRequest {
  int64_t gpu_layers = -1;  // >= 0: exactly this many layers on the GPU; -1: as many as fit in gpu_mem
  uint64_t gpu_mem = 0;     // device bytes the split may use; 0 = no limit (gpu_layers must then be >= 0)
  int64_t n_ctx = 0;        // positions per sequence (> 0)
  int32_t n_seq = 1;        // sequences (> 0)
  int64_t chunk = kForwardChunkTokens;  // tokens per forward chunk on the device (the CPU context's)
};

struct LayerSplit {
  int64_t n_layers = 0;
  int64_t gpu_layers = 0;            // N: layers [0, N) on the GPU, [N, n_layers) on the CPU
  std::vector<LayerDevice> device;   // [n_layers]
  // Device bytes.
  uint64_t gpu_weight_bytes = 0;     // token_embd + layers [0, N) as stored (the upload pads rows to 16 bytes)
  uint64_t gpu_kv_bytes = 0;         // F32 K and V of layers [0, N) at n_ctx x n_seq
  uint64_t gpu_scratch_bytes = 0;    // one chunk's activations, INT8 / fp16 copies, GEMM tile bound
  uint64_t gpu_bytes() const { return gpu_weight_bytes + gpu_kv_bytes + gpu_scratch_bytes; }
  // Host-side layer bytes (layers [N, n_layers), as stored).
  uint64_t cpu_layer_bytes = 0;
  // What crosses the boundary per token of a step (device -> host).
  uint64_t boundary_bytes_per_token = 0;  // dim * sizeof(float); 0 when N = 0
};

// The CUDA front's scratch for chunks of `chunk` tokens (no logits buffer: the
// host computes them). An upper bound: the GEMM tile is counted at its cap.
uint64_t GpuFrontScratchBytes(const LlamaHParams& hp, int64_t chunk);

// kInvalidArgument: a bad request (n_ctx, n_seq, chunk, gpu_layers outside
// [0, n_layers], no gpu_layers and no gpu_mem); kOutOfRange: gpu_layers given
// explicitly but the split does not fit in gpu_mem (the message gives each number).
Result<LayerSplit> SplitLayers(const PlanInput& in, const SplitRequest& req);

}  // namespace septet::model
