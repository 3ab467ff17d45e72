#include "io/gguf_stream_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/byte_reader.h"
#include "io/gguf_reader.h"
#include "quant/registry.h"

namespace septet {
namespace {

bool IsUnsignedType(MetaType t) {
  return t == MetaType::kU8 || t == MetaType::kU16 || t == MetaType::kU32 || t == MetaType::kU64;
}

class Bytes {
 public:
  template <typename T>
  void Put(T v) {
    Raw(&v, sizeof(T));
  }
  void Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
  void Str(const std::string& s) {
    Put<uint64_t>(s.size());
    Raw(s.data(), s.size());
  }
  // One scalar of type t from its integer bits or real value (GGUF on-disk widths).
  void Scalar(MetaType t, uint64_t bits, double real) {
    switch (t) {
      case MetaType::kU8: case MetaType::kI8: case MetaType::kBool: Put(static_cast<uint8_t>(bits)); break;
      case MetaType::kU16: case MetaType::kI16: Put(static_cast<uint16_t>(bits)); break;
      case MetaType::kU32: case MetaType::kI32: Put(static_cast<uint32_t>(bits)); break;
      case MetaType::kU64: case MetaType::kI64: Put(bits); break;
      case MetaType::kF32: Put(static_cast<float>(real)); break;
      case MetaType::kF64: Put(real); break;
      case MetaType::kString: case MetaType::kArray: break;
    }
  }
  std::vector<uint8_t> out;
};

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status ExistsError(const std::string& path) {
  return InvalidArgument("%s: file already exists; use --force to overwrite it", path.c_str());
}

}  // namespace

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
  if (key == "general.alignment") alignment_ = value.u != 0 ? value.u : static_cast<uint64_t>(value.i);
  for (auto& [k, v] : meta_) {
    if (k == key) {
      v = std::move(value);
      return Status::Ok();
    }
  }
  meta_.emplace_back(std::move(key), std::move(value));
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
  tensors_.push_back(Tensor{std::move(name), dtype, std::move(shape), static_cast<size_t>(nbytes)});
  return Status::Ok();
}

uint64_t GgufStreamWriter::file_bytes() const {
  uint64_t total = SerializeHeader().size();
  for (const Tensor& t : tensors_) {
    uint64_t padded = 0;
    io::AlignUp(t.nbytes, alignment_, &padded);
    total += padded;
  }
  return total;
}

std::vector<uint8_t> GgufStreamWriter::SerializeHeader() const {
  Bytes b;
  b.Put<uint32_t>(kGgufMagic);
  b.Put<uint32_t>(kGgufVersion);
  b.Put<uint64_t>(tensors_.size());
  b.Put<uint64_t>(meta_.size());
  for (const auto& [key, v] : meta_) {
    b.Str(key);
    b.Put<uint32_t>(static_cast<uint32_t>(v.type));
    if (v.type == MetaType::kString) {
      b.Str(v.s);
    } else if (v.type == MetaType::kArray) {
      const MetaType e = v.array_type;
      b.Put<uint32_t>(static_cast<uint32_t>(e));
      if (e == MetaType::kString) {
        b.Put<uint64_t>(v.strings.size());
        for (const std::string& s : v.strings) b.Str(s);
      } else if (e == MetaType::kF32 || e == MetaType::kF64) {
        b.Put<uint64_t>(v.reals.size());
        for (double x : v.reals) b.Scalar(e, 0, x);
      } else {
        b.Put<uint64_t>(v.ints.size());
        for (int64_t x : v.ints) b.Scalar(e, static_cast<uint64_t>(x), 0.0);
      }
    } else {
      const uint64_t bits = IsUnsignedType(v.type) && v.u != 0 ? v.u : static_cast<uint64_t>(v.i);
      b.Scalar(v.type, bits, v.f);
    }
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    b.Str(t.name);
    b.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (size_t d = t.shape.size(); d-- > 0;) b.Put<uint64_t>(static_cast<uint64_t>(t.shape[d]));
    b.Put<uint32_t>(static_cast<uint32_t>(t.dtype));
    b.Put<uint64_t>(offset);
    uint64_t padded = 0;
    io::AlignUp(t.nbytes, alignment_, &padded);
    offset += padded;
  }
  uint64_t start = 0;
  io::AlignUp(b.out.size(), alignment_, &start);
  b.out.resize(static_cast<size_t>(start), 0);
  return std::move(b.out);
}

Status GgufStreamWriter::WriteRaw(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("%s: write failed: %s", tmp_.c_str(), std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status GgufStreamWriter::Begin(const std::string& path, bool overwrite) {
  if (begun_ || finished_) return InvalidArgument("%s: GgufStreamWriter::Begin called twice", path.c_str());
  if (!overwrite && Exists(path)) return ExistsError(path);
  path_ = path;
  overwrite_ = overwrite;
  tmp_ = path + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return IoError("%s: cannot create: %s", tmp_.c_str(), std::strerror(errno));
  begun_ = true;
  cur_ = 0;
  cur_done_ = 0;
  const std::vector<uint8_t> header = SerializeHeader();
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
    const Tensor& t = tensors_[cur_];
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
    const Tensor& t = tensors_[cur_];
    Status st = InvalidArgument("%s: tensor '%s' incomplete at Finish (%zu of %zu bytes)", path_.c_str(),
                                t.name.c_str(), cur_done_, t.nbytes);
    Abort();
    return st;
  }
  Status st;
  if (::fsync(fd_) != 0) st = IoError("%s: fsync failed: %s", tmp_.c_str(), std::strerror(errno));
  if (::close(fd_) != 0 && st.ok()) st = IoError("%s: close failed: %s", tmp_.c_str(), std::strerror(errno));
  fd_ = -1;
  if (st.ok()) {
    int rc = 0;
    if (overwrite_) {
      rc = ::rename(tmp_.c_str(), path_.c_str());
    } else {
      rc = ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE);
      if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
        rc = Exists(path_) ? (errno = EEXIST, -1) : ::rename(tmp_.c_str(), path_.c_str());
      }
    }
    if (rc != 0) {
      st = errno == EEXIST ? ExistsError(path_)
                           : IoError("%s: cannot rename %s onto it: %s", path_.c_str(), tmp_.c_str(),
                                     std::strerror(errno));
    }
  }
  if (!st.ok()) {
    Abort();
    return st;
  }
  finished_ = true;
  begun_ = false;
  const size_t slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace septet
