// `septet serve`: an OpenAI-compatible HTTP front end over the batch engine.
//   GET  /                     the chat page (chat_page.h), no external assets
//   GET  /health               {"status": "ok", "slots": N, "running": r, "queued": q}  (never needs a key)
//   GET  /metrics              Prometheus text (metrics.h)
//   GET  /v1/models            the one model, as OpenAI lists models (created: the file's mtime)
//   POST /v1/completions       {prompt, ...}    -> text_completion
//   POST /v1/chat/completions  {messages, ...}  -> chat.completion; the prompt is the
//                              conversation in the model's chat format (chat_template.h);
//                              special tokens only where the template put them
//   POST /tokenize             {content, add_special?, with_pieces?} -> {tokens}
//   POST /detokenize           {tokens} -> {content}
// "stream": true answers with server-sent events: one `data: {chunk}` per piece of
// text, a final chunk with finish_reason (and a usage chunk with
// stream_options.include_usage), then `data: [DONE]`.
// Limits: bodies over max_body_bytes (Content-Length or chunked) get 413; prompts
// longer than n_ctx (checked on the byte length first, then the tokens) and
// max_tokens beyond what the context leaves get 400; with an API key every /v1,
// /tokenize and /detokenize request needs "Authorization: Bearer <key>" (401);
// a full queue or a request waiting past queue_timeout gets 503 + Retry-After.
// A client that disconnects cancels its request, streaming or not (its slot is
// freed at the next step). One access-log line per request goes to stderr.
// Errors are JSON {"error": {message, type, param, code}} as OpenAI sends them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "runtime/chat_template.h"
#include "serve/engine.h"
#include "serve/metrics.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
}

namespace septet::serve {

struct ServerOptions {
  std::string model_name = "septet";  // "model" in responses and /v1/models
  int64_t model_created = 0;          // /v1/models "created" (unix seconds: the model file's mtime)
  size_t max_body_bytes = size_t{8} << 20;
  std::string api_key;                // "" : no authentication
  double queue_timeout_s = 0;         // > 0: a request queued this long gets 503
  bool access_log = true;             // one line per request on stderr
  bool log_prompts = false;           // include the prompt text in that line
  std::string default_system;         // chat requests without a system message get this one
                                      // (the template's own: runtime::DefaultSystemPrompt)
  // Connections served at once (HTTP worker threads); more wait for a free one.
  // A streamed or whole generation holds its thread until it ends, so this must
  // exceed the requests running and queued, or /health, errors and new requests
  // wait behind them. 0: n_slots + 80 (cpp-httplib's own default is 8).
  int32_t http_threads = 0;
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

  // Graceful shutdown, first half: new generation requests get 503; Busy()
  // says whether any request is still in flight.
  void BeginDrain();
  bool Busy() const;
  // Requests whose client went away so far (also in /metrics).
  int64_t client_disconnects() const;

  struct State;  // what the route handlers share (routes.h)

 private:
  std::unique_ptr<State> state_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace septet::serve
