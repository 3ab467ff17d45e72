// septet serve: the OpenAI-compatible HTTP server (src/serve) over one model, with
// continuous batching across --parallel slots.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "cli_common.h"
#include "cli_placement.h"
#include "core/dtype.h"
#include "model/llama_model.h"
#include "quant/registry.h"
#include "runtime/backend.h"
#include "runtime/chat_template.h"
#include "serve/auth.h"
#include "serve/engine.h"
#include "serve/http_server.h"
#include "tokenizer/tokenizer.h"

namespace septet::cli {
namespace {

struct ServeFlags {
  ModelFlags model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int32_t parallel = 4;
  std::string name;
  std::string api_key, api_key_file;
  int64_t max_queue = 64;
  double queue_timeout_s = 0;
  double shutdown_timeout_s = 10;
  int64_t max_body_mib = 8;
  bool log_prompts = false;
  int64_t prefill_chunk = 256;
  int32_t http_threads = 0;
  bool no_prefix_reuse = false;
};

// First SIGINT/SIGTERM: graceful shutdown (the watcher thread drains); second:
// exit at once. Only async-signal-safe work happens in the handler.
std::atomic<int> g_signals{0};
void OnSignal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(130);
}

bool EngineIdle(const serve::Engine& engine) {
  const serve::Engine::Counters c = engine.counters();
  return c.running == 0 && c.queued == 0;
}

// Graceful shutdown: refuse new generations (503), let in-flight ones finish
// until the deadline, cancel what is left, then stop the listener.
void DrainAndStop(serve::HttpServer* server, serve::Engine* engine, double deadline_s) {
  using Clock = std::chrono::steady_clock;
  std::fprintf(stderr, "septet: shutting down: finishing requests in flight (up to %.0f s; Ctrl-C again exits now)\n",
               deadline_s);
  server->BeginDrain();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(deadline_s));
  while (server->Busy() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (server->Busy()) {
    std::fprintf(stderr, "septet: deadline reached: cancelling the requests still running\n");
    engine->CancelAll();
    // A cancelled request ends at the engine's next step boundary; the step running
    // now (one prefill chunk or one decode step, slow on a big model or a sanitizer
    // build) cannot be cut short. Stopping the listener before then would cut every
    // stream without its final chunk and [DONE], so wait for the engine to go idle,
    // however long that step takes (a second signal still exits at once).
    while (!EngineIdle(*engine)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // Every request now has its outcome; what is left is writing the last chunks,
    // which httplib bounds by its write timeout (5 s per write) for a client that
    // stopped reading.
    const auto grace = Clock::now() + std::chrono::seconds(15);
    while (server->Busy() && Clock::now() < grace) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  server->Stop();
}

int RunServe(ServeFlags& f) {
  const LoadOptions& lo = f.model.load;
  model::ModelOptions mo;
  if (!lo.compute_type.empty()) {
    const std::optional<DType> t = ParseDType(lo.compute_type);
    if (!t || !CanQuantizeTo(*t)) {
      std::fprintf(stderr, "septet: error: --type: '%s' is not a weight type\n", lo.compute_type.c_str());
      return kExitUsage;
    }
    mo.compute_type = *t;
  }
  auto kv_type = runtime::ParseKvType(lo.kv_type);
  if (!kv_type.ok()) return std::fprintf(stderr, "septet: error: %s\n", kv_type.status().message().c_str()), kExitUsage;
  // --mem-budget / --gpu-layers / --gpu-mem: every slot's KV cache at --ctx counts.
  runtime::PlacementRequest pr;
  pr.n_ctx = lo.n_ctx;
  pr.n_seq = f.parallel;
  pr.kv_type = *kv_type;
  pr.n_threads = runtime::ResolveThreads(lo.n_threads);
  pr.converted = mo.compute_type.has_value();
  auto placed = PlanFromFlags(f.model.memory, lo.model_path, pr);
  if (!placed.ok()) return ReportStatus(placed.status());
  placed->ApplyTo(&mo);
  auto m = model::LlamaModel::Load(lo.model_path, mo);
  if (!m.ok()) return std::fprintf(stderr, "septet: error: %s\n", m.status().message().c_str()), kExitFailure;
  const auto lock = LockFromFlags(f.model.memory, **m, *placed);
  auto tok = LoadTokenizer((*m)->file(), lo.tokenizer_path);
  if (!tok.ok()) return std::fprintf(stderr, "septet: error: %s\n", tok.status().message().c_str()), kExitFailure;
  if ((*tok)->vocab_size() != (*m)->hparams().vocab) {
    std::fprintf(stderr, "septet: error: tokenizer has %d tokens but the model's vocabulary is %" PRId64 "\n",
                 (*tok)->vocab_size(), (*m)->hparams().vocab);
    return kExitFailure;
  }
  serve::EngineOptions eo;
  eo.n_slots = f.parallel;
  eo.n_ctx = lo.n_ctx > 0 ? lo.n_ctx : std::min<int64_t>((*m)->hparams().context_length, LoadOptions::kDefaultMaxCtx);
  eo.backend.backend = lo.backend;
  eo.backend.n_threads = runtime::ResolveThreads(lo.n_threads);
  eo.max_queue = f.max_queue;
  eo.prefill_chunk = f.prefill_chunk;
  eo.prefix_reuse = !f.no_prefix_reuse;
  auto key = serve::LoadApiKey(f.api_key, f.api_key_file);
  if (!key.ok()) return std::fprintf(stderr, "septet: error: %s\n", key.status().message().c_str()), kExitUsage;
  eo.backend.kv_type = *kv_type;
  placed->ApplyTo(&eo.backend);
  auto engine = serve::Engine::Create(**m, **tok, eo);
  if (!engine.ok()) return std::fprintf(stderr, "septet: error: %s\n", engine.status().message().c_str()), kExitFailure;
  const runtime::ChatFormat format = runtime::DetectChatFormat((*tok)->chat_template());
  serve::ServerOptions so;
  so.model_name = f.name.empty() ? Basename(lo.model_path) : f.name;
  so.api_key = *key;
  so.queue_timeout_s = f.queue_timeout_s;
  so.max_body_bytes = static_cast<size_t>(f.max_body_mib) << 20;
  so.log_prompts = f.log_prompts;
  // Every running and queued request holds an HTTP thread; leave room for more
  // (refused, health checks) on top.
  so.http_threads = f.http_threads > 0 ? f.http_threads
                                       : static_cast<int32_t>(std::min<int64_t>(
                                             4096, f.parallel + (f.max_queue > 0 ? f.max_queue : 256) + 16));
  so.default_system = runtime::DefaultSystemPrompt((*tok)->chat_template());
  struct stat sb {};
  if (stat(lo.model_path.c_str(), &sb) == 0) so.model_created = static_cast<int64_t>(sb.st_mtime);
  serve::HttpServer server(engine->get(), tok->get(), format, so);
  auto port = server.Bind(f.host, f.port);
  if (!port.ok()) return std::fprintf(stderr, "septet: error: %s\n", port.status().message().c_str()), kExitFailure;
  std::fprintf(stderr,
               "septet: serving %s on http://%s:%d (%d slots x %" PRId64 " tokens, backend %s, %d threads, chat "
               "format %s, prefill chunk %" PRId64 ", prefix reuse %s%s); Ctrl-C stops\n",
               so.model_name.c_str(), f.host.c_str(), *port, eo.n_slots, eo.n_ctx, (*engine)->backend_name(),
               eo.backend.n_threads, runtime::ChatFormatName(format), eo.prefill_chunk, eo.prefix_reuse ? "on" : "off",
               so.api_key.empty() ? "" : ", API key required");
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::atomic<bool> listening_done{false};
  std::thread watcher([&] {
    while (!listening_done && g_signals == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (g_signals > 0) DrainAndStop(&server, engine->get(), f.shutdown_timeout_s);
  });
  const Status st = server.Listen();
  listening_done = true;
  watcher.join();
  if (!st.ok()) return std::fprintf(stderr, "septet: error: %s\n", st.message().c_str()), kExitFailure;
  std::fprintf(stderr, "septet: server stopped\n");
  return 0;
}

}  // namespace

Subcommand AddServeCommand(CLI::App* app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app->add_subcommand(
      "serve", "OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions, streaming) with batching");
  f->model.Add(cmd);
  cmd->add_option("--host", f->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", f->port, "Port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--parallel", f->parallel, "Requests decoded together (slots); each has --ctx tokens of KV cache")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--name", f->name, "Model name in responses (default: the model file's name)");
  cmd->add_option("--api-key", f->api_key, "Require 'Authorization: Bearer KEY' on /v1, /tokenize, /detokenize");
  cmd->add_option("--api-key-file", f->api_key_file, "Read the API key from the first line of this file");
  cmd->add_option("--max-queue", f->max_queue, "Requests waiting for a slot at most; more get 503 (0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--queue-timeout", f->queue_timeout_s,
                  "Seconds a request may wait for a slot before it gets 503 (0: no limit)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", f->shutdown_timeout_s,
                  "On SIGINT/SIGTERM, seconds to let requests in flight finish before cancelling them")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  cmd->add_option("--max-body-mib", f->max_body_mib, "Largest request body in MiB (larger: 413)")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", f->prefill_chunk,
                  "Prompt tokens evaluated per engine step at most; longer prompts are split over several steps, "
                  "between which the other requests decode")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--http-threads", f->http_threads,
                  "Connections served at once (0: --parallel + --max-queue + 16, or + 272 without a queue limit)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  cmd->add_flag("--no-prefix-reuse", f->no_prefix_reuse,
                "Do not reuse a slot's cached tokens for a request whose prompt starts with them");
  cmd->add_flag("--log-prompts", f->log_prompts, "Include prompt text in the access log (off: never logged)");
  return {cmd, [f] { return RunServe(*f); }};
}

}  // namespace septet::cli
