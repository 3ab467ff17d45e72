// --mlock: keeps the weights that stay resident (the global tensors and every
// layer neither streamed nor on the GPU) in RAM with mlock(2), so that memory
// pressure from other processes cannot evict them and turn a resident layer into
// a re-read from disk (docs/memory.md, "Locking"). Locking is an optimisation:
// when the kernel refuses (RLIMIT_MEMLOCK without CAP_IPC_LOCK: ENOMEM or EPERM)
// nothing stays locked and the warning says how many bytes were asked for, the
// limit, and the fix; the caller goes on unlocked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_model.h"

namespace septet::model {

class WeightLock {
 public:
  // Locks the resident weights of `model`: globals (token_embd, output norm and
  // head) and the layers in [first_layer, n_layers) that are not in `streamed`
  // (first_layer = the GPU layers, whose host copy the forward pass never reads).
  // Pages shared by two tensors count once.
  static std::unique_ptr<WeightLock> Lock(const LlamaModel& model, const std::vector<int64_t>& streamed,
                                          int64_t first_layer);
  ~WeightLock();  // munlock
  WeightLock(const WeightLock&) = delete;
  WeightLock& operator=(const WeightLock&) = delete;

  uint64_t requested_bytes() const { return requested_; }  // page-rounded
  uint64_t locked_bytes() const { return locked_; }        // requested_bytes() or 0
  // Empty when locked; else why not and how to allow it (one line).
  const std::string& warning() const { return warning_; }

 private:
  struct Range {
    uintptr_t begin = 0, end = 0;
  };
  WeightLock() = default;
  std::vector<Range> ranges_;  // locked ranges (empty after a failure)
  uint64_t requested_ = 0, locked_ = 0;
  std::string warning_;
};

// RLIMIT_MEMLOCK as text ("64.0 KiB", "unlimited") and whether this process may
// exceed it (CAP_IPC_LOCK in its effective set): what `septet plan` reports.
struct MemlockLimit {
  uint64_t soft = 0;  // bytes; UINT64_MAX = unlimited
  bool unlimited = false;
  bool cap_ipc_lock = false;
  bool Allows(uint64_t bytes) const { return unlimited || cap_ipc_lock || bytes <= soft; }
};
MemlockLimit CurrentMemlockLimit();

}  // namespace septet::model
