// Where the time of a forward pass goes, per kind of op (`septet bench --profile`).
//
// A backend that supports it adds the wall time of each op to `ns[op]` and counts
// the calls; the caller divides by the tokens it ran. The matmul rows hold the
// kernel time alone: quantizing the activation rows for them is kActQuant, and the
// time the calling thread spends waiting for the other workers of a parallel op
// (load imbalance plus wake-up latency) is also counted apart, in kPoolWait, so
// the rows add up to the pass (kOther is what no row claims: embedding lookup,
// residual adds, KV-cache stores, logit-row gathers).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace septet::model {

enum class Op : int {
  kMatQkv,     // wq, wk, wv
  kMatOut,     // wo
  kMatGateUp,  // w_gate, w_up
  kMatDown,    // w_down
  kMatLogits,  // output head
  kActQuant,   // activation rows -> int8 (Q8_A / Q8_R) before the matmuls
  kAttention,  // scores, softmax, weighted sum over the KV cache
  kNorm,       // RMSNorm
  kRope,       // rotary embedding of q and k
  kSwiGlu,     // silu(gate) * up
  kRotate,     // input rotation of a rotated model (septet.rotation)
  kPoolWait,   // calling thread waiting for the pool's other workers
  kOther,      // everything else in the pass
  kCount,
};
inline constexpr int kOpCount = static_cast<int>(Op::kCount);

const char* OpName(Op op);

struct OpProfile {
  std::array<uint64_t, kOpCount> ns{};
  std::array<uint64_t, kOpCount> calls{};
  uint64_t total_ns = 0;  // wall time of the profiled passes

  void Add(Op op, uint64_t t) {
    ns[static_cast<size_t>(op)] += t;
    ++calls[static_cast<size_t>(op)];
  }
  void Clear() { *this = OpProfile{}; }
};

}  // namespace septet::model
