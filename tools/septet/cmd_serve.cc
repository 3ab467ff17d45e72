// septet serve: the OpenAI-compatible HTTP server (src/serve) over one model, with
// continuous batching across --parallel slots.
#include <csignal>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "cli_common.h"
#include "core/dtype.h"
#include "model/llama_model.h"
#include "quant/registry.h"
#include "runtime/backend.h"
#include "runtime/chat_template.h"
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
};

serve::HttpServer* g_server = nullptr;
void OnSignal(int) {
  if (g_server != nullptr) g_server->Stop();
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
  auto m = model::LlamaModel::Load(lo.model_path, mo);
  if (!m.ok()) return std::fprintf(stderr, "septet: error: %s\n", m.status().message().c_str()), kExitFailure;
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
  auto kv_type = runtime::ParseKvType(lo.kv_type);
  if (!kv_type.ok()) return std::fprintf(stderr, "septet: error: %s\n", kv_type.status().message().c_str()), kExitUsage;
  eo.backend.kv_type = *kv_type;
  auto engine = serve::Engine::Create(**m, **tok, eo);
  if (!engine.ok()) return std::fprintf(stderr, "septet: error: %s\n", engine.status().message().c_str()), kExitFailure;
  const runtime::ChatFormat format = runtime::DetectChatFormat((*tok)->chat_template());
  serve::ServerOptions so;
  so.model_name = f.name.empty() ? Basename(lo.model_path) : f.name;
  serve::HttpServer server(engine->get(), tok->get(), format, so);
  auto port = server.Bind(f.host, f.port);
  if (!port.ok()) return std::fprintf(stderr, "septet: error: %s\n", port.status().message().c_str()), kExitFailure;
  std::fprintf(stderr,
               "septet: serving %s on http://%s:%d (%d slots x %" PRId64 " tokens, backend %s, %d threads, chat "
               "format %s); Ctrl-C stops\n",
               so.model_name.c_str(), f.host.c_str(), *port, eo.n_slots, eo.n_ctx, (*engine)->backend_name(),
               eo.backend.n_threads, runtime::ChatFormatName(format));
  g_server = &server;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const Status st = server.Listen();
  g_server = nullptr;
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
  return {cmd, [f] { return RunServe(*f); }};
}

}  // namespace septet::cli
