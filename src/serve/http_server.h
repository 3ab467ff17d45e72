// `septet serve`: an OpenAI-compatible HTTP front end over the batch engine.
//   GET  /health               {"status": "ok", "slots": N, "running": r, "queued": q}
//   GET  /v1/models            the one model, as OpenAI lists models
//   POST /v1/completions       {prompt, ...}    -> text_completion
//   POST /v1/chat/completions  {messages, ...}  -> chat.completion; the prompt is the
//                              conversation in the model's chat format (chat_template.h)
// "stream": true answers with server-sent events: one `data: {chunk}` per piece of
// text, a final chunk with finish_reason, then `data: [DONE]`. A client that goes
// away cancels its request (its slot is freed at the next step).
// Errors are JSON {"error": {...}} with 400 (bad field: the message names it; a
// prompt too long for n_ctx), 404 (unknown path) or 500; nothing crashes the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "runtime/chat_template.h"
#include "serve/engine.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
}

namespace septet::serve {

struct ServerOptions {
  std::string model_name = "septet";  // "model" in responses and /v1/models
  size_t max_body_bytes = size_t{8} << 20;
};

class HttpServer {
 public:
  HttpServer(Engine* engine, const Tokenizer* tokenizer, runtime::ChatFormat chat_format, ServerOptions options);
  ~HttpServer();

  // Binds host:port (port 0: any free port); returns the port. kIoError naming
  // the address when it cannot bind.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop() (blocks; call from the thread that should run it).
  Status Listen();
  void Stop();

 private:
  void Register();
  Engine* engine_;
  const Tokenizer* tokenizer_;
  runtime::ChatFormat chat_format_;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace septet::serve
