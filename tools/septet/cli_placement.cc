#include "cli_placement.h"

#include <cstdio>

#include "io/model_file.h"

namespace septet::cli {

Result<runtime::Placement> PlanFromFlags(const MemoryFlags& flags, const std::string& model_path,
                                         runtime::PlacementRequest request) {
  std::string msg;
  if (!flags.Parse(&request.mem_budget, &request.gpu_mem, &msg)) return InvalidArgument("%s", msg.c_str());
  request.gpu_layers = flags.gpu_layers;
  if (request.mem_budget == 0 && request.gpu_mem == 0) {  // nothing to plan: no need to open the file
    runtime::Placement p;
    p.gpu_layers = request.gpu_layers;
    return p;
  }
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<ModelFile> file, ModelFile::Open(model_path));
  SEPTET_ASSIGN_OR_RETURN(runtime::Placement p, runtime::PlanPlacement(*file, request));
  std::fprintf(stderr, "septet: --mem-budget %s: %s (host %s)\n", HumanBytes(request.mem_budget).c_str(),
               p.plan.placement.c_str(), HumanBytes(p.plan.host_bytes).c_str());
  return p;
}

std::unique_ptr<model::WeightLock> LockFromFlags(const MemoryFlags& flags, const model::LlamaModel& model,
                                                 const runtime::Placement& placement) {
  if (!flags.mlock) return nullptr;
  auto lock = runtime::LockResident(model, placement);
  if (!lock->warning().empty()) {
    std::fprintf(stderr, "septet: warning: %s\n", lock->warning().c_str());
  } else {
    std::fprintf(stderr, "septet: --mlock: %s of resident weights locked in RAM\n",
                 HumanBytes(lock->locked_bytes()).c_str());
  }
  return lock;
}

int ReportStatus(const Status& st) {
  std::fprintf(stderr, "septet: error: %s\n", st.message().c_str());
  return st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

}  // namespace septet::cli
