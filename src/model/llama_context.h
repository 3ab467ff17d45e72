// One sequence's inference state over a LlamaModel: the KV cache, the position
// reached (n_past) and scratch buffers. Forward() is the single forward pass,
// for a batch of prompt tokens and for one decode token alike, whatever the
// weight types.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "kernels/cpu/matmul.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"

namespace septet::model {

enum class LogitsMode {
  kLast,  // logits of the last token only: [vocab]
  kAll,   // logits of every token in the call: [n_tokens][vocab]
};

class LlamaContext {
 public:
  // Tokens are processed in chunks of at most this many (bounds scratch memory).
  static constexpr int64_t kMaxBatch = 64;

  // n_ctx: KV cache length in tokens (> 0). It may exceed the model's trained
  // context_length; RoPE then extrapolates, which the caller decides to allow.
  static Result<std::unique_ptr<LlamaContext>> Create(const LlamaModel& model, int64_t n_ctx);

  // Appends `tokens` at positions n_past .. n_past + n - 1 and returns logits.
  // Errors (state unchanged): empty input, a token outside [0, vocab)
  // (kInvalidArgument), n_past + n > n_ctx (kOutOfRange, names n_ctx).
  Status Forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return cache_.n_ctx(); }
  uint64_t kv_cache_bytes() const { return cache_.bytes(); }
  // Forgets positions >= n (0 <= n <= n_past): a later Forward resumes at n.
  void Truncate(int64_t n);
  const LlamaModel& model() const { return model_; }

 private:
  LlamaContext(const LlamaModel& model, KvCache cache);
  // One chunk (m <= kMaxBatch tokens) at positions n_past_..; leaves final hidden rows in x_.
  void ForwardChunk(const int32_t* tokens, int64_t m);
  void Layer(int64_t l, int64_t m);
  void Logits(const float* hidden_row, float* out);

  const LlamaModel& model_;
  KvCache cache_;
  int64_t n_past_ = 0;
  // Scratch, each [kMaxBatch][width]:
  std::vector<float> x_;    // residual stream [m][dim]
  std::vector<float> xb_;   // normed input    [m][dim]
  std::vector<float> q_;    // queries         [m][q_dim]
  std::vector<float> k_;    // keys            [m][kv_dim]
  std::vector<float> v_;    // values          [m][kv_dim]
  std::vector<float> att_;  // attention out   [m][q_dim]
  std::vector<float> proj_; // block output    [m][dim]
  std::vector<float> gate_; // ffn gate        [m][ffn_dim]
  std::vector<float> up_;   // ffn up          [m][ffn_dim]
  std::vector<float> scores_;  // [n_ctx]
  std::vector<float> norm_;    // [dim]
  cpu::MatMulScratch mm_;
};

}  // namespace septet::model
