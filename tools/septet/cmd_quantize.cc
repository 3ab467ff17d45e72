// septet quantize IN OUT --type T [--calib TEXT] ...: thin front end of
// quantize::QuantizeModel (src/quantize/quantizer.h).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "cli_common.h"
#include "quantize/quantizer.h"

namespace septet::cli {
namespace {

// The temp file of an interrupted write ("OUT.tmp.<pid>", see io/gguf_writer.h) is
// removed by the signal handler; async-signal-safe calls only.
char g_tmp_path[4096];

extern "C" void RemoveTempAndExit(int sig) {
  if (g_tmp_path[0] != '\0') ::unlink(g_tmp_path);
  ::_exit(128 + sig);
}

void InstallCleanup(const std::string& out) {
  const std::string tmp = out + ".tmp." + std::to_string(::getpid());
  if (tmp.size() + 1 > sizeof(g_tmp_path)) return;
  std::memcpy(g_tmp_path, tmp.c_str(), tmp.size() + 1);
  struct sigaction sa {};
  sa.sa_handler = RemoveTempAndExit;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
}

struct QuantizeFlags {
  quantize::QuantizeOptions o;
  bool no_gptq = false;
};

int RunQuantize(QuantizeFlags& f) {
  quantize::QuantizeOptions& o = f.o;
  o.gptq = !f.no_gptq;
  const bool tty = ::isatty(2) == 1;
  const auto t0 = std::chrono::steady_clock::now();
  bool bar_shown = false;
  std::string phase;
  auto phase_t0 = t0;
  int last_pct = -1;
  o.progress = [&](int64_t done, int64_t total, const std::string& what) {
    const bool calib = what == "calibration";
    // "mix: NAME": the tensors --mix-bpw moved down, quantized after the choice.
    const bool mix = what.rfind("mix: ", 0) == 0;
    const std::string ph = calib ? "calibration" : mix ? "mix" : "quantize";
    const auto now = std::chrono::steady_clock::now();
    if (ph != phase) {
      phase = ph;
      phase_t0 = now;
      last_pct = -1;
    }
    const double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const int pct = static_cast<int>(frac * 100.0);
    const double el = std::chrono::duration<double>(now - phase_t0).count();
    const double eta = frac > 0 ? el * (1 - frac) / frac : 0;
    if (tty) {
      char bar[31];
      const int fill = static_cast<int>(frac * 30);
      for (int i = 0; i < 30; ++i) bar[i] = i < fill ? '#' : '.';
      bar[30] = '\0';
      std::fprintf(stderr, "\r\033[K%-11s [%s] %3d%% ETA %4.0fs  %s", ph.c_str(), bar, pct, eta,
                   calib ? "" : what.c_str());
      std::fflush(stderr);
      bar_shown = true;
    } else if (calib && pct / 25 != last_pct / 25) {
      std::fprintf(stderr, "septet: calibration %" PRId64 "/%" PRId64 " tokens (%d%%)\n", done, total, pct);
    }
    last_pct = pct;
  };
  o.log = [&](const std::string& line) {
    if (bar_shown) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "septet: %s\n", line.c_str());
  };
  InstallCleanup(o.output);
  auto rep = quantize::QuantizeModel(o);
  if (bar_shown) std::fprintf(stderr, "\r\033[K");
  if (!rep.ok()) {
    std::fprintf(stderr, "septet: error: %s\n", rep.status().message().c_str());
    return rep.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const quantize::QuantizeReport& r = rep.value();
  std::printf("wrote %s: %s, %" PRIu64 " bytes (%s)\n", o.output.c_str(), r.type.c_str(), r.file_bytes,
              HumanBytes(r.file_bytes).c_str());
  std::printf("bpw all tensors: %.4f (%" PRId64 " weights)\n", r.bpw_all(), r.params_all);
  std::printf("bpw quantized tensors: %.4f (%" PRId64 " weights in %s%s)\n", r.bpw_target(), r.params_target,
              r.type.c_str(), o.mix_bpw > 0 ? " + the --mix-bpw choices" : "");
  std::printf("method: %s%s\n", r.method.c_str(),
              r.calib_tokens ? (", calibrated on " + std::to_string(r.calib_tokens) + " tokens").c_str() : "");
  std::printf("time: %.2f s\n", secs);
  return 0;
}

}  // namespace

Subcommand AddQuantizeCommand(CLI::App* app) {
  auto flags = std::make_shared<QuantizeFlags>();
  quantize::QuantizeOptions& o = flags->o;
  CLI::App* cmd = app->add_subcommand("quantize",
                                      "Convert a model to a quantized GGUF (optionally calibrated: "
                                      "importance + GPTQ)");
  cmd->add_option("input", o.input, "Model to read: GGUF (F32/F16/BF16/...), llama2.c .bin, or HF directory")
      ->required();
  cmd->add_option("output", o.output, "GGUF file to write (refused if it exists, unless --force)")->required();
  cmd->add_option("--type", o.type, std::string("Target type of the matmul weights: ") + quantize::QuantizeTypeList())
      ->required();
  cmd->add_option("--calib", o.calib_path,
                  "Calibration text: collect input statistics with the unquantized model and use them "
                  "(importance-weighted fitting + GPTQ)");
  cmd->add_option("--calib-ctx", o.calib_ctx, "Calibration window in tokens (default: min(512, context length))")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--calib-tokens", o.calib_max_tokens, "Use at most this many calibration tokens (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-gptq", flags->no_gptq, "With --calib: importance-weighted rounding only, no GPTQ");
  cmd->add_option("--damp", o.gptq_damp, "GPTQ dampening, relative to mean(diag H)")->capture_default_str();
  cmd->add_flag("--act-order", o.gptq_act_order,
                "GPTQ columns in decreasing input energy diag(H), each 128-block's parameters fitted "
                "on the unmodified weights first (static groups); the stored layout is unchanged");
  cmd->add_flag("--rotate", o.rotate,
                "Rotate the input dimension of every layer's matmul weights by a random-sign block Hadamard "
                "transform before quantizing (spreads large input channels over their block; the forward pass "
                "rotates the inputs to match, CPU backend only). Marks the file septet.rotation=hadamard-v1");
  cmd->add_option("--refit", o.refit,
                  "GPTQ on Q3P5/Q4_G/Q3P5_NL: rounds of a least-squares refit of each block's fields ((d, m); "
                  "Q3P5_NL: D and the group scales) with the codes fixed, against the full calibration Hessian; "
                  "each round after the first re-rounds the codes (GPTQ on the refitted grids) first (0 = off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--calib-passes", o.calib_passes,
                  "With --calib and GPTQ: 2 = quantize once by importance-weighted rounding (temporary file "
                  "beside the output), run the calibration text through that model, and GPTQ with those "
                  "statistics (each layer sees its inputs under the quantized layers before it)")
      ->check(CLI::Range(1, 2))
      ->capture_default_str();
  cmd->add_option("--mix-bpw", o.mix_bpw,
                  "With --calib: average bpw of the matmul weights (0 = off). If --type fits it, the tensors "
                  "whose measured output error falls most per added bit are stored in Q4_G or Q8_0 instead; "
                  "if not (e.g. --type Q4_NL --mix-bpw 4.1), those whose error rises least per saved bit "
                  "are stored in Q3P5_NL. Each tensor's error is weighted by its block's share of the residual "
                  "stream")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--mix-measure-all", o.mix_measure_all,
                "With --mix-bpw moving down to Q3P5_NL: quantize every tensor in both types and choose by both "
                "measured errors (slower) instead of predicting the Q3P5_NL error from the target's and "
                "quantizing only the tensors the choice moves down");
  cmd->add_option("--keep", o.keep,
                  "PATTERN=TYPE: store tensors matching PATTERN ('*', '?' wildcards) as TYPE, e.g. "
                  "--keep 'token_embd.weight=F16' (repeatable; first match wins)");
  cmd->add_option("--tokenizer", o.tokenizer_path, "Tokenizer of a llama2.c model (default: beside it)");
  cmd->add_option("-t,--threads", o.threads, "Worker threads (the output does not depend on it)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--force", o.force, "Overwrite OUT if it exists");
  return {cmd, [flags] { return RunQuantize(*flags); }};
}

}  // namespace septet::cli
