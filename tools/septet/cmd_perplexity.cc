// septet perplexity -m MODEL -f TEXT [--ctx N] [--chunks N] [--save-logits F | --kl-divergence F]:
// thin front end of eval::EvaluatePerplexity (src/eval/perplexity.h).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "cli_common.h"
#include "cli_placement.h"
#include "eval/logits_file.h"
#include "eval/perplexity.h"
#include "model/llama_model.h"
#include "quant/registry.h"
#include "runtime/backend.h"
#include "tokenizer/tokenizer.h"

namespace septet::cli {
namespace {

char g_logits_tmp[4096];

extern "C" void RemoveLogitsTempAndExit(int sig) {
  if (g_logits_tmp[0] != '\0') ::unlink(g_logits_tmp);
  ::_exit(128 + sig);
}

struct PerplexityFlags {
  std::string model_path, text_path, tokenizer_path, kv_type = "f32", compute_type;
  eval::PerplexityOptions o;
  MemoryFlags memory;
};

int Fail(const Status& st) {
  std::fprintf(stderr, "septet: error: %s\n", st.message().c_str());
  return st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

int RunPerplexity(PerplexityFlags& f) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(f.text_path, ec))
    return Fail(NotFound("-f %s: no such file; give a UTF-8 text file", f.text_path.c_str()));
  std::ifstream in(f.text_path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (!in || text.empty()) return Fail(InvalidArgument("-f %s: the file is empty or unreadable", f.text_path.c_str()));

  auto kv_type = runtime::ParseKvType(f.kv_type);
  if (!kv_type.ok()) return Fail(kv_type.status());
  f.o.kv_type = *kv_type;
  model::ModelOptions mo;
  if (!f.compute_type.empty()) {
    const std::optional<DType> t = ParseDType(f.compute_type);
    if (!t || !CanQuantizeTo(*t)) {
      return Fail(InvalidArgument("--type '%s': not a weight type (%s)", f.compute_type.c_str(), WritableTypeNames()));
    }
    mo.compute_type = *t;
  }
  // One window of --ctx tokens, one sequence.
  runtime::PlacementRequest pr;
  pr.n_ctx = f.o.n_ctx;
  pr.kv_type = f.o.kv_type;
  pr.n_threads = f.o.threads;
  pr.converted = mo.compute_type.has_value();
  auto placed = PlanFromFlags(f.memory, f.model_path, pr);
  if (!placed.ok()) return Fail(placed.status());
  placed->ApplyTo(&mo);
  f.o.stream_layers = placed->streamed;
  f.o.gpu_layers = placed->gpu_layers;
  auto model = model::LlamaModel::Load(f.model_path, mo);
  if (!model.ok()) return Fail(model.status());
  const auto lock = LockFromFlags(f.memory, *model.value(), *placed);
  auto tok = LoadTokenizer(model.value()->file(), f.tokenizer_path);
  if (!tok.ok()) return Fail(tok.status());
  const std::vector<int32_t> ids = tok.value()->Encode(text, /*add_bos=*/false);
  std::fprintf(stderr, "septet: %s: %zu bytes, %zu tokens; --ctx %" PRId64 ", scoring the second half of each window\n",
               f.text_path.c_str(), text.size(), ids.size(), f.o.n_ctx);

  if (!f.o.save_logits.empty()) {
    const std::string tmp = eval::TempPathFor(f.o.save_logits);
    if (tmp.size() + 1 <= sizeof(g_logits_tmp)) {
      std::memcpy(g_logits_tmp, tmp.c_str(), tmp.size() + 1);
      struct sigaction sa {};
      sa.sa_handler = RemoveLogitsTempAndExit;
      sigemptyset(&sa.sa_mask);
      ::sigaction(SIGINT, &sa, nullptr);
      ::sigaction(SIGTERM, &sa, nullptr);
      ::sigaction(SIGHUP, &sa, nullptr);
    }
  }
  const bool tty = ::isatty(2) == 1;
  const auto t0 = std::chrono::steady_clock::now();
  f.o.progress = [&](int64_t done, int64_t total, double ppl) {
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = el * static_cast<double>(total - done) / static_cast<double>(done);
    if (tty) {
      std::fprintf(stderr, "\r\033[Kchunk %" PRId64 "/%" PRId64 "  PPL %.4f  ETA %.0fs", done, total, ppl, eta);
      if (done == total) std::fprintf(stderr, "\r\033[K");
    } else if (done == total || done % std::max<int64_t>(1, total / 10) == 0) {
      std::fprintf(stderr, "septet: chunk %" PRId64 "/%" PRId64 " PPL %.4f (%.1f s)\n", done, total, ppl, el);
    }
  };
  auto res = eval::EvaluatePerplexity(*model.value(), ids, tok.value()->bos_id(), f.o);
  if (!res.ok()) return Fail(res.status());
  const eval::PerplexityResult& r = res.value();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("chunks: %" PRId64 " x %" PRId64 " tokens, scored tokens: %" PRId64 " (of %" PRId64 " in the text)\n",
              r.chunks, r.n_ctx, r.scored, r.text_tokens);
  std::printf("PPL: %.4f +/- %.4f\n", r.ppl, r.ppl_se);
  std::printf("mean NLL: %.6f +/- %.6f nats\n", r.nll.mean, r.nll.se);
  if (r.has_kl) {
    std::printf("base PPL: %.4f +/- %.4f\n", r.base_ppl, r.base_ppl_se);
    std::printf("ln(PPL/PPL_base): %.6f +/- %.6f\n", r.ln_ppl_ratio.mean, r.ln_ppl_ratio.se);
    std::printf("KLD mean: %.6f +/- %.6f\n", r.kld.mean, r.kld.se);
    std::printf("KLD median: %.6f\n", r.kld_median);
    std::printf("KLD p99: %.6f\n", r.kld_p99);
    std::printf("KLD max: %.6f\n", r.kld_max);
    std::printf("top-1 agreement: %.3f +/- %.3f %%\n", 100.0 * r.top1.mean, 100.0 * r.top1.se);
  }
  if (!f.o.save_logits.empty()) std::printf("saved log-probabilities: %s\n", f.o.save_logits.c_str());
  std::printf("time: %.2f s\n", secs);
  return 0;
}

}  // namespace

Subcommand AddPerplexityCommand(CLI::App* app) {
  auto flags = std::make_shared<PerplexityFlags>();
  CLI::App* cmd = app->add_subcommand("perplexity",
                                      "Perplexity of a model over a text; KL-divergence against a "
                                      "base model's saved log-probabilities");
  cmd->add_option("-m,--model", flags->model_path, "Model file")->required();
  cmd->add_option("-f,--file", flags->text_path, "Text file to evaluate")->required();
  cmd->add_option("--ctx", flags->o.n_ctx, "Window length in tokens (BOS first; the second half is scored)")
      ->check(CLI::Range(4, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--chunks", flags->o.max_chunks, "Evaluate at most this many windows (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--save-logits", flags->o.save_logits,
                  "Write this (base) model's log-probabilities for a later --kl-divergence run");
  cmd->add_option("--kl-divergence", flags->o.kl_base,
                  "Compare with the base log-probabilities saved in this file (same text, --ctx, --chunks)");
  cmd->add_flag("--force", flags->o.force, "Overwrite the --save-logits file if it exists");
  cmd->add_option("--tokenizer", flags->tokenizer_path, "Tokenizer file (default: from the model)");
  cmd->add_option("--backend", flags->o.backend, "cpu or cuda")->capture_default_str();
  cmd->add_option("--kv-type", flags->kv_type, "KV cache storage: f32, f16 or q8_0")->capture_default_str();
  flags->memory.Add(cmd);
  cmd->add_option("--type", flags->compute_type,
                  "Convert the matmul weights to this type at load time (e.g. F32: float activations, no INT8)");
  cmd->add_option("-t,--threads", flags->o.threads, "CPU threads")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--prefill", flags->o.prefill,
                  "CPU prompt matmuls: own (the engine's GEMM) or blas (OpenBLAS, one single-threaded sgemm per "
                  "task)")
      ->check(CLI::IsMember({"own", "blas"}))
      ->capture_default_str();
  cmd->add_option("--score-from", flags->o.score_from,
                  "First scored position of each window (default: --ctx / 2, as llama-perplexity)")
      ->check(CLI::NonNegativeNumber);
  return {cmd, [flags] { return RunPerplexity(*flags); }};
}

}  // namespace septet::cli
