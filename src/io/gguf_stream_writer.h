// Streaming GGUF v3 writer: the same bytes as GgufWriter (gguf_writer.h), but the
// tensor data is appended piece by piece after the header, so a file far larger
// than RAM (a 70B model) can be written while only one chunk exists in memory.
//
//   GgufStreamWriter w;
//   w.SetMeta(...); w.AddTensor(name, dtype, shape);      // declare everything first
//   w.Begin(path, overwrite);                             // header -> path.tmp.<pid>
//   for each tensor in declaration order: w.Append(p, n) ...  (any chunking)
//   w.Finish();                                           // fsync, rename onto path
//
// Validation is GgufWriter's (the same messages). Padding between tensors is
// written automatically when a tensor's last byte arrives. Destroying a writer
// that has begun but not finished removes the temporary file, so a failed or
// interrupted generation never leaves a model under the final name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "io/gguf_header.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"

namespace septet {

class GgufStreamWriter {
 public:
  GgufStreamWriter() = default;
  ~GgufStreamWriter();
  GgufStreamWriter(const GgufStreamWriter&) = delete;
  GgufStreamWriter& operator=(const GgufStreamWriter&) = delete;

  // As GgufWriter::SetMeta. Only before Begin.
  Status SetMeta(std::string key, MetaValue value);
  // Declares a tensor (shape outermost first); its bytes are rows * row_bytes(cols).
  // Only before Begin.
  Status AddTensor(std::string name, DType dtype, std::vector<int64_t> shape);

  // Creates `path.tmp.<pid>` and writes the header. Refuses an existing `path`
  // unless overwrite (the message names the file and --force).
  Status Begin(const std::string& path, bool overwrite);
  // Appends data of the current tensor (declaration order). A chunk may not run
  // past the end of the current tensor.
  Status Append(const void* data, size_t n);
  // All tensors complete: fsync and rename onto the final path.
  Status Finish();

  // The header bytes (everything before the first tensor's data, padding included).
  std::vector<uint8_t> SerializeHeader() const;

  size_t num_tensors() const { return tensors_.size(); }
  // Bytes of tensor i's data (unpadded).
  size_t tensor_bytes(size_t i) const { return tensors_[i].nbytes; }
  // Total file size once finished.
  uint64_t file_bytes() const;

 private:
  Status WriteRaw(const void* data, size_t n);
  void Abort();

  GgufWriter check_;  // validation only: holds the metadata and tensor table
  io::GgufMetaList meta_;
  std::vector<io::GgufTensorInfo> tensors_;
  uint64_t alignment_ = 32;

  std::string path_, tmp_;
  bool overwrite_ = false;
  int fd_ = -1;
  size_t cur_ = 0;        // tensor being appended
  size_t cur_done_ = 0;   // its bytes written so far
  bool begun_ = false, finished_ = false;
};

}  // namespace septet
