// One sequence's inference state over a LlamaModel: the KV cache, the position
// reached (n_past) and scratch buffers. Forward() is the single forward pass,
// for a batch of prompt tokens and for one decode token alike, whatever the
// weight types.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "kernels/cpu/matmul.h"
#include "model/inference_context.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"

namespace septet::model {

// Which matmul input an observer sees (calibration collects statistics of the
// activations entering each weight matrix; quantize/ uses it).
enum class MatMulInput {
  kAttnQkv,  // xb entering wq, wk, wv      [m][dim]
  kAttnOut,  // att entering wo             [m][q_dim]
  kFfnGateUp,// xb entering w_gate, w_up    [m][dim]
  kFfnDown,  // silu(gate)*up entering w_down [m][ffn_dim]
  kOutput,   // normed hidden entering output [1][dim]
};
// Called before the matmul with its input rows x: [m][cols]; layer is -1 for kOutput.
using MatMulObserver = std::function<void(int64_t layer, MatMulInput input, const float* x, int64_t m, int64_t cols)>;

// The CPU backend.
class LlamaContext final : public InferenceContext {
 public:
  // Tokens are processed in chunks of at most this many (bounds scratch memory).
  static constexpr int64_t kMaxBatch = 64;

  // n_ctx: KV cache length in tokens (> 0). It may exceed the model's trained
  // context_length; RoPE then extrapolates, which the caller decides to allow.
  static Result<std::unique_ptr<LlamaContext>> Create(const LlamaModel& model, int64_t n_ctx);

  Status Forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) override;

  int64_t n_past() const override { return n_past_; }
  int64_t n_ctx() const override { return cache_.n_ctx(); }
  uint64_t kv_cache_bytes() const override { return cache_.bytes(); }
  void Truncate(int64_t n) override;
  const LlamaModel& model() const override { return model_; }
  const char* backend_name() const override { return "cpu"; }

  // Calibration hook (null = none). Not for the hot path of normal inference.
  void SetMatMulObserver(MatMulObserver observer) { observer_ = std::move(observer); }

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
  MatMulObserver observer_;
};

}  // namespace septet::model
