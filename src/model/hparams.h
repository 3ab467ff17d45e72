// LLaMA hyper-parameters, read from the canonical metadata every loader emits
// (see io/model_file.h) and validated: an error names the metadata key (or the
// tensor) and says what was expected.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "kernels/cpu/rope.h"

namespace septet {
class ModelFile;
}

namespace septet::model {

// septet.rotation: how the matmul inputs of every layer are rotated (kernels/cpu/hadamard.h).
enum class InputRotationKind { kNone, kHadamardV1 };
inline constexpr const char* kRotationKey = "septet.rotation";
inline constexpr const char* kRotationHadamardV1 = "hadamard-v1";

struct LlamaHParams {
  int64_t dim = 0;             // llama.embedding_length
  int64_t ffn_dim = 0;         // llama.feed_forward_length
  int64_t n_layers = 0;        // llama.block_count
  int64_t n_heads = 0;         // llama.attention.head_count
  int64_t n_kv_heads = 0;      // llama.attention.head_count_kv (default: n_heads)
  int64_t head_dim = 0;        // llama.attention.key_length (default: dim / n_heads)
  int64_t n_rot = 0;           // llama.rope.dimension_count (default: head_dim)
  int64_t vocab = 0;           // rows of token_embd.weight (llama.vocab_size must agree)
  int64_t context_length = 0;  // llama.context_length
  double rope_base = 10000.0;  // llama.rope.freq_base
  float rms_eps = 1e-5f;       // llama.attention.layer_norm_rms_epsilon
  cpu::RopePairing rope_pairing = cpu::RopePairing::kInterleaved;  // septet.rope.pairing
  cpu::RopeScaling rope_scaling;  // llama.rope.scaling.{type,factor,low_freq_factor,...}
  InputRotationKind rotation = InputRotationKind::kNone;  // septet.rotation

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  int64_t gqa_group() const { return n_heads / n_kv_heads; }  // query heads per KV head
};

// Reads and validates; `file` supplies the metadata and token_embd's shape.
Result<LlamaHParams> ReadLlamaHParams(const ModelFile& file);

}  // namespace septet::model
