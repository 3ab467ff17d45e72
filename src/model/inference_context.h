// The backend-neutral face of one sequence's inference state: what the
// generator, the API, perplexity and the benchmarks call. The CPU backend
// (LlamaContext) and the CUDA backend (backends/cuda) implement it; a context
// is made by runtime::CreateContext (runtime/backend.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "model/llama_model.h"
#include "model/op_profile.h"

namespace septet::model {

enum class LogitsMode {
  kLast,  // logits of the last token only: [vocab]; with ForwardBatch, of each
          // sequence's last token in the call (see there)
  kAll,   // logits of every token in the call: [n_tokens][vocab]
};

// What a context holds in memory, on the device it computes on (host RAM for the
// CPU backend, GPU memory for CUDA).
struct MemoryUse {
  uint64_t weights = 0;   // the weights the forward pass reads (mapped or owned / uploaded)
  uint64_t kv_cache = 0;  // every sequence's K and V
  uint64_t scratch = 0;   // activations and other per-call buffers
  uint64_t total() const { return weights + kv_cache + scratch; }
};

// A context holds n_seq independent sequences (n_seq = 1 unless asked), each with
// its own KV cache of n_ctx positions and its own n_past. Forward, n_past and
// Truncate act on sequence 0; ForwardBatch runs tokens of several sequences through
// one pass, so the weights are read once for all of them (batched decoding: one
// token of each of B sequences costs about one token's weight traffic).
class InferenceContext {
 public:
  virtual ~InferenceContext() = default;

  // Appends `tokens` to sequence 0 at positions n_past .. n_past + n - 1 and
  // returns logits. Errors (state unchanged): empty input, a token outside
  // [0, vocab) (kInvalidArgument), n_past + n > n_ctx (kOutOfRange, names n_ctx).
  Status Forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits);

  // tokens[i] is appended to sequence seq_ids[i] at that sequence's next position;
  // tokens of one sequence enter in the order given, and each attends only to its
  // own sequence. Sequences may appear in any order and interleave. Logits:
  //   kAll:  one row per token, [n][vocab];
  //   kLast: one row per sequence present, for its last token in this call,
  //          ordered by where those last tokens stand in `tokens`.
  // A token's logits do not depend on what else is in the batch (bit for bit on
  // the CPU backend). Errors (state unchanged): those of Forward, per sequence,
  // plus seq_ids of another length or a sequence outside [0, n_seq).
  virtual Status ForwardBatch(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids, LogitsMode mode,
                              std::vector<float>* logits) = 0;

  virtual int32_t n_seq() const = 0;
  // Positions cached for sequence `seq` (0 <= seq < n_seq).
  virtual int64_t seq_past(int32_t seq) const = 0;
  // Forgets positions >= n of sequence `seq` (0 <= n <= seq_past(seq)).
  virtual void TruncateSeq(int32_t seq, int64_t n) = 0;

  int64_t n_past() const { return seq_past(0); }
  void Truncate(int64_t n) { TruncateSeq(0, n); }
  // Positions per sequence.
  virtual int64_t n_ctx() const = 0;
  uint64_t kv_cache_bytes() const { return memory().kv_cache; }
  virtual MemoryUse memory() const = 0;
  virtual const LlamaModel& model() const = 0;
  // "cpu", "cuda": for load lines and benchmark reports.
  virtual const char* backend_name() const = 0;
  // Per-op timing of later passes into *profile (null: off). Returns false when
  // the backend cannot profile (nothing is then recorded). Timing costs a clock
  // read per op; it never changes a result.
  virtual bool SetProfile(OpProfile* profile) {
    (void)profile;
    return false;
  }
};

// What a ForwardBatch call does, worked out and validated once for every backend.
struct BatchPlan {
  std::vector<int32_t> pos;          // position of token i in its sequence
  std::vector<int64_t> logit_rows;   // token indices whose logits are returned, in output order
  std::vector<int64_t> seq_count;    // tokens per sequence [n_seq]
};
// Errors as ForwardBatch documents; seq_past has n_seq entries.
Result<BatchPlan> PlanBatch(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids, LogitsMode mode,
                            int64_t vocab, std::span<const int64_t> seq_past, int64_t n_ctx);

}  // namespace septet::model
