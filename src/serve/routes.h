// Internal to src/serve: what HttpServer's route handlers share, and the
// handlers too big to live in http_server.cc.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/http_server.h"
#include "serve/openai.h"

namespace septet::serve {

struct HttpServer::State {
  Engine* engine = nullptr;
  const Tokenizer* tokenizer = nullptr;
  runtime::ChatFormat chat_format = runtime::ChatFormat::kPlain;
  ServerOptions options;
  size_t max_token_bytes = 1;        // the longest token's text: bounds a prompt's bytes by n_ctx
  std::atomic<bool> draining{false};
  std::atomic<int64_t> in_flight{0};  // generation requests being answered
  int listen_fd = -1;                 // the listening socket, once bound
  Metrics metrics;
};

// Per-request facts for the access log, kept by the thread that serves it.
struct RequestLog {
  std::chrono::steady_clock::time_point start;
  int64_t prompt_tokens = -1, generated_tokens = -1;
  int64_t cached_tokens = -1;  // prompt tokens reused from a slot's cache
  std::string prompt;  // only with --log-prompts
};
RequestLog& CurrentLog();

// Sets an OpenAI-style JSON error.
void SendError(httplib::Response& res, int code, const std::string& message, const char* code_name = nullptr);

// POST /v1/completions and /v1/chat/completions, `body` already read.
void HandleGeneration(HttpServer::State& st, Endpoint endpoint, const std::string& body, const httplib::Request& req,
                      httplib::Response& res);

}  // namespace septet::serve
