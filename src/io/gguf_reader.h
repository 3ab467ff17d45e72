// GGUF reader (versions 2 and 3; little-endian only). File layout (ggml docs/gguf.md):
//   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x { string key | u32 value_type | value }      string = u64 length + bytes (no NUL)
//            array value = u32 element_type | u64 count | count x element (nested arrays rejected)
//   n_tensors x { string name | u32 n_dims (1..4) | u64 ne[n_dims] (innermost first) |
//                 u32 ggml_type | u64 offset (relative to the data section, aligned) }
//   zero padding to general.alignment (default 32) | tensor data
// Tensors are zero-copy views into the mapping; shapes are reported outermost-first
// (ne[] reversed). A tensor's bytes = rows * row_bytes(ne[0]) from the type registry.
// Metadata keys are kept as in the file; septet.rope.pairing = "interleaved" is added
// when absent (llama.cpp's converters permute Q/K into adjacent-pair order).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/mapped_file.h"
#include "core/status.h"
#include "io/model_file.h"

namespace septet {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;          // what the writer emits
inline constexpr uint64_t kGgufDefaultAlignment = 32;
inline constexpr int kGgufMaxDims = 4;

Result<std::unique_ptr<ModelFile>> OpenGguf(const std::string& path);
Result<std::unique_ptr<ModelFile>> ParseGguf(std::shared_ptr<MappedFile> file);

// ggml's name for a type id, for messages ("Q4_K", "IQ2_XS"); "?" when unknown.
const char* GgmlTypeName(uint32_t raw);

}  // namespace septet
