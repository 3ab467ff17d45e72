// septet gen-weights: a GGUF with a real model's shapes and RANDOM weights, for
// speed measurement only (src/synth/synth_model.h).
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "cli_common.h"
#include "core/dtype.h"
#include "quant/registry.h"
#include "synth/synth_model.h"

namespace septet::cli {
namespace {

struct GenWeightsFlags {
  std::string shape, type = "Q3P5", output;
  uint64_t seed = 1;
  int64_t layers = 0;
  int32_t threads = 0;
  bool force = false, exact = false;
};

int RunGenWeights(const GenWeightsFlags& f) {
  auto shape = synth::FindShape(f.shape);
  if (!shape.ok()) {
    std::fprintf(stderr, "septet: error: --shape: %s\n", shape.status().message().c_str());
    return kExitUsage;
  }
  const std::optional<DType> type = ParseDType(f.type);
  if (!type || !CanQuantizeTo(*type)) {
    std::fprintf(stderr, "septet: error: --type: '%s' is not a weight type (%s)\n", f.type.c_str(), WritableTypeNames());
    return kExitUsage;
  }
  synth::SynthOptions o;
  o.shape = *shape;
  o.type = *type;
  o.seed = f.seed;
  if (f.layers > 0) o.n_layers = f.layers;
  o.exact = f.exact;
  o.n_threads = f.threads;
  o.overwrite = f.force;
  const auto t0 = std::chrono::steady_clock::now();
  int last_pct = -1;
  o.progress = [&](size_t i, size_t n, uint64_t done, uint64_t total) {
    const int pct = total ? static_cast<int>(100 * done / total) : 100;
    if (pct / 10 != last_pct / 10 || i + 1 == n) {
      std::fprintf(stderr, "\rseptet: gen-weights: %3d%% (%zu/%zu tensors, %s)", pct, i + 1, n,
                   HumanBytes(done).c_str());
      last_pct = pct;
    }
  };
  std::fprintf(stderr,
               "septet: gen-weights: %s shape (%s), %s, seed %" PRIu64 "%s -> %s\n"
               "septet: RANDOM WEIGHTS: the file is for speed measurement only and produces gibberish\n",
               shape->name, shape->real_model, GetTypeTraits(*type).name, f.seed, f.exact ? ", exact" : "",
               f.output.c_str());
  auto r = synth::WriteSyntheticModel(f.output, o);
  std::fprintf(stderr, "\n");
  if (!r.ok()) {
    std::fprintf(stderr, "septet: error: %s\n", r.status().message().c_str());
    return kExitFailure;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "septet: wrote %s: %zu tensors, %.3f B parameters, %s in %.1f s\n", f.output.c_str(),
               r->n_tensors, static_cast<double>(r->n_params) / 1e9, HumanBytes(r->file_bytes).c_str(), s);
  return 0;
}

}  // namespace

Subcommand AddGenWeightsCommand(CLI::App* app) {
  auto f = std::make_shared<GenWeightsFlags>();
  CLI::App* cmd = app->add_subcommand(
      "gen-weights",
      "Write a GGUF with a real model's shape and RANDOM weights (for speed measurement only; produces gibberish)");
  cmd->add_option("--shape", f->shape, "Model shape: " + synth::ShapeNameList())->required();
  cmd->add_option("--type", f->type, std::string("Type of the weight matrices: ") + WritableTypeNames())
      ->capture_default_str();
  cmd->add_option("-o,--output", f->output, "GGUF file to write (refused if it exists, unless --force)")->required();
  cmd->add_option("--seed", f->seed, "Random seed (same seed, same bytes)")->capture_default_str();
  cmd->add_option("--layers", f->layers, "Override the number of layers (small test files)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-t,--threads", f->threads, "Worker threads (default: all cores; the bytes do not depend on it)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--exact", f->exact,
                "Quantize every row with the reference quantizer (slow) instead of drawing rows from a pool of "
                "quantized blocks");
  cmd->add_flag("--force", f->force, "Overwrite the output file if it exists");
  cmd->footer(
      "The weights are random (N(0, 0.02^2), 1% outliers x8; norms ~1) and the tokenizer is a synthetic vocabulary\n"
      "of the right size. The file records septet.synthetic = true. Use it for `septet bench`, never for text.");
  return {cmd, [f] { return RunGenWeights(*f); }};
}

}  // namespace septet::cli
