// septet plan -m MODEL | --shape NAME --type T  [--mem 24G --ctx N --parallel P --gpu-mem G ...]:
// where a model's bytes go under a memory budget and the decode speed that
// placement allows (model/memory_plan.h). Also `septet inspect --memory`.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "cli_common.h"
#include "core/dtype.h"
#include "io/model_file.h"
#include "model/layer_split.h"
#include "model/memory_plan.h"
#include "model/weight_lock.h"
#include "perf/bandwidth.h"
#include "perf/disk_read.h"
#include "quant/registry.h"
#include "runtime/backend.h"
#include "synth/synth_model.h"

namespace septet::cli {
namespace {

struct PlanFlags {
  std::string model_path, shape, type, mem = "0", gpu_mem = "0", kv_type = "f32";
  int64_t n_ctx = 0;
  int32_t parallel = 1, threads = 0;
  int64_t gpu_layers = -1;  // -1: chosen from --gpu-mem
  double mem_bw = -1, disk_bw = -1, gpu_bw = -1;  // < 0: measure (where possible)
  bool json = false;
};

int Usage(const std::string& msg) {
  std::fprintf(stderr, "septet: error: %s\n", msg.c_str());
  return kExitUsage;
}

std::string Gb(uint64_t b) {
  char buf[32];
  if (b < (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(b) / 1024);
  } else if (b < (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(b) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(b) / (1ull << 30));
  }
  return buf;
}

Result<model::PlanInput> Input(const PlanFlags& f) {
  if (!f.model_path.empty() && !f.shape.empty()) return InvalidArgument("give -m or --shape, not both");
  if (!f.shape.empty()) {
    SEPTET_ASSIGN_OR_RETURN(const synth::ModelShape shape, synth::FindShape(f.shape));
    const std::optional<DType> t = ParseDType(f.type.empty() ? "Q3P5" : f.type);
    if (!t) return InvalidArgument("--type '%s': not a weight type (%s)", f.type.c_str(), WritableTypeNames());
    return synth::ShapePlanInput(shape, *t);
  }
  if (f.model_path.empty()) return InvalidArgument("give a model file (-m) or a shape (--shape NAME --type T)");
  if (!f.type.empty()) return InvalidArgument("--type goes with --shape; a model file has its own types");
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<ModelFile> file, ModelFile::Open(f.model_path));
  return model::PlanInputFromFile(*file);
}

nlohmann::json ToJson(const model::PlanInput& in, const model::PlanRequest& r, const model::MemoryPlan& p) {
  const model::MemlockLimit lim = model::CurrentMemlockLimit();
  nlohmann::json w = {{"embeddings", p.weights.embeddings}, {"attention", p.weights.attention},
                      {"ffn", p.weights.ffn},               {"norms", p.weights.norms},
                      {"output", p.weights.output},         {"other", p.weights.other},
                      {"total", p.weights.total()}};
  return {{"model", in.label},
          {"n_layers", in.hp.n_layers},
          {"request",
           {{"mem_budget", r.mem_budget}, {"gpu_mem", r.gpu_mem}, {"n_ctx", r.n_ctx}, {"n_seq", r.n_seq},
            {"kv_type", std::string(DTypeName(r.kv_type))}, {"threads", r.n_threads}, {"mem_bw_gbs", r.mem_bw_gbs},
            {"disk_bw_gbs", r.disk_bw_gbs}, {"gpu_bw_gbs", r.gpu_bw_gbs}}},
          {"weights", w},
          {"layer_bytes_max", p.max_layer_bytes},
          {"global_bytes", p.global_bytes},
          {"decode_read_bytes", p.decode_read_bytes},
          {"kv_bytes_per_token", p.kv_bytes_per_token},
          {"kv_bytes", p.kv_bytes},
          {"scratch_bytes", p.scratch_bytes},
          {"placement",
           {{"text", p.placement}, {"gpu_layers", p.gpu_layers}, {"resident_layers", p.resident_layers},
            {"streamed_layers", p.streamed_layers}, {"host_bytes", p.host_bytes}, {"gpu_bytes", p.gpu_bytes},
            {"stream_window_bytes", p.stream_window_bytes}}},
          {"mlock",
           {{"bytes", p.lock_bytes}, {"rlimit_memlock", lim.unlimited ? nlohmann::json(nullptr) : nlohmann::json(lim.soft)},
            {"cap_ipc_lock", lim.cap_ipc_lock}, {"allowed", lim.Allows(p.lock_bytes)}}},
          {"decode",
           {{"t_mem_s", p.t_mem_s}, {"t_disk_s", p.t_disk_s}, {"t_gpu_s", p.t_gpu_s},
            {"tok_s_overlapped", p.tok_s_overlapped}, {"tok_s_serial", p.tok_s_serial},
            {"tok_s_all_sequences", p.tok_s_overlapped * r.n_seq}}}};
}

void PrintTable(const model::PlanInput& in, const model::PlanRequest& r, const model::MemoryPlan& p,
                bool with_placement) {
  const model::LlamaHParams& hp = in.hp;
  std::printf("model         %s (%" PRId64 " layers, dim %" PRId64 ", kv_dim %" PRId64 ", vocab %" PRId64 ")\n",
              in.label.c_str(), hp.n_layers, hp.dim, hp.kv_dim(), hp.vocab);
  std::printf("weights       %14" PRIu64 "  %s\n", p.weights.total(), Gb(p.weights.total()).c_str());
  const std::pair<const char*, uint64_t> kinds[] = {{"embeddings", p.weights.embeddings}, {"attention", p.weights.attention},
                                                   {"ffn", p.weights.ffn}, {"norms", p.weights.norms},
                                                   {"output", p.weights.output}, {"other", p.weights.other}};
  for (const auto& [name, b] : kinds) {
    if (b > 0 || std::string(name) != "other") std::printf("  %-11s %14" PRIu64 "  %s\n", name, b, Gb(b).c_str());
  }
  std::printf("  per layer   %14" PRIu64 "  %s (largest)\n", p.max_layer_bytes, Gb(p.max_layer_bytes).c_str());
  std::printf("KV cache      %s, %" PRIu64 " bytes per token; n_ctx %" PRId64 " x %d sequence(s): %" PRIu64 "  %s\n",
              std::string(DTypeName(r.kv_type)).c_str(), p.kv_bytes_per_token, r.n_ctx, r.n_seq, p.kv_bytes,
              Gb(p.kv_bytes).c_str());
  std::printf("scratch       %14" PRIu64 "  %s (%d threads)\n", p.scratch_bytes, Gb(p.scratch_bytes).c_str(),
              r.n_threads);
  std::printf("decode reads  %14" PRIu64 "  %s of weights per token (+ KV)\n", p.decode_read_bytes,
              Gb(p.decode_read_bytes).c_str());
  if (!with_placement) return;
  std::printf("\nbudget        host %s%s\n", r.mem_budget ? Gb(r.mem_budget).c_str() : "unlimited",
              r.gpu_mem ? (", GPU " + Gb(r.gpu_mem)).c_str() : "");
  std::printf("placement     %s\n", p.placement.c_str());
  std::printf("host memory   %14" PRIu64 "  %s%s\n", p.host_bytes, Gb(p.host_bytes).c_str(),
              p.stream_window_bytes ? (" (incl. the " + Gb(p.stream_window_bytes) + " streaming ring of 2 layer buffers)").c_str() : "");
  if (r.gpu_mem) std::printf("GPU memory    %14" PRIu64 "  %s\n", p.gpu_bytes, Gb(p.gpu_bytes).c_str());
  const model::MemlockLimit lim = model::CurrentMemlockLimit();
  std::printf("--mlock       %14" PRIu64 "  %s (globals + resident layers); RLIMIT_MEMLOCK %s%s: %s\n", p.lock_bytes,
              Gb(p.lock_bytes).c_str(), lim.unlimited ? "unlimited" : Gb(lim.soft).c_str(),
              lim.cap_ipc_lock ? ", CAP_IPC_LOCK held" : "",
              lim.Allows(p.lock_bytes) ? "would be locked" : "would be refused (ulimit -l, or CAP_IPC_LOCK)");
  const auto bw = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f", v);
    return v > 0 ? std::string(buf) : std::string("unknown");
  };
  std::printf("bandwidth     memory %s GB/s, disk %s GB/s%s\n", bw(r.mem_bw_gbs).c_str(), bw(r.disk_bw_gbs).c_str(),
              r.gpu_mem ? (", GPU " + bw(r.gpu_bw_gbs) + " GB/s").c_str() : "");
  if (p.tok_s_overlapped > 0) {
    std::printf("decode        %.2f tok/s per sequence with read-ahead (%.2f serial); memory %.1f ms, disk %.1f ms, "
                "GPU %.1f ms per token at n_ctx %" PRId64 "\n",
                p.tok_s_overlapped, p.tok_s_serial, 1e3 * p.t_mem_s, 1e3 * p.t_disk_s, 1e3 * p.t_gpu_s, r.n_ctx);
    if (r.n_seq > 1) std::printf("              %.2f tok/s over all %d sequences\n", p.tok_s_overlapped * r.n_seq, r.n_seq);
  } else {
    std::printf("decode        no prediction: a bandwidth it needs is unknown (--mem-bw / --disk-bw / --gpu-bw)\n");
  }
}

int RunPlan(const PlanFlags& f) {
  auto in = Input(f);
  if (!in.ok()) {
    std::fprintf(stderr, "septet: error: %s\n", in.status().message().c_str());
    return in.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  model::PlanRequest r;
  std::string err;
  if (!ParseByteSize(f.mem, "--mem", &r.mem_budget, &err)) return Usage(err);
  if (!ParseByteSize(f.gpu_mem, "--gpu-mem", &r.gpu_mem, &err)) return Usage(err);
  auto kv = runtime::ParseKvType(f.kv_type);
  if (!kv.ok()) return Usage(kv.status().message());
  r.kv_type = *kv;
  r.n_ctx = f.n_ctx > 0 ? f.n_ctx : std::min<int64_t>(in->hp.context_length, LoadOptions::kDefaultMaxCtx);
  r.n_seq = f.parallel;
  r.n_threads = runtime::ResolveThreads(f.threads);
  r.gpu_layers = f.gpu_layers;
  if (f.mem_bw >= 0) {
    r.mem_bw_gbs = f.mem_bw;
  } else {
    perf::BandwidthOptions bo;
    bo.bytes = size_t{256} << 20;
    bo.n_threads = r.n_threads;
    bo.repetitions = 3;
    auto b = perf::MeasureBandwidth(bo);
    if (!b.ok()) return std::fprintf(stderr, "septet: error: %s\n", b.status().message().c_str()), kExitFailure;
    r.mem_bw_gbs = b->read_gbs.median;
    std::fprintf(stderr, "septet: memory read bandwidth %.2f GB/s (%d threads, 256 MiB, median of 3)\n",
                 r.mem_bw_gbs, r.n_threads);
  }
  if (f.disk_bw >= 0) {
    r.disk_bw_gbs = f.disk_bw;
  } else if (!f.model_path.empty()) {
    auto d = perf::MeasureDiskRead(f.model_path, size_t{256} << 20);
    if (!d.ok()) return std::fprintf(stderr, "septet: error: %s\n", d.status().message().c_str()), kExitFailure;
    r.disk_bw_gbs = d->gbs;
    std::fprintf(stderr, "septet: disk read bandwidth %.2f GB/s (%s, %s sequential from %s)\n", d->gbs,
                 d->direct ? "O_DIRECT" : "after dropping the page cache", Gb(d->bytes).c_str(), f.model_path.c_str());
  }
  if (f.gpu_bw >= 0) {
    r.gpu_bw_gbs = f.gpu_bw;
  } else if ((r.gpu_mem > 0 || r.gpu_layers > 0) && runtime::CudaCompiledIn()) {
    auto g = runtime::MeasureGpuCopyBandwidth(size_t{1} << 30, 5);
    if (g.ok() && !g->empty()) r.gpu_bw_gbs = (*g)[g->size() / 2] / 2;  // copy counts read + written
  }
  auto p = model::PlanMemory(*in, r);
  if (!p.ok()) {
    std::fprintf(stderr, "septet: error: %s\n", p.status().message().c_str());
    return p.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  std::optional<model::LayerSplit> split;
  if (p->gpu_layers > 0) {
    model::SplitRequest sr;
    sr.gpu_layers = p->gpu_layers;
    sr.n_ctx = r.n_ctx;
    sr.n_seq = r.n_seq;
    auto s = model::SplitLayers(*in, sr);
    if (!s.ok()) return std::fprintf(stderr, "septet: error: %s\n", s.status().message().c_str()), kExitFailure;
    split = *s;
  }
  if (f.json) {
    nlohmann::json j = ToJson(*in, r, *p);
    j["request"]["gpu_layers"] = r.gpu_layers;
    if (split) {
      j["gpu_split"] = {{"gpu_layers", split->gpu_layers},
                        {"gpu_weight_bytes", split->gpu_weight_bytes},
                        {"gpu_kv_bytes", split->gpu_kv_bytes},
                        {"gpu_scratch_bytes", split->gpu_scratch_bytes},
                        {"cpu_layer_bytes", split->cpu_layer_bytes},
                        {"boundary_bytes_per_token", split->boundary_bytes_per_token}};
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    PrintTable(*in, r, *p, true);
    if (split) {
      const std::string cpu_layers = split->gpu_layers < split->n_layers
                                         ? "layers " + std::to_string(split->gpu_layers) + ".." +
                                               std::to_string(split->n_layers - 1) + " + "
                                         : "";
      std::printf("GPU split     layers 0..%" PRId64 " + token_embd on the GPU: weights %s, F32 KV %s, scratch %s; "
                  "%sthe output head on the CPU; %" PRIu64 " bytes per token cross the boundary "
                  "(run: --gpu-layers %" PRId64 ")\n",
                  split->gpu_layers - 1, Gb(split->gpu_weight_bytes).c_str(), Gb(split->gpu_kv_bytes).c_str(),
                  Gb(split->gpu_scratch_bytes).c_str(), cpu_layers.c_str(), split->boundary_bytes_per_token,
                  split->gpu_layers);
    }
  }
  return 0;
}

}  // namespace

int RunInspectMemory(const std::string& path, int32_t n_ctx, const std::string& kv_type) {
  PlanFlags f;
  f.model_path = path;
  auto in = Input(f);
  if (!in.ok()) return std::fprintf(stderr, "septet: error: %s\n", in.status().message().c_str()), kExitFailure;
  auto kv = runtime::ParseKvType(kv_type);
  if (!kv.ok()) return Usage(kv.status().message());
  model::PlanRequest r;
  r.kv_type = *kv;
  r.n_ctx = n_ctx > 0 ? n_ctx : std::min<int64_t>(in->hp.context_length, LoadOptions::kDefaultMaxCtx);
  r.n_threads = 1;
  auto p = model::PlanMemory(*in, r);
  if (!p.ok()) return std::fprintf(stderr, "septet: error: %s\n", p.status().message().c_str()), kExitFailure;
  std::printf("\nmemory\n");
  PrintTable(*in, r, *p, false);
  return 0;
}

Subcommand AddPlanCommand(CLI::App* app) {
  auto f = std::make_shared<PlanFlags>();
  CLI::App* cmd = app->add_subcommand(
      "plan", "Memory plan: weights by kind, KV cache, scratch, placement under a budget, predicted decode speed");
  cmd->add_option("-m,--model", f->model_path, "Model file");
  cmd->add_option("--shape", f->shape, "A gen-weights shape instead of a file: " + synth::ShapeNameList());
  cmd->add_option("--type", f->type, "Weight type of --shape (default Q3P5)");
  cmd->add_option("--mem", f->mem, "Host memory budget (24G, 512M, bytes; binary units); 0 = no limit")
      ->capture_default_str();
  cmd->add_option("--gpu-mem", f->gpu_mem, "GPU memory for layers (0 = no GPU); chooses --gpu-layers")
      ->capture_default_str();
  cmd->add_option("--gpu-layers", f->gpu_layers, "Exactly N layers on the GPU (checked against --gpu-mem when given)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ctx", f->n_ctx, "Context per sequence; 0 = the model's, at most 4096")->check(CLI::NonNegativeNumber);
  cmd->add_option("--parallel", f->parallel, "Sequences decoded together (serve slots)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--kv-type", f->kv_type, "KV cache storage: f32, f16 or q8_0")->capture_default_str();
  cmd->add_option("-t,--threads", f->threads, "CPU threads (sizes scratch and the bandwidth probe); 0 = all")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mem-bw", f->mem_bw, "Memory read bandwidth in GB/s (default: measured)");
  cmd->add_option("--disk-bw", f->disk_bw, "Disk read bandwidth in GB/s (default: measured on the model file)");
  cmd->add_option("--gpu-bw", f->gpu_bw, "GPU memory bandwidth in GB/s (default: measured when there is a GPU)");
  cmd->add_flag("--json", f->json, "JSON instead of the table");
  return {cmd, [f] { return RunPlan(*f); }};
}

}  // namespace septet::cli
