// llama2.c checkpoints (karpathy/llama2.c), fp32 only:
//   legacy ("version 0"): 7 x int32 header {dim, hidden_dim, n_layers, n_heads, n_kv_heads,
//     vocab_size (negative => a separate classifier follows), seq_len}, then fp32 weights in
//     run.c memory_map_weights order: token_embedding [vocab][dim], rms_att [L][dim],
//     wq [L][dim][dim], wk [L][kv_dim][dim], wv [L][kv_dim][dim], wo [L][dim][dim],
//     rms_ffn [L][dim], w1 [L][hidden][dim], w2 [L][dim][hidden], w3 [L][hidden][dim],
//     rms_final [dim], freq_cis_real/imag [seq_len][head_size/2] (skipped), wcls [vocab][dim].
//   export version 1: u32 magic 0x616b3432 ("ak42"), i32 version = 1, the same 7 int32,
//     u8 shared_classifier, zero padding to 256 bytes, then fp32: rms_att [L][dim],
//     rms_ffn [L][dim], rms_final [dim], token_embedding, wq, wk, wv, wo, w1, w2, w3
//     (all [L]...), wcls if not shared. No freq_cis tables.
// Every weight is exposed under its canonical GGUF name as a zero-copy F32 view of
// the mapping (one tensor per layer slice); output.weight is absent when tied.
// RoPE in llama2.c rotates adjacent pairs: septet.rope.pairing = "interleaved".
#pragma once

#include <memory>
#include <string>

#include "core/mapped_file.h"
#include "core/status.h"
#include "io/model_file.h"

namespace septet {

inline constexpr uint32_t kLlama2cMagic = 0x616b3432;  // "ak42" read as a little-endian u32

Result<std::unique_ptr<ModelFile>> OpenLlama2c(const std::string& path);
// Parses an already-mapped file (ModelFile::Open's fallback when there is no GGUF magic).
Result<std::unique_ptr<ModelFile>> ParseLlama2c(std::shared_ptr<MappedFile> file);

}  // namespace septet
