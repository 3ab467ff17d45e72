// Running the built `septet` binary from the system tests (tests/cli_*_test.cc):
// stdout and stderr go to files under TempDir and are read back, stdin is the
// given text (empty: EOF at once). SEPTET_CLI_PATH is set by CMake for the
// system-test binary.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "util/test_util.h"

namespace septet::testing {

struct CliRun {
  int exit_code = -1;  // 128 + signal when the process was killed
  std::string out, err;
};

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// String building through a stream (operator+ chains trip GCC 12's -Wrestrict at -O3).
template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}

// Runs `septet <args>` through the shell (args are shell words: quote paths).
// timeout_s > 0: killed after that many seconds (coreutils timeout; exit code 124,
// 128 + 9 if it ignored SIGTERM for 5 more seconds), so a hang fails instead of blocking.
inline CliRun RunSeptet(const std::string& args, const std::string& stdin_text = "", int timeout_s = 0) {
  static int counter = 0;
  const std::string base = Cat(TempDir(), "/cli_run", counter++);
  std::ofstream(base + ".in") << stdin_text;
  const std::string limit = timeout_s > 0 ? Cat("timeout -k 5 ", timeout_s, " ") : std::string();
  const std::string cmd =
      Cat(limit, "'", SEPTET_CLI_PATH, "' ", args, " <'", base, ".in' >'", base, ".out' 2>'", base, ".err'");
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFileBytes(base + ".out");
  r.err = ReadFileBytes(base + ".err");
  return r;
}

}  // namespace septet::testing
