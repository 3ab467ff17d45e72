// Perplexity and KL-divergence of a model over a text (docs/quality.md has the method).
//
// The text's tokens (without BOS) are cut into chunks of n_ctx consecutive tokens; in
// each chunk the first token is replaced by BOS (when the model has one), the chunk is
// evaluated from an empty KV cache, and the positions j = n_ctx/2 .. n_ctx-2 are scored:
// NLL_j = -log softmax(logits_j)[token_{j+1}]. Only the second half is scored, so
// every scored token has at least n_ctx/2 tokens of context. (score_from = 0 scores
// every position instead: one chunk per document, as whole-document references do.)
//
//   PPL = exp(mean NLL), SE(PPL) = PPL · sd(NLL) / sqrt(N)   (delta method)
//
// With a base log-probability file (logits_file.h) the same positions also give
//   KLD_j = Σ_v p_base(v) (log p_base(v) − log p(v)),
// reported as mean ± sd/sqrt(N), median, 99th percentile (nearest rank), max, and the
// top-1 agreement (argmax equal; SE sqrt(f(1−f)/N)), plus the base model's PPL and the
// mean of NLL − NLL_base (= ln(PPL / PPL_base)) with its SE.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/llama_model.h"

namespace septet::eval {

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t max_chunks = 0;  // 0: every whole chunk of the text
  int64_t score_from = -1; // first scored position j of each chunk; -1: n_ctx / 2
  std::string backend = "cpu";
  int32_t threads = 1;
  // CPU prompt matmuls: "own" (the engine's GEMM, what generation runs) or
  // "blas" (one single-threaded OpenBLAS sgemm per task; the same bits for any
  // thread count). Own is the default: on the SmolLM2 F32 base it measured 26-28 s
  // against 34 s for blas (docs/benchmarks.md §0).
  std::string prefill = "own";
  DType kv_type = DType::kF32;  // KV cache storage (runtime/backend.h)
  std::vector<int64_t> stream_layers;  // layers streamed from the file (runtime/placement.h); empty: none
  int64_t gpu_layers = 0;              // layers [0, gpu_layers) on the CUDA device (runtime/backend.h)
  std::string save_logits;  // write the base log-probabilities here
  std::string kl_base;      // read base log-probabilities from here (KL mode)
  bool force = false;       // overwrite save_logits
  // After each chunk: (chunks done, chunks total, running PPL).
  std::function<void(int64_t, int64_t, double)> progress;
};

struct MeanSe {
  double mean = 0, se = 0;
};

struct PerplexityResult {
  int64_t text_tokens = 0, n_ctx = 0, chunks = 0, scored = 0;
  MeanSe nll;
  double ppl = 0, ppl_se = 0;
  bool has_kl = false;
  double base_ppl = 0, base_ppl_se = 0;
  MeanSe ln_ppl_ratio;  // mean(NLL - NLL_base)
  MeanSe kld;
  double kld_median = 0, kld_p99 = 0, kld_max = 0;
  MeanSe top1;  // fraction in [0, 1]
};

// text_tokens: the whole text encoded without BOS; bos: the model's BOS id or -1.
Result<PerplexityResult> EvaluatePerplexity(const model::LlamaModel& model, const std::vector<int32_t>& text_tokens,
                                            int32_t bos, const PerplexityOptions& options);

// Mean and standard error of the mean (sample sd / sqrt(n)) of xs.
MeanSe MeanAndSe(const std::vector<double>& xs);
// Nearest-rank percentile (q in (0, 1]) of xs (sorted copy).
double Percentile(std::vector<double> xs, double q);

}  // namespace septet::eval
