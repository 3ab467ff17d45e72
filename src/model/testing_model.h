// Test-only: builds small random llama ModelFiles in memory (no file on disk).
// Header-only and included only by src/model/*_test.cc.
#pragma once

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/model_file.h"
#include "quant/ggml_test_util.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::testing {

struct TinyLlamaSpec {
  int64_t dim = 32, ffn = 44, n_layers = 2, n_heads = 4, n_kv_heads = 2, vocab = 40, ctx = 64;
  int64_t n_rot = 8;  // of head_dim = dim / n_heads
  std::string pairing = "interleaved";
  bool tied = false;
  DType matrix_type = DType::kF32;  // storage of the 2-D weights except token_embd
  DType embd_type = DType::kF32;    // storage of token_embd
  DType norm_type = DType::kF32;
  uint64_t seed = 7;
};

// Gaussian weights scaled like a trained model (std 1/sqrt(fan_in)), norms near 1.
// Input-only (ggml) types cannot be quantized to: their tensors are random
// well-formed blocks (quant/ggml_test_util.h) whose scale fields are then
// scaled so that each tensor's RMS is that of the Gaussian it stands for
// (sqrt(mean^2 + stddev^2)): not Gaussian, but of a trained model's size.
inline std::unique_ptr<ModelFile> MakeTinyLlama(const TinyLlamaSpec& s) {
  auto f = std::make_unique<ModelFile>("tiny-llama(in memory)", "test");
  Metadata& m = f->mutable_metadata();
  m.Set("general.architecture", MetaValue::String("llama"));
  m.Set("llama.embedding_length", MetaValue::U32(static_cast<uint32_t>(s.dim)));
  m.Set("llama.feed_forward_length", MetaValue::U32(static_cast<uint32_t>(s.ffn)));
  m.Set("llama.block_count", MetaValue::U32(static_cast<uint32_t>(s.n_layers)));
  m.Set("llama.attention.head_count", MetaValue::U32(static_cast<uint32_t>(s.n_heads)));
  m.Set("llama.attention.head_count_kv", MetaValue::U32(static_cast<uint32_t>(s.n_kv_heads)));
  m.Set("llama.context_length", MetaValue::U32(static_cast<uint32_t>(s.ctx)));
  m.Set("llama.rope.freq_base", MetaValue::F32(10000.0f));
  m.Set("llama.rope.dimension_count", MetaValue::U32(static_cast<uint32_t>(s.n_rot)));
  m.Set("llama.attention.layer_norm_rms_epsilon", MetaValue::F32(1e-5f));
  m.Set("septet.rope.pairing", MetaValue::String(s.pairing));

  std::mt19937_64 rng(s.seed);
  const auto add = [&](const std::string& name, std::vector<int64_t> shape, DType type, float mean, float stddev) {
    std::normal_distribution<float> nd(mean, stddev);
    const int64_t cols = shape.back();
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
    const TypeTraits& t = GetTypeTraits(type);
    std::vector<uint8_t>& buf = f->OwnBuffer(t.row_bytes(cols) * static_cast<size_t>(rows));
    std::vector<float> row(static_cast<size_t>(cols));
    if (t.whole_blocks) {
      quant::testing::FillRandomGgmlRows(type, rows, cols, rng, buf.data(), -14.0f, -10.0f);
      quant::testing::ScaleGgmlRowsToRms(type, rows, cols, buf.data(), std::sqrt(mean * mean + stddev * stddev));
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        for (float& v : row) v = nd(rng);
        t.from_float(row.data(), buf.data() + static_cast<size_t>(r) * t.row_bytes(cols), cols, nullptr);
      }
    }
    TensorInfo ti;
    ti.name = name;
    ti.dtype = type;
    ti.shape = std::move(shape);
    ti.data = buf.data();
    ti.nbytes = buf.size();
    f->AddTensor(std::move(ti));
  };
  const int64_t hd = s.dim / s.n_heads, q = s.n_heads * hd, kv = s.n_kv_heads * hd;
  const float in_dim = 1.0f / std::sqrt(static_cast<float>(s.dim));
  add("token_embd.weight", {s.vocab, s.dim}, s.embd_type, 0.0f, 1.0f);
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {s.dim}, s.norm_type, 1.0f, 0.2f);
    add(p + "attn_q.weight", {q, s.dim}, s.matrix_type, 0.0f, in_dim);
    add(p + "attn_k.weight", {kv, s.dim}, s.matrix_type, 0.0f, in_dim);
    add(p + "attn_v.weight", {kv, s.dim}, s.matrix_type, 0.0f, in_dim);
    add(p + "attn_output.weight", {s.dim, q}, s.matrix_type, 0.0f, 1.0f / std::sqrt(static_cast<float>(q)));
    add(p + "ffn_norm.weight", {s.dim}, s.norm_type, 1.0f, 0.2f);
    add(p + "ffn_gate.weight", {s.ffn, s.dim}, s.matrix_type, 0.0f, in_dim);
    add(p + "ffn_up.weight", {s.ffn, s.dim}, s.matrix_type, 0.0f, in_dim);
    add(p + "ffn_down.weight", {s.dim, s.ffn}, s.matrix_type, 0.0f, 1.0f / std::sqrt(static_cast<float>(s.ffn)));
  }
  add("output_norm.weight", {s.dim}, s.norm_type, 1.0f, 0.2f);
  if (!s.tied) add("output.weight", {s.vocab, s.dim}, s.matrix_type, 0.0f, in_dim);
  return f;
}

// Replaces one metadata key (or removes it when `v` is null).
inline void SetMeta(ModelFile* f, const std::string& key, const MetaValue* v) {
  Metadata& m = f->mutable_metadata();
  if (v != nullptr) {
    m.Set(key, *v);
    return;
  }
  Metadata copy;
  for (const auto& [k, val] : m.entries()) {
    if (k != key) copy.Set(k, val);
  }
  m = copy;
}

}  // namespace septet::testing
