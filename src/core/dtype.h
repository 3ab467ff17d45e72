// Tensor element types septet knows. Numeric values are the on-disk GGUF
// `ggml_type` ids: the ggml ones where ggml has the type (so GGUF files from
// other tools load), and a private range from 200 for septet's own formats.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace septet {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  // ggml block formats septet reads from GGUF files; all but Q6_K (written for
  // embeddings and output heads) are never written ("input-only"; layouts in
  // src/quant/ggml_*.h and docs/formats.md):
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,     // 32 int8 + fp16 scale (ggml-compatible block layout; septet also writes it)
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kIQ4_XS = 23,
  kBF16 = 30,
  // septet-private ids (documented in docs/formats.md):
  kQ3P5 = 200,       // septet main 3.5-bit format, all-in 3.5 bpw
  kQ3P5_SEED = 201,  // the seed's per-row 7-bit pair stream + fp32 scale/offset
  kQ4_G = 202,       // INT4, group 128, fp16 scale + fp16 min
  kQ8_A = 203,       // activation format: 32 int8 + fp32 scale + int16 sum (not stored)
  kQ8_R = 204,       // activation format: one fp32 scale per row + int32 sum (not stored)
  kQ8_B = 205,       // activation format: 128 int8 + fp32 scale + int16 sum (not stored)
  kQ3P5_NL = 206,    // 3.5 bpw: 3-bit non-uniform levels, a 6-bit signed scale per 16, fp16 per 128
  kQ4_NL = 207,      // 4.25 bpw: 4-bit non-uniform levels, a 4-bit signed scale per 32, fp16 per 128
  kQ4_T = 208,       // 4.25 bpw: Q4_NL's container, codes trellis-coded over the row (32 levels, 32 states)
};

std::string_view DTypeName(DType t);
// Parses "F32", "q3p5", "Q4_G", ... (case-insensitive); nullopt when unknown.
std::optional<DType> ParseDType(std::string_view name);
// True when `raw` is an id septet has a registry row for.
bool IsKnownDType(uint32_t raw);

}  // namespace septet
