// GGUF v3 writer (the quantizer's output). Layout as in gguf_reader.h. The bytes are
// deterministic: metadata in insertion order, tensors in insertion order, each tensor's
// data padded with zeros to the alignment (32, or general.alignment when set).
// Write() goes to `path.tmp.<pid>`, fsyncs, then renames onto `path`, so a crash never
// leaves a half-written model under the final name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "io/gguf_header.h"
#include "io/model_file.h"

namespace septet {

class GgufWriter {
 public:
  // Adds an entry, or replaces the value of an existing key (which keeps its position).
  // Rejects values their type cannot hold (u8 300, bool 2, nested arrays, ...).
  // general.alignment must be a u32 power of two; it sets the data alignment.
  Status SetMeta(std::string key, MetaValue value);
  // Adds a tensor of `shape` (outermost first, 1..4 dims). nbytes must equal
  // rows * row_bytes(innermost) of dtype. `data` is borrowed, not copied: it must
  // stay valid until Write/Serialize returns.
  Status AddTensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);

  // Refuses an existing `path` unless overwrite (the message names the file and --force).
  Status Write(const std::string& path, bool overwrite) const;
  // The exact bytes Write would produce (tests, small files).
  std::vector<uint8_t> Serialize() const;

  size_t num_tensors() const { return tensors_.size(); }
  size_t num_meta() const { return meta_.size(); }

 private:
  using Sink = std::function<Status(const void* data, size_t n)>;
  Status Emit(const Sink& sink) const;

  io::GgufMetaList meta_;
  std::vector<io::GgufTensorInfo> tensors_;
  std::vector<const void*> data_;  // data_[i]: tensors_[i]'s bytes (borrowed)
  uint64_t alignment_ = 32;
};

}  // namespace septet
