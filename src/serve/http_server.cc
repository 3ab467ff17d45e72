#include "serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "serve/auth.h"
#include "serve/chat_page.h"
#include "serve/routes.h"

namespace septet::serve {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

RequestLog& CurrentLog() {
  thread_local RequestLog log;
  return log;
}

void SendError(httplib::Response& res, int code, const std::string& message, const char* code_name) {
  res.status = code;
  const char* type = code == 400 || code == 401 || code == 413 ? "invalid_request_error"
                     : code == 404                              ? "not_found_error"
                     : code == 503                              ? "server_busy"
                                                                : "server_error";
  res.set_content(ErrorJson(message, type, code_name).dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
}

namespace {

bool NeedsKey(const std::string& path) {
  return path.rfind("/v1/", 0) == 0 || path == "/v1" || path == "/tokenize" || path == "/detokenize";
}

// Reads the body through the content reader so that the size limit holds for
// chunked uploads too (cpp-httplib 0.11 applies its payload limit only to a
// declared Content-Length). False (413 set) when it is too large.
bool ReadBody(const httplib::Request& req, const httplib::ContentReader& reader, size_t limit, std::string* body,
              httplib::Response& res) {
  bool too_big = req.has_header("Content-Length") &&
                 std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > limit;
  const bool ok = !too_big && reader([&](const char* data, size_t n) {
    if (body->size() + n > limit) {
      too_big = true;
      return false;
    }
    body->append(data, n);
    return true;
  });
  if (ok && !too_big) return true;
  res.set_header("Connection", "close");  // what is left of the body is not read
  if (too_big) {
    SendError(res, 413, "the request body is larger than the limit of " + std::to_string(limit) + " bytes");
  } else {
    SendError(res, 400, "the request body could not be read (connection closed or malformed chunked encoding)");
  }
  return false;
}

Result<json> ParseObject(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("body is not valid JSON");
  if (!j.is_object()) return InvalidArgument("body must be a JSON object");
  return j;
}

}  // namespace

HttpServer::HttpServer(Engine* engine, const Tokenizer* tokenizer, runtime::ChatFormat chat_format,
                       ServerOptions options)
    : state_(std::make_unique<State>()), server_(std::make_unique<httplib::Server>()) {
  State& st = *state_;
  st.engine = engine;
  st.tokenizer = tokenizer;
  st.chat_format = chat_format;
  st.options = std::move(options);
  for (int32_t id = 0; id < tokenizer->vocab_size(); ++id) {
    st.max_token_bytes = std::max(st.max_token_bytes, tokenizer->TokenBytes(id, -1).size() + 1);
  }

  httplib::Server& s = *server_;
  const size_t threads = static_cast<size_t>(st.options.http_threads > 0 ? st.options.http_threads
                                                                        : engine->n_slots() + 80);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Remember the listening socket: Bind widens its backlog.
  s.set_socket_options([&st](socket_t sock) {
    httplib::default_socket_options(sock);
    st.listen_fd = sock;
  });
  s.set_payload_max_length(st.options.max_body_bytes);
  s.set_read_timeout(30, 0);
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, 500, "internal error while handling the request");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      SendError(res, 404, "no such endpoint: " + req.method + " " + req.path +
                              " (see GET /v1/models, POST /v1/completions, POST /v1/chat/completions)");
    } else if (res.status == 413) {
      SendError(res, 413, "the request body is larger than the limit");
    } else if (res.body.empty()) {
      SendError(res, res.status, "HTTP error " + std::to_string(res.status));
    }
  });
  // Before the body is read: the access-log clock, and the API key.
  s.set_pre_routing_handler([&st](const httplib::Request& req, httplib::Response& res) {
    CurrentLog() = RequestLog{};
    CurrentLog().start = Clock::now();
    if (st.options.api_key.empty() || !NeedsKey(req.path)) return httplib::Server::HandlerResponse::Unhandled;
    if (BearerMatches(req.get_header_value("Authorization"), st.options.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_header("Connection", "close");  // the body, if any, is not read
    SendError(res, 401,
              req.has_header("Authorization") ? "incorrect API key provided"
                                              : "no API key provided (send the header 'Authorization: Bearer <key>')",
              "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_logger([&st](const httplib::Request& req, const httplib::Response& res) {
    st.metrics.RecordResponse(res.status);
    if (!st.options.access_log) return;
    const RequestLog& log = CurrentLog();
    const double ms = log.start == Clock::time_point{}
                          ? 0
                          : std::chrono::duration<double, std::milli>(Clock::now() - log.start).count();
    // Method and path as sent, cut short (a garbage request line must not flood the log).
    std::string line = "septet: " + req.remote_addr + " " + req.method.substr(0, 16) + " " + req.path.substr(0, 200) +
                       " " + std::to_string(res.status);
    char buf[96];
    std::snprintf(buf, sizeof(buf), " %.1f ms", ms);
    line += buf;
    if (log.prompt_tokens >= 0) line += " prompt_tokens=" + std::to_string(log.prompt_tokens);
    if (log.cached_tokens >= 0) line += " cached_tokens=" + std::to_string(log.cached_tokens);
    if (log.generated_tokens >= 0) line += " generated_tokens=" + std::to_string(log.generated_tokens);
    if (st.options.log_prompts && !log.prompt.empty()) line += " prompt=" + json(log.prompt).dump(-1, ' ', false, json::error_handler_t::replace);
    std::fprintf(stderr, "%s\n", line.c_str());
  });

  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(ChatPageHtml()), "text/html; charset=utf-8");
  });
  s.Get("/health", [&st](const httplib::Request&, httplib::Response& res) {
    const Engine::Counters c = st.engine->counters();
    res.set_content(json{{"status", st.draining ? "shutting_down" : "ok"},
                         {"slots", st.engine->n_slots()},
                         {"n_ctx", st.engine->n_ctx()},
                         {"running", c.running},
                         {"queued", c.queued},
                         {"completed", c.completed},
                         {"cancelled", c.cancelled},
                         {"prefix_hit_tokens", c.prefix_hit_tokens},
                         {"prompt_tokens", c.prompt_tokens}}
                        .dump(),
                    "application/json");
  });
  s.Get("/metrics", [&st](const httplib::Request&, httplib::Response& res) {
    const Engine::Counters c = st.engine->counters();
    EngineGauges g;
    g.queued = c.queued;
    g.running = c.running;
    g.slots = st.engine->n_slots();
    g.prompt_tokens = c.prompt_tokens;
    g.prefix_hit_requests = c.prefix_hit_requests;
    g.prefix_hit_tokens = c.prefix_hit_tokens;
    g.prefill_chunks = c.prefill_chunks;
    res.set_content(st.metrics.Render(g), "text/plain; version=0.0.4");
  });
  s.Get("/v1/models", [&st](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"object", "list"},
                         {"data", json::array({{{"id", st.options.model_name},
                                                {"object", "model"},
                                                {"created", st.options.model_created},
                                                {"owned_by", "septet"}}})}}
                        .dump(),
                    "application/json");
  });
  using Reader = httplib::ContentReader;
  s.Post("/v1/completions", [&st](const httplib::Request& req, httplib::Response& res, const Reader& reader) {
    std::string body;
    if (ReadBody(req, reader, st.options.max_body_bytes, &body, res)) {
      HandleGeneration(st, Endpoint::kCompletions, body, req, res);
    }
  });
  s.Post("/v1/chat/completions", [&st](const httplib::Request& req, httplib::Response& res, const Reader& reader) {
    std::string body;
    if (ReadBody(req, reader, st.options.max_body_bytes, &body, res)) {
      HandleGeneration(st, Endpoint::kChatCompletions, body, req, res);
    }
  });
  s.Post("/tokenize", [&st](const httplib::Request& req, httplib::Response& res, const Reader& reader) {
    std::string body;
    if (!ReadBody(req, reader, st.options.max_body_bytes, &body, res)) return;
    Result<json> j = ParseObject(body);
    if (!j.ok()) return SendError(res, 400, j.status().message());
    const auto content = j->find("content");
    if (content == j->end() || !content->is_string()) return SendError(res, 400, "'content' must be a string");
    bool add_special = false, with_pieces = false;
    for (auto [field, out] : {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces}}) {
      const auto it = j->find(field);
      if (it == j->end() || it->is_null()) continue;
      if (!it->is_boolean()) return SendError(res, 400, std::string("'") + field + "' must be true or false");
      *out = it->get<bool>();
    }
    // Plain text, as /v1/completions reads a prompt: special-token text is not parsed.
    const std::vector<int32_t> ids = st.tokenizer->Encode(content->get<std::string>(), add_special, false);
    json tokens = json::array();
    for (const int32_t id : ids) {
      if (!with_pieces) {
        tokens.push_back(id);
        continue;
      }
      tokens.push_back({{"id", id}, {"piece", st.tokenizer->TokenBytes(id, -1)}});
    }
    res.set_content(json{{"tokens", tokens}}.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  });
  s.Post("/detokenize", [&st](const httplib::Request& req, httplib::Response& res, const Reader& reader) {
    std::string body;
    if (!ReadBody(req, reader, st.options.max_body_bytes, &body, res)) return;
    Result<json> j = ParseObject(body);
    if (!j.ok()) return SendError(res, 400, j.status().message());
    const auto tokens = j->find("tokens");
    if (tokens == j->end() || !tokens->is_array()) return SendError(res, 400, "'tokens' must be an array of token ids");
    std::vector<int32_t> ids;
    for (size_t i = 0; i < tokens->size(); ++i) {
      const json& t = (*tokens)[i];
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= st.tokenizer->vocab_size()) {
        return SendError(res, 400, "'tokens[" + std::to_string(i) + "]' must be a token id in [0, " +
                                       std::to_string(st.tokenizer->vocab_size()) + ")");
      }
      ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    res.set_content(json{{"content", st.tokenizer->Decode(ids)}}.dump(-1, ' ', false, json::error_handler_t::replace),
                    "application/json");
  });
}

HttpServer::~HttpServer() { Stop(); }

Result<int> HttpServer::Bind(const std::string& host, int port) {
  const int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) return IoError("cannot listen on %s:%d (address in use or not available)", host.c_str(), port);
  // cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections
  // (dozens of clients at once) overflows it, the kernel drops their handshakes'
  // last ACK, and a request whose bytes are then retransmitted too late for
  // httplib's 5 s wait for a first request is closed unanswered. Listening again
  // on the bound socket only sets a longer queue.
  if (state_->listen_fd >= 0 && ::listen(state_->listen_fd, SOMAXCONN) != 0) {
    return IoError("cannot listen on %s:%d with a backlog of %d", host.c_str(), bound, SOMAXCONN);
  }
  return bound;
}

Status HttpServer::Listen() {
  if (!server_->listen_after_bind()) return IoError("the HTTP server stopped with an error");
  return Status::Ok();
}

void HttpServer::Stop() {
  if (server_) server_->stop();
}

void HttpServer::BeginDrain() { state_->draining = true; }

int64_t HttpServer::client_disconnects() const { return state_->metrics.disconnects(); }

bool HttpServer::Busy() const {
  const Engine::Counters c = state_->engine->counters();
  return state_->in_flight > 0 || c.queued > 0 || c.running > 0;
}

}  // namespace septet::serve
