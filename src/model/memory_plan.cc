#include "model/memory_plan.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <string_view>

#include "io/model_file.h"
#include "kernels/kv_rows.h"
#include "model/layer_split.h"
#include "model/llama_context.h"

namespace septet::model {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Gib(uint64_t b) {
  char buf[48];
  if (b < (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", static_cast<double>(b) / (1ull << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(b) / (1ull << 30));
  }
  return buf;
}

}  // namespace

std::vector<int64_t> SpreadStreamedLayers(int64_t begin, int64_t n_layers, int64_t count) {
  std::vector<int64_t> out;
  const int64_t n = n_layers - begin;
  if (n <= 0 || count <= 0) return out;
  count = std::min(count, n);
  for (int64_t i = 0; i < n; ++i) {
    if ((i + 1) * count / n > i * count / n) out.push_back(begin + i);
  }
  return out;
}

bool IsKvType(DType t) { return kernels::IsKvType(t); }
uint64_t KvRowBytes(DType t, int64_t kv_dim) { return kernels::KvRowBytes(t, kv_dim); }

Result<PlanInput> PlanInputFromFile(const ModelFile& file) {
  PlanInput in;
  in.label = file.path();
  SEPTET_ASSIGN_OR_RETURN(in.hp, ReadLlamaHParams(file));
  for (const TensorInfo& t : file.tensors()) in.tensors.push_back({t.name, t.nbytes});
  return in;
}

Result<MemoryPlan> PlanMemory(const PlanInput& in, const PlanRequest& req) {
  const LlamaHParams& hp = in.hp;
  if (hp.n_layers <= 0) return InvalidArgument("%s: the model has no layers", in.label.c_str());
  if (req.n_ctx <= 0) return InvalidArgument("--ctx %" PRId64 ": expected > 0", req.n_ctx);
  if (req.n_seq <= 0) return InvalidArgument("--parallel %d: expected > 0", req.n_seq);
  if (req.n_threads <= 0) return InvalidArgument("--threads %d: expected > 0", req.n_threads);
  if (!IsKvType(req.kv_type)) {
    return InvalidArgument("--kv-type %s: expected f32, f16 or q8_0", std::string(DTypeName(req.kv_type)).c_str());
  }
  MemoryPlan p;
  p.layer_bytes.assign(static_cast<size_t>(hp.n_layers), 0);
  bool tied = true;
  uint64_t embd = 0;
  for (const PlanTensor& t : in.tensors) {
    const int64_t layer = BlockIndex(t.name);
    if (layer >= hp.n_layers) {
      return InvalidArgument("%s: tensor '%s' names layer %" PRId64 " of a %" PRId64 "-layer model", in.label.c_str(),
                             t.name.c_str(), layer, hp.n_layers);
    }
    if (layer >= 0) p.layer_bytes[static_cast<size_t>(layer)] += t.bytes;
    WeightBytes& w = p.weights;
    if (t.name == "token_embd.weight") {
      w.embeddings += t.bytes;
      embd = t.bytes;
    } else if (t.name == "output.weight") {
      w.output += t.bytes;
      tied = false;
    } else if (EndsWith(t.name, "norm.weight")) {
      w.norms += t.bytes;
    } else if (layer >= 0 && t.name.find(".attn_") != std::string::npos) {
      w.attention += t.bytes;
    } else if (layer >= 0 && t.name.find(".ffn_") != std::string::npos) {
      w.ffn += t.bytes;
    } else {
      w.other += t.bytes;
    }
  }
  uint64_t layers_total = 0;
  for (uint64_t b : p.layer_bytes) layers_total += b;
  p.max_layer_bytes = *std::max_element(p.layer_bytes.begin(), p.layer_bytes.end());
  p.global_bytes = p.weights.total() - layers_total;
  // A decode step reads every layer and the classifier (token_embd when tied),
  // not the embedding table (one row per token).
  p.decode_read_bytes = p.weights.total() - (tied ? 0 : embd);

  const uint64_t kv_row = KvRowBytes(req.kv_type, hp.kv_dim());
  const uint64_t kv_layer_token = 2 * kv_row;  // K and V of one position in one layer
  p.kv_bytes_per_token = kv_layer_token * static_cast<uint64_t>(hp.n_layers);
  const uint64_t positions = static_cast<uint64_t>(req.n_ctx) * static_cast<uint64_t>(req.n_seq);
  p.kv_bytes = p.kv_bytes_per_token * positions;
  const uint64_t kv_layer = kv_layer_token * positions;
  p.scratch_bytes = LlamaContext::ScratchBytes(hp, req.n_ctx, req.n_threads, req.kv_type) +
                    static_cast<uint64_t>(req.n_seq) * static_cast<uint64_t>(hp.vocab) * sizeof(float);

  // GPU first: the layer split (model/layer_split.h) takes token_embd, the first
  // layers with their F32 KV and the device scratch.
  int64_t gpu_layers = 0;
  if (req.gpu_mem > 0 || req.gpu_layers > 0) {
    SplitRequest sr;
    sr.gpu_layers = req.gpu_layers;
    sr.gpu_mem = req.gpu_mem;
    sr.n_ctx = req.n_ctx;
    sr.n_seq = req.n_seq;
    SEPTET_ASSIGN_OR_RETURN(const LayerSplit split, SplitLayers(in, sr));
    gpu_layers = split.gpu_layers;
    p.gpu_bytes = split.gpu_bytes();
  }
  p.gpu_layers = gpu_layers;
  const int64_t host_layers = hp.n_layers - gpu_layers;
  // Host: globals, the host layers' KV, the scratch, then layers in order.
  const uint64_t fixed =
      p.global_bytes + kv_layer * static_cast<uint64_t>(host_layers) + p.scratch_bytes;
  uint64_t host_layer_bytes = 0;
  for (int64_t l = gpu_layers; l < hp.n_layers; ++l) host_layer_bytes += p.layer_bytes[static_cast<size_t>(l)];
  const uint64_t budget = req.mem_budget;
  if (budget == 0 || fixed + host_layer_bytes <= budget) {
    p.resident_layers = host_layers;
    p.host_bytes = fixed + host_layer_bytes;
  } else {
    // The streamed layers pass through a ring of layer buffers (model/layer_streamer.h).
    const uint64_t window = kStreamRingLayers * p.max_layer_bytes;
    if (fixed + window > budget) {
      return OutOfRange("%s %" PRIu64 " bytes (%s) cannot hold the KV cache and the layer streaming buffers: global "
                        "tensors (embeddings, output, norms) %" PRIu64 " + KV cache %" PRIu64 " (%s, n_ctx %" PRId64
                        " x %d sequence(s), %" PRId64 " host layers) + scratch %" PRIu64 " + %d x largest layer %" PRIu64
                        " (the streaming ring) = %" PRIu64 " bytes (%s)",
                        req.budget_flag, budget, Gib(budget).c_str(), p.global_bytes, kv_layer * static_cast<uint64_t>(host_layers),
                        std::string(DTypeName(req.kv_type)).c_str(), req.n_ctx, req.n_seq, host_layers,
                        p.scratch_bytes, kStreamRingLayers, p.max_layer_bytes, fixed + window,
                        Gib(fixed + window).c_str());
    }
    // The ring for the streamed layers, then as many resident layers as fit.
    p.stream_window_bytes = window;
    uint64_t used = fixed + p.stream_window_bytes;
    int64_t resident = 0;
    while (gpu_layers + resident < hp.n_layers &&
           used + p.layer_bytes[static_cast<size_t>(gpu_layers + resident)] <= budget) {
      used += p.layer_bytes[static_cast<size_t>(gpu_layers + resident)];
      ++resident;
    }
    p.resident_layers = resident;
    p.streamed_layers = host_layers - resident;
    p.host_bytes = used;
    // Spread the streamed layers among the resident ones when every host layer
    // has the same size (the bytes are then those counted above); otherwise the tail.
    bool uniform = true;
    for (int64_t l = gpu_layers; l < hp.n_layers; ++l) {
      uniform &= p.layer_bytes[static_cast<size_t>(l)] == p.layer_bytes[static_cast<size_t>(gpu_layers)];
    }
    if (uniform) {
      p.streamed = SpreadStreamedLayers(gpu_layers, hp.n_layers, p.streamed_layers);
    } else {
      for (int64_t l = gpu_layers + resident; l < hp.n_layers; ++l) p.streamed.push_back(l);
    }
  }

  // Speed: bytes per decode step, at the end of the context.
  uint64_t gpu_read = 0, streamed = 0;
  for (int64_t l = 0; l < hp.n_layers; ++l) {
    const uint64_t b = p.layer_bytes[static_cast<size_t>(l)];
    if (l < gpu_layers) gpu_read += b + kv_layer;
  }
  for (int64_t l : p.streamed) streamed += p.layer_bytes[static_cast<size_t>(l)];
  p.lock_bytes = p.global_bytes + host_layer_bytes - streamed;
  const uint64_t host_read = p.decode_read_bytes - (gpu_read - kv_layer * static_cast<uint64_t>(gpu_layers)) +
                             kv_layer * static_cast<uint64_t>(host_layers);
  const bool need_mem = host_read > 0, need_disk = streamed > 0, need_gpu = gpu_read > 0;
  if ((!need_mem || req.mem_bw_gbs > 0) && (!need_disk || req.disk_bw_gbs > 0) &&
      (!need_gpu || req.gpu_bw_gbs > 0)) {
    p.t_mem_s = need_mem ? static_cast<double>(host_read) / (req.mem_bw_gbs * 1e9) : 0;
    p.t_disk_s = need_disk ? static_cast<double>(streamed) / (req.disk_bw_gbs * 1e9) : 0;
    p.t_gpu_s = need_gpu ? static_cast<double>(gpu_read) / (req.gpu_bw_gbs * 1e9) : 0;
    const double t_over = std::max(p.t_mem_s + p.t_gpu_s, p.t_disk_s);
    const double t_serial = p.t_mem_s + p.t_gpu_s + p.t_disk_s;
    p.tok_s_overlapped = t_over > 0 ? 1.0 / t_over : 0;
    p.tok_s_serial = t_serial > 0 ? 1.0 / t_serial : 0;
  }

  const std::string gpu = gpu_layers > 0 ? std::to_string(gpu_layers) + " GPU + " : "";
  if (gpu_layers == hp.n_layers) {
    p.placement = "all " + std::to_string(hp.n_layers) + " layers on the GPU";
  } else if (p.streamed_layers == 0) {
    p.placement = gpu_layers > 0 ? gpu + std::to_string(host_layers) + " CPU layers, all resident"
                                 : "all " + std::to_string(hp.n_layers) + " layers resident";
  } else {
    p.placement = gpu + std::to_string(p.resident_layers) + " resident + " + std::to_string(p.streamed_layers) +
                  " streamed layers";
  }
  return p;
}

}  // namespace septet::model
