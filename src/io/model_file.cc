#include "io/model_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <limits>
#include <set>

#include "io/gguf_reader.h"
#include "io/llama2c.h"
#include "io/safetensors.h"

namespace septet {

// ---- MetaValue ----

const char* MetaTypeName(MetaType t) {
  switch (t) {
    case MetaType::kU8: return "u8";
    case MetaType::kI8: return "i8";
    case MetaType::kU16: return "u16";
    case MetaType::kI16: return "i16";
    case MetaType::kU32: return "u32";
    case MetaType::kI32: return "i32";
    case MetaType::kF32: return "f32";
    case MetaType::kBool: return "bool";
    case MetaType::kString: return "str";
    case MetaType::kArray: return "arr";
    case MetaType::kU64: return "u64";
    case MetaType::kI64: return "i64";
    case MetaType::kF64: return "f64";
  }
  return "?";
}

bool IsIntegerMetaType(MetaType t) {
  switch (t) {
    case MetaType::kU8: case MetaType::kI8: case MetaType::kU16: case MetaType::kI16:
    case MetaType::kU32: case MetaType::kI32: case MetaType::kU64: case MetaType::kI64:
      return true;
    default:
      return false;
  }
}

namespace {
bool IsUnsignedMetaType(MetaType t) {
  return t == MetaType::kU8 || t == MetaType::kU16 || t == MetaType::kU32 || t == MetaType::kU64;
}
}  // namespace

MetaValue MetaValue::Integer(MetaType t, int64_t v) {
  MetaValue m;
  m.type = t;
  m.i = v;
  if (IsUnsignedMetaType(t) || t == MetaType::kBool) m.u = static_cast<uint64_t>(v);
  return m;
}

MetaValue MetaValue::String(std::string v) {
  MetaValue m;
  m.type = MetaType::kString;
  m.s = std::move(v);
  return m;
}
MetaValue MetaValue::U32(uint32_t v) { return Integer(MetaType::kU32, v); }
MetaValue MetaValue::I32(int32_t v) { return Integer(MetaType::kI32, v); }
MetaValue MetaValue::I64(int64_t v) { return Integer(MetaType::kI64, v); }
MetaValue MetaValue::Bool(bool v) { return Integer(MetaType::kBool, v ? 1 : 0); }
MetaValue MetaValue::U64(uint64_t v) {
  MetaValue m;
  m.type = MetaType::kU64;
  m.u = v;
  m.i = static_cast<int64_t>(v);
  return m;
}
MetaValue MetaValue::F32(float v) {
  MetaValue m;
  m.type = MetaType::kF32;
  m.f = v;
  return m;
}
MetaValue MetaValue::F64(double v) {
  MetaValue m;
  m.type = MetaType::kF64;
  m.f = v;
  return m;
}
MetaValue MetaValue::StringArray(std::vector<std::string> v) {
  MetaValue m;
  m.type = MetaType::kArray;
  m.array_type = MetaType::kString;
  m.strings = std::move(v);
  return m;
}
MetaValue MetaValue::IntArray(MetaType elem, std::vector<int64_t> v) {
  MetaValue m;
  m.type = MetaType::kArray;
  m.array_type = elem;
  m.ints = std::move(v);
  return m;
}
MetaValue MetaValue::RealArray(MetaType elem, std::vector<double> v) {
  MetaValue m;
  m.type = MetaType::kArray;
  m.array_type = elem;
  m.reals = std::move(v);
  return m;
}
MetaValue MetaValue::F32Array(std::vector<double> v) { return RealArray(MetaType::kF32, std::move(v)); }
MetaValue MetaValue::I32Array(std::vector<int64_t> v) { return IntArray(MetaType::kI32, std::move(v)); }

std::string MetaValue::DebugString(size_t max_items) const {
  switch (type) {
    case MetaType::kString:
      return StrFormat("str \"%s\"", s.c_str());
    case MetaType::kF32:
    case MetaType::kF64:
      return StrFormat("%s %g", MetaTypeName(type), f);
    case MetaType::kBool:
      return i != 0 ? "bool true" : "bool false";
    case MetaType::kU64:
      return StrFormat("u64 %" PRIu64, u != 0 ? u : static_cast<uint64_t>(i));
    case MetaType::kArray: {
      const size_t n = array_type == MetaType::kString ? strings.size()
                       : (array_type == MetaType::kF32 || array_type == MetaType::kF64) ? reals.size()
                                                                                         : ints.size();
      std::string out = StrFormat("arr[%s] (%zu) [", MetaTypeName(array_type), n);
      for (size_t k = 0; k < n && k < max_items; ++k) {
        if (k > 0) out += ", ";
        if (array_type == MetaType::kString) {
          out += "\"" + strings[k] + "\"";
        } else if (array_type == MetaType::kF32 || array_type == MetaType::kF64) {
          out += StrFormat("%g", reals[k]);
        } else {
          out += StrFormat("%" PRId64, ints[k]);
        }
      }
      if (n > max_items) out += ", ...";
      return out + "]";
    }
    default:
      return StrFormat("%s %" PRId64, MetaTypeName(type), i);
  }
}

// ---- Metadata ----

const MetaValue* Metadata::Find(std::string_view key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

Result<int64_t> Metadata::GetInt(std::string_view key) const {
  const MetaValue* v = Find(key);
  const std::string k(key);
  if (v == nullptr) return NotFound("metadata key '%s' not found", k.c_str());
  if (!IsIntegerMetaType(v->type)) {
    return InvalidArgument("metadata key '%s' has type %s; expected an integer", k.c_str(),
                           MetaTypeName(v->type));
  }
  if (v->type == MetaType::kU64) {
    const uint64_t u = v->u != 0 ? v->u : static_cast<uint64_t>(v->i);
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidArgument("metadata key '%s' = %" PRIu64 " does not fit a signed 64-bit integer",
                             k.c_str(), u);
    }
    return static_cast<int64_t>(u);
  }
  return v->i;
}

Result<double> Metadata::GetFloat(std::string_view key) const {
  const MetaValue* v = Find(key);
  const std::string k(key);
  if (v == nullptr) return NotFound("metadata key '%s' not found", k.c_str());
  if (v->type == MetaType::kF32 || v->type == MetaType::kF64) return v->f;
  if (IsIntegerMetaType(v->type)) {
    SEPTET_ASSIGN_OR_RETURN(const int64_t iv, GetInt(key));
    return static_cast<double>(iv);
  }
  return InvalidArgument("metadata key '%s' has type %s; expected a number", k.c_str(),
                         MetaTypeName(v->type));
}

Result<std::string> Metadata::GetString(std::string_view key) const {
  const MetaValue* v = Find(key);
  const std::string k(key);
  if (v == nullptr) return NotFound("metadata key '%s' not found", k.c_str());
  if (v->type != MetaType::kString) {
    return InvalidArgument("metadata key '%s' has type %s; expected a string", k.c_str(),
                           MetaTypeName(v->type));
  }
  return v->s;
}

Result<bool> Metadata::GetBool(std::string_view key) const {
  const MetaValue* v = Find(key);
  const std::string k(key);
  if (v == nullptr) return NotFound("metadata key '%s' not found", k.c_str());
  if (v->type != MetaType::kBool) {
    return InvalidArgument("metadata key '%s' has type %s; expected a bool", k.c_str(),
                           MetaTypeName(v->type));
  }
  return v->i != 0;
}

int64_t Metadata::GetIntOr(std::string_view key, int64_t fallback) const {
  auto r = GetInt(key);
  return r.ok() ? r.value() : fallback;
}

double Metadata::GetFloatOr(std::string_view key, double fallback) const {
  auto r = GetFloat(key);
  return r.ok() ? r.value() : fallback;
}

std::string Metadata::GetStringOr(std::string_view key, std::string fallback) const {
  auto r = GetString(key);
  return r.ok() ? std::move(r).value() : std::move(fallback);
}

// ---- TensorInfo ----

int64_t TensorInfo::rows() const {
  int64_t r = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) r *= shape[d];
  return r;
}

int64_t TensorInfo::cols() const { return shape.empty() ? 1 : shape.back(); }

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t BlockIndex(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return -1;
  const size_t dot = name.find('.', kPrefix.size());
  const std::string_view digits = name.substr(kPrefix.size(), dot == std::string_view::npos ? 0 : dot - kPrefix.size());
  if (digits.empty() || digits.size() > 18 || (digits.size() > 1 && digits[0] == '0')) return -1;
  int64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');  // <= 18 digits: no overflow
  }
  return n;
}

std::vector<std::string> LlamaTensorNames(int n_layers, bool with_output) {
  std::vector<std::string> names = {"token_embd.weight"};
  for (int l = 0; l < n_layers; ++l) {
    for (const char* suffix : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                               "ffn_down", "ffn_up"}) {
      names.push_back(StrFormat("blk.%d.%s.weight", l, suffix));
    }
  }
  names.push_back("output_norm.weight");
  if (with_output) names.push_back("output.weight");
  return names;
}

// ---- ModelFile ----

const TensorInfo* ModelFile::FindTensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

uint64_t ModelFile::TensorBytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += t.nbytes;
  return total;
}

int64_t ModelFile::NumBlocks() const {
  std::set<int64_t> blocks;
  for (const auto& t : tensors_) {
    if (const int64_t b = BlockIndex(t.name); b >= 0) blocks.insert(b);
  }
  return static_cast<int64_t>(blocks.size());
}

std::vector<uint8_t>& ModelFile::OwnBuffer(size_t bytes) {
  owned_.push_back(std::make_unique<std::vector<uint8_t>>(bytes));
  return *owned_.back();
}

namespace {
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

Result<std::unique_ptr<ModelFile>> ModelFile::Open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("%s: no such file or directory", path.c_str());
    return IoError("%s: cannot stat: %s", path.c_str(), std::strerror(err));
  }
  const std::string_view base = std::string_view(path).substr(path.find_last_of('/') + 1);
  if (S_ISDIR(st.st_mode) || base == "config.json" || EndsWith(base, ".safetensors") ||
      EndsWith(base, ".safetensors.index.json")) {
    return OpenHuggingFace(path);
  }
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  if (file->size() == 0) {
    return Corrupt("%s: file is empty (expected a GGUF or llama2.c model)", path.c_str());
  }
  if (file->size() >= 4 && std::memcmp(file->data(), "GGUF", 4) == 0) return ParseGguf(std::move(file));
  return ParseLlama2c(std::move(file));
}

}  // namespace septet
