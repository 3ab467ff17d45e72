#include "perf/model_bench.h"

#include <chrono>
#include <cinttypes>
#include <random>

#include "runtime/backend.h"

namespace septet::perf {
namespace {

uint64_t ViewBytes(const cpu::WeightView& w) { return static_cast<uint64_t>(w.rows) * w.row_bytes; }
uint64_t ViewParams(const cpu::WeightView& w) { return static_cast<uint64_t>(w.rows * w.cols); }

template <typename Fn>
uint64_t SumMatMuls(const model::LlamaModel& m, const Fn& fn) {
  const model::LlamaWeights& w = m.weights();
  uint64_t total = fn(w.output);
  for (const model::LayerWeights& l : w.layers) {
    for (const cpu::WeightView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) total += fn(*v);
  }
  return total;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

uint64_t MatMulWeightBytes(const model::LlamaModel& model) { return SumMatMuls(model, ViewBytes); }
uint64_t MatMulParams(const model::LlamaModel& model) { return SumMatMuls(model, ViewParams); }

Result<std::vector<TestResult>> RunModelBench(const model::LlamaModel& model, const ModelBenchOptions& o,
                                              std::string* backend_name) {
  if (o.n_prompt < 0) return InvalidArgument("-p: %" PRId64 " prompt tokens; expected >= 0", o.n_prompt);
  if (o.n_gen < 0) return InvalidArgument("-n: %" PRId64 " generated tokens; expected >= 0", o.n_gen);
  if (o.n_prompt == 0 && o.n_gen == 0) return InvalidArgument("-p and -n are both 0: nothing to measure");
  if (o.repetitions < 1) return InvalidArgument("-r: %d repetitions; expected >= 1", o.repetitions);
  if (o.n_threads < 1) return InvalidArgument("-t: %d threads; expected >= 1", o.n_threads);
  if (o.n_batch < 1) return InvalidArgument("-b: batch of %d sequences; expected >= 1", o.n_batch);
  const int64_t n_ctx = std::max<int64_t>(o.n_prompt, o.n_gen) + 1;
  runtime::BackendOptions bo;
  bo.backend = o.backend;
  bo.n_threads = o.n_threads;
  bo.n_seq = o.n_gen > 0 ? o.n_batch : 1;
  bo.prefill = o.prefill;
  bo.kv_type = o.kv_type;
  bo.stream_from_layer = o.stream_from_layer;
  bo.stream_layers = o.stream_layers;
  bo.gpu_layers = o.gpu_layers;
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<model::InferenceContext> ctx, runtime::CreateContext(model, n_ctx, bo));
  if (backend_name != nullptr) *backend_name = ctx->backend_name();

  // Random token ids (llama-bench does the same): content does not change the work.
  const int64_t vocab = model.hparams().vocab;
  std::mt19937_64 rng(o.seed);
  std::vector<int32_t> tokens(static_cast<size_t>(std::max<int64_t>(o.n_prompt, o.n_gen)));
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  std::vector<float> logits;

  {  // warm-up (before profiling starts): faults in the weights, sizes the scratch
    SEPTET_RETURN_IF_ERROR(ctx->Forward(std::span<const int32_t>(tokens.data(), 1), model::LogitsMode::kLast, &logits));
    ctx->Truncate(0);
  }
  model::OpProfile profile;
  if (o.profile && !ctx->SetProfile(&profile)) {
    return Unsupported("--profile: the %s backend has no per-op timing", ctx->backend_name());
  }
  // Moves what the profile gathered since the last call into t.
  const auto take_profile = [&](TestResult* t) {
    if (!o.profile) return;
    t->profiled = true;
    t->profile = profile;
    profile.Clear();
  };
  std::vector<TestResult> out;
  if (o.n_prompt > 0) {
    std::vector<double> secs;
    for (int32_t r = 0; r < o.repetitions; ++r) {
      ctx->Truncate(0);
      const auto t0 = std::chrono::steady_clock::now();
      SEPTET_RETURN_IF_ERROR(ctx->Forward(std::span<const int32_t>(tokens.data(), static_cast<size_t>(o.n_prompt)),
                                          model::LogitsMode::kLast, &logits));
      secs.push_back(Seconds(t0));
    }
    TestResult t;
    t.test = "pp" + std::to_string(o.n_prompt);
    t.n_tokens = o.n_prompt;
    t.memory = ctx->memory();
    std::vector<double> tps;
    for (double s : secs) tps.push_back(static_cast<double>(o.n_prompt) / s);
    t.seconds = Summarize(secs);
    t.tok_per_s = Summarize(tps);
    take_profile(&t);
    out.push_back(t);
  }
  if (o.n_gen > 0) {
    const int32_t b = ctx->n_seq();
    std::vector<int32_t> seq_ids(static_cast<size_t>(b)), step(static_cast<size_t>(b));
    for (int32_t q = 0; q < b; ++q) seq_ids[static_cast<size_t>(q)] = q;
    std::vector<double> secs;
    for (int32_t r = 0; r < o.repetitions; ++r) {
      for (int32_t q = 0; q < b; ++q) ctx->TruncateSeq(q, 0);
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < o.n_gen; ++i) {
        // Sequence q decodes the id stream shifted by q (different tokens, same work).
        for (int32_t q = 0; q < b; ++q) {
          step[static_cast<size_t>(q)] = tokens[static_cast<size_t>((i + q) % o.n_gen)];
        }
        SEPTET_RETURN_IF_ERROR(ctx->ForwardBatch(step, seq_ids, model::LogitsMode::kLast, &logits));
      }
      secs.push_back(Seconds(t0));
    }
    TestResult t;
    t.test = "tg" + std::to_string(o.n_gen);
    t.n_tokens = o.n_gen;
    t.batch = b;
    t.memory = ctx->memory();
    std::vector<double> tps;
    for (double s : secs) tps.push_back(static_cast<double>(o.n_gen) * b / s);
    t.seconds = Summarize(secs);
    t.tok_per_s = Summarize(tps);
    const double kv_per_pos =
        static_cast<double>(ctx->kv_cache_bytes()) / static_cast<double>(ctx->n_ctx() * static_cast<int64_t>(b));
    t.bytes_per_token = static_cast<double>(MatMulWeightBytes(model)) / b +
                        kv_per_pos * static_cast<double>(o.n_gen + 1) / 2.0;
    t.gbs = t.bytes_per_token * t.tok_per_s.median / 1e9;
    take_profile(&t);
    out.push_back(t);
  }
  for (int32_t q = 0; q < ctx->n_seq(); ++q) ctx->TruncateSeq(q, 0);
  ctx->SetProfile(nullptr);
  return out;
}

}  // namespace septet::perf
