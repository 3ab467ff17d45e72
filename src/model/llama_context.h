// The inference state of n_seq sequences over a LlamaModel: the KV cache, the
// position each sequence reached and scratch buffers. ForwardBatch() is the single
// forward pass, for a batch of prompt tokens, one decode token, or decode tokens of
// many sequences alike, whatever the weight types.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/cpu/hadamard.h"
#include "kernels/matmul.h"
#include "model/forward_chunk.h"
#include "model/inference_context.h"
#include "model/kv_cache.h"
#include "model/layer_front.h"
#include "model/layer_streamer.h"
#include "model/llama_model.h"

namespace septet::model {

// Which matmul input an observer sees (calibration collects statistics of the
// activations entering each weight matrix; quantize/ uses it).
enum class MatMulInput {
  kAttnQkv,  // xb entering wq, wk, wv      [m][dim]
  kAttnOut,  // att entering wo             [m][q_dim]
  kFfnGateUp,// xb entering w_gate, w_up    [m][dim]
  kFfnDown,  // silu(gate)*up entering w_down [m][ffn_dim]
  kOutput,   // normed hidden entering output [m][dim] (m = 1 unless all logits are asked for)
};
// Called before the matmul with its input rows x: [m][cols]; layer is -1 for kOutput.
using MatMulObserver = std::function<void(int64_t layer, MatMulInput input, const float* x, int64_t m, int64_t cols)>;
// Which residual block an update comes from.
enum class ResidualBlock { kAttention = 0, kFfn = 1 };
// Called before a block's output u (wo's or w_down's product) is added to the residual
// stream h: h [m][dim] as it enters the add, u [m][dim].
using ResidualObserver =
    std::function<void(int64_t layer, ResidualBlock block, const float* h, const float* u, int64_t m, int64_t dim)>;

// CPU backend settings.
struct CpuOptions {
  int32_t n_threads = 1;  // worker threads (>= 1); results are bit-identical for any count
  kernels::PrefillPath prefill = kernels::PrefillPath::kOwnGemm;  // m > 1 matmuls
  // Jobs smaller than this (multiply-adds per task) use fewer workers; results
  // never depend on it. Tests set 1 so that every op really is split.
  int64_t min_work_per_task = kernels::kDefaultMinMacsPerTask;
  int32_t n_seq = 1;  // independent sequences, each with an n_ctx KV cache (>= 1)
  DType kv_type = DType::kF32;  // KV cache storage: F32, F16 or Q8_0 (kernels/kv_rows.h)
  int64_t stream_from_layer = -1;  // >= 0: layers from this one on are streamed (model/layer_streamer.h)
  // Non-empty: exactly these layers are streamed (ascending; overrides stream_from_layer).
  std::vector<int64_t> stream_layers = {};
  // Split forward pass (model/layer_split.h): the embedding and layers [0, F) run
  // in `front` (F = front->n_layers(), e.g. on a GPU); this context runs layers
  // [F, n_layers) and the output head on the hidden rows the front returns, and
  // holds the KV cache of its own layers only. Null: no split.
  std::shared_ptr<LayerFront> front = nullptr;
  // > 0: this context runs only layers [0, layer_end) and has no output head
  // (what CpuFront uses); ForwardBatch is then refused. -1: every layer.
  int64_t layer_end = -1;
};

// The CPU backend: SIMD kernels (runtime-dispatched) over a persistent thread
// pool; src/kernels/cpu holds the scalar reference it is tested against.
class LlamaContext final : public InferenceContext {
 public:
  // Tokens are processed in chunks of at most this many (model/forward_chunk.h).
  static constexpr int64_t kMaxBatch = kForwardChunkTokens;

  // n_ctx: KV cache length in tokens (> 0). It may exceed the model's trained
  // context_length; RoPE then extrapolates, which the caller decides to allow.
  static Result<std::unique_ptr<LlamaContext>> Create(const LlamaModel& model, int64_t n_ctx,
                                                       const CpuOptions& options = {});
  // The scratch a context allocates (memory().scratch), computed from the shape:
  //   kMaxBatch x (4 dim + 2 q_dim + 2 kv_dim + 2 ffn_dim) floats  (chunk rows)
  //   + n_threads gqa_group n_ctx floats (score rows) + n_threads head_dim floats (a typed
  //   cache's dequantized row; F32 reads the cache in place: 0) + 2 kMaxBatch int32.
  // Not counted: the matmul's activation buffers, which grow with the first call.
  static uint64_t ScratchBytes(const LlamaHParams& hp, int64_t n_ctx, int32_t n_threads, DType kv_type);

  Status ForwardBatch(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids, LogitsMode mode,
                      std::vector<float>* logits) override;

  int32_t n_seq() const override { return static_cast<int32_t>(seq_past_.size()); }
  int64_t seq_past(int32_t seq) const override { return seq_past_.at(static_cast<size_t>(seq)); }
  void TruncateSeq(int32_t seq, int64_t n) override;
  int64_t n_ctx() const override { return cache_.n_ctx(); }
  MemoryUse memory() const override;
  const LlamaModel& model() const override { return model_; }
  const char* backend_name() const override { return "cpu"; }
  int32_t n_threads() const { return pool_.size(); }

  bool SetProfile(OpProfile* profile) override;
  // Null unless CpuOptions::stream_from_layer asked for streaming.
  const LayerStreamer* streamer() const { return streamer_.get(); }
  // The layers this context computes: [layer_begin(), layer_end()).
  int64_t layer_begin() const { return layer_begin_; }
  int64_t layer_end() const { return layer_end_; }
  // Null unless CpuOptions::front split the pass.
  const LayerFront* front() const { return front_.get(); }

  // Calibration hook (null = none). Not for the hot path of normal inference.
  void SetMatMulObserver(MatMulObserver observer) { observer_ = std::move(observer); }
  void SetResidualObserver(ResidualObserver observer) { residual_observer_ = std::move(observer); }
  // Calibration: the final norm runs and the observer sees the classifier's input,
  // but the classifier is skipped (a fifth of a small model's forward flops: the
  // logits are not wanted); the logits are left as they were (zeros when new).
  void SetSkipClassifier(bool skip) { skip_classifier_ = skip; }

 private:
  LlamaContext(const LlamaModel& model, KvCache cache, const CpuOptions& options);
  friend class CpuFront;
  // One chunk (m <= kMaxBatch tokens; row i of sequence seq_[i] at position pos_[i]);
  // leaves the hidden rows after layer layer_end_ - 1 in x_. Fails only when the
  // front fails.
  Status ForwardChunk(const int32_t* tokens, int64_t m);
  void Layer(int64_t l, const LayerWeights& w, int64_t m);
  // Logits of m consecutive hidden rows into out [m][vocab].
  void Logits(const float* hidden, int64_t m, float* out);
  void Attention(int64_t l, int64_t m);
  // A rotated model (septet.rotation): x ← T(x) on each of m rows of rot.size() (no-op without).
  void Rotate(const std::optional<cpu::InputRotation>& rot, float* x, int64_t m);
  void MatMul(Op op, const cpu::WeightView& w, const float* x, int64_t m, float* y) {
    Timed(op, [&] { kernels::MatMul(w, x, m, y, &mm_); });
  }
  void MatMulGroup(Op op, std::initializer_list<kernels::MatMulJob> jobs, const float* x, int64_t m) {
    Timed(op, [&] { kernels::MatMulGroup(std::span<const kernels::MatMulJob>(jobs.begin(), jobs.size()), x, m, &mm_); });
  }
  // Runs fn; with a profile, adds its time to `op`, less the activation
  // quantization and pool waits inside it, which go to their own rows.
  template <class Fn>
  void Timed(Op op, const Fn& fn) {
    if (profile_ == nullptr) return fn();
    const uint64_t t0 = NowNs(), w0 = pool_.wait_ns(), q0 = mm_.quant_ns;
    fn();
    const uint64_t dw = pool_.wait_ns() - w0, dq = mm_.quant_ns - q0;
    profile_->Add(op, NowNs() - t0 - dw - dq);
    if (dw > 0) profile_->ns[static_cast<size_t>(Op::kPoolWait)] += dw;
    if (dq > 0) profile_->Add(Op::kActQuant, dq);
  }

  const LlamaModel& model_;
  KvCache cache_;
  std::vector<int64_t> seq_past_;  // [n_seq]
  std::vector<int32_t> seq_, pos_; // [kMaxBatch]: sequence and position of each chunk row
  std::vector<double> rope_cs_;    // [kMaxBatch][n_rot]: each chunk row's rotation (cpu::RopeAngles)
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
  std::vector<float> scores_;  // [n_threads][n_ctx], one row per worker
  std::vector<float> norm_;    // [kMaxBatch][dim]
  std::vector<float> kv_row_;  // [n_threads][head_dim]: a typed cache's row as floats (empty for F32)
  // The input rotations of a rotated model, by input width (empty when it is not rotated).
  std::optional<cpu::InputRotation> rot_dim_, rot_q_, rot_ffn_;
  ThreadPool pool_;
  kernels::MatMulContext mm_;
  MatMulObserver observer_;
  ResidualObserver residual_observer_;
  bool skip_classifier_ = false;
  OpProfile* profile_ = nullptr;
  std::unique_ptr<LayerStreamer> streamer_;
  std::shared_ptr<LayerFront> front_;
  int64_t layer_begin_ = 0, layer_end_ = 0;  // layers computed here; the cache holds these only
};

}  // namespace septet::model
