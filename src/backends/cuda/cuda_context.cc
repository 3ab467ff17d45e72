// The CUDA forward pass: the same per-chunk sequence as model/llama_context.cc
// (see the shape comment there), each op a kernel from kernels.h or a cuBLAS call
// from gemm.h, all on one stream; one synchronization per Forward call.
#include "backends/cuda/cuda_context.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <map>
#include <string>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/device_types.h"
#include "backends/cuda/gemm.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/launch_config.h"
#include "backends/cuda/upload_type.h"
#include "core/check.h"
#include "kernels/simd/repack.h"
#include "model/kv_cache.h"
#include "quant/q3p5_seed.h"
#include "quant/registry.h"

namespace septet::cuda {

namespace {

struct LayerDev {
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

}  // namespace

struct CudaContext::State {
  CudaContextOptions options;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;

  std::vector<DeviceBuffer> weight_bufs;  // owns every uploaded matrix / vector
  std::map<const uint8_t*, DeviceMatrix> uploaded;  // host bytes -> device copy (tied weights upload once)
  DeviceMatrix token_embd, output;
  const float* output_norm = nullptr;
  std::vector<LayerDev> layers;
  uint64_t weight_bytes = 0;

  DeviceBuffer inv_freq, k_cache, v_cache;
  uint64_t kv_bytes = 0;
  // Scratch for one chunk of `chunk` tokens, each [chunk][width]; meta holds the
  // chunk's token ids, positions, sequence ids and logit-row indices ([4][chunk]).
  int64_t chunk = 0, logits_rows = 0;
  DeviceBuffer meta, x, xb, q, k, v, att, proj, gate, up, logits;
  std::vector<int32_t> meta_host;
  DeviceBuffer act_q, act_d, act_sum, x16, tile;
  uint64_t total_bytes = 0;

  ~State() {
    if (stream != nullptr) cudaStreamSynchronize(stream);  // nothing may still use the buffers
    if (cublas != nullptr) cublasDestroy(cublas);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  Result<DeviceBuffer> Alloc(size_t bytes, const char* what) {
    SEPTET_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(bytes, what));
    total_bytes += b.bytes();
    return b;
  }

  Result<DeviceMatrix> Upload(const cpu::WeightView& w_in, const std::string& name) {
    // The CUDA kernels read the file layout: undo a CPU load-time repack. The
    // cache key is the model's bytes (tied weights upload once).
    std::vector<uint8_t> unpacked, converted;
    cpu::WeightView w = w_in;
    if (w_in.layout != cpu::WeightLayout::kFile) simd::UnpackRows(w_in, &unpacked, &w);
    if (const auto it = uploaded.find(w_in.data); it != uploaded.end()) {
      const DeviceMatrix& d = it->second;
      if (DeviceWeightType(w.type) == d.type && d.rows == w.rows && d.cols == w.cols) return d;
    }
    if (!HasDeviceKernel(w.type)) {  // a type the kernels do not read: Q8_0 on the device (upload_type.h)
      cpu::WeightView q8;
      SEPTET_RETURN_IF_ERROR(ConvertForDevice(w, name, &converted, &q8));
      w = q8;
    }
    if (w.rows <= 0 || w.cols <= 0 || w.data == nullptr || w.row_bytes != GetTypeTraits(w.type).row_bytes(w.cols)) {
      return Internal("CUDA backend: tensor '%s' has an inconsistent weight view", name.c_str());
    }
    if (w.type == DType::kQ3P5_SEED && w.cols > quant::kQ3P5SeedMaxRowLength) {
      return InvalidArgument("CUDA backend: tensor '%s': Q3P5_SEED rows of %" PRId64
                             " exceed K_max = %" PRId64 " (int32 accumulator)",
                             name.c_str(), w.cols, quant::kQ3P5SeedMaxRowLength);
    }
    DeviceMatrix d;
    d.type = w.type;
    d.rows = w.rows;
    d.cols = w.cols;
    d.row_bytes = w.row_bytes;
    d.pitch = RoundUp(w.row_bytes, kRowAlign);
    SEPTET_ASSIGN_OR_RETURN(DeviceBuffer buf, Alloc(d.pitch * static_cast<size_t>(w.rows), name.c_str()));
    SEPTET_CUDA_TRY(cudaMemcpy2D(buf.get(), d.pitch, w.data, w.row_bytes, w.row_bytes, static_cast<size_t>(w.rows),
                                 cudaMemcpyHostToDevice),
                    ("cudaMemcpy2D (upload " + name + ")").c_str());
    d.data = buf.get<const uint8_t>();
    weight_bytes += buf.bytes();
    weight_bufs.push_back(std::move(buf));
    uploaded[w_in.data] = d;
    return d;
  }

  Result<const float*> UploadVector(const float* v, int64_t n, const std::string& name) {
    SEPTET_ASSIGN_OR_RETURN(DeviceBuffer buf, Alloc(static_cast<size_t>(n) * sizeof(float), name.c_str()));
    SEPTET_CUDA_TRY(cudaMemcpy(buf.get(), v, buf.bytes(), cudaMemcpyHostToDevice),
                    ("cudaMemcpy (upload " + name + ")").c_str());
    const float* p = buf.get<const float>();
    weight_bytes += buf.bytes();
    weight_bufs.push_back(std::move(buf));
    return p;
  }

  DeviceAct Act(DType act_type, int64_t n) const {
    DeviceAct a;
    a.q = act_q.get<int8_t>();
    a.d = act_d.get<float>();
    a.sum = act_sum.get<int32_t>();
    a.q_stride = ActStride(n);
    a.blocks = ActBlocksFor(act_type, n);
    return a;
  }

  // y [m][w.rows] = x [m][w.cols] W^T.
  Status MatMul(const DeviceMatrix& w, const float* xin, int64_t m, float* y) {
    if (m >= options.gemm_min_tokens) {
      GemmScratch gs;
      gs.tile = tile.get();
      gs.tile_bytes = tile.bytes();
      gs.x16 = x16.get<uint16_t>();
      gs.x16_elems = x16.bytes() / sizeof(uint16_t);
      return GemmMatMul(cublas, stream, w, xin, m, y, w.rows, gs);
    }
    const DType act_type = DeviceActType(w.type);
    const DeviceAct act = Act(act_type, w.cols);
    SEPTET_CUDA_TRY(LaunchQuantizeActivation(act_type, xin, m, w.cols, w.cols, act, stream),
                    ("launch QuantizeActivation " + std::string(GetTypeTraits(act_type).name)).c_str());
    SEPTET_CUDA_TRY(LaunchMatVec(w, xin, w.cols, act, m, y, w.rows, stream), "launch MatVec");
    return Status::Ok();
  }
};

CudaContext::CudaContext(const model::LlamaModel& model, int64_t n_ctx, std::unique_ptr<State> state)
    : model_(model), n_ctx_(n_ctx), s_(std::move(state)) {
  seq_past_.assign(static_cast<size_t>(s_->options.n_seq), 0);
}

CudaContext::~CudaContext() = default;

model::MemoryUse CudaContext::memory() const {
  model::MemoryUse u;
  u.weights = s_->weight_bytes;
  u.kv_cache = s_->kv_bytes;
  u.scratch = s_->total_bytes - u.weights - u.kv_cache;
  return u;
}

void CudaContext::TruncateSeq(int32_t seq, int64_t n) {
  SEPTET_CHECK(seq >= 0 && seq < n_seq());
  SEPTET_CHECK(n >= 0 && n <= seq_past_[static_cast<size_t>(seq)]);
  // Positions >= n in the device cache are overwritten before they are read again.
  seq_past_[static_cast<size_t>(seq)] = n;
}

Result<std::unique_ptr<CudaContext>> CudaContext::Create(const model::LlamaModel& model, int64_t n_ctx,
                                                         const CudaContextOptions& options) {
  if (n_ctx <= 0) return InvalidArgument("n_ctx = %" PRId64 "; expected > 0", n_ctx);
  if (options.gemm_min_tokens < 1) {
    return InvalidArgument("gemm_min_tokens = %" PRId64 "; expected >= 1", options.gemm_min_tokens);
  }
  if (options.max_chunk < 1 || options.max_chunk > kMaxChunk) {
    return InvalidArgument("max_chunk = %" PRId64 "; expected 1 .. %" PRId64, options.max_chunk, kMaxChunk);
  }
  if (options.n_seq < 1) return InvalidArgument("n_seq = %d; expected >= 1", options.n_seq);
  const model::LlamaHParams& hp = model.hparams();
  const bool front = options.front_layers >= 0;
  if (front && (options.front_layers < 1 || options.front_layers > hp.n_layers)) {
    return InvalidArgument("--gpu-layers %" PRId64 ": expected 1 .. %" PRId64 " (the model's layers)",
                           options.front_layers, hp.n_layers);
  }
  const int64_t n_run = front ? options.front_layers : hp.n_layers;  // layers uploaded and run
  if (n_ctx > INT32_MAX) return InvalidArgument("n_ctx = %" PRId64 "; expected <= %d", n_ctx, INT32_MAX);
  SEPTET_ASSIGN_OR_RETURN(const int n_devices, UsableDeviceCount());
  if (options.device < 0 || options.device >= n_devices) {
    return InvalidArgument("CUDA device %d requested; %d device(s) present", options.device, n_devices);
  }
  if (hp.rotation != model::InputRotationKind::kNone) {
    return Unsupported("CUDA backend: the model's matmul inputs are rotated (metadata '%s'; written by `septet "
                       "quantize --rotate`), which only the CPU backend applies; run it without --gpu/--gpu-layers, "
                       "or quantize the source without --rotate",
                       model::kRotationKey);
  }
  if (hp.head_dim > kAttnMaxHeadDim) {
    return Unsupported("CUDA backend: head_dim = %" PRId64 "; the attention kernel supports at most %d",
                       hp.head_dim, kAttnMaxHeadDim);
  }
  SEPTET_CUDA_TRY(cudaSetDevice(options.device), "cudaSetDevice");

  auto s = std::make_unique<State>();
  s->options = options;
  SEPTET_CUDA_TRY(cudaStreamCreate(&s->stream), "cudaStreamCreate");
  SEPTET_CUBLAS_TRY(cublasCreate(&s->cublas), "cublasCreate");
  SEPTET_CUBLAS_TRY(cublasSetStream(s->cublas, s->stream), "cublasSetStream");
  SEPTET_CUBLAS_TRY(cublasSetMathMode(s->cublas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");  // no TF32

  // ---- the memory plan, checked against what the device has free ----
  const model::LlamaWeights& w = model.weights();
  const int64_t chunk = std::min(options.max_chunk, n_ctx * options.n_seq);
  const int64_t logits_rows = front ? 0 : std::min(kMaxLogitsRows, chunk);  // a front has no output head
  const int64_t max_cols = std::max({hp.dim, hp.q_dim(), hp.ffn_dim});
  std::vector<const cpu::WeightView*> mats = {&w.token_embd};
  if (!front) mats.push_back(&w.output);
  for (int64_t l = 0; l < n_run; ++l) {
    const model::LayerWeights& L = w.layers[static_cast<size_t>(l)];
    for (const cpu::WeightView* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) mats.push_back(m);
  }
  uint64_t weights_needed = 0, tile_bytes = 0;
  bool any_f16_gemm = false;
  {
    std::map<const uint8_t*, bool> seen;
    for (const cpu::WeightView* m : mats) {
      DeviceMatrix probe;
      probe.type = DeviceWeightType(m->type).value_or(m->type);
      probe.rows = m->rows;
      probe.cols = m->cols;
      if (!seen[m->data]) weights_needed += RoundUp(DeviceRowBytes(m->type, m->cols), kRowAlign) * static_cast<uint64_t>(m->rows);
      seen[m->data] = true;
      if (m == &w.token_embd && (front || w.token_embd.data != w.output.data)) continue;  // a lookup table only
      tile_bytes = std::max<uint64_t>(tile_bytes, GemmTileBytes(probe));
      const GemmKind kind = GemmKindOf(probe.type);
      any_f16_gemm |= kind == GemmKind::kF16Direct || kind == GemmKind::kF16Tiles;
    }
    weights_needed += static_cast<uint64_t>(2 * n_run + (front ? 0 : 1)) * static_cast<uint64_t>(hp.dim) * sizeof(float);
  }
  const bool gemm_used = options.gemm_min_tokens <= chunk;
  if (!gemm_used) tile_bytes = 0;
  const uint64_t f = sizeof(float);
  const uint64_t c = static_cast<uint64_t>(chunk);
  const uint64_t scratch_needed =
      4 * c * sizeof(int32_t) + c * f * (3 * hp.dim + 2 * hp.q_dim() + 2 * hp.kv_dim() + 2 * hp.ffn_dim) +
      static_cast<uint64_t>(logits_rows * hp.vocab) * f + c * static_cast<uint64_t>(ActStride(max_cols)) +
      2 * c * static_cast<uint64_t>(ActBlocks(max_cols)) * 4 +
      (gemm_used && any_f16_gemm ? c * static_cast<uint64_t>(max_cols) * 2 : 0) + tile_bytes;
  const uint64_t kv_bytes = model::KvCache::Bytes(n_run, n_ctx, hp.kv_dim(), options.n_seq);
  const uint64_t needed = weights_needed + kv_bytes + scratch_needed;
  size_t free_b = 0, total_b = 0;
  SEPTET_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  if (needed > free_b) {
    return InvalidArgument("CUDA backend: needs %.1f MiB on device %d (weights %.1f, KV cache %.1f for n_ctx = %" PRId64
                           " x %d sequence(s), scratch %.1f) but only %.1f MiB of %.1f are free",
                           needed / 1048576.0, options.device, weights_needed / 1048576.0, kv_bytes / 1048576.0,
                           n_ctx, options.n_seq, scratch_needed / 1048576.0, free_b / 1048576.0, total_b / 1048576.0);
  }

  // ---- weights ----
  SEPTET_ASSIGN_OR_RETURN(s->token_embd, s->Upload(w.token_embd, "token_embd.weight"));
  if (!front) {
    SEPTET_ASSIGN_OR_RETURN(s->output, s->Upload(w.output, "output.weight"));
    SEPTET_ASSIGN_OR_RETURN(s->output_norm, s->UploadVector(w.output_norm, hp.dim, "output_norm.weight"));
  }
  for (int64_t l = 0; l < n_run; ++l) {
    const model::LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerDev d;
    SEPTET_ASSIGN_OR_RETURN(d.attn_norm, s->UploadVector(L.attn_norm, hp.dim, p + "attn_norm.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.ffn_norm, s->UploadVector(L.ffn_norm, hp.dim, p + "ffn_norm.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.wq, s->Upload(L.wq, p + "attn_q.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.wk, s->Upload(L.wk, p + "attn_k.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.wv, s->Upload(L.wv, p + "attn_v.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.wo, s->Upload(L.wo, p + "attn_output.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.w_gate, s->Upload(L.w_gate, p + "ffn_gate.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.w_up, s->Upload(L.w_up, p + "ffn_up.weight"));
    SEPTET_ASSIGN_OR_RETURN(d.w_down, s->Upload(L.w_down, p + "ffn_down.weight"));
    s->layers.push_back(d);
  }
  const std::vector<double>& inv = model.rope_inv_freq();
  SEPTET_ASSIGN_OR_RETURN(s->inv_freq, s->Alloc(inv.size() * sizeof(double), "rope inv_freq"));
  SEPTET_CUDA_TRY(cudaMemcpy(s->inv_freq.get(), inv.data(), s->inv_freq.bytes(), cudaMemcpyHostToDevice),
                  "cudaMemcpy (rope inv_freq)");

  // ---- KV cache and scratch ----
  SEPTET_ASSIGN_OR_RETURN(s->k_cache, s->Alloc(kv_bytes / 2, "K cache"));
  SEPTET_ASSIGN_OR_RETURN(s->v_cache, s->Alloc(kv_bytes / 2, "V cache"));
  s->kv_bytes = kv_bytes;
  s->chunk = chunk;
  s->logits_rows = logits_rows;
  const auto rows = [&](int64_t width) { return static_cast<size_t>(chunk * width) * sizeof(float); };
  SEPTET_ASSIGN_OR_RETURN(s->meta, s->Alloc(static_cast<size_t>(4 * chunk) * sizeof(int32_t), "token ids"));
  s->meta_host.resize(static_cast<size_t>(4 * chunk));
  SEPTET_ASSIGN_OR_RETURN(s->x, s->Alloc(rows(hp.dim), "x"));
  SEPTET_ASSIGN_OR_RETURN(s->xb, s->Alloc(rows(hp.dim), "xb"));
  SEPTET_ASSIGN_OR_RETURN(s->proj, s->Alloc(rows(hp.dim), "proj"));
  SEPTET_ASSIGN_OR_RETURN(s->q, s->Alloc(rows(hp.q_dim()), "q"));
  SEPTET_ASSIGN_OR_RETURN(s->att, s->Alloc(rows(hp.q_dim()), "att"));
  SEPTET_ASSIGN_OR_RETURN(s->k, s->Alloc(rows(hp.kv_dim()), "k"));
  SEPTET_ASSIGN_OR_RETURN(s->v, s->Alloc(rows(hp.kv_dim()), "v"));
  SEPTET_ASSIGN_OR_RETURN(s->gate, s->Alloc(rows(hp.ffn_dim), "gate"));
  SEPTET_ASSIGN_OR_RETURN(s->up, s->Alloc(rows(hp.ffn_dim), "up"));
  SEPTET_ASSIGN_OR_RETURN(s->logits, s->Alloc(static_cast<size_t>(logits_rows * hp.vocab) * sizeof(float), "logits"));
  SEPTET_ASSIGN_OR_RETURN(s->act_q, s->Alloc(static_cast<size_t>(chunk * ActStride(max_cols)), "INT8 activations"));
  SEPTET_ASSIGN_OR_RETURN(s->act_d, s->Alloc(static_cast<size_t>(chunk * ActBlocks(max_cols)) * 4, "activation scales"));
  SEPTET_ASSIGN_OR_RETURN(s->act_sum, s->Alloc(static_cast<size_t>(chunk * ActBlocks(max_cols)) * 4, "activation sums"));
  if (gemm_used && any_f16_gemm) {
    SEPTET_ASSIGN_OR_RETURN(s->x16, s->Alloc(static_cast<size_t>(chunk * max_cols) * 2, "fp16 activations"));
  }
  if (tile_bytes > 0) {
    SEPTET_ASSIGN_OR_RETURN(s->tile, s->Alloc(tile_bytes, "GEMM tiles"));
  }
  SEPTET_CUDA_TRY(cudaDeviceSynchronize(), "cudaDeviceSynchronize (after upload)");
  return std::unique_ptr<CudaContext>(new CudaContext(model, n_ctx, std::move(s)));
}

int64_t CudaContext::n_layers_run() const { return static_cast<int64_t>(s_->layers.size()); }
int64_t CudaContext::max_chunk() const { return s_->chunk; }

Status CudaContext::ForwardBatch(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids,
                                 model::LogitsMode mode, std::vector<float>* logits) {
  const model::LlamaHParams& hp = model_.hparams();
  if (s_->options.front_layers >= 0) {
    return Internal("CUDA front of %" PRId64 " layers: it has no output head (use ForwardHidden)",
                    s_->options.front_layers);
  }
  SEPTET_ASSIGN_OR_RETURN(const model::BatchPlan plan,
                          model::PlanBatch(tokens, seq_ids, mode, hp.vocab, seq_past_, n_ctx_));
  // On failure no sequence advances: cache rows past seq_past are overwritten later.
  SEPTET_RETURN_IF_ERROR(ForwardChunks(tokens, seq_ids, plan, logits));
  for (size_t q = 0; q < seq_past_.size(); ++q) seq_past_[q] += plan.seq_count[q];
  return Status::Ok();
}

Status CudaContext::EmbedAndLayers(int64_t m) {
  const model::LlamaHParams& hp = model_.hparams();
  State& s = *s_;
  cudaStream_t st = s.stream;
  const int64_t dim = hp.dim, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), hd = hp.head_dim, ffn = hp.ffn_dim;
  const int64_t seq_stride = n_ctx_ * kv_dim;                         // floats per sequence in a layer's plane
  const int64_t plane = static_cast<int64_t>(seq_past_.size()) * seq_stride;  // floats per layer
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  float* x = s.x.get<float>();
  float* xb = s.xb.get<float>();
  float* q = s.q.get<float>();
  float* k = s.k.get<float>();
  float* v = s.v.get<float>();
  float* att = s.att.get<float>();
  float* proj = s.proj.get<float>();
  float* gate = s.gate.get<float>();
  float* up = s.up.get<float>();
  const int32_t* d_ids = s.meta.get<const int32_t>();
  const int32_t* d_pos = d_ids + s.chunk;
  const int32_t* d_seq = d_ids + 2 * s.chunk;
  const double* inv_freq = s.inv_freq.get<const double>();
  const bool half_pairing = hp.rope_pairing == cpu::RopePairing::kHalf;

  // Pageable source: the copy has left meta_host when cudaMemcpyAsync returns.
  SEPTET_CUDA_TRY(cudaMemcpyAsync(s.meta.get(), s.meta_host.data(), s.meta.bytes(), cudaMemcpyHostToDevice, st),
                  "cudaMemcpyAsync (token ids, positions)");
  SEPTET_CUDA_TRY(LaunchDequantRowsF32(s.token_embd, d_ids, 0, m, x, dim, st), "launch embedding lookup");
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerDev& L = s.layers[l];
    float* kc = s.k_cache.get<float>() + static_cast<int64_t>(l) * plane;
    float* vc = s.v_cache.get<float>() + static_cast<int64_t>(l) * plane;
    // ---- attention ----
    SEPTET_CUDA_TRY(LaunchRmsNorm(x, L.attn_norm, m, dim, hp.rms_eps, xb, st), "launch RmsNorm (attn)");
    SEPTET_RETURN_IF_ERROR(s.MatMul(L.wq, xb, m, q));
    SEPTET_RETURN_IF_ERROR(s.MatMul(L.wk, xb, m, k));
    SEPTET_RETURN_IF_ERROR(s.MatMul(L.wv, xb, m, v));
    SEPTET_CUDA_TRY(LaunchRope(q, m, q_dim, hp.n_heads, hd, hp.n_rot, d_pos, inv_freq, half_pairing, st),
                    "launch Rope (q)");
    SEPTET_CUDA_TRY(LaunchRope(k, m, kv_dim, hp.n_kv_heads, hd, hp.n_rot, d_pos, inv_freq, half_pairing, st),
                    "launch Rope (k)");
    SEPTET_CUDA_TRY(LaunchKvStore(k, v, m, kv_dim, d_pos, d_seq, seq_stride, kc, vc, st), "launch KvStore");
    SEPTET_CUDA_TRY(LaunchAttention(q, kc, vc, m, d_pos, d_seq, seq_stride, hp.n_heads, hp.n_kv_heads, hd, scale,
                                    att, st),
                    "launch Attention");
    SEPTET_RETURN_IF_ERROR(s.MatMul(L.wo, att, m, proj));
    SEPTET_CUDA_TRY(LaunchAdd(x, proj, m * dim, st), "launch Add (attn residual)");
    // ---- feed-forward (SwiGLU) ----
    SEPTET_CUDA_TRY(LaunchRmsNorm(x, L.ffn_norm, m, dim, hp.rms_eps, xb, st), "launch RmsNorm (ffn)");
    SEPTET_RETURN_IF_ERROR(s.MatMul(L.w_gate, xb, m, gate));
    SEPTET_RETURN_IF_ERROR(s.MatMul(L.w_up, xb, m, up));
    SEPTET_CUDA_TRY(LaunchSiluMul(gate, gate, up, m * ffn, st), "launch SiluMul");
    SEPTET_RETURN_IF_ERROR(s.MatMul(L.w_down, gate, m, proj));
    SEPTET_CUDA_TRY(LaunchAdd(x, proj, m * dim, st), "launch Add (ffn residual)");
  }
  return Status::Ok();
}

Status CudaContext::ForwardHidden(std::span<const int32_t> tokens, std::span<const int32_t> seq,
                                  std::span<const int32_t> pos, float* hidden) {
  State& s = *s_;
  const int64_t m = static_cast<int64_t>(tokens.size());
  if (m < 1 || m > s.chunk || seq.size() != tokens.size() || pos.size() != tokens.size()) {
    return InvalidArgument("CUDA front: %" PRId64 " tokens (%zu sequence ids, %zu positions); expected 1 .. %" PRId64
                           " of each",
                           m, seq.size(), pos.size(), s.chunk);
  }
  SEPTET_CUDA_TRY(cudaSetDevice(s.options.device), "cudaSetDevice");
  int32_t* h = s.meta_host.data();
  for (int64_t i = 0; i < m; ++i) {
    h[i] = tokens[static_cast<size_t>(i)];
    h[s.chunk + i] = pos[static_cast<size_t>(i)];
    h[2 * s.chunk + i] = seq[static_cast<size_t>(i)];
  }
  SEPTET_RETURN_IF_ERROR(EmbedAndLayers(m));
  // The boundary: hidden rows [m][dim] down to the host, once per chunk.
  const size_t bytes = static_cast<size_t>(m * model_.hparams().dim) * sizeof(float);
  SEPTET_CUDA_TRY(cudaMemcpyAsync(hidden, s.x.get(), bytes, cudaMemcpyDeviceToHost, s.stream),
                  "cudaMemcpyAsync (hidden rows)");
  SEPTET_CUDA_TRY(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize (front)");
  return Status::Ok();
}

Status CudaContext::ForwardChunks(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids,
                                  const model::BatchPlan& plan, std::vector<float>* logits) {
  const model::LlamaHParams& hp = model_.hparams();
  State& s = *s_;
  cudaStream_t st = s.stream;
  SEPTET_CUDA_TRY(cudaSetDevice(s.options.device), "cudaSetDevice");
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t dim = hp.dim;
  logits->resize(plan.logit_rows.size() * static_cast<size_t>(hp.vocab));
  float* x = s.x.get<float>();
  float* xb = s.xb.get<float>();
  float* lg = s.logits.get<float>();
  const int32_t* d_rows = s.meta.get<const int32_t>() + 3 * s.chunk;
  size_t next_row = 0;  // into plan.logit_rows

  for (int64_t start = 0; start < n; start += s.chunk) {
    const int64_t m = std::min(s.chunk, n - start);
    // This chunk's logit rows (indices within the chunk).
    const size_t first = next_row;
    while (next_row < plan.logit_rows.size() && plan.logit_rows[next_row] < start + m) ++next_row;
    const int64_t n_rows = static_cast<int64_t>(next_row - first);
    int32_t* h = s.meta_host.data();
    for (int64_t i = 0; i < m; ++i) {
      h[i] = tokens[static_cast<size_t>(start + i)];
      h[s.chunk + i] = plan.pos[static_cast<size_t>(start + i)];
      h[2 * s.chunk + i] = seq_ids[static_cast<size_t>(start + i)];
    }
    for (int64_t j = 0; j < n_rows; ++j) {
      h[3 * s.chunk + j] = static_cast<int32_t>(plan.logit_rows[first + static_cast<size_t>(j)] - start);
    }
    SEPTET_RETURN_IF_ERROR(EmbedAndLayers(m));

    // ---- logits of the chosen rows: normed into xb (gathered first unless they are
    // consecutive), then the output matmul kMaxLogitsRows rows at a time ----
    if (n_rows == 0) continue;
    const int64_t r0 = plan.logit_rows[first] - start;
    if (plan.logit_rows[next_row - 1] - start - r0 == n_rows - 1) {
      SEPTET_CUDA_TRY(LaunchRmsNorm(x + r0 * dim, s.output_norm, n_rows, dim, hp.rms_eps, xb, st),
                      "launch RmsNorm (output)");
    } else {
      SEPTET_CUDA_TRY(LaunchGatherRows(x, d_rows, n_rows, dim, xb, st), "launch GatherRows (logit rows)");
      SEPTET_CUDA_TRY(LaunchRmsNorm(xb, s.output_norm, n_rows, dim, hp.rms_eps, xb, st), "launch RmsNorm (output)");
    }
    for (int64_t i0 = 0; i0 < n_rows; i0 += s.logits_rows) {
      const int64_t nr = std::min(s.logits_rows, n_rows - i0);
      SEPTET_RETURN_IF_ERROR(s.MatMul(s.output, xb + i0 * dim, nr, lg));
      SEPTET_CUDA_TRY(cudaMemcpyAsync(logits->data() + (first + static_cast<size_t>(i0)) * hp.vocab, lg,
                                      static_cast<size_t>(nr * hp.vocab) * sizeof(float), cudaMemcpyDeviceToHost, st),
                      "cudaMemcpyAsync (logits)");
    }
  }
  SEPTET_CUDA_TRY(cudaStreamSynchronize(st), "cudaStreamSynchronize (forward pass)");
  return Status::Ok();
}

Result<std::unique_ptr<model::InferenceContext>> CreateCudaContext(const model::LlamaModel& model, int64_t n_ctx,
                                                                   int32_t n_seq) {
  CudaContextOptions options;
  options.n_seq = n_seq;
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> ctx, CudaContext::Create(model, n_ctx, options));
  return std::unique_ptr<model::InferenceContext>(std::move(ctx));
}

namespace {

// model::LayerFront over a CudaContext created with front_layers.
class CudaFront final : public model::LayerFront {
 public:
  explicit CudaFront(std::unique_ptr<CudaContext> ctx) : ctx_(std::move(ctx)) {}
  int64_t n_layers() const override { return ctx_->n_layers_run(); }
  Status Run(std::span<const int32_t> tokens, std::span<const int32_t> seq, std::span<const int32_t> pos,
             float* hidden) override {
    return ctx_->ForwardHidden(tokens, seq, pos, hidden);
  }
  model::MemoryUse memory() const override { return ctx_->memory(); }
  const char* device_name() const override { return "cuda"; }

 private:
  std::unique_ptr<CudaContext> ctx_;
};

}  // namespace

Result<std::unique_ptr<model::LayerFront>> CreateCudaFront(const model::LlamaModel& model, int64_t n_layers,
                                                           int64_t n_ctx, int32_t n_seq, int64_t chunk) {
  CudaContextOptions options;
  options.n_seq = n_seq;
  options.front_layers = n_layers;
  options.max_chunk = std::min(chunk, CudaContext::kMaxChunk);
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> ctx, CudaContext::Create(model, n_ctx, options));
  return std::unique_ptr<model::LayerFront>(new CudaFront(std::move(ctx)));
}

}  // namespace septet::cuda
