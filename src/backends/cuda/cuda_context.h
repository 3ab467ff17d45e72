// The CUDA backend: the inference state of n_seq sequences on a GPU, behind the same
// model::InferenceContext interface as the CPU LlamaContext (runtime::CreateContext
// with backend "cuda" makes one).
//
// What lives on the device (uploaded once, at creation):
//   * every weight matrix in its stored / compute type, byte for byte (rows re-pitched
//     to 16 bytes), the norm vectors (F32) and the RoPE inverse frequencies (double);
//   * the KV cache: K and V planes [n_layers][n_seq][n_ctx][kv_dim] in fp32, as on the CPU;
//   * scratch for one chunk of up to kMaxChunk tokens.
// Per ForwardBatch call, only token ids, positions and sequence ids go up and logits
// come back.
//
// Arithmetic (docs in kernels.h / gemm.h; tolerances derived in the *_test.cc files):
//   * decode and short chunks (m < gemm_min_tokens): the activation is quantized on
//     the device to the weight type's vec_dot_type exactly as the CPU does (Q8_A / Q8_R,
//     identical codes and scales) and the matvec kernels do the registry's integer dot
//     per 32-weight unit; float weights (F32/F16/BF16) use fp32 accumulation (the CPU
//     reference accumulates in double);
//   * chunks of m >= gemm_min_tokens: cuBLAS (gemm.h): fp32 SGEMM for F32/BF16,
//     fp16 x fp16 -> fp32 for F16 and for quantized weights dequantized into fp16 tiles;
//   * RMSNorm, RoPE, SwiGLU in double like the reference; attention in fp32 (online
//     softmax) over the device KV cache.
// Greedy decoding therefore follows the CPU backend token for token on real models,
// up to near-ties of the top two logits (checked on stories260K by the GPU tests).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "model/inference_context.h"
#include "model/layer_front.h"
#include "model/llama_model.h"

namespace septet::cuda {

struct CudaContextOptions {
  // Chunks of at least this many tokens run their matmuls through cuBLAS; shorter
  // ones (decode, short prompts) use the INT8 / fp32 matvec kernels. >= 1.
  int64_t gemm_min_tokens = 16;
  int device = 0;  // CUDA device ordinal
  // Tokens per chunk (1 .. CudaContext::kMaxChunk); smaller values exist for tests.
  int64_t max_chunk = 512;
  int32_t n_seq = 1;  // independent sequences, each with an n_ctx KV cache (>= 1)
  // -1: the whole model. 0 < n < n_layers: a front (model/layer_split.h) that holds
  // token_embd and layers [0, n) only, no output head; ForwardHidden runs it and
  // ForwardBatch is refused.
  int64_t front_layers = -1;
};

class CudaContext final : public model::InferenceContext {
 public:
  // Tokens are processed in chunks of at most this many (bounds the scratch).
  static constexpr int64_t kMaxChunk = 512;
  // kLogitsMode::kAll computes logits for at most this many rows at a time.
  static constexpr int64_t kMaxLogitsRows = 64;

  // kUnsupported "no CUDA device: ..." without a usable GPU; kUnsupported for a model
  // this backend cannot run (head_dim > 256, a weight type without a kernel);
  // kInvalidArgument for n_ctx <= 0 or when the device lacks the memory (the message
  // gives the bytes needed and free).
  static Result<std::unique_ptr<CudaContext>> Create(const model::LlamaModel& model, int64_t n_ctx,
                                                     const CudaContextOptions& options);
  ~CudaContext() override;

  Status ForwardBatch(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids, model::LogitsMode mode,
                      std::vector<float>* logits) override;
  int32_t n_seq() const override { return static_cast<int32_t>(seq_past_.size()); }
  int64_t seq_past(int32_t seq) const override { return seq_past_.at(static_cast<size_t>(seq)); }
  void TruncateSeq(int32_t seq, int64_t n) override;
  int64_t n_ctx() const override { return n_ctx_; }
  // Device memory: the uploaded weights, the KV cache and the scratch.
  model::MemoryUse memory() const override;
  const model::LlamaModel& model() const override { return model_; }
  const char* backend_name() const override { return "cuda"; }

  // A front's chunk (CudaContextOptions::front_layers): row i is tokens[i] of
  // sequence seq[i] at position pos[i] (validated by the caller; m <= the chunk
  // size). Embeds, runs the front's layers, stores their K and V and copies the
  // hidden rows [m][dim] to `hidden` (host memory). seq_past is not tracked here.
  Status ForwardHidden(std::span<const int32_t> tokens, std::span<const int32_t> seq, std::span<const int32_t> pos,
                       float* hidden);
  // Layers uploaded and run: front_layers, or every layer.
  int64_t n_layers_run() const;
  int64_t max_chunk() const;

  struct State;  // device buffers, stream, cuBLAS handle (cuda_context.cc)

 private:
  CudaContext(const model::LlamaModel& model, int64_t n_ctx, std::unique_ptr<State> state);
  Status ForwardChunks(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids,
                       const model::BatchPlan& plan, std::vector<float>* logits);
  // Uploads the chunk's meta (State::meta_host, m rows), embeds and runs the
  // uploaded layers on the stream; leaves the hidden rows in State::x.
  Status EmbedAndLayers(int64_t m);

  const model::LlamaModel& model_;
  int64_t n_ctx_ = 0;
  std::vector<int64_t> seq_past_;  // [n_seq]
  std::unique_ptr<State> s_;
};

// The factory entry point (runtime/backend.cc): default options but n_seq.
Result<std::unique_ptr<model::InferenceContext>> CreateCudaContext(const model::LlamaModel& model, int64_t n_ctx,
                                                                   int32_t n_seq = 1);

// The front of a split pass (--gpu-layers n, model/layer_split.h): token_embd and
// layers [0, n) on device 0, in chunks of up to `chunk` tokens. kUnsupported "no
// CUDA device: ..." without a GPU.
Result<std::unique_ptr<model::LayerFront>> CreateCudaFront(const model::LlamaModel& model, int64_t n_layers,
                                                           int64_t n_ctx, int32_t n_seq, int64_t chunk);

}  // namespace septet::cuda
