// A `septet serve` child process for system tests: started on a free loopback
// port (--port 0; the port is read from its banner), every wait bounded, and
// killed (SIGKILL) when the test ends if it is still running.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "util/cli_runner.h"

namespace septet::testing {

class ServeProcess {
 public:
  // args: after "serve" (e.g. {"-m", path, "--parallel", "1"}).
  explicit ServeProcess(const std::vector<std::string>& args) {
    static int counter = 0;
    err_path_ = Cat(TempDir(), "/serve", getpid(), "_", counter++, ".err");
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(err_path_.c_str(), "w", stderr);
      (void)f;
      std::vector<std::string> argv_s = {SEPTET_CLI_PATH, "serve", "--host", "127.0.0.1", "--port", "0"};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && exit_code_ < 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits (up to timeout_s) for the banner; returns the port or -1.
  int WaitForPort(double timeout_s = 60) {
    const std::regex re("on http://127\\.0\\.0\\.1:([0-9]+)");
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      std::smatch m;
      const std::string err = Stderr();
      if (std::regex_search(err, m, re)) return port_ = std::stoi(m[1]);
      if (Exited()) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  void Signal(int sig) { kill(pid_, sig); }
  bool Exited() {
    if (exit_code_ >= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  // The exit code, or -1 when it is still running after timeout_s.
  int Wait(double timeout_s) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (!Exited()) {
      if (std::chrono::steady_clock::now() > end) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
  }
  std::string Stderr() const { return ReadFileBytes(err_path_); }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = -1;
  int exit_code_ = -1;
  std::string err_path_;
};

}  // namespace septet::testing
