// The LLaMA forward pass (one implementation for every weight type).
//
// Per chunk of m tokens, row i of sequence s_i at position p_i (shapes per token row):
//   x      = token_embd[tok]                               [m][dim]
//   for each layer l:
//     xb   = RMSNorm(x) * attn_norm                        [m][dim]
//     q    = xb Wq^T, k = xb Wk^T, v = xb Wv^T             [m][q_dim], [m][kv_dim] x2
//     q, k = RoPE(q, k; p_i)                               per head, pairing from metadata
//     cache.k[l][s_i][p_i], cache.v[l][s_i][p_i] = k, v    [n_ctx][kv_dim] per sequence
//     att  = per query head h (KV head h / gqa_group), over the row's own sequence:
//            softmax(q_h K_{0..p_i}^T / sqrt(head_dim)) V  [m][q_dim]  (causal)
//     x   += att Wo^T                                      [m][dim]
//     xb   = RMSNorm(x) * ffn_norm                         [m][dim]
//     x   += (silu(xb Wgate^T) * (xb Wup^T)) Wdown^T       [m][ffn_dim] -> [m][dim]
//   logits = RMSNorm(x) * output_norm  Wout^T              [vocab] per requested row
//
// A split pass (CpuOptions::front, model/layer_split.h) replaces the embedding and
// layers [0, F) with the front's hidden rows; CpuFront runs a context with
// layer_end = F and takes x after its last layer.
#include "model/llama_context.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "kernels/attention.h"
#include "kernels/cpu/ops.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"

namespace septet::model {

LlamaContext::LlamaContext(const LlamaModel& model, KvCache cache, const CpuOptions& options)
    : model_(model), cache_(std::move(cache)), pool_(options.n_threads), front_(options.front) {
  layer_begin_ = front_ ? front_->n_layers() : 0;
  layer_end_ = options.layer_end > 0 ? options.layer_end : model.hparams().n_layers;
  seq_past_.assign(static_cast<size_t>(cache_.n_seq()), 0);
  seq_.assign(kMaxBatch, 0);
  pos_.assign(kMaxBatch, 0);
  rope_cs_.assign(static_cast<size_t>(kMaxBatch * model.hparams().n_rot), 0.0);
  mm_.pool = &pool_;
  mm_.prefill = options.prefill;
  mm_.min_macs_per_task = options.min_work_per_task;
  const LlamaHParams& hp = model.hparams();
  const auto rows = [](int64_t width) { return static_cast<size_t>(kMaxBatch * width); };
  x_.resize(rows(hp.dim));
  xb_.resize(rows(hp.dim));
  q_.resize(rows(hp.q_dim()));
  k_.resize(rows(hp.kv_dim()));
  v_.resize(rows(hp.kv_dim()));
  att_.resize(rows(hp.q_dim()));
  proj_.resize(rows(hp.dim));
  gate_.resize(rows(hp.ffn_dim));
  up_.resize(rows(hp.ffn_dim));
  scores_.resize(static_cast<size_t>(pool_.size() * hp.gqa_group() * cache_.n_ctx()));
  norm_.resize(rows(hp.dim));
  if (cache_.type() != DType::kF32) kv_row_.resize(static_cast<size_t>(pool_.size() * hp.head_dim));
  if (hp.rotation == InputRotationKind::kHadamardV1) {
    rot_dim_.emplace(hp.dim);
    rot_q_.emplace(hp.q_dim());
    rot_ffn_.emplace(hp.ffn_dim);
  }
}

uint64_t LlamaContext::ScratchBytes(const LlamaHParams& hp, int64_t n_ctx, int32_t n_threads, DType kv_type) {
  const uint64_t rows = static_cast<uint64_t>(kMaxBatch) *
                        static_cast<uint64_t>(4 * hp.dim + 2 * hp.q_dim() + 2 * hp.kv_dim() + 2 * hp.ffn_dim);
  const uint64_t per_thread = static_cast<uint64_t>(hp.gqa_group() * n_ctx) +
                              (kv_type == DType::kF32 ? 0 : static_cast<uint64_t>(hp.head_dim));
  return (rows + static_cast<uint64_t>(n_threads) * per_thread) * sizeof(float) + 2 * kMaxBatch * sizeof(int32_t) +
         static_cast<uint64_t>(kMaxBatch * hp.n_rot) * sizeof(double);
}

Result<std::unique_ptr<LlamaContext>> LlamaContext::Create(const LlamaModel& model, int64_t n_ctx,
                                                           const CpuOptions& options) {
  if (n_ctx <= 0) return InvalidArgument("n_ctx = %" PRId64 "; expected > 0", n_ctx);
  if (options.n_threads < 1 || options.n_threads > 1024) {
    return InvalidArgument("threads = %d; expected 1 .. 1024", options.n_threads);
  }
  if (options.n_seq < 1) return InvalidArgument("n_seq = %d; expected >= 1", options.n_seq);
  const LlamaHParams& hp = model.hparams();
  const int64_t begin = options.front ? options.front->n_layers() : 0;
  const int64_t end = options.layer_end > 0 ? options.layer_end : hp.n_layers;
  if (options.front && (begin < 0 || begin > hp.n_layers)) {
    return InvalidArgument("layer split: the front runs %" PRId64 " layers of a %" PRId64 "-layer model", begin,
                           hp.n_layers);
  }
  if (options.layer_end != -1 && (options.layer_end < 1 || options.layer_end > hp.n_layers || options.front)) {
    return InvalidArgument("layer_end = %" PRId64 "; expected 1 .. %" PRId64 " and no front", options.layer_end,
                           hp.n_layers);
  }
  const int64_t first_streamed = !options.stream_layers.empty() ? options.stream_layers.front()
                                                                  : options.stream_from_layer;
  if (first_streamed >= 0 && first_streamed < begin) {
    return InvalidArgument("layer streaming from layer %" PRId64 ", but layers below %" PRId64
                           " run in the front (%s)",
                           first_streamed, begin, options.front->device_name());
  }
  // The cache holds the layers computed here; a split with every layer in the
  // front keeps one unused layer so that the cache stays well-formed.
  SEPTET_ASSIGN_OR_RETURN(KvCache cache, KvCache::Create(std::max<int64_t>(end - begin, 1), n_ctx, hp.kv_dim(),
                                                         options.n_seq, options.kv_type));
  std::unique_ptr<LlamaContext> ctx(new LlamaContext(model, std::move(cache), options));
  if (!options.stream_layers.empty()) {
    SEPTET_ASSIGN_OR_RETURN(ctx->streamer_, LayerStreamer::Create(model, options.stream_layers));
  } else if (options.stream_from_layer >= 0) {
    SEPTET_ASSIGN_OR_RETURN(ctx->streamer_, LayerStreamer::Create(model, options.stream_from_layer));
  }
  return ctx;
}

void LlamaContext::TruncateSeq(int32_t seq, int64_t n) {
  SEPTET_CHECK(seq >= 0 && seq < n_seq());
  SEPTET_CHECK(n >= 0 && n <= seq_past_[static_cast<size_t>(seq)]);
  seq_past_[static_cast<size_t>(seq)] = n;
}

MemoryUse LlamaContext::memory() const {
  MemoryUse u;
  u.weights = model_.weights().mapped_bytes + model_.weights().owned_bytes;
  u.kv_cache = cache_.bytes();
  size_t floats = 0;
  for (const std::vector<float>* v : {&x_, &xb_, &q_, &k_, &v_, &att_, &proj_, &gate_, &up_, &scores_, &norm_, &kv_row_}) {
    floats += v->size();
  }
  u.scratch = floats * sizeof(float) + (seq_.size() + pos_.size()) * sizeof(int32_t) + rope_cs_.size() * sizeof(double);
  return u;
}

bool LlamaContext::SetProfile(OpProfile* profile) {
  profile_ = profile;
  pool_.EnableWaitTiming(profile != nullptr);
  mm_.timing = profile != nullptr;
  return true;
}

Status LlamaContext::ForwardBatch(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids, LogitsMode mode,
                                  std::vector<float>* logits) {
  const LlamaHParams& hp = model_.hparams();
  if (layer_end_ < hp.n_layers) {
    return Internal("this context runs layers [0, %" PRId64 ") only and has no output head", layer_end_);
  }
  SEPTET_ASSIGN_OR_RETURN(const BatchPlan plan,
                          PlanBatch(tokens, seq_ids, mode, hp.vocab, seq_past_, cache_.n_ctx()));
  const int64_t n = static_cast<int64_t>(tokens.size());
  const uint64_t t_start = profile_ != nullptr ? NowNs() : 0;
  uint64_t claimed0 = 0;
  if (profile_ != nullptr) {
    for (uint64_t v : profile_->ns) claimed0 += v;
  }
  logits->resize(plan.logit_rows.size() * static_cast<size_t>(hp.vocab));
  size_t next_row = 0;  // index into plan.logit_rows
  for (int64_t start = 0; start < n; start += kMaxBatch) {
    const int64_t m = std::min(kMaxBatch, n - start);
    for (int64_t i = 0; i < m; ++i) {
      seq_[static_cast<size_t>(i)] = seq_ids[static_cast<size_t>(start + i)];
      pos_[static_cast<size_t>(i)] = plan.pos[static_cast<size_t>(start + i)];
    }
    // A failing front leaves no sequence advanced (rows past seq_past are overwritten later).
    SEPTET_RETURN_IF_ERROR(ForwardChunk(tokens.data() + start, m));
    // This chunk's rows whose logits are wanted: consecutive ones straight from x_,
    // others gathered into proj_ (free once the chunk is done).
    const size_t first = next_row;
    while (next_row < plan.logit_rows.size() && plan.logit_rows[next_row] < start + m) ++next_row;
    const int64_t cnt = static_cast<int64_t>(next_row - first);
    if (cnt == 0) continue;
    float* out = logits->data() + first * static_cast<size_t>(hp.vocab);
    const int64_t r0 = plan.logit_rows[first] - start;
    if (plan.logit_rows[next_row - 1] - start - r0 == cnt - 1) {
      Logits(x_.data() + r0 * hp.dim, cnt, out);
    } else {
      for (int64_t j = 0; j < cnt; ++j) {
        const int64_t r = plan.logit_rows[first + static_cast<size_t>(j)] - start;
        std::memcpy(proj_.data() + j * hp.dim, x_.data() + r * hp.dim, static_cast<size_t>(hp.dim) * sizeof(float));
      }
      Logits(proj_.data(), cnt, out);
    }
  }
  for (size_t s = 0; s < seq_past_.size(); ++s) seq_past_[s] += plan.seq_count[s];
  if (profile_ != nullptr) {  // what no op claimed goes to kOther
    const uint64_t total = NowNs() - t_start;
    uint64_t claimed = 0;
    for (uint64_t v : profile_->ns) claimed += v;
    claimed -= claimed0;
    profile_->ns[static_cast<size_t>(Op::kOther)] += total > claimed ? total - claimed : 0;
    profile_->total_ns += total;
  }
  return Status::Ok();
}

Status LlamaContext::ForwardChunk(const int32_t* tokens, int64_t m) {
  const LlamaHParams& hp = model_.hparams();
  if (front_) {
    // The boundary: the front's hidden rows [m][dim] land in x_ (a profile counts
    // the front's time under kOther).
    const auto n = static_cast<size_t>(m);
    SEPTET_RETURN_IF_ERROR(front_->Run(std::span<const int32_t>(tokens, n), std::span<const int32_t>(seq_.data(), n),
                                       std::span<const int32_t>(pos_.data(), n), x_.data()));
  } else {
    // Any layout: token_embd may share a repacked tied output head's bytes (model/weights.h).
    for (int64_t i = 0; i < m; ++i) simd::RowToFloat(model_.weights().token_embd, tokens[i], x_.data() + i * hp.dim);
  }
  Timed(Op::kRope, [&] {  // the rows' rotations, shared by every layer
    for (int64_t i = 0; i < m; ++i) {
      cpu::RopeAngles(hp.n_rot, pos_[static_cast<size_t>(i)], model_.rope_inv_freq().data(),
                      rope_cs_.data() + i * hp.n_rot);
    }
  });
  for (int64_t l = layer_begin_; l < layer_end_; ++l) {
    const LayerWeights* w = &model_.weights().layers[static_cast<size_t>(l)];
    if (streamer_) {
      SEPTET_ASSIGN_OR_RETURN(w, streamer_->BeforeLayer(l));
    }
    Layer(l, *w, m);
    if (streamer_) streamer_->AfterLayer(l);
  }
  return Status::Ok();
}

void LlamaContext::Layer(int64_t l, const LayerWeights& w, int64_t m) {
  const LlamaHParams& hp = model_.hparams();
  const int64_t dim = hp.dim, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), hd = hp.head_dim;
  const int64_t ffn = hp.ffn_dim;

  // ---- attention ----
  Timed(Op::kNorm, [&] {
    for (int64_t i = 0; i < m; ++i) simd::RmsNorm(xb_.data() + i * dim, x_.data() + i * dim, w.attn_norm, dim, hp.rms_eps);
  });
  Rotate(rot_dim_, xb_.data(), m);
  if (observer_) observer_(l, MatMulInput::kAttnQkv, xb_.data(), m, dim);
  MatMulGroup(Op::kMatQkv, {{&w.wq, q_.data()}, {&w.wk, k_.data()}, {&w.wv, v_.data()}}, xb_.data(), m);
  Timed(Op::kRope, [&] {
    for (int64_t i = 0; i < m; ++i) {
      const double* cs = rope_cs_.data() + i * hp.n_rot;
      cpu::RopeWith(q_.data() + i * q_dim, hp.n_heads, hd, hp.n_rot, cs, hp.rope_pairing);
      cpu::RopeWith(k_.data() + i * kv_dim, hp.n_kv_heads, hd, hp.n_rot, cs, hp.rope_pairing);
    }
  });
  for (int64_t i = 0; i < m; ++i) {
    const int64_t pos = pos_[static_cast<size_t>(i)], seq = seq_[static_cast<size_t>(i)];
    cache_.Store(l - layer_begin_, seq, pos, k_.data() + i * kv_dim, v_.data() + i * kv_dim);
  }
  Timed(Op::kAttention, [&] { Attention(l, m); });
  Rotate(rot_q_, att_.data(), m);
  if (observer_) observer_(l, MatMulInput::kAttnOut, att_.data(), m, q_dim);
  MatMul(Op::kMatOut, w.wo, att_.data(), m, proj_.data());
  if (residual_observer_) residual_observer_(l, ResidualBlock::kAttention, x_.data(), proj_.data(), m, dim);
  for (int64_t j = 0; j < m * dim; ++j) x_[static_cast<size_t>(j)] += proj_[static_cast<size_t>(j)];

  // ---- feed-forward (SwiGLU) ----
  Timed(Op::kNorm, [&] {
    for (int64_t i = 0; i < m; ++i) simd::RmsNorm(xb_.data() + i * dim, x_.data() + i * dim, w.ffn_norm, dim, hp.rms_eps);
  });
  Rotate(rot_dim_, xb_.data(), m);
  if (observer_) observer_(l, MatMulInput::kFfnGateUp, xb_.data(), m, dim);
  MatMulGroup(Op::kMatGateUp, {{&w.w_gate, gate_.data()}, {&w.w_up, up_.data()}}, xb_.data(), m);
  // Row by row: a SIMD kernel's tail handling must see the same row layout for a
  // token whether it arrives alone or in a batch (batch == token-by-token, bitwise).
  Timed(Op::kSwiGlu, [&] {
    for (int64_t i = 0; i < m; ++i) {
      simd::SiluMul(gate_.data() + i * ffn, gate_.data() + i * ffn, up_.data() + i * ffn, ffn);
    }
  });
  Rotate(rot_ffn_, gate_.data(), m);
  if (observer_) observer_(l, MatMulInput::kFfnDown, gate_.data(), m, ffn);
  MatMul(Op::kMatDown, w.w_down, gate_.data(), m, proj_.data());
  if (residual_observer_) residual_observer_(l, ResidualBlock::kFfn, x_.data(), proj_.data(), m, dim);
  for (int64_t j = 0; j < m * dim; ++j) x_[static_cast<size_t>(j)] += proj_[static_cast<size_t>(j)];
}

void LlamaContext::Rotate(const std::optional<cpu::InputRotation>& rot, float* x, int64_t m) {
  if (!rot) return;
  // Rows are independent (any split gives the same bits); a wake-up costs about as
  // much as rotating a few rows, so small batches stay on this thread.
  const auto row = [&](int64_t i, int) { simd::RotateInput(*rot, x + i * rot->size()); };
  Timed(Op::kRotate, [&] {
    if (m >= 4 && pool_.size() > 1) {
      pool_.Run(m, row);
    } else {
      for (int64_t i = 0; i < m; ++i) row(i, 0);
    }
  });
}

// One task per (token, query head): each writes its own att_ slice and uses its
// worker's scores row, so the split over threads never changes a number.
void LlamaContext::Attention(int64_t l, int64_t m) {
  const LlamaHParams& hp = model_.hparams();
  const int64_t q_dim = hp.q_dim(), hd = hp.head_dim, group = hp.gqa_group();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t n_ctx = cache_.n_ctx();
  // A task is one token's heads [h0, h0 + n_q) of one KV group: with enough
  // tokens, the whole group (its heads share each key and value block,
  // kernels::AttendGroupKv); with few (decode), one head, so that two threads
  // still split a handful of KV groups evenly. Either way every head gets the
  // same bits (AttendGroupKv is AttendHeadKv per head).
  const bool grouped = m * hp.n_kv_heads >= 4 * static_cast<int64_t>(pool_.size());
  const int64_t heads_per_task = grouped ? group : 1, tasks_per_token = hp.n_heads / heads_per_task;
  const auto attend = [&](int64_t task, int worker) {
    const int64_t i = task / tasks_per_token, h0 = (task % tasks_per_token) * heads_per_task;
    const int64_t n_pos = pos_[static_cast<size_t>(i)] + 1;  // causal: this token and everything before it
    const int64_t seq = seq_[static_cast<size_t>(i)], first = (h0 / group) * hd;
    const kernels::KvHead k{cache_.k_row(l - layer_begin_, seq, 0), cache_.row_bytes(), first, cache_.type()};
    const kernels::KvHead v{cache_.v_row(l - layer_begin_, seq, 0), cache_.row_bytes(), first, cache_.type()};
    kernels::AttendGroupKv(q_.data() + i * q_dim + h0 * hd, hd, heads_per_task, k, v, n_pos, hd, scale,
                           scores_.data() + worker * group * n_ctx, kv_row_.data() + (kv_row_.empty() ? 0 : worker * hd),
                           att_.data() + i * q_dim + h0 * hd, hd);
  };
  const int64_t tasks = m * tasks_per_token;
  // ~2 (pos + 1) head_dim flops per head: small jobs are not worth a wake-up.
  int64_t positions = 0;
  for (int64_t i = 0; i < m; ++i) positions += pos_[static_cast<size_t>(i)] + 1;
  if (positions * hp.n_heads * hd < mm_.min_macs_per_task) {
    for (int64_t t = 0; t < tasks; ++t) attend(t, 0);
  } else {
    pool_.Run(tasks, attend);
  }
}

void LlamaContext::Logits(const float* hidden, int64_t m, float* out) {
  const LlamaHParams& hp = model_.hparams();
  Timed(Op::kNorm, [&] {
    for (int64_t i = 0; i < m; ++i) {
      simd::RmsNorm(norm_.data() + i * hp.dim, hidden + i * hp.dim, model_.weights().output_norm, hp.dim, hp.rms_eps);
    }
  });
  if (observer_) observer_(-1, MatMulInput::kOutput, norm_.data(), m, hp.dim);
  if (skip_classifier_) return;
  MatMul(Op::kMatLogits, model_.weights().output, norm_.data(), m, out);
}

Result<std::unique_ptr<CpuFront>> CpuFront::Create(const LlamaModel& model, int64_t n_layers, int64_t n_ctx,
                                                   int32_t n_seq, int32_t n_threads) {
  if (n_layers < 1 || n_layers > model.hparams().n_layers) {
    return InvalidArgument("CPU front: %" PRId64 " layers; expected 1 .. %" PRId64, n_layers, model.hparams().n_layers);
  }
  CpuOptions o;
  o.n_threads = n_threads;
  o.n_seq = n_seq;
  o.layer_end = n_layers;
  std::unique_ptr<CpuFront> f(new CpuFront());
  f->n_layers_ = n_layers;
  SEPTET_ASSIGN_OR_RETURN(f->ctx_, LlamaContext::Create(model, n_ctx, o));
  return f;
}

CpuFront::~CpuFront() = default;

Status CpuFront::Run(std::span<const int32_t> tokens, std::span<const int32_t> seq, std::span<const int32_t> pos,
                     float* hidden) {
  LlamaContext& c = *ctx_;
  const int64_t m = static_cast<int64_t>(tokens.size());
  SEPTET_CHECK(m <= LlamaContext::kMaxBatch && seq.size() == tokens.size() && pos.size() == tokens.size());
  for (int64_t i = 0; i < m; ++i) {
    SEPTET_CHECK(seq[static_cast<size_t>(i)] >= 0 && seq[static_cast<size_t>(i)] < c.n_seq());
    SEPTET_CHECK(pos[static_cast<size_t>(i)] >= 0 && pos[static_cast<size_t>(i)] < c.n_ctx());
    c.seq_[static_cast<size_t>(i)] = seq[static_cast<size_t>(i)];
    c.pos_[static_cast<size_t>(i)] = pos[static_cast<size_t>(i)];
  }
  SEPTET_RETURN_IF_ERROR(c.ForwardChunk(tokens.data(), m));
  std::copy(c.x_.begin(), c.x_.begin() + m * c.model().hparams().dim, hidden);
  return Status::Ok();
}

MemoryUse CpuFront::memory() const { return ctx_->memory(); }

}  // namespace septet::model
