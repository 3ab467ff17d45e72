// septet chat: one user turn per stdin line (interactive or piped); the reply
// streams to stdout. Commands: /reset (forget the conversation), /quit.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli_common.h"

namespace septet::cli {

int RunChat(ModelFlags& flags, SamplingFlags& sampling, const std::string& system_prompt) {
  int exit_code = 0;
  auto model = StartModelCommand(flags, sampling, &exit_code);
  if (!model) return exit_code;
  std::fprintf(stderr, "septet: chat format: %s. Type a message per line; /reset, /quit.\n",
               model->info().chat_format.c_str());
  Error err;
  auto chat = model->StartChat(system_prompt, &err);
  if (!chat) {
    PrintError(err);
    return kExitFailure;
  }
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  int status = 0;
  std::string line;
  while (true) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      chat->Reset();
      std::fprintf(stderr, "septet: conversation reset\n");
      continue;
    }
    if (line.empty()) continue;
    GenerateStats stats;
    const bool ok = chat->Send(
        line, sampling.params,
        [](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
          return true;
        },
        nullptr, &stats, &err);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!ok) {
      PrintError(err);
      if (err.code == ErrorCode::kOutOfRange) std::fprintf(stderr, "septet: /reset starts a new conversation\n");
      status = kExitFailure;
      continue;
    }
    PrintStats(stats);
  }
  return status;
}

}  // namespace septet::cli
