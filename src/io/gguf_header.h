// The GGUF v3 header as GgufWriter and GgufStreamWriter both write it, from one
// implementation so that the two produce the same bytes (internal to io):
//   u32 magic "GGUF" | u32 version 3 | u64 n_tensors | u64 n_kv
//   n_kv x { string key | u32 type | value }        string = u64 length + bytes
//            scalar at its GGUF width; array = u32 element type | u64 count | elements
//   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] (innermost first) |
//                 u32 type | u64 offset }
//   zero padding to the alignment
// Offsets are relative to the data section that follows: tensors in table order, each
// padded with zeros to the alignment (see gguf_reader.h for the reading side).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "io/model_file.h"

namespace septet::io {

// Metadata in file order.
using GgufMetaList = std::vector<std::pair<std::string, MetaValue>>;

// One row of the tensor-info table.
struct GgufTensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;  // outermost first (the file stores it reversed)
  size_t nbytes;               // data bytes, before padding
};

// The stored bits of an integer scalar (see MetaValue: u when non-zero, else i).
uint64_t MetaScalarBits(const MetaValue& v);

// Appends key = value, or replaces the value of an existing key (which keeps its
// position). No validation: callers check values first.
void SetOrReplaceMeta(GgufMetaList* meta, std::string key, MetaValue value);

// Appends the header (everything before the first tensor's data, padding included) to
// *out. The values must already be valid (GgufWriter::SetMeta / AddTensor checked
// them) and `alignment` a power of two. The whole header is always written; when the
// data offsets pass 2^64 the error names the first tensor that overflows and the
// offsets from it on have wrapped.
Status SerializeGgufHeader(const GgufMetaList& meta, const std::vector<GgufTensorInfo>& tensors, uint64_t alignment,
                           std::vector<uint8_t>* out);

}  // namespace septet::io
