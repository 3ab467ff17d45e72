#include "serve/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "serve/openai.h"

namespace septet::serve {
namespace {

using nlohmann::json;

// What the engine thread hands to the HTTP thread serving one request.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pieces;
  bool done = false;
  Status status;
  runtime::GenerationStats stats;
  std::atomic<bool> client_gone{false};
};

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

std::string NewId(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s-%016llx", prefix,
                static_cast<unsigned long long>(RandomSeed() ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull)));
  return buf;
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void SendError(httplib::Response& res, int code, const std::string& message) {
  res.status = code;
  const char* type = code == 400 ? "invalid_request_error" : code == 404 ? "not_found_error" : "server_error";
  res.set_content(ErrorJson(message, type).dump(), "application/json");
}

int HttpCode(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 400;
    default:
      return 500;
  }
}

}  // namespace

HttpServer::HttpServer(Engine* engine, const Tokenizer* tokenizer, runtime::ChatFormat chat_format,
                       ServerOptions options)
    : engine_(engine),
      tokenizer_(tokenizer),
      chat_format_(chat_format),
      options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {
  Register();
}

HttpServer::~HttpServer() { Stop(); }

Result<int> HttpServer::Bind(const std::string& host, int port) {
  const int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) return IoError("cannot listen on %s:%d (address in use or not available)", host.c_str(), port);
  return bound;
}

Status HttpServer::Listen() {
  if (!server_->listen_after_bind()) return IoError("the HTTP server stopped with an error");
  return Status::Ok();
}

void HttpServer::Stop() {
  if (server_) server_->stop();
}

void HttpServer::Register() {
  httplib::Server& s = *server_;
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_read_timeout(30, 0);
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, 500, "internal error while handling the request");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      SendError(res, 404, "no such endpoint: " + req.method + " " + req.path +
                              " (see GET /v1/models, POST /v1/completions, POST /v1/chat/completions)");
    } else if (res.body.empty()) {
      SendError(res, res.status, "HTTP error " + std::to_string(res.status));
    }
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const Engine::Counters c = engine_->counters();
    res.set_content(json{{"status", "ok"},
                         {"slots", engine_->n_slots()},
                         {"n_ctx", engine_->n_ctx()},
                         {"running", c.running},
                         {"queued", c.queued},
                         {"completed", c.completed}}
                        .dump(),
                    "application/json");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"object", "list"},
                         {"data", json::array({{{"id", options_.model_name},
                                                {"object", "model"},
                                                {"created", 0},
                                                {"owned_by", "septet"}}})}}
                        .dump(),
                    "application/json");
  });
  const auto handle = [this](Endpoint endpoint, const httplib::Request& req, httplib::Response& res) {
    Result<ApiRequest> parsed = ParseRequest(req.body, endpoint, RandomSeed());
    if (!parsed.ok()) return SendError(res, 400, parsed.status().message());
    ApiRequest api = std::move(parsed).value();
    if (api.model.empty()) api.model = options_.model_name;
    Request r;
    r.params = api.params;
    if (endpoint == Endpoint::kChatCompletions) {
      const std::string text = runtime::RenderChat(chat_format_, api.messages, /*add_generation_prompt=*/true);
      r.prompt = tokenizer_->Encode(text, /*add_bos=*/true, /*parse_special=*/true);
      for (const std::string& stop : runtime::ChatStopStrings(chat_format_)) r.params.stop_strings.push_back(stop);
    } else {
      r.prompt = tokenizer_->Encode(api.prompt, /*add_bos=*/true, /*parse_special=*/false);
    }
    auto ch = std::make_shared<Channel>();
    r.on_text = [ch](std::string_view text) {
      if (ch->client_gone) return false;
      std::lock_guard<std::mutex> lock(ch->mu);
      ch->pieces.emplace_back(text);
      ch->cv.notify_all();
      return true;
    };
    r.on_done = [ch](const Status& st, const runtime::GenerationStats& stats) {
      std::lock_guard<std::mutex> lock(ch->mu);
      ch->status = st;
      ch->stats = stats;
      ch->done = true;
      ch->cv.notify_all();
    };
    const int64_t prompt_tokens = static_cast<int64_t>(r.prompt.size());
    if (Status st = engine_->Submit(std::move(r)); !st.ok()) return SendError(res, HttpCode(st), st.message());

    const std::string id = NewId(endpoint == Endpoint::kChatCompletions ? "chatcmpl" : "cmpl");
    const int64_t created = UnixNow();
    if (!api.stream) {
      std::unique_lock<std::mutex> lock(ch->mu);
      ch->cv.wait(lock, [&] { return ch->done; });
      if (!ch->status.ok()) return SendError(res, HttpCode(ch->status), ch->status.message());
      std::string text;
      for (const std::string& p : ch->pieces) text += p;
      const Usage usage{prompt_tokens, ch->stats.generated_tokens};
      res.set_content(ResponseJson(api, id, created, text, ch->stats.finish, usage).dump(), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [ch, api, id, created, first = true](size_t, httplib::DataSink& sink) mutable {
          const auto send = [&sink](const json& j) {
            const std::string line = "data: " + j.dump() + "\n\n";
            return sink.write(line.data(), line.size());
          };
          std::unique_lock<std::mutex> lock(ch->mu);
          ch->cv.wait(lock, [&] { return ch->done || !ch->pieces.empty(); });
          while (!ch->pieces.empty()) {
            const std::string piece = std::move(ch->pieces.front());
            ch->pieces.pop_front();
            if (!send(ChunkJson(api, id, created, piece, nullptr, first))) {
              ch->client_gone = true;  // the engine cancels at its next piece of text
              return false;
            }
            first = false;
          }
          if (!ch->done) return true;  // more to come
          if (!ch->status.ok()) {
            send(ErrorJson(ch->status.message(), "server_error"));
          } else {
            send(ChunkJson(api, id, created, "", &ch->stats.finish, first));
          }
          const std::string done = "data: [DONE]\n\n";
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        },
        [ch](bool success) {
          if (!success) ch->client_gone = true;
        });
  };
  s.Post("/v1/completions", [handle](const httplib::Request& req, httplib::Response& res) {
    handle(Endpoint::kCompletions, req, res);
  });
  s.Post("/v1/chat/completions", [handle](const httplib::Request& req, httplib::Response& res) {
    handle(Endpoint::kChatCompletions, req, res);
  });
}

}  // namespace septet::serve
