// The model quantizer behind `septet quantize`: reads any model septet loads, converts
// every tensor to the type the policy gives it, optionally calibrated (importance and
// GPTQ), and writes a self-contained GGUF (tokenizer included). See docs/quantization.md.
//
// Policy (defaults; --keep PATTERN=TYPE overrides, first matching pattern wins):
//   * 1-D tensors (norms): F32.
//   * token_embd.weight and output.weight: Q6_K (as llama.cpp writes its heads) when the
//     target has fewer bits and the rows are whole 256-weight blocks, else Q8_0, or the
//     target type itself when that has at least 8.5 bpw (F16, F32).
//   * the 2-D matmul weights blk.*.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight:
//     the target type.
//   * any other tensor: kept as F32.
//   * --mix-bpw B (with calibration): the matmul weights above (not --keep'd) may instead
//     get Q4_G or Q8_0, chosen by measured output error per bit within B bpw on average.
// "Quantized tensors" in the bpw report are the ones that received the target type (with
// --mix-bpw: every matmul weight the mix chose for, whatever its type).
//
// Output bytes depend only on the input file, the flags and the calibration text —
// never on the thread count or the paths (only base names are recorded).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace septet::quantize {

struct QuantizeOptions {
  std::string input;
  std::string output;
  std::string tokenizer_path;     // llama2.c input: the tokenizer to embed (default: beside the model)
  std::string type = "Q3P5";      // a WritableTypeNames() type (quant/registry.h) or RTN3_G64
  std::vector<std::string> keep;  // "PATTERN=TYPE" ('*' and '?' wildcards over tensor names)
  std::string calib_path;         // empty: no calibration
  int64_t calib_ctx = 0;          // 0: min(512, the model's context length)
  int64_t calib_max_tokens = 0;   // 0: every token of the calibration text
  bool gptq = true;               // with calibration: GPTQ (else importance-weighted rounding only)
  double gptq_damp = 0.1;  // SmolLM2-135M: 0.1 beat 0.01 for Q3P5 and Q4_G (docs/quality.md)
  // GPTQ in decreasing diag(H) column order with the groups fitted up front (gptq.h).
  bool gptq_act_order = false;
  // GPTQ on Q3P5 / Q4_G: rounds of the least-squares (d, m) refit of quantize/refit.h;
  // round k > 1 first re-rounds the codes by GPTQ on the grids of round k - 1, and a row
  // keeps whichever round gave it the lowest output error. 0: off.
  int refit = 0;
  // 2 (with calibration and GPTQ): "sequential" statistics in two passes. Pass 1 writes
  // the model with importance-weighted rounding only (no GPTQ, no mix) to a temporary
  // file beside the output; the calibration text is then run through *that* model, so
  // each layer's statistics are of the inputs it sees when every layer before it is
  // quantized, and pass 2 (GPTQ, mix, refit) uses them. 1: one pass on the input model.
  int calib_passes = 1;
  // A model file run over the calibration text instead of the input (same architecture
  // and tokenizer); pass 2 above sets it. Empty: the input model.
  std::string calib_model;
  // > 0 (needs calibration): the average bpw of the matmul weights. Each one the default
  // policy gives the target type is also converted to Q4_G and Q8_0 (those wider than the
  // target) when the target fits B, else to Q3P5_NL (when narrower than the target), its
  // output error measured on the calibration statistics and weighted by its block's share
  // of the residual stream, and ChooseMix picks the types, starting from the target
  // (docs/quantization.md §Mixes).
  double mix_bpw = 0;
  // --mix-bpw moving down to Q3P5_NL: false (the default) quantizes every tensor in the
  // target only, predicts its Q3P5_NL error as kMixNarrowErrorRatio times the target's
  // measured one, and quantizes only the tensors the choice moves down; true quantizes
  // and measures every tensor in both types before choosing (slower).
  bool mix_measure_all = false;
  // Rotate the input dimension of every layer's matmul weights by the Hadamard
  // transform of kernels/cpu/hadamard.h before quantizing them (the calibration
  // statistics are rotated with them) and mark the file "septet.rotation" =
  // "hadamard-v1", so that the forward pass rotates the inputs to match.
  bool rotate = false;
  int threads = 1;
  bool force = false;
  // Progress: (weights done, weights total, current tensor name).
  std::function<void(int64_t, int64_t, const std::string&)> progress;
  // One line per event (tensor done, calibration finished, ...), without a newline.
  std::function<void(const std::string&)> log;
};

struct TensorReport {
  std::string name;
  std::string type;  // as stored ("F32" for the RTN3_G64 baseline's dequantized values)
  std::vector<int64_t> shape;
  uint64_t bytes = 0;       // stored bytes
  double bits = 0;          // all-in bits (nominal for RTN3_G64)
  bool target = false;      // received the target type
  std::string method;       // "copy", "round", "importance", "gptq"
  double rel_err = 0;       // ||W - Q||_F / ||W||_F
  double rel_out_err = -1;  // tr(E H Eᵀ) / tr(W H Wᵀ) with calibration (output error), else -1
  // --mix-bpw: the weight of rel_out_err in the choice, the block's share of the residual
  // stream (Calibration::UpdateShare); -1 for a tensor the mix did not choose.
  double mix_weight = -1;
};

struct QuantizeReport {
  std::string type;
  uint64_t file_bytes = 0;
  int64_t params_all = 0, params_target = 0;
  double bits_all = 0, bits_target = 0;
  double bpw_all() const { return params_all ? bits_all / static_cast<double>(params_all) : 0; }
  double bpw_target() const { return params_target ? bits_target / static_cast<double>(params_target) : 0; }
  int64_t calib_tokens = 0;
  std::string method;
  std::vector<TensorReport> tensors;
};

// The type names --type accepts, for messages.
const char* QuantizeTypeList();

Result<QuantizeReport> QuantizeModel(const QuantizeOptions& options);

// One way to store one tensor: its bits and its measured error (the relative output
// error tr(E H Eᵀ) / tr(W H Wᵀ) on the calibration text, times the share of the residual
// stream the tensor's block writes: a relative change of the block's output changes the
// stream the next layers read by about that much, relative to its size).
struct MixOption {
  double bits = 0;
  double error = 0;
};

// Per tensor, options[t] in increasing bits; start[t] is the starting choice (the target
// type). Two greedy phases, each move one tensor's option:
//   1. while Σ bits > budget_bits: the move to a narrower option with the smallest error
//      increase per saved bit (the least sensitive tensor gives up bits first);
//   2. then, while a move fits: the move to a wider option with the largest error
//      reduction per added bit; stops when no move fits the budget or reduces the error.
// Ties go to the lower tensor index, then the cheaper option (deterministic). Returns the
// option index per tensor; Σ bits <= budget_bits whenever the narrowest options fit it.
std::vector<int> ChooseMix(const std::vector<std::vector<MixOption>>& options, const std::vector<int>& start,
                           double budget_bits);
// The same starting from options[t][0] everywhere (phase 2 only).
std::vector<int> ChooseMix(const std::vector<std::vector<MixOption>>& options, double budget_bits);

// For tensors with two options each, {narrower, start}, starting at options[t][1] with
// Σ start bits = start_bits over *all* tensors: true when ChooseMix(options + any tensors
// after them, start, budget_bits) cannot end with tensor t at its narrower option,
// knowing only the tensors seen so far (`seen`, the first ones in index order). Phase 1
// moves tensors down in its order (largest value first, ties to the lower index) until
// Σ bits <= budget_bits, and phase 2 only moves up: once the seen tensors before t in
// that order save enough, t is never moved down, whatever follows. The quantizer frees
// such a tensor's statistics before the choice.
bool MixNeverMovesDown(const std::vector<std::vector<MixOption>>& seen, size_t t, double start_bits,
                       double budget_bits);

// --mix-bpw moving down without mix_measure_all: a tensor's predicted Q3P5_NL output
// error, in multiples of its measured error in the target type. With two candidates per
// tensor ChooseMix's choice is the same for any ratio above 1 (every move's value scales
// by ratio - 1); the value is the median ratio measured on SmolLM2-135M's 210 matmul
// weights against Q4_T (3.17-4.06, docs/quantization.md §Mixes), so that the log's
// predicted errors are of the right size.
inline constexpr double kMixNarrowErrorRatio = 3.6;

// Glob match with '*' (any run) and '?' (one character).
bool GlobMatch(const std::string& pattern, const std::string& text);

}  // namespace septet::quantize
