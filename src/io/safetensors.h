// Hugging Face Llama checkpoints: config.json + model.safetensors, or shards listed by
// model.safetensors.index.json ({"weight_map": {tensor: shard file}}).
// safetensors layout: u64 LE header length N | N bytes of JSON
//   {"__metadata__": {...}, "<name>": {"dtype": "F32"|"F16"|"BF16"|..., "shape": [...],
//    "data_offsets": [begin, end]}, ...} | data (offsets relative to byte 8 + N).
// HF names map onto the canonical GGUF names (model.layers.{i}.self_attn.q_proj.weight ->
// blk.{i}.attn_q.weight, ...); unmapped tensors (rotary_emb.inv_freq, ...) are ignored.
// Tensors stay in their stored dtype (F32/F16/BF16) as zero-copy views; one whose data is not
// aligned to its element size is copied into ModelFile-owned storage.
// HF q/k projections are not permuted, so RoPE rotates the two halves of each head:
// septet.rope.pairing = "half".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "io/model_file.h"

namespace septet {

// `path` is a model directory, its config.json, a .safetensors file (with config.json beside
// it) or a model.safetensors.index.json.
Result<std::unique_ptr<ModelFile>> OpenHuggingFace(const std::string& path);

// One tensor entry of a .safetensors file, validated against the file bounds.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as written ("F32", "BF16", "I64", ...)
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};
// Parses and validates the header of a mapped .safetensors file (entries in header order).
Result<std::vector<SafetensorsEntry>> ParseSafetensors(const MappedFile& file);

}  // namespace septet
