// The front of a split forward pass (model/layer_split.h): something that runs the
// token embedding and layers [0, n_layers()) of a chunk of tokens and hands back
// the hidden rows. The CPU LlamaContext runs the remaining layers and the output
// head on them (CpuOptions::front). The CUDA backend provides one
// (cuda::CreateCudaFront); CpuFront below is a CPU implementation, which makes
// the host-side split testable without a device: a split run through it must
// give the unsplit context's logits bit for bit.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/status.h"
#include "model/inference_context.h"
#include "model/llama_model.h"

namespace septet::model {

class LlamaContext;

class LayerFront {
 public:
  virtual ~LayerFront() = default;
  // Layers this front runs: [0, n_layers()).
  virtual int64_t n_layers() const = 0;
  // Runs one chunk: row i is token tokens[i] of sequence seq[i] at position pos[i]
  // (the caller validated them; positions of a sequence are consecutive after
  // what it stored before, or overwrite positions the caller truncated). Writes
  // hidden [m][dim], the residual stream after layer n_layers() - 1, and stores
  // the rows' K and V in the front's own cache. m <= the caller's chunk size.
  virtual Status Run(std::span<const int32_t> tokens, std::span<const int32_t> seq, std::span<const int32_t> pos,
                     float* hidden) = 0;
  // Memory on the front's device (weights, KV cache, scratch).
  virtual MemoryUse memory() const = 0;
  virtual const char* device_name() const = 0;
};

// A front on the CPU: a LlamaContext restricted to layers [0, n_layers).
// For tests of the split (a stand-in for the device) and as the reference.
class CpuFront final : public LayerFront {
 public:
  // n_layers in [1, model layers]; n_ctx, n_seq as the host context's.
  static Result<std::unique_ptr<CpuFront>> Create(const LlamaModel& model, int64_t n_layers, int64_t n_ctx,
                                                  int32_t n_seq, int32_t n_threads);
  ~CpuFront() override;
  int64_t n_layers() const override { return n_layers_; }
  Status Run(std::span<const int32_t> tokens, std::span<const int32_t> seq, std::span<const int32_t> pos,
             float* hidden) override;
  MemoryUse memory() const override;
  const char* device_name() const override { return "cpu"; }

 private:
  CpuFront() = default;
  int64_t n_layers_ = 0;
  std::unique_ptr<LlamaContext> ctx_;
};

}  // namespace septet::model
