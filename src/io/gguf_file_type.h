// GGUF general.file_type: the llama.cpp "file type" (enum llama_ftype in llama.h, the
// same numbers as gguf-py's LlamaFileType) of the type most of a file's matrices are
// stored in. llama.cpp prints it as the model's type (llama-bench's "model_type") and
// guesses it from the tensors when the key is missing.
//
// Only the weight types septet shares with llama.cpp have a number. A file whose
// matrices are in a septet-only format (Q3P5, Q3P5_NL, Q4_G, Q3P5_SEED) carries no key rather
// than a wrong one, and a converted file never keeps its source's value (a Q4_1 file
// converted to F32 is not "mostly Q4_1").
// Header-only, in io/ (below the quantizer and gen-weights, which both write it).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "core/dtype.h"

namespace septet::io {

inline constexpr const char* kGgufFileTypeKey = "general.file_type";

// Returns the general.file_type value for a file whose matrices are mostly `type`.
inline std::optional<uint32_t> LlamaCppFileType(DType type) {
  // llama.h: LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32.
  static constexpr std::pair<DType, uint32_t> kShared[] = {
      {DType::kF32, 0}, {DType::kF16, 1}, {DType::kQ8_0, 7}, {DType::kBF16, 32}};
  for (const auto& [t, ftype] : kShared) {
    if (t == type) return ftype;
  }
  return std::nullopt;
}

}  // namespace septet::io
