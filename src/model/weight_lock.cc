#include "model/weight_lock.h"

#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "model/weights.h"

namespace septet::model {
namespace {

bool HasCapIpcLock() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32))) != 0;
}

std::string Bytes(uint64_t b) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%" PRIu64 " bytes (%.2f GiB)", b, static_cast<double>(b) / (1ull << 30));
  return buf;
}

}  // namespace

MemlockLimit CurrentMemlockLimit() {
  MemlockLimit m;
  rlimit rl{};
  if (::getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
    m.unlimited = rl.rlim_cur == RLIM_INFINITY;
    m.soft = m.unlimited ? UINT64_MAX : static_cast<uint64_t>(rl.rlim_cur);
  }
  m.cap_ipc_lock = HasCapIpcLock();
  return m;
}

std::unique_ptr<WeightLock> WeightLock::Lock(const LlamaModel& model, const std::vector<int64_t>& streamed,
                                             int64_t first_layer) {
  std::unique_ptr<WeightLock> lock(new WeightLock());
  const LlamaWeights& w = model.weights();
  const int64_t dim = model.hparams().dim;
  std::vector<ByteSpan> spans = {
      {w.token_embd.data, static_cast<size_t>(w.token_embd.rows) * w.token_embd.row_bytes},
      {w.output.data, static_cast<size_t>(w.output.rows) * w.output.row_bytes},
      {reinterpret_cast<const uint8_t*>(w.output_norm), static_cast<size_t>(dim) * sizeof(float)}};
  for (int64_t l = std::max<int64_t>(first_layer, 0); l < model.hparams().n_layers; ++l) {
    if (std::binary_search(streamed.begin(), streamed.end(), l)) continue;
    for (const ByteSpan& s : LayerSpans(w.layers[static_cast<size_t>(l)], dim)) spans.push_back(s);
  }
  // Page-aligned, sorted, merged: a page two tensors share is locked once.
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::vector<Range> ranges;
  for (const ByteSpan& s : spans) {
    if (s.data == nullptr || s.size == 0) continue;
    const auto p = reinterpret_cast<uintptr_t>(s.data);
    ranges.push_back({p / page * page, (p + s.size + page - 1) / page * page});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (const Range& r : ranges) {
    if (!lock->ranges_.empty() && r.begin <= lock->ranges_.back().end) {
      lock->ranges_.back().end = std::max(lock->ranges_.back().end, r.end);
    } else {
      lock->ranges_.push_back(r);
    }
  }
  for (const Range& r : lock->ranges_) lock->requested_ += r.end - r.begin;
  for (size_t i = 0; i < lock->ranges_.size(); ++i) {
    const Range& r = lock->ranges_[i];
    if (::mlock(reinterpret_cast<const void*>(r.begin), r.end - r.begin) == 0) continue;
    const int err = errno;
    // All or nothing: a partly locked model would be reported as neither.
    for (size_t k = 0; k < i; ++k) {
      ::munlock(reinterpret_cast<const void*>(lock->ranges_[k].begin), lock->ranges_[k].end - lock->ranges_[k].begin);
    }
    lock->ranges_.clear();
    const MemlockLimit lim = CurrentMemlockLimit();
    const std::string limit = lim.unlimited ? "unlimited" : Bytes(lim.soft);
    lock->warning_ = "--mlock: could not lock " + Bytes(lock->requested_) + " of resident weights (mlock: " +
                     std::strerror(err) + "; RLIMIT_MEMLOCK " + limit +
                     (lim.cap_ipc_lock ? ", CAP_IPC_LOCK held" : ", no CAP_IPC_LOCK") +
                     (err == ENOMEM && lim.cap_ipc_lock ? "): not enough free memory to pin them"
                                                        : "): raise the limit (ulimit -l unlimited, or memlock in "
                                                          "/etc/security/limits.conf / LimitMEMLOCK= for a service) or "
                                                          "grant CAP_IPC_LOCK") +
                     "; continuing unlocked (resident layers may be evicted under memory pressure)";
    return lock;
  }
  lock->locked_ = lock->requested_;
  return lock;
}

WeightLock::~WeightLock() {
  for (const Range& r : ranges_) ::munlock(reinterpret_cast<const void*>(r.begin), r.end - r.begin);
}

}  // namespace septet::model
