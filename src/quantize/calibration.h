// Calibration statistics: the F32 (as stored) model runs over a calibration text and
// the matmul-input observer (model/llama_context.h) accumulates, for every
// (layer, input) pair — each feeds one or more weight matrices — over the N token
// rows x ∈ R^cols it sees:
//   importance  a_i  = (1/N) Σ x_i²          (per input channel; quant from_float's imp)
//   Hessian     H_ij = (1/N) Σ x_i x_j       (the GPTQ proxy of the layer-output error)
// H is kept in double, cols² entries per input (stories260K: 4 · 64² + 172² per layer);
// it is only accumulated when asked for (GPTQ). Per layer and residual block it also keeps
// the block's share of the residual stream, the mean over tokens of ‖u‖² / ‖h‖² (u the
// block's output, h the residual it is added to; tokens with h = 0 are skipped): how large
// a relative change of the block's output is, relative to the stream the next layers read.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "model/llama_context.h"
#include "model/llama_model.h"

namespace septet::quantize {

struct InputStats {
  int64_t cols = 0;
  int64_t rows_seen = 0;                  // N
  std::vector<double> sum_sq;             // [cols]
  std::vector<double> xtx;                // [cols][cols] (lower triangle while accumulating), empty without H
  std::vector<float> Importance() const;  // mean x² [cols]
  std::vector<double> Hessian() const;    // full symmetric (1/N) XᵀX; empty without H
};

struct CalibrationOptions {
  int64_t n_ctx = 512;     // tokens per window, BOS first
  int64_t max_tokens = 0;  // text tokens used (0: all)
  bool hessian = true;     // accumulate XᵀX for GPTQ
  int32_t threads = 1;     // forward-pass workers (the statistics do not depend on it)
  // Called after each window: (tokens done, tokens total).
  std::function<void(int64_t, int64_t)> progress;
};

class Calibration {
 public:
  // layer -1 for kOutput.
  const InputStats* Find(int64_t layer, model::MatMulInput input) const;
  // The block's share of the residual stream (above); -1 when the block was not seen.
  double UpdateShare(int64_t layer, model::ResidualBlock block) const;
  // Frees s's XᵀX (a quantizer done with every tensor that reads s); its Hessian() is
  // empty from then on. For a 7B model the XᵀX of all layers is ~17 GB.
  void ReleaseHessian(const InputStats* s);
  int64_t tokens() const { return tokens_; }
  int64_t windows() const { return windows_; }

  // Runs `model` over `tokens` (the text's ids without BOS) in windows of
  // options.n_ctx - 1 text tokens, each window starting with `bos` (when >= 0).
  static Result<Calibration> Collect(const model::LlamaModel& model, const std::vector<int32_t>& tokens, int32_t bos,
                                     const CalibrationOptions& options);

 private:
  std::map<std::pair<int64_t, int>, InputStats> stats_;
  std::map<std::pair<int64_t, int>, std::pair<double, int64_t>> shares_;  // Σ ‖u‖²/‖h‖², tokens
  int64_t tokens_ = 0;
  int64_t windows_ = 0;
};

// FNV-1a 64 of a byte string (identifies the calibration text in the output metadata).
uint64_t Fnv1a64(const void* data, size_t n);

}  // namespace septet::quantize
