#include "io/gguf_header.h"

#include "io/byte_reader.h"
#include "io/gguf_reader.h"

namespace septet::io {
namespace {

bool IsUnsigned(MetaType t) {
  return t == MetaType::kU8 || t == MetaType::kU16 || t == MetaType::kU32 || t == MetaType::kU64;
}

// Little-endian appends onto a byte vector.
class Bytes {
 public:
  explicit Bytes(std::vector<uint8_t>* out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    Raw(&v, sizeof(T));
  }
  void Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);
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
  // Metadata value: string, array (element type, count, elements) or scalar.
  void Value(const MetaValue& v) {
    if (v.type == MetaType::kString) {
      Str(v.s);
    } else if (v.type == MetaType::kArray) {
      const MetaType e = v.array_type;
      Put<uint32_t>(static_cast<uint32_t>(e));
      if (e == MetaType::kString) {
        Put<uint64_t>(v.strings.size());
        for (const std::string& s : v.strings) Str(s);
      } else if (e == MetaType::kF32 || e == MetaType::kF64) {
        Put<uint64_t>(v.reals.size());
        for (double x : v.reals) Scalar(e, 0, x);
      } else {
        Put<uint64_t>(v.ints.size());
        for (int64_t x : v.ints) Scalar(e, static_cast<uint64_t>(x), 0.0);
      }
    } else {
      Scalar(v.type, MetaScalarBits(v), v.f);
    }
  }

 private:
  std::vector<uint8_t>* out_;
};

}  // namespace

uint64_t MetaScalarBits(const MetaValue& v) {
  if (IsUnsigned(v.type) && v.u != 0) return v.u;
  return static_cast<uint64_t>(v.i);
}

void SetOrReplaceMeta(GgufMetaList* meta, std::string key, MetaValue value) {
  for (auto& [k, v] : *meta) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  meta->emplace_back(std::move(key), std::move(value));
}

Status SerializeGgufHeader(const GgufMetaList& meta, const std::vector<GgufTensorInfo>& tensors, uint64_t alignment,
                           std::vector<uint8_t>* out) {
  const size_t begin = out->size();
  Bytes b(out);
  b.Put<uint32_t>(kGgufMagic);
  b.Put<uint32_t>(kGgufVersion);
  b.Put<uint64_t>(tensors.size());
  b.Put<uint64_t>(meta.size());
  for (const auto& [key, v] : meta) {
    b.Str(key);
    b.Put<uint32_t>(static_cast<uint32_t>(v.type));
    b.Value(v);
  }
  // Tensor infos: each offset is the sum of the padded sizes of the tensors before it.
  Status st;
  uint64_t offset = 0;
  for (const GgufTensorInfo& t : tensors) {
    b.Str(t.name);
    b.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (size_t d = t.shape.size(); d-- > 0;) b.Put<uint64_t>(static_cast<uint64_t>(t.shape[d]));
    b.Put<uint32_t>(static_cast<uint32_t>(t.dtype));
    b.Put<uint64_t>(offset);
    uint64_t padded = 0, next = 0;
    if ((!AlignUp(t.nbytes, alignment, &padded) || !CheckedAdd(offset, padded, &next)) && st.ok()) {
      st = InvalidArgument("tensor '%s': data offset overflows", t.name.c_str());
    }
    offset += padded;  // wraps only when st already says so
  }
  uint64_t end = 0;
  AlignUp(out->size() - begin, alignment, &end);
  out->resize(begin + static_cast<size_t>(end), 0);
  return st;
}

}  // namespace septet::io
