// septet: command-line front end (generate, chat, inspect). Uses only the
// public API in include/septet/septet.h.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli_common.h"

int main(int argc, char** argv) {
  using namespace septet::cli;
  // OpenBLAS fell back to generic kernels on a CPU newer than its table: the same
  // command again with OPENBLAS_CORETYPE naming the CPU's class (read only when
  // OpenBLAS loads; set now, so the new image neither asks nor loops). When exec
  // fails, the command runs on OpenBLAS's own choice.
  if (const std::string core = septet::BlasCoreTypeAdvice();
      !core.empty() && setenv("OPENBLAS_CORETYPE", core.c_str(), 1) == 0) {
    execv("/proc/self/exe", argv);
  }
  CLI::App app{"septet: LLaMA inference with 3.5-bit weights"};
  app.require_subcommand(1);
  app.set_version_flag("--version", septet::Version());

  ModelFlags gen_model;
  SamplingFlags gen_sampling;
  std::string prompt;
  bool no_echo = false;
  CLI::App* gen = app.add_subcommand("generate", "Complete a prompt, streaming tokens to stdout");
  gen_model.Add(gen);
  gen_sampling.Add(gen, 128);
  gen->add_option("-p,--prompt", prompt, "Prompt text (BOS is added when the model has one)");
  gen->add_flag("--no-echo", no_echo, "Do not print the prompt before the continuation");

  ModelFlags chat_model;
  SamplingFlags chat_sampling;
  std::string system_prompt;
  CLI::App* chat = app.add_subcommand("chat", "Interactive chat on stdin (one message per line; piping works)");
  chat_model.Add(chat);
  chat_sampling.Add(chat, 256);
  chat->add_option("--system", system_prompt, "System prompt");

  std::string inspect_path;
  CLI::App* inspect = app.add_subcommand("inspect", "Show a model's architecture, hyper-parameters and tensors");
  inspect->add_option("model", inspect_path, "Model file")->required();
  bool inspect_memory = false;
  int32_t inspect_ctx = 0;
  std::string inspect_kv = "f32";
  inspect->add_flag("--memory", inspect_memory, "Also print weight bytes by kind, KV cache and scratch (see `plan`)");
  inspect->add_option("--ctx", inspect_ctx, "With --memory: context length; 0 = the model's, at most 4096")
      ->check(CLI::NonNegativeNumber);
  inspect->add_option("--kv-type", inspect_kv, "With --memory: KV cache type (f32, f16, q8_0)")->capture_default_str();

  const Subcommand quantize = AddQuantizeCommand(&app);
  const Subcommand perplexity = AddPerplexityCommand(&app);
  const Subcommand gen_weights = AddGenWeightsCommand(&app);
  const Subcommand bench = AddBenchCommand(&app);
  const Subcommand serve = AddServeCommand(&app);
  const Subcommand plan = AddPlanCommand(&app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (const char* simd = std::getenv("SEPTET_SIMD"); simd != nullptr && *simd != '\0') {
    septet::Error error;
    if (!septet::CapSimdTarget(simd, &error)) {
      std::fprintf(stderr, "septet: error: SEPTET_SIMD: %s\n", error.message.c_str());
      return kExitUsage;
    }
  }
  try {
    if (*gen) return RunGenerate(gen_model, gen_sampling, prompt, !no_echo);
    if (*chat) return RunChat(chat_model, chat_sampling, system_prompt);
    if (*inspect) {
      const int rc = RunInspect(inspect_path);
      return rc != 0 || !inspect_memory ? rc : RunInspectMemory(inspect_path, inspect_ctx, inspect_kv);
    }
    if (*quantize.app) return quantize.run();
    if (*perplexity.app) return perplexity.run();
    if (*gen_weights.app) return gen_weights.run();
    if (*bench.app) return bench.run();
    if (*serve.app) return serve.run();
    if (*plan.app) return plan.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "septet: error: %s\n", e.what());
    return kExitFailure;
  }
  return kExitUsage;
}
