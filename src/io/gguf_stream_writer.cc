#include "io/gguf_stream_writer.h"

#include <unistd.h>

#include "io/atomic_file.h"
#include "io/byte_reader.h"
#include "quant/registry.h"

namespace septet {

GgufStreamWriter::~GgufStreamWriter() { Abort(); }

void GgufStreamWriter::Abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (begun_ && !finished_ && !tmp_.empty()) ::unlink(tmp_.c_str());
  begun_ = false;
}

Status GgufStreamWriter::SetMeta(std::string key, MetaValue value) {
  if (begun_) return InvalidArgument("metadata '%s': set after Begin", key.c_str());
  SEPTET_RETURN_IF_ERROR(check_.SetMeta(key, value));
  if (key == "general.alignment") alignment_ = io::MetaScalarBits(value);
  io::SetOrReplaceMeta(&meta_, std::move(key), std::move(value));
  return Status::Ok();
}

Status GgufStreamWriter::AddTensor(std::string name, DType dtype, std::vector<int64_t> shape) {
  if (begun_) return InvalidArgument("tensor '%s': added after Begin", name.c_str());
  const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(dtype));
  uint64_t rows = 1, nbytes = 0;
  for (size_t d = 0; d + 1 < shape.size(); ++d) {
    if (shape[d] > 0 && !io::CheckedMul(rows, static_cast<uint64_t>(shape[d]), &rows)) rows = 0;
  }
  if (traits != nullptr && !shape.empty() && shape.back() > 0 && shape.back() <= (int64_t{1} << 48)) {
    if (!io::CheckedMul(rows, traits->row_bytes(shape.back()), &nbytes)) nbytes = 0;
  }
  // GgufWriter validates name, shape and type; the data pointer is never read.
  static const uint8_t kDummy = 0;
  SEPTET_RETURN_IF_ERROR(check_.AddTensor(name, dtype, shape, &kDummy, static_cast<size_t>(nbytes)));
  tensors_.push_back(io::GgufTensorInfo{std::move(name), dtype, std::move(shape), static_cast<size_t>(nbytes)});
  return Status::Ok();
}

uint64_t GgufStreamWriter::file_bytes() const {
  uint64_t total = SerializeHeader().size();
  for (const io::GgufTensorInfo& t : tensors_) {
    uint64_t padded = 0;
    io::AlignUp(t.nbytes, alignment_, &padded);
    total += padded;
  }
  return total;
}

std::vector<uint8_t> GgufStreamWriter::SerializeHeader() const {
  std::vector<uint8_t> header;
  // The only error is data offsets past 2^64, which Begin refuses; for sizing
  // (file_bytes) the header's length does not depend on it.
  static_cast<void>(io::SerializeGgufHeader(meta_, tensors_, alignment_, &header));
  return header;
}

Status GgufStreamWriter::WriteRaw(const void* data, size_t n) { return io::WriteAll(fd_, data, n, tmp_); }

Status GgufStreamWriter::Begin(const std::string& path, bool overwrite) {
  if (begun_ || finished_) return InvalidArgument("%s: GgufStreamWriter::Begin called twice", path.c_str());
  // Refused before any file exists: tensor data whose offsets pass 2^64.
  std::vector<uint8_t> header;
  if (Status st = io::SerializeGgufHeader(meta_, tensors_, alignment_, &header); !st.ok()) {
    return InvalidArgument("%s: %s", path.c_str(), st.message().c_str());
  }
  SEPTET_RETURN_IF_ERROR(io::CreateTempFile(path, overwrite, &tmp_, &fd_));
  path_ = path;
  overwrite_ = overwrite;
  begun_ = true;
  cur_ = 0;
  cur_done_ = 0;
  Status st = WriteRaw(header.data(), header.size());
  if (!st.ok()) Abort();
  return st;
}

Status GgufStreamWriter::Append(const void* data, size_t n) {
  if (!begun_) return InvalidArgument("GgufStreamWriter::Append before Begin");
  while (n > 0) {
    if (cur_ >= tensors_.size()) {
      return InvalidArgument("%s: %zu bytes appended past the last tensor", path_.c_str(), n);
    }
    const io::GgufTensorInfo& t = tensors_[cur_];
    if (n > t.nbytes - cur_done_) {
      return InvalidArgument("tensor '%s': chunk of %zu bytes runs past its end (%zu of %zu bytes written)",
                             t.name.c_str(), n, cur_done_, t.nbytes);
    }
    Status st = WriteRaw(data, n);
    if (!st.ok()) {
      Abort();
      return st;
    }
    cur_done_ += n;
    n = 0;
    if (cur_done_ == t.nbytes) {
      uint64_t padded = 0;
      io::AlignUp(t.nbytes, alignment_, &padded);
      static constexpr uint8_t kZero[256] = {};
      for (uint64_t left = padded - t.nbytes; left > 0 && st.ok();) {
        const size_t k = left < sizeof(kZero) ? static_cast<size_t>(left) : sizeof(kZero);
        st = WriteRaw(kZero, k);
        left -= k;
      }
      if (!st.ok()) {
        Abort();
        return st;
      }
      ++cur_;
      cur_done_ = 0;
    }
  }
  return Status::Ok();
}

Status GgufStreamWriter::Finish() {
  if (!begun_) return InvalidArgument("GgufStreamWriter::Finish before Begin");
  if (cur_ != tensors_.size()) {
    const io::GgufTensorInfo& t = tensors_[cur_];
    Status st = InvalidArgument("%s: tensor '%s' incomplete at Finish (%zu of %zu bytes)", path_.c_str(),
                                t.name.c_str(), cur_done_, t.nbytes);
    Abort();
    return st;
  }
  // CommitTempFile closes the descriptor and, on failure, removes the temporary file.
  const int fd = fd_;
  fd_ = -1;
  const Status st = io::CommitTempFile(fd, tmp_, path_, overwrite_);
  begun_ = false;
  if (!st.ok()) return st;
  finished_ = true;
  return Status::Ok();
}

}  // namespace septet
