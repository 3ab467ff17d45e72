// Memory plan: where a model's bytes go for a given budget, and what decode
// speed that placement allows. Pure arithmetic over the tensor directory and the
// hyper-parameters (no weights are read), so it also works for a model shape
// that exists only on paper (synth::ShapePlanInput).
//
//   weights    stored bytes of each tensor, by kind (embeddings, attention, FFN,
//              norms, output, other) and per layer (blk.N.*)
//   KV cache   per token = 2 * n_layers * row_bytes_kv(kv_dim) (one position of
//              one sequence); total = per token * n_ctx * n_seq
//   scratch    LlamaContext::ScratchBytes (the context's buffers) + n_seq logits rows
//   placement  host memory holds the global tensors (token_embd, output,
//              output_norm), the KV cache, the scratch and as many layers as fit;
//              the rest are streamed from disk through a ring of two layer buffers.
//              --gpu-mem / --gpu-layers put token_embd and the first layers
//              (with their KV) on the GPU first (model/layer_split.h).
//   speed      one decode step reads every layer, the output head and, at the end
//              of the context, n_ctx positions of KV per sequence:
//                t_mem  = (host-read bytes) / mem_bw
//                t_disk = (streamed layer bytes) / disk_bw   (re-read every token)
//                t_gpu  = (GPU-read bytes) / gpu_bw
//              overlapped (read-ahead hides the disk behind compute):
//                t = max(t_mem + t_gpu, t_disk);  serial: t = t_mem + t_gpu + t_disk.
//              tok/s per sequence = 1 / t (P sequences share a step: P / t in all).
//              These are upper bounds from bandwidth alone; compute is ignored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "model/hparams.h"

namespace septet {
class ModelFile;
}

namespace septet::model {

// Layer buffers the streamer reads into (LayerStreamer::kRingSlots): the layer
// computing and the next one being read.
constexpr int kStreamRingLayers = 2;

struct PlanTensor {
  std::string name;  // canonical (io/model_file.h)
  uint64_t bytes = 0;
};

// What the plan needs to know about a model.
struct PlanInput {
  std::string label;  // file path or "shape llama2-70b Q3P5"
  LlamaHParams hp;
  std::vector<PlanTensor> tensors;
};
Result<PlanInput> PlanInputFromFile(const ModelFile& file);

struct PlanRequest {
  uint64_t mem_budget = 0;  // host bytes; 0 = no limit
  uint64_t gpu_mem = 0;     // GPU bytes; 0 = no GPU (unless gpu_layers > 0)
  int64_t gpu_layers = -1;  // >= 0: exactly this many layers on the GPU (checked against gpu_mem when given)
  int64_t n_ctx = 0;        // positions per sequence (> 0)
  int32_t n_seq = 1;        // parallel sequences (slots)
  DType kv_type = DType::kF32;
  int32_t n_threads = 1;    // sizes the attention scratch
  double mem_bw_gbs = 0;    // 1e9 B/s; 0 = unknown (no speed prediction)
  double disk_bw_gbs = 0;
  double gpu_bw_gbs = 0;
  const char* budget_flag = "--mem";  // how errors name mem_budget ("--mem-budget" at load)
};

struct WeightBytes {
  uint64_t embeddings = 0, attention = 0, ffn = 0, norms = 0, output = 0, other = 0;
  uint64_t total() const { return embeddings + attention + ffn + norms + output + other; }
};

struct MemoryPlan {
  WeightBytes weights;
  std::vector<uint64_t> layer_bytes;  // [n_layers]: every blk.N.* tensor
  uint64_t max_layer_bytes = 0;
  uint64_t global_bytes = 0;          // tensors outside the layers
  uint64_t decode_read_bytes = 0;     // weights one decode step reads (layers, norms, output head)
  uint64_t kv_bytes_per_token = 0;    // one position of one sequence, every layer
  uint64_t kv_bytes = 0;              // n_ctx * n_seq positions
  uint64_t scratch_bytes = 0;
  // Placement: gpu_layers + resident_layers + streamed_layers = n_layers.
  int64_t gpu_layers = 0, resident_layers = 0, streamed_layers = 0;
  std::vector<int64_t> streamed;  // which layers stream (ascending): SpreadStreamedLayers when the layers are
                                  // the same size, else the last streamed_layers
  uint64_t host_bytes = 0;   // what host memory must hold (window included)
  uint64_t gpu_bytes = 0;
  uint64_t stream_window_bytes = 0;  // the streaming ring: kStreamRingLayers x the largest layer
  uint64_t lock_bytes = 0;  // what --mlock locks: globals + resident host layers (before page rounding)
  // Speed (0 when a needed bandwidth is unknown).
  double t_mem_s = 0, t_disk_s = 0, t_gpu_s = 0;
  double tok_s_overlapped = 0, tok_s_serial = 0;  // per sequence
  std::string placement;  // "all resident", "20 resident + 60 streamed", ...
};

// kInvalidArgument for a bad request (n_ctx, n_seq, kv type) or a model without
// layers; kOutOfRange when the budget cannot hold the global tensors, the KV
// cache, the scratch and one layer (the message gives each number).
Result<MemoryPlan> PlanMemory(const PlanInput& in, const PlanRequest& req);

// `count` layers of [begin, n_layers) spread evenly, the last one streamed
// (layer begin + i streams when floor((i + 1) count / n) > floor(i count / n),
// n = n_layers - begin); ascending. Which layers stream does not change the bytes
// (the layers of a LLaMA model are the same size) but it changes the overlap:
// spread out, the read of each streamed layer runs while the resident layers
// before it compute (model/layer_streamer.h).
std::vector<int64_t> SpreadStreamedLayers(int64_t begin, int64_t n_layers, int64_t count);

// Types a KV cache can be stored in: F32, F16, Q8_0.
bool IsKvType(DType t);
// Bytes of one cached row of kv_dim values.
uint64_t KvRowBytes(DType t, int64_t kv_dim);

}  // namespace septet::model
