// septet generate: one completion, streamed to stdout; statistics on stderr.
#include <cstdio>

#include "cli_common.h"

namespace septet::cli {

int RunGenerate(ModelFlags& flags, SamplingFlags& sampling, const std::string& prompt, bool echo) {
  int exit_code = 0;
  auto model = StartModelCommand(flags, sampling, &exit_code);
  if (!model) return exit_code;
  // The prompt is echoed once it has been accepted (with the first text, or at
  // the end), so a rejected prompt prints nothing on stdout.
  bool echoed = !echo;
  const auto echo_prompt = [&] {
    if (!echoed) std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    echoed = true;
  };
  GenerateStats stats;
  Error err;
  const bool ok = model->Generate(
      prompt, sampling.params,
      [&](std::string_view text) {
        echo_prompt();
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return true;
      },
      &stats, &err);
  if (!ok) {
    std::fflush(stdout);
    PrintError(err);
    return kExitFailure;
  }
  echo_prompt();
  std::fputc('\n', stdout);
  std::fflush(stdout);
  PrintStats(stats);
  return 0;
}

}  // namespace septet::cli
