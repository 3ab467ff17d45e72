// Monotonic time in nanoseconds, for the per-op profile (model/op_profile.h) and
// the pool's wait timing: one clock read, no conversion at the call sites.
#pragma once

#include <chrono>
#include <cstdint>

namespace septet {

inline uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace septet
