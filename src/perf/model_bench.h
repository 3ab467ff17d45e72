// Whole-model benchmark in the manner of llama-bench: prompt processing (pp: n
// tokens in one Forward) and text generation (tg: n tokens one Forward each),
// from an empty KV cache, repeated, with tokens/s as median and spread. Batched
// text generation (tg with n_batch = B > 1) decodes B sequences together, one
// token of each per ForwardBatch call; its tokens/s is the aggregate, B * n / time.
//
// Bytes per decode token (what a decode step must read; bandwidth-bound decoding
// runs at bandwidth / this):
//   weights: Σ rows · row_bytes over every matmul (q, k, v, o, gate, up, down of
//            every layer and the output head), in the types the forward pass uses
//            (after any load-time --type conversion). The embedding lookup reads
//            one row and is ignored; norm vectors are negligible and ignored.
//   KV cache: a token at position p reads K and V of positions 0..p of every layer
//            of its sequence, (p + 1) · kv_bytes_per_position; a tg run over
//            positions 0..n-1 averages (n + 1) / 2 positions.
// With B sequences per step the weights are read once for B tokens:
//   bytes per token = weights / B + average KV read.
// Achieved GB/s = bytes per token × tokens/s (median). Dividing by the read
// bandwidth measured on the same machine and thread count (perf/bandwidth.h) says
// how close decoding is to the memory-bound limit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/inference_context.h"
#include "model/llama_model.h"
#include "model/op_profile.h"
#include "perf/stats.h"

namespace septet::perf {

struct ModelBenchOptions {
  int64_t n_prompt = 512;  // pp test (0: skip)
  int64_t n_gen = 128;     // tg test (0: skip)
  int32_t repetitions = 5;
  int32_t n_threads = 1;
  std::string backend = "cpu";
  uint64_t seed = 1;       // the random token ids
  int32_t n_batch = 1;     // sequences decoded together in tg (>= 1; pp ignores it)
  bool profile = false;    // per-op time breakdown of the timed repetitions (CPU backend)
  std::string prefill = "own";  // CPU prompt matmuls: own or blas (runtime::BackendOptions)
  DType kv_type = DType::kF32;  // KV cache storage (runtime/backend.h)
  int64_t stream_from_layer = -1;  // >= 0: stream layers from this one on (model/layer_streamer.h)
  std::vector<int64_t> stream_layers = {};  // non-empty: stream exactly these (MemoryPlan::streamed)
  int64_t gpu_layers = 0;          // > 0: the first layers on the CUDA device (model/layer_split.h)
};

struct TestResult {
  std::string test;  // "pp512", "tg128"
  int64_t n_tokens = 0;  // per sequence
  int32_t batch = 1;     // sequences per step (tg)
  Summary tok_per_s;  // over repetitions
  Summary seconds;
  double bytes_per_token = 0;  // tg only: weights + average KV read; 0 for pp
  double gbs = 0;              // tg only: bytes_per_token * median tok/s / 1e9
  model::MemoryUse memory;     // what the context held on its device
  bool profiled = false;       // profile holds the timed repetitions' per-op times
  model::OpProfile profile;
};

// The weight bytes a decode step reads (see above).
uint64_t MatMulWeightBytes(const model::LlamaModel& model);
// Parameters of those matrices.
uint64_t MatMulParams(const model::LlamaModel& model);

// With options.profile, the timed repetitions run with per-op timing (a clock
// read per op, a few microseconds per token); an error if the backend cannot.
// Runs pp then tg on a fresh context of n_prompt + n_gen tokens (after one untimed
// warm-up token, which also faults in mapped weights). Errors name the option.
Result<std::vector<TestResult>> RunModelBench(const model::LlamaModel& model, const ModelBenchOptions& options,
                                              std::string* backend_name = nullptr);

}  // namespace septet::perf
