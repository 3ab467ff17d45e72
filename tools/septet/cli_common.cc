#include "cli_common.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <exception>
#include <string>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "core/ascii.h"
#include "quant/registry.h"

namespace septet::cli {

void ModelFlags::Add(CLI::App* app) {
  app->add_option("-m,--model", load.model_path, "Model file: .gguf, llama2.c .bin, or HF directory")->required();
  app->add_option("--tokenizer", load.tokenizer_path,
                  "Tokenizer file (default: from the GGUF, or tokenizer.bin / tok<N>.bin beside a llama2.c model)");
  app->add_option("--type", load.compute_type,
                  std::string("Quantize the matmul weights to this type at load time (") + WritableTypeNames() +
                      "); default: as stored");
  app->add_option("--ctx", load.n_ctx, "Context length (KV cache tokens); 0 = the model's context_length, at most 4096")
      ->check(CLI::NonNegativeNumber);
  app->add_option("-t,--threads", load.n_threads,
                  "CPU threads; 0 = all hardware threads. Output is identical for any count")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--backend", load.backend, "Where to run: cpu, or cuda (builds with CUDA, on a machine with a GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app->add_option("--kv-type", load.kv_type, "KV cache storage: f32, f16 or q8_0 (docs/memory.md)")
      ->capture_default_str();
  memory.Add(app);
}

void MemoryFlags::Add(CLI::App* app) {
  app->add_option("--mem-budget", mem_budget,
                  "Host memory the model may use (24G, 512M; binary units): weights + KV cache + scratch; layers "
                  "that do not fit are streamed from the file (docs/memory.md); 0 = no limit")
      ->capture_default_str();
  app->add_option("--gpu-layers", gpu_layers,
                  "Run the first N layers on the CUDA device, the rest on the CPU (needs CUDA and a GPU); 0 = none")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--gpu-mem", gpu_mem,
                  "GPU memory for --gpu-layers (8G; binary units): the memory plan chooses N to fit; 0 = unused")
      ->capture_default_str();
  app->add_flag("--mlock", mlock,
                "Lock the resident weights in RAM (mlock) so other processes cannot evict them; needs "
                "RLIMIT_MEMLOCK (ulimit -l) or CAP_IPC_LOCK, else a warning and the run goes on unlocked");
}

bool MemoryFlags::Parse(uint64_t* mem_budget_bytes, uint64_t* gpu_mem_bytes, std::string* error) const {
  return ParseByteSize(mem_budget, "--mem-budget", mem_budget_bytes, error) &&
         ParseByteSize(gpu_mem, "--gpu-mem", gpu_mem_bytes, error);
}

bool ModelFlags::Finish(std::string* error) {
  load.gpu_layers = memory.gpu_layers;
  load.mlock = memory.mlock;
  return memory.Parse(&load.mem_budget, &load.gpu_mem, error);
}

void SamplingFlags::Add(CLI::App* app, int32_t default_max_tokens) {
  params.max_tokens = default_max_tokens;
  app->add_option("-n,--n-predict", params.max_tokens, "Maximum number of tokens to generate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--temp", params.temperature, "Temperature; 0 = greedy")->capture_default_str();
  app->add_option("--top-k", params.top_k, "Top-k filter; 0 = off")->capture_default_str();
  app->add_option("--top-p", params.top_p, "Top-p (nucleus) filter; 1 = off")->capture_default_str();
  app->add_option("--min-p", params.min_p, "Min-p filter (fraction of the top probability); 0 = off")
      ->capture_default_str();
  app->add_option("--repeat-penalty", params.repeat_penalty, "Repetition penalty; 1 = off")->capture_default_str();
  app->add_option("--repeat-last-n", params.repeat_window, "Tokens the repetition penalty looks back over")
      ->capture_default_str();
  app->add_option("--seed", seed, "RNG seed (integer) or 'random'")->capture_default_str();
  app->add_option("--stop", params.stop, "Stop string (repeatable)");
}

bool SamplingFlags::Finish(std::string* error) {
  if (seed == "random") {
    params.seed = GenerateParams::kRandomSeed;
    return true;
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(seed.c_str(), &end, 10);
  if (seed.empty() || seed[0] == '-' || *end != '\0' || errno != 0 || v == GenerateParams::kRandomSeed) {
    *error = "--seed: '" + seed + "' is not a non-negative integer below 2^64-1 or 'random'";
    return false;
  }
  params.seed = v;
  return true;
}

void PrintError(const Error& e) { std::fprintf(stderr, "septet: error: %s\n", e.message.c_str()); }

std::unique_ptr<Model> LoadOrReport(const LoadOptions& options) {
  Error err;
  auto model = Model::Load(options, &err);
  if (!model) PrintError(err);
  return model;
}

std::string Basename(const std::string& path) {
  const size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

std::string HumanBytes(uint64_t b) {
  char buf[32];
  if (b < 1024) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 " B", b);
  } else if (b < (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(b) / 1024.0);
  } else if (b < (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(b) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(b) / (1 << 30));
  }
  return buf;
}

void PrintLoadLine(const Model& model) {
  const ModelInfo& i = model.info();
  std::fprintf(stderr, "septet: loaded %s (%s, %" PRId64 " layers, dim %" PRId64 ", vocab %" PRId64
                       ", weights %s%s%s) in %.1f ms; n_ctx %" PRId64 ", KV cache %s %s; %s, %d thread%s%s%s\n",
               i.path.c_str(), i.format.c_str(), i.n_layers, i.dim, i.vocab, HumanBytes(i.tensor_bytes).c_str(),
               i.compute_type.empty() ? "" : ", computing in ", i.compute_type.c_str(), i.load_ms, i.n_ctx,
               HumanBytes(i.kv_cache_bytes).c_str(), i.kv_type.c_str(), i.backend.c_str(), i.n_threads, i.n_threads == 1 ? "" : "s",
               i.simd_target.empty() ? "" : ", SIMD ", i.simd_target.c_str());
  if (i.streamed_layers > 0) {
    std::fprintf(stderr, "septet: --mem-budget: %" PRId64 " of %" PRId64 " layers are streamed from the file\n",
                 i.streamed_layers, i.n_layers);
  }
  if (i.gpu_layers > 0) {
    std::fprintf(stderr, "septet: --gpu-layers: layers 0..%" PRId64 " on the CUDA device, %" PRId64 " on the CPU\n",
                 i.gpu_layers - 1, i.n_layers - i.gpu_layers);
  }
  if (!i.mlock_warning.empty()) {
    std::fprintf(stderr, "septet: warning: %s\n", i.mlock_warning.c_str());
  } else if (i.locked_bytes > 0) {
    std::fprintf(stderr, "septet: --mlock: %s of resident weights locked in RAM\n", HumanBytes(i.locked_bytes).c_str());
  }
  if (i.synthetic) {
    std::fprintf(stderr, "septet: note: %s is a synthetic model with RANDOM WEIGHTS (septet gen-weights): for speed "
                         "measurement only, its text is gibberish\n", i.path.c_str());
  }
}

void PrintStats(const GenerateStats& s) {
  std::fprintf(stderr,
               "septet: prompt %" PRId64 " tok in %.2f ms (%.1f tok/s) | first token %.2f ms | decode %" PRId64
               " tok in %.2f ms (%.1f tok/s) | seed %" PRIu64 " | stop: %s\n",
               s.prompt_tokens, s.prompt_ms, s.prompt_tok_per_s, s.first_token_ms, s.generated_tokens, s.decode_ms,
               s.decode_tok_per_s, s.seed, FinishReasonName(s.finish));
}

std::unique_ptr<Model> StartModelCommand(ModelFlags& flags, SamplingFlags& sampling, int* exit_code) {
  std::string msg;
  if (!sampling.Finish(&msg)) {
    std::fprintf(stderr, "septet: error: %s\n", msg.c_str());
    *exit_code = kExitUsage;
    return nullptr;
  }
  if (!flags.Finish(&msg)) {
    std::fprintf(stderr, "septet: error: %s\n", msg.c_str());
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto model = LoadOrReport(flags.load);
  if (!model) {
    *exit_code = kExitFailure;
    return nullptr;
  }
  PrintLoadLine(*model);
  return model;
}

bool ParseByteSize(const std::string& text, const char* flag, uint64_t* bytes, std::string* error) {
  const auto bad = [&](const char* why) {
    *error = std::string(flag) + " '" + text + "': " + why;
    return false;
  };
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    return bad("expected a size such as 24G, 512M or 1073741824");
  }
  std::string unit = AsciiUpper(text.substr(used));
  if (unit.size() >= 2 && unit.substr(unit.size() - 2) == "IB") {
    unit.resize(unit.size() - 2);
  } else if (unit.size() >= 2 && unit.back() == 'B') {
    unit.pop_back();
  }
  double mul = 1;
  if (unit == "K") {
    mul = 1024.0;
  } else if (unit == "M") {
    mul = 1024.0 * 1024;
  } else if (unit == "G") {
    mul = 1024.0 * 1024 * 1024;
  } else if (unit == "T") {
    mul = 1024.0 * 1024 * 1024 * 1024;
  } else if (!unit.empty() && unit != "B") {
    return bad("unknown unit; expected K, M, G or T (binary: G = 2^30 bytes)");
  }
  const double b = v * mul;
  if (!(b >= 0) || b > 1.8e19) return bad("expected a size >= 0");
  *bytes = static_cast<uint64_t>(std::llround(b));
  return true;
}

}  // namespace septet::cli
