// septet bench: whole-model prompt-processing (pp) and decode (tg) speed, with the
// memory bandwidth probe measured in the same run (src/perf/; on the GPU a
// device-to-device copy). Several models in one run are the point: same machine,
// same threads, ratios in the last column. -b adds batched decoding (B sequences
// per step): the aggregate tokens/s curve up to saturation.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_placement.h"
#include "core/dtype.h"
#include "io/model_file.h"
#include "model/llama_model.h"
#include "perf/bandwidth.h"
#include "perf/model_bench.h"
#include "quant/registry.h"
#include "runtime/backend.h"

namespace septet::cli {
namespace {

struct BenchFlags {
  std::vector<std::string> models;
  std::vector<int64_t> n_prompt{512}, n_gen{128};
  std::vector<int32_t> threads{1};
  std::vector<int32_t> batch{1};
  int32_t reps = 5;
  std::string backend = "cpu", type, output = "md", kv_type = "f32";
  MemoryFlags memory;
  int64_t bw_mib = 512;
  uint64_t seed = 1;
  bool profile = false;
  std::string prefill = "own";
};

struct Row {
  std::string model, path, type, backend, test;
  double bpw = 0;
  uint64_t weight_bytes = 0;
  int32_t threads = 0;
  bool synthetic = false;
  perf::TestResult r;
  double bw_fraction = 0;  // of the bandwidth probe (0: not measured)
  double vs_first = 0;     // t/s relative to the first model, same test and threads
};

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

nlohmann::json SummaryJson(const perf::Summary& s) {
  return {{"median", s.median}, {"mean", s.mean}, {"min", s.min}, {"max", s.max}, {"stddev", s.stddev}, {"n", s.n}};
}

// Per token (per generated token of each sequence for tg, per prompt token for pp).
double PerTokenMs(const perf::TestResult& r, uint64_t ns) {
  const double tokens = static_cast<double>(r.n_tokens) * r.batch * static_cast<double>(r.tok_per_s.n);
  return tokens > 0 ? static_cast<double>(ns) / 1e6 / tokens : 0.0;
}

nlohmann::json ProfileJson(const perf::TestResult& r) {
  nlohmann::json ops = nlohmann::json::array();
  for (int i = 0; i < model::kOpCount; ++i) {
    ops.push_back({{"op", model::OpName(static_cast<model::Op>(i))},
                   {"ms_per_token", PerTokenMs(r, r.profile.ns[static_cast<size_t>(i)])},
                   {"calls", r.profile.calls[static_cast<size_t>(i)]}});
  }
  return {{"ms_per_token", PerTokenMs(r, r.profile.total_ns)}, {"ops", ops}};
}

void PrintProfile(const Row& r) {
  const model::OpProfile& p = r.r.profile;
  std::printf("\nprofile: %s %s, %d thread%s, batch %d: %.3f ms per token (all %d repetitions)\n\n", r.model.c_str(),
              r.r.test.c_str(), r.threads, r.threads == 1 ? "" : "s", r.r.batch, PerTokenMs(r.r, p.total_ns),
              static_cast<int>(r.r.tok_per_s.n));
  std::printf("| op | ms/token | %% of pass | calls/token |\n|---|---:|---:|---:|\n");
  const double tokens = static_cast<double>(r.r.n_tokens) * r.r.batch * static_cast<double>(r.r.tok_per_s.n);
  for (int i = 0; i < model::kOpCount; ++i) {
    const uint64_t ns = p.ns[static_cast<size_t>(i)], calls = p.calls[static_cast<size_t>(i)];
    std::printf("| %s | %.3f | %.1f%% | %s |\n", model::OpName(static_cast<model::Op>(i)), PerTokenMs(r.r, ns),
                p.total_ns ? 100.0 * static_cast<double>(ns) / static_cast<double>(p.total_ns) : 0.0,
                calls && tokens > 0 ? Fmt("%.1f", static_cast<double>(calls) / tokens).c_str() : "-");
  }
}

int RunBench(const BenchFlags& f) {
  auto kv_type = runtime::ParseKvType(f.kv_type);
  if (!kv_type.ok()) return std::fprintf(stderr, "septet: error: %s\n", kv_type.status().message().c_str()), kExitUsage;
  for (int64_t p : f.n_prompt) {
    if (p < 0) return std::fprintf(stderr, "septet: error: -p: %" PRId64 " is negative\n", p), kExitUsage;
  }
  for (int64_t n : f.n_gen) {
    if (n < 0) return std::fprintf(stderr, "septet: error: -n: %" PRId64 " is negative\n", n), kExitUsage;
  }
  const auto positive = [](int64_t v) { return v > 0; };
  if (std::none_of(f.n_prompt.begin(), f.n_prompt.end(), positive) &&
      std::none_of(f.n_gen.begin(), f.n_gen.end(), positive)) {
    std::fprintf(stderr, "septet: error: -p and -n are all 0: nothing to measure\n");
    return kExitUsage;
  }
  for (int32_t t : f.threads) {
    if (t < 1) return std::fprintf(stderr, "septet: error: -t: %d threads; expected >= 1\n", t), kExitUsage;
  }
  for (int32_t b : f.batch) {
    if (b < 1) return std::fprintf(stderr, "septet: error: -b: batch of %d sequences; expected >= 1\n", b), kExitUsage;
  }
  model::ModelOptions mo;
  if (!f.type.empty()) {
    const std::optional<DType> t = ParseDType(f.type);
    if (!t || GetTypeTraits(*t).is_activation_only) {
      std::fprintf(stderr, "septet: error: --type: '%s' is not a weight type\n", f.type.c_str());
      return kExitUsage;
    }
    mo.compute_type = *t;
  }
  if (f.backend == "cuda" && !runtime::CudaCompiledIn()) {
    std::fprintf(stderr, "septet: error: --backend cuda: this build has no CUDA backend (no nvcc at configure time)\n");
    return kExitFailure;
  }

  // Bandwidth first: host memory for the CPU backend (read probe, per thread count),
  // device memory for CUDA (device-to-device copy, read + written bytes).
  std::map<int32_t, perf::BandwidthResult> bw;
  std::optional<perf::Summary> gpu_bw;
  if (f.backend == "cuda" && f.bw_mib > 0) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(f.bw_mib, 1024)) << 20;  // >> any L2
    auto r = runtime::MeasureGpuCopyBandwidth(bytes, std::max(5, f.reps));
    if (!r.ok()) return std::fprintf(stderr, "septet: error: %s\n", r.status().message().c_str()), kExitFailure;
    gpu_bw = perf::Summarize(*r);
    std::fprintf(stderr, "septet: GPU bandwidth: device-to-device copy %.1f GB/s (%s per buffer, median of %zu)\n",
                 gpu_bw->median, HumanBytes(bytes).c_str(), r->size());
  }
  if (f.backend == "cpu" && f.bw_mib > 0) {
    for (int32_t t : f.threads) {
      perf::BandwidthOptions bo;
      bo.bytes = static_cast<size_t>(f.bw_mib) << 20;
      bo.n_threads = t;
      bo.repetitions = std::max(3, f.reps);
      auto r = perf::MeasureBandwidth(bo);
      if (!r.ok()) return std::fprintf(stderr, "septet: error: %s\n", r.status().message().c_str()), kExitFailure;
      std::fprintf(stderr, "septet: bandwidth %d thread%s: read %.2f GB/s, copy %.2f GB/s (%" PRId64 " MiB, median of %d)\n",
                   t, t == 1 ? "" : "s", r->read_gbs.median, r->copy_gbs.median, f.bw_mib, bo.repetitions);
      bw[t] = *r;
    }
  }

  std::vector<Row> rows;
  std::map<std::string, double> first;  // "test/threads" -> first model's median t/s
  for (const std::string& path : f.models) {
    // --mem-budget: the memory plan at the largest context and batch decides which layers stream.
    runtime::PlacementRequest pr;
    pr.n_ctx = std::max(*std::max_element(f.n_prompt.begin(), f.n_prompt.end()),
                        *std::max_element(f.n_gen.begin(), f.n_gen.end())) + 1;
    pr.n_seq = *std::max_element(f.batch.begin(), f.batch.end());
    pr.kv_type = *kv_type;
    pr.n_threads = *std::max_element(f.threads.begin(), f.threads.end());
    pr.converted = mo.compute_type.has_value();
    auto placed = PlanFromFlags(f.memory, path, pr);
    if (!placed.ok()) return ReportStatus(placed.status());
    model::ModelOptions model_opts = mo;
    placed->ApplyTo(&model_opts);
    auto m = model::LlamaModel::Load(path, model_opts);
    if (!m.ok()) return std::fprintf(stderr, "septet: error: %s\n", m.status().message().c_str()), kExitFailure;
    const model::LlamaModel& model = **m;
    const auto lock = LockFromFlags(f.memory, model, *placed);
    auto syn = model.file().metadata().GetBool("septet.synthetic");
    const bool synthetic = syn.ok() && *syn;
    const uint64_t wbytes = perf::MatMulWeightBytes(model), params = perf::MatMulParams(model);
    const std::string type(DTypeName(model.weights().layers.empty() ? model.weights().output.type
                                                                     : model.weights().layers[0].wq.type));
    std::fprintf(stderr, "septet: bench %s: %s, %" PRId64 " layers, dim %" PRId64 ", matmul weights %s%s\n",
                 path.c_str(), type.c_str(), model.hparams().n_layers, model.hparams().dim,
                 HumanBytes(wbytes).c_str(), synthetic ? " (synthetic: random weights, speed only)" : "");
    for (int32_t t : f.threads) {
      std::vector<perf::ModelBenchOptions> runs;
      for (int64_t p : f.n_prompt) {
        if (p > 0) runs.push_back({p, 0, f.reps, t, f.backend, f.seed, 1, f.profile, f.prefill});
      }
      for (int64_t n : f.n_gen) {
        for (int32_t b : f.batch) {
          if (n > 0) runs.push_back({0, n, f.reps, t, f.backend, f.seed, b, f.profile, f.prefill});
        }
      }
      for (perf::ModelBenchOptions& o : runs) {
        o.kv_type = *kv_type;
        o.stream_layers = placed->streamed;
        o.gpu_layers = placed->gpu_layers;
      }
      for (const perf::ModelBenchOptions& o : runs) {
        std::string backend;
        auto r = perf::RunModelBench(model, o, &backend);
        if (!r.ok()) return std::fprintf(stderr, "septet: error: %s\n", r.status().message().c_str()), kExitFailure;
        for (const perf::TestResult& tr : *r) {
          Row row;
          row.model = Basename(path);
          row.path = path;
          row.type = type;
          row.backend = backend;
          row.test = tr.test;
          row.bpw = params ? 8.0 * static_cast<double>(wbytes) / static_cast<double>(params) : 0;
          row.weight_bytes = wbytes;
          row.threads = t;
          row.synthetic = synthetic;
          row.r = tr;
          if (tr.gbs > 0 && bw.count(t)) row.bw_fraction = tr.gbs / bw[t].read_gbs.median;
          if (tr.gbs > 0 && gpu_bw) row.bw_fraction = tr.gbs / gpu_bw->median;
          const std::string key = tr.test + "/" + std::to_string(t) + "/" + std::to_string(tr.batch);
          if (!first.count(key)) first[key] = tr.tok_per_s.median;
          row.vs_first = first[key] > 0 ? tr.tok_per_s.median / first[key] : 0;
          rows.push_back(row);
          std::fprintf(stderr, "septet: %s t=%d %s b=%d: %.2f t/s\n", row.model.c_str(), t, tr.test.c_str(),
                       tr.batch, tr.tok_per_s.median);
        }
      }
    }
  }

  if (f.output == "json") {
    nlohmann::json j;
    j["bandwidth"] = nlohmann::json::array();
    for (const auto& [t, b] : bw) {
      j["bandwidth"].push_back({{"threads", t}, {"bytes", b.bytes}, {"read_gbs", SummaryJson(b.read_gbs)},
                                {"copy_gbs", SummaryJson(b.copy_gbs)}});
    }
    if (gpu_bw) j["gpu_copy_gbs"] = SummaryJson(*gpu_bw);
    j["results"] = nlohmann::json::array();
    for (const Row& r : rows) {
      j["results"].push_back({{"model", r.model},
                              {"path", r.path},
                              {"synthetic", r.synthetic},
                              {"type", r.type},
                              {"bpw", r.bpw},
                              {"weight_bytes", r.weight_bytes},
                              {"backend", r.backend},
                              {"threads", r.threads},
                              {"test", r.test},
                              {"batch", r.r.batch},
                              {"n_tokens", r.r.n_tokens},
                              {"memory", {{"weights", r.r.memory.weights},
                                          {"kv_cache", r.r.memory.kv_cache},
                                          {"scratch", r.r.memory.scratch},
                                          {"total", r.r.memory.total()}}},
                              {"repetitions", r.r.tok_per_s.n},
                              {"tok_per_s", SummaryJson(r.r.tok_per_s)},
                              {"seconds", SummaryJson(r.r.seconds)},
                              {"bytes_per_token", r.r.bytes_per_token},
                              {"gbs", r.r.gbs},
                              {"bandwidth_fraction", r.bw_fraction},
                              {"vs_first", r.vs_first}});
      if (r.r.profiled) j["results"].back()["profile"] = ProfileJson(r.r);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("| model | type | bpw | weights | backend | threads | test | batch | t/s | GB/s | %% of bw | memory | "
              "vs first |\n");
  std::printf("|---|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& [t, b] : bw) {
    std::printf("| memory (%s probe) | - | - | %s | cpu | %d | read | - | - | %.2f ± %.2f | 100%% | - | - |\n",
                "STREAM-like", HumanBytes(b.bytes).c_str(), t, b.read_gbs.median, b.read_gbs.stddev);
    std::printf("| memory (%s probe) | - | - | %s | cpu | %d | copy | - | - | %.2f ± %.2f | - | - | - |\n",
                "STREAM-like", HumanBytes(b.bytes).c_str(), t, b.copy_gbs.median, b.copy_gbs.stddev);
  }
  if (gpu_bw) {
    std::printf("| GPU memory (device copy) | - | - | - | cuda | - | copy | - | - | %.1f ± %.1f | 100%% | - | - |\n",
                gpu_bw->median, gpu_bw->stddev);
  }
  for (const Row& r : rows) {
    std::printf("| %s%s | %s | %.3f | %s | %s | %d | %s | %d | %.2f ± %.2f | %s | %s | %s | %.2fx |\n", r.model.c_str(),
                r.synthetic ? " (synthetic)" : "", r.type.c_str(), r.bpw, HumanBytes(r.weight_bytes).c_str(),
                r.backend.c_str(), r.threads, r.test.c_str(), r.r.batch, r.r.tok_per_s.median, r.r.tok_per_s.stddev,
                r.r.gbs > 0 ? Fmt("%.2f", r.r.gbs).c_str() : "-",
                r.bw_fraction > 0 ? Fmt("%.1f%%", 100 * r.bw_fraction).c_str() : "-",
                HumanBytes(r.r.memory.total()).c_str(), r.vs_first);
  }
  std::printf("\nt/s: median ± stddev over %d repetitions; with batch B > 1, the aggregate of B sequences decoding "
              "together. GB/s (tg only): (matmul weights / B + average KV cache read) per token × t/s; %% of bw: of "
              "the %s. memory: what the context holds (weights + KV cache + scratch) on its device.\n",
              f.reps, gpu_bw ? "GPU's device-to-device copy bandwidth" : "read probe at the same thread count");
  for (const Row& r : rows) {
    if (r.r.profiled) PrintProfile(r);
  }
  return 0;
}

}  // namespace

Subcommand AddBenchCommand(CLI::App* app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app->add_subcommand(
      "bench", "Measure prompt processing (pp) and decode (tg) speed of one or more models, with memory bandwidth");
  cmd->add_option("-m,--model", f->models, "Model file (repeatable: compare several in one run)")->required();
  cmd->add_option("-p,--n-prompt", f->n_prompt, "Prompt tokens per pp test (comma list; 0 = no pp test)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", f->n_gen, "Tokens per tg test (comma list; 0 = no tg test)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", f->reps, "Repetitions of each test (median reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("-t,--threads", f->threads, "CPU threads (comma list, e.g. 1,2)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-b,--batch", f->batch,
                  "Sequences decoded together in tg tests (comma list, e.g. 1,8,16,32,64: aggregate t/s)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--backend", f->backend, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--type", f->type, "Quantize the matmul weights to this type at load time");
  cmd->add_option("--kv-type", f->kv_type, "KV cache storage: f32, f16 or q8_0")->capture_default_str();
  f->memory.Add(cmd);
  cmd->add_option("-o,--output", f->output, "md (table) or json")
      ->check(CLI::IsMember({"md", "json"}))
      ->capture_default_str();
  cmd->add_option("--bw-mib", f->bw_mib, "Bandwidth probe buffer in MiB (0 = skip the probe)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "Seed of the random token ids")->capture_default_str();
  cmd->add_option("--prefill", f->prefill, "CPU prompt matmuls: own (the engine's GEMM) or blas (OpenBLAS sgemm)")
      ->check(CLI::IsMember({"own", "blas"}))
      ->capture_default_str();
  cmd->add_flag("--profile", f->profile,
                "Per-op time breakdown of each test (matmuls by kind, activation quantization, attention, norms, "
                "thread-pool waits), printed after the table (CPU backend)");
  return {cmd, [f] { return RunBench(*f); }};
}

}  // namespace septet::cli
