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

namespace septet::model {

enum class LogitsMode {
  kLast,  // logits of the last token only: [vocab]
  kAll,   // logits of every token in the call: [n_tokens][vocab]
};

class InferenceContext {
 public:
  virtual ~InferenceContext() = default;

  // Appends `tokens` at positions n_past .. n_past + n - 1 and returns logits.
  // Errors (state unchanged): empty input, a token outside [0, vocab)
  // (kInvalidArgument), n_past + n > n_ctx (kOutOfRange, names n_ctx).
  virtual Status Forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) = 0;

  virtual int64_t n_past() const = 0;
  virtual int64_t n_ctx() const = 0;
  virtual uint64_t kv_cache_bytes() const = 0;
  // Forgets positions >= n (0 <= n <= n_past): a later Forward resumes at n.
  virtual void Truncate(int64_t n) = 0;
  virtual const LlamaModel& model() const = 0;
  // "cpu", "cuda": for load lines and benchmark reports.
  virtual const char* backend_name() const = 0;
};

// Shared argument validation for Forward (same messages on every backend).
Status ValidateForward(std::span<const int32_t> tokens, int64_t vocab, int64_t n_past, int64_t n_ctx);

}  // namespace septet::model
