#include "io/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

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

// The stored bits of an integer scalar (see MetaValue: u when non-zero, else i).
uint64_t ScalarBits(const MetaValue& v) {
  if (IsUnsigned(v.type) && v.u != 0) return v.u;
  return static_cast<uint64_t>(v.i);
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

// Serializes into a caller-supplied sink, buffering small writes.
class Out {
 public:
  explicit Out(const std::function<Status(const void*, size_t)>& sink) : sink_(sink) {}
  template <typename T>
  void Put(T v) {
    Bytes(&v, sizeof(T));
  }
  void Str(const std::string& s) {
    Put<uint64_t>(s.size());
    Bytes(s.data(), s.size());
  }
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
      written_ += n;
      return;
    }
    if (buf_.size() + n > kBuf) Flush();
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
    written_ += n;
  }
  void Flush() {
    if (status_.ok() && !buf_.empty()) status_ = sink_(buf_.data(), buf_.size());
    buf_.clear();
  }
  uint64_t written() const { return written_; }
  const Status& status() const { return status_; }

 private:
  static constexpr size_t kBuf = 1 << 20;
  const std::function<Status(const void*, size_t)>& sink_;
  std::vector<uint8_t> buf_;
  uint64_t written_ = 0;
  Status status_;
};

void PutScalar(Out& out, MetaType t, const MetaValue& v, int64_t int_value, double real_value, bool scalar) {
  const uint64_t bits = scalar ? ScalarBits(v) : static_cast<uint64_t>(int_value);
  switch (t) {
    case MetaType::kU8: case MetaType::kI8: case MetaType::kBool: out.Put(static_cast<uint8_t>(bits)); break;
    case MetaType::kU16: case MetaType::kI16: out.Put(static_cast<uint16_t>(bits)); break;
    case MetaType::kU32: case MetaType::kI32: out.Put(static_cast<uint32_t>(bits)); break;
    case MetaType::kU64: case MetaType::kI64: out.Put(bits); break;
    case MetaType::kF32: out.Put(static_cast<float>(real_value)); break;
    case MetaType::kF64: out.Put(real_value); break;
    case MetaType::kString: case MetaType::kArray: break;
  }
}

Status WriteAll(int fd, const void* data, size_t n, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("%s: write failed: %s", path.c_str(), std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status ExistsError(const std::string& path) {
  return InvalidArgument("%s: file already exists; use --force to overwrite it", path.c_str());
}

}  // namespace

Status GgufWriter::SetMeta(std::string key, MetaValue value) {
  SEPTET_RETURN_IF_ERROR(ValidateMeta(key, value));
  if (key == "general.alignment") {
    if (value.type != MetaType::kU32 || !io::IsPowerOfTwo(ScalarBits(value))) {
      return InvalidArgument("metadata 'general.alignment' = %s; expected a u32 power of two",
                             value.DebugString().c_str());
    }
    alignment_ = ScalarBits(value);
  }
  for (auto& [k, v] : meta_) {
    if (k == key) {
      v = std::move(value);
      return Status::Ok();
    }
  }
  meta_.emplace_back(std::move(key), std::move(value));
  return Status::Ok();
}

Status GgufWriter::AddTensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                             size_t nbytes) {
  if (name.empty() || name.size() > kMaxTensorName) {
    return InvalidArgument("tensor '%s': name must be 1..%zu bytes", name.c_str(), kMaxTensorName);
  }
  for (const Tensor& t : tensors_) {
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
  tensors_.push_back(Tensor{std::move(name), dtype, std::move(shape), data, nbytes});
  return Status::Ok();
}

Status GgufWriter::Emit(const Sink& sink) const {
  Out out(sink);
  out.Put<uint32_t>(kGgufMagic);
  out.Put<uint32_t>(kGgufVersion);
  out.Put<uint64_t>(tensors_.size());
  out.Put<uint64_t>(meta_.size());
  for (const auto& [key, v] : meta_) {
    out.Str(key);
    out.Put<uint32_t>(static_cast<uint32_t>(v.type));
    if (v.type == MetaType::kString) {
      out.Str(v.s);
    } else if (v.type == MetaType::kArray) {
      const MetaType e = v.array_type;
      out.Put<uint32_t>(static_cast<uint32_t>(e));
      if (e == MetaType::kString) {
        out.Put<uint64_t>(v.strings.size());
        for (const std::string& s : v.strings) out.Str(s);
      } else if (e == MetaType::kF32 || e == MetaType::kF64) {
        out.Put<uint64_t>(v.reals.size());
        for (double x : v.reals) PutScalar(out, e, v, 0, x, /*scalar=*/false);
      } else {
        out.Put<uint64_t>(v.ints.size());
        for (int64_t x : v.ints) PutScalar(out, e, v, x, 0.0, /*scalar=*/false);
      }
    } else {
      PutScalar(out, v.type, v, v.i, v.f, /*scalar=*/true);
    }
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    out.Str(t.name);
    out.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (size_t d = t.shape.size(); d-- > 0;) out.Put<uint64_t>(static_cast<uint64_t>(t.shape[d]));
    out.Put<uint32_t>(static_cast<uint32_t>(t.dtype));
    out.Put<uint64_t>(offset);
    uint64_t padded = 0;
    if (!io::AlignUp(t.nbytes, alignment_, &padded) || !io::CheckedAdd(offset, padded, &offset)) {
      return InvalidArgument("tensor '%s': data offset overflows", t.name.c_str());
    }
  }
  uint64_t start = 0;
  io::AlignUp(out.written(), alignment_, &start);
  out.Zeros(static_cast<size_t>(start - out.written()));
  for (const Tensor& t : tensors_) {
    out.Bytes(t.data, t.nbytes);
    uint64_t padded = 0;
    io::AlignUp(t.nbytes, alignment_, &padded);
    out.Zeros(static_cast<size_t>(padded - t.nbytes));
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
  if (!overwrite && PathExists(path)) return ExistsError(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("%s: cannot create: %s", tmp.c_str(), std::strerror(errno));
  const Sink sink = [&](const void* p, size_t n) { return WriteAll(fd, p, n, tmp); };
  Status st = Emit(sink);
  if (st.ok() && ::fsync(fd) != 0) st = IoError("%s: fsync failed: %s", tmp.c_str(), std::strerror(errno));
  if (::close(fd) != 0 && st.ok()) st = IoError("%s: close failed: %s", tmp.c_str(), std::strerror(errno));
  if (st.ok()) {
    int rc = 0;
    if (overwrite) {
      rc = ::rename(tmp.c_str(), path.c_str());
    } else {
      // Atomic "create if absent": fails with EEXIST if someone created `path` meanwhile.
      rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
      if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {  // filesystem without NOREPLACE
        rc = PathExists(path) ? (errno = EEXIST, -1) : ::rename(tmp.c_str(), path.c_str());
      }
    }
    if (rc != 0) st = errno == EEXIST ? ExistsError(path)
                                      : IoError("%s: cannot rename %s onto it: %s", path.c_str(), tmp.c_str(),
                                                std::strerror(errno));
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // Make the rename itself durable.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace septet
