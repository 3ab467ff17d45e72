// The LLaMA forward pass (one implementation for every weight type).
//
// Per chunk of m tokens at positions p0 .. p0+m-1 (shapes per token row):
//   x      = token_embd[tok]                               [m][dim]
//   for each layer l:
//     xb   = RMSNorm(x) * attn_norm                        [m][dim]
//     q    = xb Wq^T, k = xb Wk^T, v = xb Wv^T             [m][q_dim], [m][kv_dim] x2
//     q, k = RoPE(q, k; pos)                               per head, pairing from metadata
//     cache.k[l][pos], cache.v[l][pos] = k, v              [n_ctx][kv_dim]
//     att  = per query head h (KV head h / gqa_group):
//            softmax(q_h K_{0..pos}^T / sqrt(head_dim)) V  [m][q_dim]  (causal)
//     x   += att Wo^T                                      [m][dim]
//     xb   = RMSNorm(x) * ffn_norm                         [m][dim]
//     x   += (silu(xb Wgate^T) * (xb Wup^T)) Wdown^T       [m][ffn_dim] -> [m][dim]
//   logits = RMSNorm(x) * output_norm  Wout^T              [vocab] per requested row
#include "model/llama_context.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "kernels/cpu/ops.h"

namespace septet::model {

LlamaContext::LlamaContext(const LlamaModel& model, KvCache cache)
    : model_(model), cache_(std::move(cache)) {
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
  scores_.resize(static_cast<size_t>(cache_.n_ctx()));
  norm_.resize(static_cast<size_t>(hp.dim));
}

Result<std::unique_ptr<LlamaContext>> LlamaContext::Create(const LlamaModel& model, int64_t n_ctx) {
  if (n_ctx <= 0) return InvalidArgument("n_ctx = %" PRId64 "; expected > 0", n_ctx);
  const LlamaHParams& hp = model.hparams();
  SEPTET_ASSIGN_OR_RETURN(KvCache cache, KvCache::Create(hp.n_layers, n_ctx, hp.kv_dim()));
  return std::unique_ptr<LlamaContext>(new LlamaContext(model, std::move(cache)));
}

void LlamaContext::Truncate(int64_t n) {
  SEPTET_CHECK(n >= 0 && n <= n_past_);
  n_past_ = n;
}

Status LlamaContext::Forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) {
  const LlamaHParams& hp = model_.hparams();
  const int64_t n = static_cast<int64_t>(tokens.size());
  SEPTET_RETURN_IF_ERROR(ValidateForward(tokens, hp.vocab, n_past_, cache_.n_ctx()));
  logits->resize(static_cast<size_t>((mode == LogitsMode::kAll ? n : 1) * hp.vocab));
  for (int64_t start = 0; start < n; start += kMaxBatch) {
    const int64_t m = std::min(kMaxBatch, n - start);
    ForwardChunk(tokens.data() + start, m);
    if (mode == LogitsMode::kAll) {
      for (int64_t i = 0; i < m; ++i) Logits(x_.data() + i * hp.dim, logits->data() + (start + i) * hp.vocab);
    } else if (start + m == n) {
      Logits(x_.data() + (m - 1) * hp.dim, logits->data());
    }
  }
  return Status::Ok();
}

void LlamaContext::ForwardChunk(const int32_t* tokens, int64_t m) {
  const LlamaHParams& hp = model_.hparams();
  for (int64_t i = 0; i < m; ++i) cpu::EmbeddingRow(model_.weights().token_embd, tokens[i], x_.data() + i * hp.dim);
  for (int64_t l = 0; l < hp.n_layers; ++l) Layer(l, m);
  n_past_ += m;
}

void LlamaContext::Layer(int64_t l, int64_t m) {
  const LlamaHParams& hp = model_.hparams();
  const LayerWeights& w = model_.weights().layers[static_cast<size_t>(l)];
  const int64_t dim = hp.dim, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), hd = hp.head_dim;
  const int64_t ffn = hp.ffn_dim;

  // ---- attention ----
  for (int64_t i = 0; i < m; ++i) cpu::RmsNorm(xb_.data() + i * dim, x_.data() + i * dim, w.attn_norm, dim, hp.rms_eps);
  if (observer_) observer_(l, MatMulInput::kAttnQkv, xb_.data(), m, dim);
  cpu::MatMul(w.wq, xb_.data(), m, q_.data(), &mm_);
  cpu::MatMul(w.wk, xb_.data(), m, k_.data(), &mm_);
  cpu::MatMul(w.wv, xb_.data(), m, v_.data(), &mm_);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t pos = n_past_ + i;
    cpu::Rope(q_.data() + i * q_dim, hp.n_heads, hd, hp.n_rot, pos, model_.rope_inv_freq().data(), hp.rope_pairing);
    cpu::Rope(k_.data() + i * kv_dim, hp.n_kv_heads, hd, hp.n_rot, pos, model_.rope_inv_freq().data(),
              hp.rope_pairing);
    std::memcpy(cache_.k(l, pos), k_.data() + i * kv_dim, static_cast<size_t>(kv_dim) * sizeof(float));
    std::memcpy(cache_.v(l, pos), v_.data() + i * kv_dim, static_cast<size_t>(kv_dim) * sizeof(float));
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t n_pos = n_past_ + i + 1;  // causal: this token and everything before it
    for (int64_t h = 0; h < hp.n_heads; ++h) {
      const int64_t kvh = h / hp.gqa_group();
      cpu::AttendHead(q_.data() + i * q_dim + h * hd, cache_.k(l, 0) + kvh * hd, cache_.v(l, 0) + kvh * hd, n_pos,
                      hd, kv_dim, scale, scores_.data(), att_.data() + i * q_dim + h * hd);
    }
  }
  if (observer_) observer_(l, MatMulInput::kAttnOut, att_.data(), m, q_dim);
  cpu::MatMul(w.wo, att_.data(), m, proj_.data(), &mm_);
  for (int64_t j = 0; j < m * dim; ++j) x_[static_cast<size_t>(j)] += proj_[static_cast<size_t>(j)];

  // ---- feed-forward (SwiGLU) ----
  for (int64_t i = 0; i < m; ++i) cpu::RmsNorm(xb_.data() + i * dim, x_.data() + i * dim, w.ffn_norm, dim, hp.rms_eps);
  if (observer_) observer_(l, MatMulInput::kFfnGateUp, xb_.data(), m, dim);
  cpu::MatMul(w.w_gate, xb_.data(), m, gate_.data(), &mm_);
  cpu::MatMul(w.w_up, xb_.data(), m, up_.data(), &mm_);
  cpu::SiluMul(gate_.data(), gate_.data(), up_.data(), m * ffn);
  if (observer_) observer_(l, MatMulInput::kFfnDown, gate_.data(), m, ffn);
  cpu::MatMul(w.w_down, gate_.data(), m, proj_.data(), &mm_);
  for (int64_t j = 0; j < m * dim; ++j) x_[static_cast<size_t>(j)] += proj_[static_cast<size_t>(j)];
}

void LlamaContext::Logits(const float* hidden_row, float* out) {
  const LlamaHParams& hp = model_.hparams();
  cpu::RmsNorm(norm_.data(), hidden_row, model_.weights().output_norm, hp.dim, hp.rms_eps);
  if (observer_) observer_(-1, MatMulInput::kOutput, norm_.data(), 1, hp.dim);
  cpu::MatVec(model_.weights().output, norm_.data(), out, &mm_);
}

}  // namespace septet::model
