// Shared pieces of the septet subcommands: the model / sampling flags and the
// statistics line. generate / chat / inspect use only the public API
// (include/septet/septet.h); the tool commands below reach the internals.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "septet/septet.h"

namespace septet::cli {

// Exit codes: 0 ok, 1 runtime failure (bad file, bad request), 2 usage error.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// --mem-budget, --gpu-layers, --gpu-mem: the same flags, help and parsing on every
// command that loads a model (generate, chat, serve, bench, perplexity).
struct MemoryFlags {
  std::string mem_budget = "0";  // binary units; parsed by Parse
  std::string gpu_mem = "0";
  int32_t gpu_layers = 0;
  bool mlock = false;
  void Add(CLI::App* app);
  // The two sizes in bytes; false with *error naming the flag when malformed.
  bool Parse(uint64_t* mem_budget_bytes, uint64_t* gpu_mem_bytes, std::string* error) const;
};

struct ModelFlags {
  LoadOptions load;
  MemoryFlags memory;  // copied into load by StartModelCommand
  void Add(CLI::App* app);
  // load with the memory flags parsed in; false (+ message naming the flag) when malformed.
  bool Finish(std::string* error);
};

struct SamplingFlags {
  GenerateParams params;
  std::string seed = "random";  // parsed after CLI11 so "random" is accepted
  void Add(CLI::App* app, int32_t default_max_tokens);
  // Resolves the seed text into params.seed; false (+ message) when malformed.
  bool Finish(std::string* error);
};

// Loads the model or prints "septet: error: ..." and returns null.
std::unique_ptr<Model> LoadOrReport(const LoadOptions& options);
void PrintError(const Error& e);
void PrintLoadLine(const Model& model);
// The shared start of generate and chat: validates the sampling flags, loads the
// model and prints the load line. On failure prints the error, sets *exit_code
// (kExitUsage for bad flags, kExitFailure for load errors) and returns null.
std::unique_ptr<Model> StartModelCommand(ModelFlags& flags, SamplingFlags& sampling, int* exit_code);
void PrintStats(const GenerateStats& s);
std::string HumanBytes(uint64_t bytes);
// The last component of a path ("a/b/m.gguf" -> "m.gguf").
std::string Basename(const std::string& path);

int RunGenerate(ModelFlags& model, SamplingFlags& sampling, const std::string& prompt, bool echo);
int RunChat(ModelFlags& model, SamplingFlags& sampling, const std::string& system_prompt);
int RunInspect(const std::string& path);

// A subcommand that owns its flags: `run` executes it once CLI11 has parsed `app`.
struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
// quantize (cmd_quantize.cc) and perplexity (cmd_perplexity.cc): tool-level commands
// over src/quantize and src/eval.
Subcommand AddQuantizeCommand(CLI::App* app);
Subcommand AddPerplexityCommand(CLI::App* app);
// gen-weights (cmd_gen_weights.cc): synthetic random-weight models, speed only;
// bench (cmd_bench.cc): whole-model pp/tg benchmark + memory bandwidth probe.
Subcommand AddGenWeightsCommand(CLI::App* app);
Subcommand AddBenchCommand(CLI::App* app);
// serve (cmd_serve.cc): the OpenAI-compatible HTTP server over src/serve.
Subcommand AddServeCommand(CLI::App* app);
// plan (cmd_plan.cc): memory plan under a budget (model/memory_plan.h); and the
// memory section `inspect --memory` prints after the tensor table.
Subcommand AddPlanCommand(CLI::App* app);
int RunInspectMemory(const std::string& path, int32_t n_ctx, const std::string& kv_type);
// "24G", "512M", "1.5GiB", "1073741824" -> *bytes (binary units); false with
// *error naming `flag` when malformed.
bool ParseByteSize(const std::string& text, const char* flag, uint64_t* bytes, std::string* error);

}  // namespace septet::cli
