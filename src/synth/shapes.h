// Real LLaMA-family model shapes for synthetic (random-weight) files. The numbers
// are the published hyper-parameters of each model (its config.json / params.json),
// so a synthetic file has exactly the tensor shapes, bytes per token and KV-cache
// size of the real thing: what a speed measurement needs, and nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace septet::synth {

struct ModelShape {
  const char* name;        // "tinyllama-1.1b"
  const char* real_model;  // "TinyLlama-1.1B (v1.0)"
  int64_t dim;             // llama.embedding_length
  int64_t n_layers;        // llama.block_count
  int64_t n_heads;         // llama.attention.head_count
  int64_t n_kv_heads;      // llama.attention.head_count_kv
  int64_t ffn_dim;         // llama.feed_forward_length
  int64_t vocab;           // rows of token_embd
  int64_t context_length;  // llama.context_length
  double rope_theta;       // llama.rope.freq_base
  double rms_eps;          // llama.attention.layer_norm_rms_epsilon
  bool tied_output;        // no output.weight: the classifier is token_embd

  int64_t head_dim() const { return dim / n_heads; }
  // Parameters of the 2-D weight matrices (embedding and classifier included).
  int64_t n_params() const;
};

// Every known shape, smallest first.
const std::vector<ModelShape>& KnownShapes();
// Case-insensitive; NotFound lists the known names.
Result<ModelShape> FindShape(std::string_view name);
// "stories15m, smollm-135m, ..." for help texts and errors.
std::string ShapeNameList();

}  // namespace septet::synth
