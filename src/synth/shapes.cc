#include "synth/shapes.h"

#include <algorithm>
#include <cctype>

namespace septet::synth {

int64_t ModelShape::n_params() const {
  const int64_t hd = head_dim();
  const int64_t per_layer = dim * (n_heads * hd) * 2 + dim * (n_kv_heads * hd) * 2 + 3 * dim * ffn_dim;
  return vocab * dim * (tied_output ? 1 : 2) + n_layers * per_layer;
}

const std::vector<ModelShape>& KnownShapes() {
  // name, real model, dim, layers, heads, kv heads, ffn, vocab, context, rope theta, rms eps, tied
  static const std::vector<ModelShape> kShapes = {
      {"stories15m", "llama2.c stories15M", 288, 6, 6, 6, 768, 32000, 256, 10000.0, 1e-5, true},
      {"stories110m", "llama2.c stories110M", 768, 12, 12, 12, 2048, 32000, 1024, 10000.0, 1e-5, true},
      {"smollm-135m", "SmolLM-135M", 576, 30, 9, 3, 1536, 49152, 2048, 10000.0, 1e-5, true},
      {"smollm-360m", "SmolLM-360M", 960, 32, 15, 5, 2560, 49152, 2048, 10000.0, 1e-5, true},
      {"tinyllama-1.1b", "TinyLlama-1.1B (v1.0)", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0, 1e-5, false},
      {"llama2-7b", "Llama-2-7B", 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0, 1e-5, false},
      {"llama3-8b", "Meta-Llama-3-8B", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0, 1e-5, false},
      {"llama2-13b", "Llama-2-13B", 5120, 40, 40, 40, 13824, 32000, 4096, 10000.0, 1e-5, false},
      {"llama2-70b", "Llama-2-70B", 8192, 80, 64, 8, 28672, 32000, 4096, 10000.0, 1e-5, false},
      {"llama3-70b", "Meta-Llama-3-70B", 8192, 80, 64, 8, 28672, 128256, 8192, 500000.0, 1e-5, false},
  };
  return kShapes;
}

std::string ShapeNameList() {
  std::string out;
  for (const ModelShape& s : KnownShapes()) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

Result<ModelShape> FindShape(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const ModelShape& s : KnownShapes()) {
    if (lower == s.name) return s;
  }
  return NotFound("unknown model shape '%s'; known shapes: %s", std::string(name).c_str(), ShapeNameList().c_str());
}

}  // namespace septet::synth
