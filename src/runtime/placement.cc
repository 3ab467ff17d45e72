#include "runtime/placement.h"

#include <algorithm>
#include <cinttypes>

#include "septet/septet.h"

namespace septet::runtime {

void Placement::ApplyTo(BackendOptions* backend) const {
  backend->gpu_layers = gpu_layers;
  backend->stream_layers = streamed;
  backend->stream_from_layer = -1;
}

void Placement::ApplyTo(model::ModelOptions* model) const {
  if (streams()) model->repack = false;
}

std::unique_ptr<model::WeightLock> LockResident(const model::LlamaModel& model, const Placement& placement) {
  return model::WeightLock::Lock(model, placement.streamed, placement.gpu_layers);
}

Result<Placement> PlanPlacement(const ModelFile& file, const PlacementRequest& req) {
  if (req.gpu_layers < 0) return InvalidArgument("--gpu-layers %" PRId64 ": expected >= 0", req.gpu_layers);
  Placement pl;
  pl.gpu_layers = req.gpu_layers;
  if (req.mem_budget == 0 && req.gpu_mem == 0) return pl;
  if (req.converted && req.mem_budget > 0) {
    return InvalidArgument("--mem-budget with --type: the memory plan counts the weights as stored; drop one of them");
  }
  SEPTET_ASSIGN_OR_RETURN(const model::PlanInput in, model::PlanInputFromFile(file));
  model::PlanRequest r;
  r.mem_budget = req.mem_budget;
  r.budget_flag = "--mem-budget";
  r.gpu_mem = req.gpu_mem;
  r.gpu_layers = req.gpu_layers > 0 ? req.gpu_layers : -1;
  r.n_ctx = req.n_ctx > 0 ? req.n_ctx : std::min<int64_t>(in.hp.context_length, LoadOptions::kDefaultMaxCtx);
  r.n_seq = req.n_seq;
  r.kv_type = req.kv_type;
  r.n_threads = req.n_threads;
  SEPTET_ASSIGN_OR_RETURN(pl.plan, model::PlanMemory(in, r));
  pl.planned = true;
  pl.gpu_layers = pl.plan.gpu_layers;
  pl.streamed = pl.plan.streamed;
  return pl;
}

}  // namespace septet::runtime
