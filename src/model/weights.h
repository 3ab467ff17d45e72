// Binding of the canonical llama tensors (io/model_file.h names) to the views
// the forward pass reads, with shape checks.
//
// Weight-type policy:
//   * No compute type requested: every tensor is used in its stored type straight
//     from the file mapping (no copy). Any storable registry type works.
//   * Compute type T requested: the 2-D matmul weights (attn_q/k/v/output,
//     ffn_gate/up/down, and the classifier output.weight -- or, when tied, a
//     quantized copy of token_embd) are converted at load time, row by row:
//     stored -> to_float -> T's from_float (no importance weights), into buffers
//     the model owns. Tensors already stored as T stay mapped.
//   * token_embd stays in its stored type (a lookup dequantizes one row per token).
//   * Norm vectors are always F32: used mapped when stored as F32, else converted.
//   * repack (default on): every matmul weight is repacked into the SIMD
//     kernels' layout when they have one for its type and the CPU
//     (simd::RepackRows; today Q3P5, Q3P5_NL, Q4_G, Q4_0, Q4_1, Q4_K and the float
//     types on AVX2 and up, Q4_NL, Q5_K, Q6_K and Q8_0 on AVX3_DL; AVX3_DL takes Q3P5,
//     Q3P5_NL, Q4_0, Q4_1 and Q4_K in rows of 16, AVX2 / AVX3 in their own layouts).
//     A tied output head that shares token_embd's bytes is repacked too,
//     and token_embd then views the same repacked copy (the lookup reads it through simd::RowToFloat), so the
//     head is read in the fast layout at no extra memory. The owned copy replaces the
//     mapped / converted bytes (owned_bytes / mapped_bytes say so); views then
//     carry layout != kFile, which only the SIMD kernels (and
//     simd::UnpackRows / RowToFloat) read.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/cpu/weight_view.h"
#include "model/hparams.h"

namespace septet {
class ModelFile;
}

namespace septet::model {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [dim]
  cpu::WeightView wq;                // [q_dim][dim]
  cpu::WeightView wk;                // [kv_dim][dim]
  cpu::WeightView wv;                // [kv_dim][dim]
  cpu::WeightView wo;                // [dim][q_dim]
  const float* ffn_norm = nullptr;   // [dim]
  cpu::WeightView w_gate;            // [ffn_dim][dim]   (w1)
  cpu::WeightView w_up;              // [ffn_dim][dim]   (w3)
  cpu::WeightView w_down;            // [dim][ffn_dim]   (w2)
};

struct LlamaWeights {
  cpu::WeightView token_embd;         // [vocab][dim], stored type
  const float* output_norm = nullptr; // [dim]
  cpu::WeightView output;             // [vocab][dim] classifier
  bool tied_output = false;           // no output.weight in the file
  std::vector<LayerWeights> layers;
  // Load-time conversions (compute type, non-F32 norms).
  std::vector<std::unique_ptr<std::vector<uint8_t>>> owned;
  uint64_t owned_bytes = 0;
  uint64_t mapped_bytes = 0;  // bytes the forward pass reads from the mapping
};

struct BindOptions {
  std::optional<DType> compute_type;  // nullopt: stored types
  bool repack = true;                 // SIMD layouts for matmul weights (see above)
  int32_t threads = 0;                // workers converting to compute_type (0: all cores); same bytes
};

Result<LlamaWeights> BindLlamaWeights(const ModelFile& file, const LlamaHParams& hp, const BindOptions& options);

// The bytes one layer's forward pass reads: its seven matrices, then its two norms
// ([dim] F32 each), in that order (layer streaming and weight locking walk them).
struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
};
std::vector<ByteSpan> LayerSpans(const LayerWeights& w, int64_t dim);
// Every LayerWeights view in LayerSpans order, for rebinding a layer to a copy.
std::vector<cpu::WeightView*> LayerMatrices(LayerWeights& w);

}  // namespace septet::model
