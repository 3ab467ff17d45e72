// POST /v1/completions and /v1/chat/completions: parse, check the limits,
// tokenize, queue on the engine, then answer whole or as server-sent events
// while watching for the client going away.
#include <atomic>
#include <cinttypes>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "serve/peer.h"
#include "serve/routes.h"

namespace septet::serve {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// What the engine thread hands to the HTTP thread serving one request.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pieces;
  bool started = false;  // left the queue
  int64_t cached_tokens = 0;  // prompt tokens its slot had cached
  bool done = false;
  Status status;
  runtime::GenerationStats stats;
  std::atomic<bool> client_gone{false};  // the engine cancels at its next step
  std::atomic<bool> abandoned{false};    // waited past the queue timeout
  Metrics* metrics = nullptr;
  void Gone() {
    if (!client_gone.exchange(true) && metrics != nullptr) metrics->RecordDisconnect();
  }
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

int HttpCode(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 400;
    default:
      return 500;
  }
}

void Busy(httplib::Response& res, const std::string& message) {
  res.set_header("Retry-After", "1");
  SendError(res, 503, message);
}

// Counts a generation in flight (graceful shutdown waits for none).
struct InFlight {
  explicit InFlight(std::atomic<int64_t>* n) : n_(n) { ++*n_; }
  ~InFlight() { --*n_; }
  std::atomic<int64_t>* n_;
};

}  // namespace

void HandleGeneration(HttpServer::State& st, Endpoint endpoint, const std::string& body, const httplib::Request& req,
                      httplib::Response& res) {
  const Clock::time_point received = Clock::now();
  if (st.draining) {
    res.set_header("Connection", "close");
    return Busy(res, "the server is shutting down");
  }
  auto in_flight = std::make_shared<InFlight>(&st.in_flight);
  Result<ApiRequest> parsed = ParseRequest(body, endpoint, RandomSeed());
  if (!parsed.ok()) return SendError(res, 400, parsed.status().message());
  ApiRequest api = std::move(parsed).value();
  if (api.model.empty()) api.model = st.options.model_name;
  const int64_t n_ctx = st.engine->n_ctx();

  // The byte length bounds the token count from below (no token is longer than
  // max_token_bytes), so a prompt that cannot fit is refused before tokenizing.
  runtime::RenderedChat chat;
  const std::string* text = &api.prompt;
  if (endpoint == Endpoint::kChatCompletions) {
    runtime::AddDefaultSystem(st.options.default_system, &api.messages);
    chat = runtime::RenderChatMarked(st.chat_format, api.messages, /*add_generation_prompt=*/true);
    text = &chat.text;
  }
  if (st.options.log_prompts) CurrentLog().prompt = *text;
  const size_t max_bytes = static_cast<size_t>(n_ctx) * st.max_token_bytes;
  if (text->size() > max_bytes) {
    return SendError(res, 400,
                     "the prompt is " + std::to_string(text->size()) + " bytes; it cannot fit the context n_ctx = " +
                         std::to_string(n_ctx) + " tokens (at most " + std::to_string(max_bytes) +
                         " bytes: no token is longer than " + std::to_string(st.max_token_bytes) + " bytes)");
  }
  Request r;
  r.params = api.params;
  if (endpoint == Endpoint::kChatCompletions) {
    r.prompt = st.tokenizer->EncodeMarked(chat.text, /*add_bos=*/true, chat.template_ranges);
    for (const std::string& stop : runtime::ChatStopStrings(st.chat_format)) r.params.stop_strings.push_back(stop);
  } else {
    r.prompt = st.tokenizer->Encode(api.prompt, /*add_bos=*/true, /*parse_special=*/false);
  }
  const int64_t prompt_tokens = static_cast<int64_t>(r.prompt.size());
  const int32_t last_prompt_token = r.prompt.empty() ? -1 : r.prompt.back();
  CurrentLog().prompt_tokens = prompt_tokens;
  if (api.max_tokens_given && prompt_tokens < n_ctx && prompt_tokens + api.params.max_tokens > n_ctx) {
    return SendError(res, 400,
                     std::string("'") + api.max_tokens_field + "' is " + std::to_string(api.params.max_tokens) + " but the prompt is " +
                         std::to_string(prompt_tokens) + " tokens and the context per request is n_ctx = " +
                         std::to_string(n_ctx) + ", so at most " + std::to_string(n_ctx - prompt_tokens) +
                         " tokens can be generated");
  }
  const int32_t vocab = st.tokenizer->vocab_size();
  for (const auto& [id, bias] : r.params.sampler.logit_bias) {
    if (id >= vocab) {
      return SendError(res, 400, "'logit_bias' token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                     std::to_string(vocab) + ")");
    }
  }

  auto ch = std::make_shared<Channel>();
  ch->metrics = &st.metrics;
  r.on_text = [ch](std::string_view t) {
    if (ch->client_gone) return false;
    std::lock_guard<std::mutex> lock(ch->mu);
    ch->pieces.emplace_back(t);
    ch->cv.notify_all();
    return true;
  };
  r.on_done = [ch](const Status& s, const runtime::GenerationStats& stats) {
    std::lock_guard<std::mutex> lock(ch->mu);
    ch->status = s;
    ch->stats = stats;
    ch->done = true;
    ch->cv.notify_all();
  };
  r.on_start = [ch](int64_t cached_tokens) {
    std::lock_guard<std::mutex> lock(ch->mu);
    ch->started = true;
    ch->cached_tokens = cached_tokens;
    ch->cv.notify_all();
  };
  r.cancelled = [ch] { return ch->client_gone.load() || ch->abandoned.load(); };
  bool queue_full = false;
  if (Status s = st.engine->Submit(std::move(r), &queue_full); !s.ok()) {
    return queue_full ? Busy(res, s.message()) : SendError(res, HttpCode(s), s.message());
  }
  auto peer = std::make_shared<PeerWatch>(req.local_addr, req.local_port, req.remote_addr, req.remote_port);

  // Wait for a slot (bounded by the queue timeout), noticing a client that leaves.
  {
    std::unique_lock<std::mutex> lock(ch->mu);
    const auto deadline = received + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(st.options.queue_timeout_s));
    while (!ch->started && !ch->done) {
      ch->cv.wait_for(lock, std::chrono::milliseconds(100));
      if (ch->started || ch->done) break;
      if (peer->Gone()) {
        ch->Gone();  // the engine drops it from the queue
        return SendError(res, 499, "the client closed the connection; the request was cancelled");
      }
      if (st.options.queue_timeout_s > 0 && Clock::now() >= deadline) {
        ch->abandoned = true;
        lock.unlock();
        return Busy(res, "the request waited " + std::to_string(st.options.queue_timeout_s) +
                             " s for a free slot (--queue-timeout); try again later");
      }
    }
  }

  const std::string id = NewId(endpoint == Endpoint::kChatCompletions ? "chatcmpl" : "cmpl");
  const int64_t created = UnixNow();
  int64_t cached_tokens = 0;
  {
    std::lock_guard<std::mutex> lock(ch->mu);
    cached_tokens = ch->cached_tokens;
  }
  CurrentLog().cached_tokens = cached_tokens;
  const auto record = [&st, prompt_tokens](const runtime::GenerationStats& stats) {
    CurrentLog().generated_tokens = stats.generated_tokens;
    // first_token_ms counts from Submit (queue time included).
    st.metrics.RecordGeneration(prompt_tokens, stats.generated_tokens, stats.first_token_ms / 1000.0,
                                stats.decode_ms / 1000.0);
  };
  if (!api.stream) {
    std::unique_lock<std::mutex> lock(ch->mu);
    while (!ch->done) {
      ch->cv.wait_for(lock, std::chrono::milliseconds(100));
      if (!ch->done && !ch->client_gone && peer->Gone()) ch->Gone();  // cancelled at the next step
    }
    record(ch->stats);
    if (ch->client_gone) return SendError(res, 499, "the client closed the connection; the request was cancelled");
    if (!ch->status.ok()) return SendError(res, HttpCode(ch->status), ch->status.message());
    std::string out;
    for (const std::string& p : ch->pieces) out += p;
    const Usage usage{prompt_tokens, ch->stats.generated_tokens, cached_tokens};
    json logprobs = nullptr;
    if (api.params.logprobs >= 0) {
      const Tokenizer* tok = st.tokenizer;
      logprobs = LogprobsJson(api, ch->stats.logprobs, last_prompt_token,
                              [tok](int32_t t, int32_t prev) { return tok->TokenBytes(t, prev); });
    }
    res.set_content(ResponseJson(api, id, created, out, ch->stats.finish, usage, logprobs).dump(-1, ' ', false,
                                                                                            json::error_handler_t::replace),
                    "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [ch, api, id, created, peer, record, prompt_tokens, cached_tokens, in_flight, first = true](size_t,
                                                                                   httplib::DataSink& sink) mutable {
        const auto send = [&sink](const json& j) {
          const std::string line = "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
          return sink.write(line.data(), line.size());
        };
        std::unique_lock<std::mutex> lock(ch->mu);
        while (!ch->done && ch->pieces.empty()) {
          ch->cv.wait_for(lock, std::chrono::milliseconds(100));
          if (ch->done || !ch->pieces.empty()) break;
          if (peer->Gone()) {
            ch->Gone();
            return false;
          }
        }
        while (!ch->pieces.empty()) {
          const std::string piece = std::move(ch->pieces.front());
          ch->pieces.pop_front();
          if (!send(ChunkJson(api, id, created, piece, nullptr, first))) {
            if (!ch->done) ch->Gone();  // the engine cancels at its next step
            return false;
          }
          first = false;
        }
        if (!ch->done) return true;  // more to come
        record(ch->stats);
        if (!ch->status.ok()) {
          send(ErrorJson(ch->status.message(), "server_error"));
        } else {
          send(ChunkJson(api, id, created, "", &ch->stats.finish, first));
          if (api.include_usage) {
            send(UsageChunkJson(api, id, created, Usage{prompt_tokens, ch->stats.generated_tokens, cached_tokens}));
          }
        }
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      },
      [ch](bool success) {
        // A stream cut after its request ended (say, a client that hangs up as soon
        // as it reads [DONE]) cancelled nothing: not counted as a disconnect.
        if (success) return;
        std::lock_guard<std::mutex> lock(ch->mu);
        if (!ch->done) ch->Gone();
      });
}

}  // namespace septet::serve
