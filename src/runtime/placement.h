// Where a model's layers go under a host memory budget and a GPU split: the one
// place every entry point (Model::Load, bench, serve, perplexity) turns
// --mem-budget / --gpu-mem / --gpu-layers into backend options, through the
// memory plan of the file as stored (model/memory_plan.h, docs/memory.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "io/model_file.h"
#include "model/llama_model.h"
#include "model/memory_plan.h"
#include "model/weight_lock.h"
#include "runtime/backend.h"

namespace septet::runtime {

struct PlacementRequest {
  uint64_t mem_budget = 0;  // host bytes; 0 = no limit
  uint64_t gpu_mem = 0;     // GPU bytes; 0 = unused
  int64_t gpu_layers = 0;   // > 0: exactly this many layers on the GPU
  int64_t n_ctx = 0;        // positions per sequence; 0: min(context_length, LoadOptions::kDefaultMaxCtx)
  int32_t n_seq = 1;        // sequences (slots) the context holds
  DType kv_type = DType::kF32;
  int32_t n_threads = 1;
  bool converted = false;   // the weights are converted at load (--type): the plan cannot count them
};

struct Placement {
  bool planned = false;           // a budget or a GPU memory size was given; `plan` is valid
  model::MemoryPlan plan;
  int64_t gpu_layers = 0;
  std::vector<int64_t> streamed;  // ascending; empty: every host layer resident
  bool streams() const { return !streamed.empty(); }
  // Sets the backend's streamed layers and GPU split.
  void ApplyTo(BackendOptions* backend) const;
  // Streamed layers are read from the file, not from load-time copies: no repack.
  void ApplyTo(model::ModelOptions* model) const;
};

// --mlock: locks in RAM what `placement` keeps resident in `model` (globals and the
// host layers not streamed); never null; the lock's warning() says why not.
std::unique_ptr<model::WeightLock> LockResident(const model::LlamaModel& model, const Placement& placement);

// Without a budget and a GPU memory size: no plan, request.gpu_layers as given.
// kInvalidArgument for a budget together with --type, a negative --gpu-layers;
// the plan's errors otherwise (kOutOfRange: a budget below two layers (the streaming ring) plus the KV
// cache, with the numbers).
Result<Placement> PlanPlacement(const ModelFile& file, const PlacementRequest& request);

}  // namespace septet::runtime
