// The memory flags (MemoryFlags) for the commands that build their own context
// from the internals (bench, serve, perplexity): the same plan Model::Load uses
// (runtime/placement.h), so every command streams and splits alike.
#pragma once

#include <string>

#include "cli_common.h"
#include "core/status.h"
#include "runtime/placement.h"

namespace septet::cli {

// Parses the flags into `request` (mem_budget, gpu_mem, gpu_layers) and plans the
// placement of the model at `model_path`; prints "septet: --mem-budget ...: <placement>"
// when a plan was made. kInvalidArgument for a malformed size (the message names the flag).
Result<runtime::Placement> PlanFromFlags(const MemoryFlags& flags, const std::string& model_path,
                                         runtime::PlacementRequest request);

// --mlock on a command that builds its own context: locks what `placement` keeps
// resident and prints how much, or the warning (the run goes on unlocked). Null
// without --mlock. Keep it alive as long as the model, and destroy it first.
std::unique_ptr<model::WeightLock> LockFromFlags(const MemoryFlags& flags, const model::LlamaModel& model,
                                                 const runtime::Placement& placement);

// kExitUsage for kInvalidArgument, else kExitFailure; prints "septet: error: ...".
int ReportStatus(const Status& st);

}  // namespace septet::cli
