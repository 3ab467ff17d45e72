#include "io/safetensors.h"

#include <sys/stat.h>

#include <cinttypes>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "io/byte_reader.h"

namespace septet {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kMaxDim = uint64_t{1} << 48;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the safetensors reference implementation's limit

// Element size of a safetensors dtype string; 0 when unknown.
size_t DtypeBytes(const std::string& dtype) {
  static const std::map<std::string, size_t, std::less<>> kSizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8},     {"I32", 4},     {"I16", 2},
      {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2},  {"U8", 1},      {"BOOL", 1},    {"F8_E4M3", 1},
      {"F8_E5M2", 1},
  };
  auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

std::optional<DType> DtypeToSeptet(const std::string& dtype) {
  if (dtype == "F32") return DType::kF32;
  if (dtype == "F16") return DType::kF16;
  if (dtype == "BF16") return DType::kBF16;
  return std::nullopt;
}

bool IsUnsignedJson(const Json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

Result<Json> ParseJson(const std::string& path, const char* begin, size_t n, const char* what) {
  try {
    return Json::parse(begin, begin + n);
  } catch (const Json::exception& e) {
    return Corrupt("%s: %s is not valid JSON: %s", path.c_str(), what, e.what());
  }
}

Result<Json> ReadJsonFile(const std::string& path) {
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> f, MappedFile::Open(path));
  SEPTET_ASSIGN_OR_RETURN(Json j, ParseJson(path, reinterpret_cast<const char*>(f->data()), f->size(), "the file"));
  if (!j.is_object()) return Corrupt("%s: expected a JSON object at the top level", path.c_str());
  return j;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// ---- config.json ----

struct Config {
  const std::string& path;
  const Json& j;

  // A positive integer field; `fallback` when absent (nullopt: required).
  Result<int64_t> Int(const char* key, std::optional<int64_t> fallback) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (fallback) return *fallback;
      return Corrupt("%s: required field '%s' is missing", path.c_str(), key);
    }
    uint64_t v = 0;
    if (!IsUnsignedJson(*it, &v) || v == 0 || v > (uint64_t{1} << 31)) {
      return Corrupt("%s: field '%s' = %s; expected a positive integer", path.c_str(), key, it->dump().c_str());
    }
    return static_cast<int64_t>(v);
  }
  Result<double> Real(const char* key, double fallback) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number() || !(it->get<double>() > 0)) {
      return Corrupt("%s: field '%s' = %s; expected a positive number", path.c_str(), key, it->dump().c_str());
    }
    return it->get<double>();
  }
  Result<bool> Bool(const char* key, bool fallback) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) {
      return Corrupt("%s: field '%s' = %s; expected true or false", path.c_str(), key, it->dump().c_str());
    }
    return it->get<bool>();
  }
};

struct LlamaDims {
  int64_t n_layers = 0;
  bool tied = false;
};

Status CheckArchitecture(const std::string& path, const Json& j) {
  auto it = j.find("architectures");
  if (it == j.end() || !it->is_array()) {
    return Unsupported("%s: field 'architectures' is missing or not a list; expected [\"LlamaForCausalLM\"]",
                       path.c_str());
  }
  for (const Json& a : *it) {
    if (a.is_string() && a.get<std::string>() == "LlamaForCausalLM") return Status::Ok();
  }
  return Unsupported("%s: architectures = %s is not supported (expected LlamaForCausalLM)", path.c_str(),
                     it->dump().c_str());
}

Status RopeScalingToMeta(const std::string& path, const Json& j, Metadata& m) {
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_object()) {
    return Corrupt("%s: field 'rope_scaling' = %s; expected an object or null", path.c_str(), it->dump().c_str());
  }
  const Json& rs = *it;
  std::string type;
  for (const char* key : {"rope_type", "type"}) {
    if (auto t = rs.find(key); t != rs.end() && t->is_string()) {
      type = t->get<std::string>();
      break;
    }
  }
  if (type == "default") return Status::Ok();
  Config c{path, rs};
  auto real = [&](const char* key) -> Result<double> {
    auto f = rs.find(key);
    if (f == rs.end()) return Corrupt("%s: rope_scaling (%s) lacks field '%s'", path.c_str(), type.c_str(), key);
    return c.Real(key, 0.0);
  };
  if (type == "linear") {
    SEPTET_ASSIGN_OR_RETURN(const double factor, real("factor"));
    m.Set("llama.rope.scaling.type", MetaValue::String("linear"));
    m.Set("llama.rope.scaling.factor", MetaValue::F32(static_cast<float>(factor)));
    return Status::Ok();
  }
  if (type == "llama3") {
    SEPTET_ASSIGN_OR_RETURN(const double factor, real("factor"));
    SEPTET_ASSIGN_OR_RETURN(const double low, real("low_freq_factor"));
    SEPTET_ASSIGN_OR_RETURN(const double high, real("high_freq_factor"));
    SEPTET_ASSIGN_OR_RETURN(const int64_t orig, c.Int("original_max_position_embeddings", std::nullopt));
    if (!(high > low)) {
      return Corrupt("%s: rope_scaling: high_freq_factor = %g must exceed low_freq_factor = %g", path.c_str(), high,
                     low);
    }
    m.Set("llama.rope.scaling.type", MetaValue::String("llama3"));
    m.Set("llama.rope.scaling.factor", MetaValue::F32(static_cast<float>(factor)));
    m.Set("llama.rope.scaling.low_freq_factor", MetaValue::F32(static_cast<float>(low)));
    m.Set("llama.rope.scaling.high_freq_factor", MetaValue::F32(static_cast<float>(high)));
    m.Set("llama.rope.scaling.original_context_length", MetaValue::U32(static_cast<uint32_t>(orig)));
    return Status::Ok();
  }
  return Unsupported("%s: rope_scaling type '%s' is not supported (llama3, linear and default are)", path.c_str(),
                     type.c_str());
}

Result<LlamaDims> ConfigToMeta(const std::string& path, const Json& j, Metadata& m) {
  SEPTET_RETURN_IF_ERROR(CheckArchitecture(path, j));
  const Config c{path, j};
  SEPTET_ASSIGN_OR_RETURN(const int64_t hidden, c.Int("hidden_size", std::nullopt));
  SEPTET_ASSIGN_OR_RETURN(const int64_t ffn, c.Int("intermediate_size", std::nullopt));
  SEPTET_ASSIGN_OR_RETURN(const int64_t layers, c.Int("num_hidden_layers", std::nullopt));
  SEPTET_ASSIGN_OR_RETURN(const int64_t heads, c.Int("num_attention_heads", std::nullopt));
  SEPTET_ASSIGN_OR_RETURN(const int64_t kv_heads, c.Int("num_key_value_heads", heads));
  SEPTET_ASSIGN_OR_RETURN(const int64_t vocab, c.Int("vocab_size", std::nullopt));
  SEPTET_ASSIGN_OR_RETURN(const int64_t ctx, c.Int("max_position_embeddings", 2048));
  SEPTET_ASSIGN_OR_RETURN(const double theta, c.Real("rope_theta", 10000.0));
  SEPTET_ASSIGN_OR_RETURN(const double eps, c.Real("rms_norm_eps", 1e-6));
  SEPTET_ASSIGN_OR_RETURN(const bool tied, c.Bool("tie_word_embeddings", false));
  SEPTET_ASSIGN_OR_RETURN(const bool attn_bias, c.Bool("attention_bias", false));
  SEPTET_ASSIGN_OR_RETURN(const bool mlp_bias, c.Bool("mlp_bias", false));
  const bool explicit_head_dim = j.contains("head_dim") && !j["head_dim"].is_null();
  if (!explicit_head_dim && hidden % heads != 0) {
    return Corrupt("%s: hidden_size = %" PRId64 " is not divisible by num_attention_heads = %" PRId64, path.c_str(),
                   hidden, heads);
  }
  SEPTET_ASSIGN_OR_RETURN(const int64_t head_dim, c.Int("head_dim", hidden / heads));
  if (heads % kv_heads != 0) {
    return Corrupt("%s: num_attention_heads = %" PRId64 " is not divisible by num_key_value_heads = %" PRId64,
                   path.c_str(), heads, kv_heads);
  }
  if (head_dim % 2 != 0) return Corrupt("%s: head_dim = %" PRId64 " is odd; RoPE needs it even", path.c_str(), head_dim);
  if (attn_bias || mlp_bias) {
    return Unsupported("%s: %s = true: Llama variants with bias terms are not supported", path.c_str(),
                       attn_bias ? "attention_bias" : "mlp_bias");
  }
  if (auto act = j.find("hidden_act"); act != j.end() && !(act->is_string() && act->get<std::string>() == "silu")) {
    return Unsupported("%s: hidden_act = %s is not supported (expected \"silu\")", path.c_str(), act->dump().c_str());
  }
  auto u32 = [](int64_t v) { return MetaValue::U32(static_cast<uint32_t>(v)); };
  m.Set("general.architecture", MetaValue::String("llama"));
  m.Set("llama.embedding_length", u32(hidden));
  m.Set("llama.feed_forward_length", u32(ffn));
  m.Set("llama.block_count", u32(layers));
  m.Set("llama.attention.head_count", u32(heads));
  m.Set("llama.attention.head_count_kv", u32(kv_heads));
  m.Set("llama.context_length", u32(ctx));
  m.Set("llama.rope.freq_base", MetaValue::F32(static_cast<float>(theta)));
  m.Set("llama.rope.dimension_count", u32(head_dim));
  if (explicit_head_dim) {
    m.Set("llama.attention.key_length", u32(head_dim));
    m.Set("llama.attention.value_length", u32(head_dim));
  }
  m.Set("llama.attention.layer_norm_rms_epsilon", MetaValue::F32(static_cast<float>(eps)));
  m.Set("llama.vocab_size", u32(vocab));
  m.Set("septet.rope.pairing", MetaValue::String("half"));
  SEPTET_RETURN_IF_ERROR(RopeScalingToMeta(path, j, m));
  return LlamaDims{layers, tied};
}

// ---- names ----

// model.layers.{i}.<suffix> -> blk.{i}.<short>.weight
const std::map<std::string, std::string, std::less<>> kLayerNames = {
    {"self_attn.q_proj.weight", "attn_q"},   {"self_attn.k_proj.weight", "attn_k"},
    {"self_attn.v_proj.weight", "attn_v"},   {"self_attn.o_proj.weight", "attn_output"},
    {"mlp.gate_proj.weight", "ffn_gate"},    {"mlp.up_proj.weight", "ffn_up"},
    {"mlp.down_proj.weight", "ffn_down"},    {"input_layernorm.weight", "attn_norm"},
    {"post_attention_layernorm.weight", "ffn_norm"},
};

// HF name -> canonical name; "" when the tensor is not used. Layer indices are
// returned through *layer (-1 for global tensors).
std::string CanonicalName(const std::string& hf, int64_t* layer) {
  *layer = -1;
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  constexpr std::string_view kPrefix = "model.layers.";
  if (hf.rfind(kPrefix, 0) != 0) return "";
  size_t p = kPrefix.size();
  int64_t idx = 0;
  const size_t digits_begin = p;
  while (p < hf.size() && hf[p] >= '0' && hf[p] <= '9' && p - digits_begin < 9) idx = idx * 10 + (hf[p++] - '0');
  if (p == digits_begin || p >= hf.size() || hf[p] != '.') return "";
  auto it = kLayerNames.find(std::string_view(hf).substr(p + 1));
  if (it == kLayerNames.end()) return "";
  *layer = idx;
  return StrFormat("blk.%" PRId64 ".%s.weight", idx, it->second.c_str());
}

// The reverse of CanonicalName, for messages about missing tensors.
std::string HfName(const std::string& canon) {
  if (canon == "token_embd.weight") return "model.embed_tokens.weight";
  if (canon == "output_norm.weight") return "model.norm.weight";
  if (canon == "output.weight") return "lm_head.weight";
  for (const auto& [hf_suffix, short_name] : kLayerNames) {
    const std::string tail = "." + short_name + ".weight";
    if (EndsWith(canon, tail) && canon.rfind("blk.", 0) == 0) {
      return "model.layers." + canon.substr(4, canon.size() - 4 - tail.size()) + "." + hf_suffix;
    }
  }
  return canon;
}

// Canonical tensor + where it came from (for messages).
struct Loaded {
  TensorInfo info;
  std::string hf_name;
  std::string file;
};

Status AddShard(const std::string& shard_path, const LlamaDims& dims, ModelFile& model,
                std::map<std::string, Loaded, std::less<>>& out, std::set<std::string>* hf_names) {
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> f, MappedFile::Open(shard_path));
  SEPTET_ASSIGN_OR_RETURN(std::vector<SafetensorsEntry> entries, ParseSafetensors(*f));
  for (SafetensorsEntry& e : entries) {
    if (hf_names != nullptr && !hf_names->insert(e.name).second) {
      return Corrupt("%s: tensor '%s' appears in more than one shard", shard_path.c_str(), e.name.c_str());
    }
    int64_t layer = -1;
    const std::string canon = CanonicalName(e.name, &layer);
    if (canon.empty()) continue;
    if (canon == "output.weight" && dims.tied) continue;  // tied: the model uses token_embd
    if (layer >= dims.n_layers) {
      return Corrupt("%s: tensor '%s': layer %" PRId64 " but num_hidden_layers = %" PRId64, shard_path.c_str(),
                     e.name.c_str(), layer, dims.n_layers);
    }
    const std::optional<DType> dt = DtypeToSeptet(e.dtype);
    if (!dt) {
      return Unsupported("%s: tensor '%s': dtype %s is not supported (F32, F16 and BF16 are)", shard_path.c_str(),
                         e.name.c_str(), e.dtype.c_str());
    }
    TensorInfo t;
    t.name = canon;
    t.dtype = *dt;
    t.shape = std::move(e.shape);
    t.nbytes = e.nbytes;
    t.data = e.data;
    const size_t elem = DtypeBytes(e.dtype);
    if (reinterpret_cast<uintptr_t>(t.data) % elem != 0) {
      std::vector<uint8_t>& copy = model.OwnBuffer(t.nbytes);
      std::memcpy(copy.data(), t.data, t.nbytes);
      t.data = copy.data();
    }
    if (out.count(canon) != 0) {
      return Corrupt("%s: tensor '%s' maps to '%s', which %s already provided", shard_path.c_str(), e.name.c_str(),
                     canon.c_str(), out[canon].file.c_str());
    }
    out.emplace(canon, Loaded{std::move(t), e.name, shard_path});
  }
  model.KeepAlive(std::move(f));
  return Status::Ok();
}

// Shard file names from the index's weight_map, in order of first appearance.
Result<std::vector<std::string>> ShardsFromIndex(const std::string& index_path) {
  SEPTET_ASSIGN_OR_RETURN(const Json index, ReadJsonFile(index_path));
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object() || wm->empty()) {
    return Corrupt("%s: 'weight_map' is missing or not a non-empty object", index_path.c_str());
  }
  std::vector<std::string> shards;
  std::set<std::string> seen;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string()) {
      return Corrupt("%s: weight_map['%s'] = %s; expected a file name", index_path.c_str(), it.key().c_str(),
                     it.value().dump().c_str());
    }
    const std::string file = it.value().get<std::string>();
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
      return Corrupt("%s: weight_map['%s'] = \"%s\"; expected a plain file name in the model directory",
                     index_path.c_str(), it.key().c_str(), file.c_str());
    }
    if (seen.insert(file).second) shards.push_back(file);
  }
  return shards;
}

}  // namespace

Result<std::vector<SafetensorsEntry>> ParseSafetensors(const MappedFile& file) {
  const char* path = file.path().c_str();
  io::ByteReader r(file.data(), file.size());
  uint64_t header_len = 0;
  if (!r.Read(&header_len)) {
    return Corrupt("%s: too short for a safetensors file: need 8 bytes of header length, file has %zu", path,
                   file.size());
  }
  if (header_len > kMaxHeaderBytes) {
    return Corrupt("%s: safetensors header length %" PRIu64 " exceeds the format's 100 MB limit", path, header_len);
  }
  if (header_len > r.remaining()) {
    return Corrupt("%s: safetensors header length %" PRIu64 " exceeds the file (size %zu)", path, header_len,
                   file.size());
  }
  SEPTET_ASSIGN_OR_RETURN(const Json header, ParseJson(file.path(), reinterpret_cast<const char*>(r.here()),
                                                       static_cast<size_t>(header_len), "the safetensors header"));
  if (!header.is_object()) return Corrupt("%s: safetensors header is not a JSON object", path);
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file.size() - data_start;

  std::vector<SafetensorsEntry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const char* name = it.key().c_str();
    const Json& v = it.value();
    if (!v.is_object()) return Corrupt("%s: tensor '%s': entry is not a JSON object", path, name);
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) return Corrupt("%s: tensor '%s': 'dtype' missing or not a string", path, name);
    if (sh == v.end() || !sh->is_array()) return Corrupt("%s: tensor '%s': 'shape' missing or not a list", path, name);
    if (off == v.end() || !off->is_array() || off->size() != 2) {
      return Corrupt("%s: tensor '%s': 'data_offsets' must be a list [begin, end]", path, name);
    }
    SafetensorsEntry e;
    e.name = it.key();
    e.dtype = dt->get<std::string>();
    uint64_t numel = 1;
    for (const Json& d : *sh) {
      uint64_t dim = 0;
      if (!IsUnsignedJson(d, &dim) || dim > kMaxDim) {
        return Corrupt("%s: tensor '%s': shape %s has an invalid dimension %s", path, name, sh->dump().c_str(),
                       d.dump().c_str());
      }
      if (!io::CheckedMul(numel, dim, &numel)) {
        return Corrupt("%s: tensor '%s': shape %s overflows", path, name, sh->dump().c_str());
      }
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t begin = 0, end = 0;
    if (!IsUnsignedJson((*off)[0], &begin) || !IsUnsignedJson((*off)[1], &end) || begin > end) {
      return Corrupt("%s: tensor '%s': data_offsets %s; expected two integers 0 <= begin <= end", path, name,
                     off->dump().c_str());
    }
    if (end > data_size) {
      return Corrupt("%s: tensor '%s': data [%" PRIu64 ", %" PRIu64 ") extends past end of file (data section is %"
                     PRIu64 " bytes)", path, name, begin, end, data_size);
    }
    const size_t elem = DtypeBytes(e.dtype);
    uint64_t want = 0;
    if (elem != 0 && (!io::CheckedMul(numel, elem, &want) || want != end - begin)) {
      return Corrupt("%s: tensor '%s': data_offsets span %" PRIu64 " bytes; shape %s of %s needs %" PRIu64, path,
                     name, end - begin, sh->dump().c_str(), e.dtype.c_str(), want);
    }
    e.data = file.data() + data_start + begin;
    e.nbytes = static_cast<size_t>(end - begin);
    entries.push_back(std::move(e));
  }
  return entries;
}

Result<std::unique_ptr<ModelFile>> OpenHuggingFace(const std::string& path) {
  struct stat st {};
  const bool is_dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  std::string dir = is_dir ? path : Dirname(path);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string single, index;
  if (!is_dir && EndsWith(path, ".safetensors")) {
    single = path;
  } else if (!is_dir && EndsWith(path, ".safetensors.index.json")) {
    index = path;
  } else if (FileExists(dir + "/model.safetensors.index.json")) {
    index = dir + "/model.safetensors.index.json";
  } else if (FileExists(dir + "/model.safetensors")) {
    single = dir + "/model.safetensors";
  } else {
    return NotFound("%s: no model.safetensors or model.safetensors.index.json in %s", path.c_str(), dir.c_str());
  }
  const std::string config_path = dir + "/config.json";
  if (!FileExists(config_path)) {
    return NotFound("%s: config.json not found beside the weights (a Hugging Face model needs it)",
                    config_path.c_str());
  }
  SEPTET_ASSIGN_OR_RETURN(const Json config, ReadJsonFile(config_path));

  auto model = std::make_unique<ModelFile>(path, "safetensors");
  SEPTET_ASSIGN_OR_RETURN(const LlamaDims dims, ConfigToMeta(config_path, config, model->mutable_metadata()));

  std::map<std::string, Loaded, std::less<>> loaded;
  if (!single.empty()) {
    SEPTET_RETURN_IF_ERROR(AddShard(single, dims, *model, loaded, nullptr));
  } else {
    SEPTET_ASSIGN_OR_RETURN(const std::vector<std::string> shards, ShardsFromIndex(index));
    std::set<std::string> hf_names;
    for (const std::string& shard : shards) {
      SEPTET_RETURN_IF_ERROR(AddShard(dir + "/" + shard, dims, *model, loaded, &hf_names));
    }
  }

  // num_hidden_layers is bounded by the layers the shards hold before the name list
  // (9 per layer) is built: 2^31 layers would be 2e10 names, an allocation failure.
  std::set<int64_t> layers;
  for (const auto& [name, t] : loaded) {
    if (const int64_t l = BlockIndex(name); l >= 0) layers.insert(l);
  }
  if (dims.n_layers > static_cast<int64_t>(layers.size())) {
    return Corrupt("%s: field 'num_hidden_layers' = %" PRId64 " but the safetensors hold tensors of %zu layers",
                   config_path.c_str(), dims.n_layers, layers.size());
  }
  const std::vector<std::string> names = LlamaTensorNames(static_cast<int>(dims.n_layers), !dims.tied);
  for (const std::string& name : names) {
    auto it = loaded.find(name);
    if (it == loaded.end()) {
      return Corrupt("%s: tensor '%s' (%s) is missing%s", (single.empty() ? index : single).c_str(),
                     HfName(name).c_str(), name.c_str(),
                     name == "output.weight" ? " and tie_word_embeddings is false" : "");
    }
    model->AddTensor(std::move(it->second.info));
  }
  return model;
}

}  // namespace septet
