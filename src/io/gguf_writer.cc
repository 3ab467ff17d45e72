#include "io/gguf_writer.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <limits>

#include "io/atomic_file.h"
#include "io/byte_reader.h"
#include "io/gguf_reader.h"
#include "quant/registry.h"

namespace septet {
namespace {

constexpr size_t kMaxTensorName = 63;  // ggml's GGML_MAX_NAME (64) including the NUL
constexpr int64_t kMaxDim = int64_t{1} << 48;

bool IsUnsigned(MetaType t) {
  return t == MetaType::kU8 || t == MetaType::kU16 || t == MetaType::kU32 || t == MetaType::kU64;
}

// Range of an integer type as [lo, hi] in int64 (u64 is checked separately).
void IntRange(MetaType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case MetaType::kU8: *lo = 0; *hi = 0xff; return;
    case MetaType::kI8: *lo = -128; *hi = 127; return;
    case MetaType::kU16: *lo = 0; *hi = 0xffff; return;
    case MetaType::kI16: *lo = -32768; *hi = 32767; return;
    case MetaType::kU32: *lo = 0; *hi = 0xffffffffLL; return;
    case MetaType::kI32: *lo = INT32_MIN; *hi = INT32_MAX; return;
    case MetaType::kBool: *lo = 0; *hi = 1; return;
    default: *lo = std::numeric_limits<int64_t>::min(); *hi = std::numeric_limits<int64_t>::max(); return;
  }
}

Status CheckScalarInt(const std::string& key, const MetaValue& v) {
  if (v.type == MetaType::kI64) return Status::Ok();
  if (v.type == MetaType::kU64) {
    if (v.u == 0 && v.i < 0) return InvalidArgument("metadata '%s': u64 value %" PRId64 " is negative", key.c_str(), v.i);
    return Status::Ok();
  }
  int64_t lo = 0, hi = 0;
  IntRange(v.type, &lo, &hi);
  if (IsUnsigned(v.type) && v.u != 0) {
    if (v.u > static_cast<uint64_t>(hi)) {
      return InvalidArgument("metadata '%s': value %" PRIu64 " does not fit %s", key.c_str(), v.u,
                             MetaTypeName(v.type));
    }
    return Status::Ok();
  }
  if (v.i < lo || v.i > hi) {
    return InvalidArgument("metadata '%s': value %" PRId64 " does not fit %s", key.c_str(), v.i, MetaTypeName(v.type));
  }
  return Status::Ok();
}

Status CheckArrayInt(const std::string& key, MetaType e, int64_t x, size_t index) {
  if (e == MetaType::kI64) return Status::Ok();
  int64_t lo = 0, hi = 0;
  IntRange(e, &lo, &hi);
  if (e == MetaType::kU64) lo = 0;
  if (x < lo || x > hi) {
    return InvalidArgument("metadata '%s': array element %zu = %" PRId64 " does not fit %s", key.c_str(), index, x,
                           MetaTypeName(e));
  }
  return Status::Ok();
}

Status ValidateMeta(const std::string& key, const MetaValue& v) {
  if (key.empty()) return InvalidArgument("metadata key is empty");
  const auto raw = static_cast<uint32_t>(v.type);
  if (raw > static_cast<uint32_t>(MetaType::kF64)) {
    return InvalidArgument("metadata '%s': unknown value type id %u", key.c_str(), raw);
  }
  if (v.type == MetaType::kArray) {
    const MetaType e = v.array_type;
    if (static_cast<uint32_t>(e) > static_cast<uint32_t>(MetaType::kF64) || e == MetaType::kArray) {
      return InvalidArgument("metadata '%s': array element type %u is not a scalar type", key.c_str(),
                             static_cast<uint32_t>(e));
    }
    const bool is_str = e == MetaType::kString, is_real = e == MetaType::kF32 || e == MetaType::kF64;
    if ((!is_str && !v.strings.empty()) || (!is_real && !v.reals.empty()) || ((is_str || is_real) && !v.ints.empty())) {
      return InvalidArgument("metadata '%s': array of %s holds values in the wrong member (strings/reals/ints)",
                             key.c_str(), MetaTypeName(e));
    }
    if (!is_str && !is_real) {
      for (size_t k = 0; k < v.ints.size(); ++k) SEPTET_RETURN_IF_ERROR(CheckArrayInt(key, e, v.ints[k], k));
    }
    return Status::Ok();
  }
  if (IsIntegerMetaType(v.type) || v.type == MetaType::kBool) {
    return CheckScalarInt(key, v);
  }
  return Status::Ok();
}

// Writes into a caller-supplied sink, buffering small writes.
class Out {
 public:
  explicit Out(const std::function<Status(const void*, size_t)>& sink) : sink_(sink) {}
  void Zeros(size_t n) {
    static constexpr uint8_t kZero[64] = {};
    while (n > 0) {
      const size_t k = n < sizeof(kZero) ? n : sizeof(kZero);
      Bytes(kZero, k);
      n -= k;
    }
  }
  void Bytes(const void* p, size_t n) {
    if (!status_.ok() || n == 0) return;
    if (n >= kBuf) {
      Flush();
      if (status_.ok()) status_ = sink_(p, n);
      return;
    }
    if (buf_.size() + n > kBuf) Flush();
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void Flush() {
    if (status_.ok() && !buf_.empty()) status_ = sink_(buf_.data(), buf_.size());
    buf_.clear();
  }
  const Status& status() const { return status_; }

 private:
  static constexpr size_t kBuf = 1 << 20;
  const std::function<Status(const void*, size_t)>& sink_;
  std::vector<uint8_t> buf_;
  Status status_;
};

}  // namespace

Status GgufWriter::SetMeta(std::string key, MetaValue value) {
  SEPTET_RETURN_IF_ERROR(ValidateMeta(key, value));
  if (key == "general.alignment") {
    if (value.type != MetaType::kU32 || !io::IsPowerOfTwo(io::MetaScalarBits(value))) {
      return InvalidArgument("metadata 'general.alignment' = %s; expected a u32 power of two",
                             value.DebugString().c_str());
    }
    alignment_ = io::MetaScalarBits(value);
  }
  io::SetOrReplaceMeta(&meta_, std::move(key), std::move(value));
  return Status::Ok();
}

Status GgufWriter::AddTensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                             size_t nbytes) {
  if (name.empty() || name.size() > kMaxTensorName) {
    return InvalidArgument("tensor '%s': name must be 1..%zu bytes", name.c_str(), kMaxTensorName);
  }
  for (const io::GgufTensorInfo& t : tensors_) {
    if (t.name == name) return InvalidArgument("tensor '%s' added twice", name.c_str());
  }
  if (shape.empty() || shape.size() > static_cast<size_t>(kGgufMaxDims)) {
    return InvalidArgument("tensor '%s': %zu dims; expected 1..%d", name.c_str(), shape.size(), kGgufMaxDims);
  }
  uint64_t rows = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] <= 0 || shape[d] > kMaxDim) {
      return InvalidArgument("tensor '%s': dim %zu = %" PRId64 "; expected 1..2^48", name.c_str(), d, shape[d]);
    }
    if (d + 1 < shape.size() && !io::CheckedMul(rows, static_cast<uint64_t>(shape[d]), &rows)) {
      return InvalidArgument("tensor '%s': element count overflows", name.c_str());
    }
  }
  const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(dtype));
  if (traits == nullptr || traits->is_activation_only) {
    return InvalidArgument("tensor '%s': type %u (%s) cannot be stored", name.c_str(), static_cast<uint32_t>(dtype),
                           std::string(DTypeName(dtype)).c_str());
  }
  const int64_t cols = shape.back();
  if (static_cast<uint32_t>(dtype) < 200 && traits->block_size > 1 && cols % traits->block_size != 0) {
    return InvalidArgument("tensor '%s': row length %" PRId64 " is not a multiple of the %s block size %d",
                           name.c_str(), cols, traits->name, traits->block_size);
  }
  uint64_t want = 0;
  if (!io::CheckedMul(rows, traits->row_bytes(cols), &want) || want != nbytes) {
    return InvalidArgument("tensor '%s': got %zu bytes; %" PRIu64 " rows of %" PRId64 " %s values need %" PRIu64,
                           name.c_str(), nbytes, rows, cols, traits->name, want);
  }
  if (data == nullptr) return InvalidArgument("tensor '%s': data is null", name.c_str());
  tensors_.push_back(io::GgufTensorInfo{std::move(name), dtype, std::move(shape), nbytes});
  data_.push_back(data);
  return Status::Ok();
}

Status GgufWriter::Emit(const Sink& sink) const {
  // The header (gguf_header.h), then each tensor's data zero-padded to the alignment,
  // at the offsets the tensor-info table recorded.
  std::vector<uint8_t> header;
  SEPTET_RETURN_IF_ERROR(io::SerializeGgufHeader(meta_, tensors_, alignment_, &header));
  Out out(sink);
  out.Bytes(header.data(), header.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const size_t nbytes = tensors_[i].nbytes;
    out.Bytes(data_[i], nbytes);
    uint64_t padded = 0;
    io::AlignUp(nbytes, alignment_, &padded);
    out.Zeros(static_cast<size_t>(padded - nbytes));
  }
  out.Flush();
  return out.status();
}

std::vector<uint8_t> GgufWriter::Serialize() const {
  std::vector<uint8_t> bytes;
  const Sink sink = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
    return Status::Ok();
  };
  const Status st = Emit(sink);
  if (!st.ok()) bytes.clear();
  return bytes;
}

Status GgufWriter::Write(const std::string& path, bool overwrite) const {
  std::string tmp;
  int fd = -1;
  SEPTET_RETURN_IF_ERROR(io::CreateTempFile(path, overwrite, &tmp, &fd));
  const Sink sink = [&](const void* p, size_t n) { return io::WriteAll(fd, p, n, tmp); };
  const Status st = Emit(sink);
  if (!st.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  return io::CommitTempFile(fd, tmp, path, overwrite);
}

}  // namespace septet
