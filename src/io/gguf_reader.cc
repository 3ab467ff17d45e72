#include "io/gguf_reader.h"

#include <algorithm>
#include <cinttypes>
#include <limits>
#include <unordered_set>
#include <vector>

#include "io/byte_reader.h"
#include "quant/registry.h"

namespace septet {

const char* GgmlTypeName(uint32_t raw) {
  static constexpr const char* kNames[] = {
      "F32",    "F16",   "Q4_0",   "Q4_1",  "Q4_2",  "Q4_3",  "Q5_0",  "Q5_1",    "Q8_0",   "Q8_1",
      "Q2_K",   "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL", "IQ3_S", "IQ2_S",  "IQ4_XS", "I8",   "I16",   "I32",   "I64",     "F64",    "IQ1_M",
      "BF16",   "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8",
      "IQ4_NL_8_8", "MXFP4"};
  if (raw < std::size(kNames)) return kNames[raw];
  if (const TypeTraits* t = FindTypeTraits(raw)) return t->name;
  return "?";
}

namespace {

// Largest accepted dimension: far beyond any real tensor, small enough that
// row_bytes(ne[0]) cannot overflow for any registry type.
constexpr uint64_t kMaxDim = uint64_t{1} << 48;

// Smallest possible encodings, used to reject absurd counts before allocating.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, 1 ne, type, offset

// Bytes of one element of a scalar type; 8 (the length prefix) for strings; 0 if not a scalar.
uint64_t MinElementBytes(MetaType t) {
  switch (t) {
    case MetaType::kU8: case MetaType::kI8: case MetaType::kBool: return 1;
    case MetaType::kU16: case MetaType::kI16: return 2;
    case MetaType::kU32: case MetaType::kI32: case MetaType::kF32: return 4;
    case MetaType::kU64: case MetaType::kI64: case MetaType::kF64: case MetaType::kString: return 8;
    case MetaType::kArray: return 0;
  }
  return 0;
}

bool IsKnownMetaType(uint32_t raw) { return raw <= static_cast<uint32_t>(MetaType::kF64); }

class GgufParser {
 public:
  explicit GgufParser(const MappedFile& f) : f_(f), path_(f.path().c_str()), r_(f.data(), f.size()) {}

  Result<std::unique_ptr<ModelFile>> Parse(std::shared_ptr<MappedFile> keep);

 private:
  Status Truncated(const std::string& what, uint64_t need) const {
    return Corrupt("%s: truncated: %s at byte %zu needs %" PRIu64 " bytes, only %zu left (file size %zu)", path_,
                   what.c_str(), r_.pos(), need, r_.remaining(), f_.size());
  }
  template <typename T>
  Status ReadOrFail(T* v, const std::string& what) {
    return r_.Read(v) ? Status::Ok() : Truncated(what, sizeof(T));
  }
  Status ReadString(std::string* out, const std::string& what);
  // `what()` names the string for messages; it is only called on failure.
  template <typename What>
  Status ReadStringLazy(std::string* out, const What& what) {
    uint64_t len = 0;
    if (!r_.Read(&len)) return Truncated(what() + " length", sizeof(len));
    if (len > r_.remaining()) {
      return Corrupt("%s: %s: string length %" PRIu64 " at byte %zu exceeds the %zu bytes left in the file", path_,
                     what().c_str(), len, r_.pos() - 8, r_.remaining());
    }
    r_.ReadBytes(static_cast<size_t>(len), out);
    return Status::Ok();
  }
  Status ReadScalar(MetaType t, MetaValue* out, const std::string& what);
  Status ReadValue(MetaType t, MetaValue* out, const std::string& key);
  Status ReadArray(MetaValue* out, const std::string& key);

  const MappedFile& f_;
  const char* path_;
  io::ByteReader r_;
};

Status GgufParser::ReadString(std::string* out, const std::string& what) {
  return ReadStringLazy(out, [&] { return what; });
}

Status GgufParser::ReadScalar(MetaType t, MetaValue* out, const std::string& what) {
  out->type = t;
  auto as_signed = [&](auto v) -> Status {
    out->i = static_cast<int64_t>(v);
    return Status::Ok();
  };
  auto as_unsigned = [&](auto v) -> Status {
    out->u = static_cast<uint64_t>(v);
    out->i = static_cast<int64_t>(out->u);
    return Status::Ok();
  };
  switch (t) {
    case MetaType::kU8: { uint8_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_unsigned(v); }
    case MetaType::kI8: { int8_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_signed(v); }
    case MetaType::kU16: { uint16_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_unsigned(v); }
    case MetaType::kI16: { int16_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_signed(v); }
    case MetaType::kU32: { uint32_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_unsigned(v); }
    case MetaType::kI32: { int32_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_signed(v); }
    case MetaType::kU64: { uint64_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_unsigned(v); }
    case MetaType::kI64: { int64_t v; SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what)); return as_signed(v); }
    case MetaType::kF32: {
      float v;
      SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what));
      out->f = v;
      return Status::Ok();
    }
    case MetaType::kF64: {
      double v;
      SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what));
      out->f = v;
      return Status::Ok();
    }
    case MetaType::kBool: {
      uint8_t v;
      SEPTET_RETURN_IF_ERROR(ReadOrFail(&v, what));
      if (v > 1) return Corrupt("%s: %s: bool byte is %u; expected 0 or 1", path_, what.c_str(), v);
      out->i = v;
      out->u = v;
      return Status::Ok();
    }
    case MetaType::kString:
      return ReadString(&out->s, what);
    case MetaType::kArray:
      break;
  }
  return Internal("%s: %s: ReadScalar called for an array", path_, what.c_str());
}

Status GgufParser::ReadArray(MetaValue* out, const std::string& key) {
  const std::string what = "metadata '" + key + "'";
  uint32_t elem_raw = 0;
  uint64_t n = 0;
  SEPTET_RETURN_IF_ERROR(ReadOrFail(&elem_raw, what + " array element type"));
  if (!IsKnownMetaType(elem_raw)) {
    return Corrupt("%s: %s: unknown array element type id %u; expected 0..12", path_, what.c_str(), elem_raw);
  }
  const auto elem = static_cast<MetaType>(elem_raw);
  if (elem == MetaType::kArray) {
    return Unsupported("%s: %s: arrays of arrays are not supported", path_, what.c_str());
  }
  SEPTET_RETURN_IF_ERROR(ReadOrFail(&n, what + " array length"));
  const uint64_t min_bytes = MinElementBytes(elem);
  if (n > r_.remaining() / min_bytes) {
    return Corrupt("%s: %s: array length %" PRIu64 " of %s cannot fit in the %zu bytes left in the file", path_,
                   what.c_str(), n, MetaTypeName(elem), r_.remaining());
  }
  out->type = MetaType::kArray;
  out->array_type = elem;
  const size_t count = static_cast<size_t>(n);
  MetaValue item;
  if (elem == MetaType::kString) {
    out->strings.resize(count);
    for (size_t k = 0; k < count; ++k) {
      // Vocabularies hold 100k+ strings: the element's name is only built on failure.
      SEPTET_RETURN_IF_ERROR(
          ReadStringLazy(&out->strings[k], [&] { return StrFormat("%s element %zu", what.c_str(), k); }));
    }
  } else if (elem == MetaType::kF32 || elem == MetaType::kF64) {
    out->reals.resize(count);
    for (size_t k = 0; k < count; ++k) {
      SEPTET_RETURN_IF_ERROR(ReadScalar(elem, &item, what));
      out->reals[k] = item.f;
    }
  } else {
    out->ints.resize(count);
    for (size_t k = 0; k < count; ++k) {
      SEPTET_RETURN_IF_ERROR(ReadScalar(elem, &item, what));
      if (elem == MetaType::kU64 && item.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Unsupported("%s: %s: u64 array element %zu = %" PRIu64 " does not fit a signed 64-bit integer",
                           path_, what.c_str(), k, item.u);
      }
      out->ints[k] = item.i;
    }
  }
  return Status::Ok();
}

Status GgufParser::ReadValue(MetaType t, MetaValue* out, const std::string& key) {
  if (t == MetaType::kArray) return ReadArray(out, key);
  return ReadScalar(t, out, "metadata '" + key + "'");
}

Result<std::unique_ptr<ModelFile>> GgufParser::Parse(std::shared_ptr<MappedFile> keep) {
  uint32_t magic = 0, version = 0;
  SEPTET_RETURN_IF_ERROR(ReadOrFail(&magic, "magic"));
  if (magic != kGgufMagic) return Corrupt("%s: bad magic 0x%08x; expected \"GGUF\"", path_, magic);
  SEPTET_RETURN_IF_ERROR(ReadOrFail(&version, "version"));
  if (version == 1) {
    return Unsupported("%s: GGUF version 1 is not supported (versions 2 and 3 are); re-convert the model", path_);
  }
  if (version == 0 || version > 3) {
    if ((version & 0xffff) == 0) {
      return Unsupported("%s: GGUF version field 0x%08x looks big-endian; only little-endian GGUF is supported",
                         path_, version);
    }
    return Unsupported("%s: GGUF version %u is not supported (versions 2 and 3 are)", path_, version);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  SEPTET_RETURN_IF_ERROR(ReadOrFail(&n_tensors, "n_tensors"));
  SEPTET_RETURN_IF_ERROR(ReadOrFail(&n_kv, "n_kv"));
  if (n_kv > r_.remaining() / kMinKvBytes) {
    return Corrupt("%s: n_kv = %" PRIu64 " metadata entries cannot fit in the %zu bytes left in the file", path_,
                   n_kv, r_.remaining());
  }
  if (n_tensors > r_.remaining() / kMinTensorInfoBytes) {
    return Corrupt("%s: n_tensors = %" PRIu64 " tensor infos cannot fit in the %zu bytes left in the file", path_,
                   n_tensors, r_.remaining());
  }

  auto model = std::make_unique<ModelFile>(f_.path(), "gguf");
  Metadata& meta = model->mutable_metadata();
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    SEPTET_RETURN_IF_ERROR(ReadString(&key, StrFormat("metadata entry #%" PRIu64 " key", k)));
    if (key.empty()) return Corrupt("%s: metadata entry #%" PRIu64 " has an empty key", path_, k);
    if (meta.Has(key)) return Corrupt("%s: duplicate metadata key '%s'", path_, key.c_str());
    uint32_t type_raw = 0;
    SEPTET_RETURN_IF_ERROR(ReadOrFail(&type_raw, "metadata '" + key + "' type"));
    if (!IsKnownMetaType(type_raw)) {
      return Corrupt("%s: metadata '%s': unknown value type id %u; expected 0..12", path_, key.c_str(), type_raw);
    }
    MetaValue v;
    SEPTET_RETURN_IF_ERROR(ReadValue(static_cast<MetaType>(type_raw), &v, key));
    meta.Set(std::move(key), std::move(v));
  }

  uint64_t alignment = kGgufDefaultAlignment;
  if (const MetaValue* a = meta.Find("general.alignment")) {
    if (!IsIntegerMetaType(a->type) || a->i <= 0 || !io::IsPowerOfTwo(static_cast<uint64_t>(a->i))) {
      return Corrupt("%s: general.alignment = %s; expected a power-of-two unsigned integer", path_,
                     a->DebugString().c_str());
    }
    alignment = static_cast<uint64_t>(a->i);
  }

  struct RawTensor {
    TensorInfo info;
    uint64_t offset;
  };
  std::vector<RawTensor> raw(static_cast<size_t>(n_tensors));
  std::unordered_set<std::string> names;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo& t = raw[k].info;
    SEPTET_RETURN_IF_ERROR(ReadString(&t.name, StrFormat("tensor #%" PRIu64 " name", k)));
    if (t.name.empty()) return Corrupt("%s: tensor #%" PRIu64 " has an empty name", path_, k);
    if (!names.insert(t.name).second) return Corrupt("%s: duplicate tensor name '%s'", path_, t.name.c_str());
    const std::string what = "tensor '" + t.name + "'";
    uint32_t n_dims = 0;
    SEPTET_RETURN_IF_ERROR(ReadOrFail(&n_dims, what + " n_dims"));
    if (n_dims < 1 || n_dims > kGgufMaxDims) {
      return Corrupt("%s: %s: n_dims = %u; expected 1..%d", path_, what.c_str(), n_dims, kGgufMaxDims);
    }
    uint64_t ne[kGgufMaxDims] = {};
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      SEPTET_RETURN_IF_ERROR(ReadOrFail(&ne[d], what + " ne"));
      if (ne[d] == 0 || ne[d] > kMaxDim) {
        return Corrupt("%s: %s: ne[%u] = %" PRIu64 "; expected 1..2^48", path_, what.c_str(), d, ne[d]);
      }
      if (!io::CheckedMul(numel, ne[d], &numel) ||
          numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Corrupt("%s: %s: element count overflows (ne[%u] = %" PRIu64 ")", path_, what.c_str(), d, ne[d]);
      }
    }
    uint32_t type_raw = 0;
    SEPTET_RETURN_IF_ERROR(ReadOrFail(&type_raw, what + " type"));
    SEPTET_RETURN_IF_ERROR(ReadOrFail(&raw[k].offset, what + " offset"));
    const TypeTraits* traits = FindTypeTraits(type_raw);
    if (traits == nullptr || traits->is_activation_only) {
      return Unsupported("%s: %s: tensor type id %u (%s) is not supported", path_, what.c_str(), type_raw,
                         GgmlTypeName(type_raw));
    }
    // ggml block types need whole blocks per row; septet's own (ids >= 200) pad the last one.
    if (type_raw < 200 && traits->block_size > 1 && ne[0] % static_cast<uint64_t>(traits->block_size) != 0) {
      return Corrupt("%s: %s: row length ne[0] = %" PRIu64 " is not a multiple of the %s block size %d", path_,
                     what.c_str(), ne[0], traits->name, traits->block_size);
    }
    if (raw[k].offset % alignment != 0) {
      return Corrupt("%s: %s: data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64, path_,
                     what.c_str(), raw[k].offset, alignment);
    }
    t.dtype = static_cast<DType>(type_raw);
    for (uint32_t d = 0; d < n_dims; ++d) t.shape.push_back(static_cast<int64_t>(ne[n_dims - 1 - d]));
    uint64_t nbytes = 0;
    if (!io::CheckedMul(numel / ne[0], traits->row_bytes(static_cast<int64_t>(ne[0])), &nbytes) ||
        nbytes > std::numeric_limits<size_t>::max()) {
      return Corrupt("%s: %s: byte size overflows", path_, what.c_str());
    }
    t.nbytes = static_cast<size_t>(nbytes);
  }

  uint64_t data_start = 0;
  if (!io::AlignUp(r_.pos(), alignment, &data_start)) {
    return Corrupt("%s: data section start overflows (alignment %" PRIu64 ")", path_, alignment);
  }
  if (n_tensors > 0 && data_start > f_.size()) {
    return Corrupt("%s: truncated: the data section should start at byte %" PRIu64 " but the file has %zu bytes",
                   path_, data_start, f_.size());
  }
  for (RawTensor& rt : raw) {
    TensorInfo& t = rt.info;
    uint64_t begin = 0, end = 0;
    if (!io::CheckedAdd(data_start, rt.offset, &begin) || !io::CheckedAdd(begin, t.nbytes, &end)) {
      return Corrupt("%s: tensor '%s': data offset %" PRIu64 " + %zu bytes overflows", path_, t.name.c_str(),
                     rt.offset, t.nbytes);
    }
    if (end > f_.size()) {
      return Corrupt("%s: tensor '%s': data [%" PRIu64 ", %" PRIu64 ") extends past end of file (size %zu)", path_,
                     t.name.c_str(), begin, end, f_.size());
    }
    t.data = f_.data() + begin;
    model->AddTensor(std::move(t));
  }

  if (!meta.Has("septet.rope.pairing")) meta.Set("septet.rope.pairing", MetaValue::String("interleaved"));
  model->KeepAlive(std::move(keep));
  return model;
}

}  // namespace

Result<std::unique_ptr<ModelFile>> ParseGguf(std::shared_ptr<MappedFile> file) {
  GgufParser parser(*file);
  return parser.Parse(file);
}

Result<std::unique_ptr<ModelFile>> OpenGguf(const std::string& path) {
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  return ParseGguf(std::move(file));
}

}  // namespace septet
