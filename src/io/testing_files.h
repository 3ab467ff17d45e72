// Test-only builders for small model files (GGUF, safetensors + config.json, llama2.c).
// Header-only and included only by src/io/*_test.cc: nothing here is in the library.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/half.h"
#include "io/gguf_writer.h"
#include "util/test_util.h"

namespace septet::testing {

// Little-endian byte builder for hand-made (often deliberately broken) files.
class Bytes {
 public:
  template <typename T>
  Bytes& Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b_.insert(b_.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& Str(const std::string& s) {
    Put<uint64_t>(s.size());
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Raw(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b_.insert(b_.end(), c, c + n);
    return *this;
  }
  Bytes& PadTo(size_t align, uint8_t fill = 0) {
    while (b_.size() % align != 0) b_.push_back(fill);
    return *this;
  }
  size_t size() const { return b_.size(); }
  const std::vector<uint8_t>& bytes() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

// A hand-encoded GGUF: header fields, raw kv bytes and tensor infos are all
// under the test's control so each can be broken on purpose.
struct RawGgufTensor {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first, as on disk
  uint32_t type = 0;
  uint64_t offset = 0;
};
struct RawGguf {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  uint64_t n_tensors_override = UINT64_MAX;  // UINT64_MAX: use tensors.size()
  uint64_t n_kv = 0;
  std::vector<uint8_t> kv_bytes;  // n_kv pre-encoded entries
  std::vector<RawGgufTensor> tensors;
  size_t alignment = 32;
  std::vector<uint8_t> data;  // appended after the aligned data start

  std::vector<uint8_t> Encode() const {
    Bytes b;
    b.Put(magic).Put(version);
    b.Put<uint64_t>(n_tensors_override == UINT64_MAX ? tensors.size() : n_tensors_override);
    b.Put<uint64_t>(n_kv);
    b.Raw(kv_bytes.data(), kv_bytes.size());
    for (const auto& t : tensors) {
      b.Str(t.name).Put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
      for (uint64_t n : t.ne) b.Put(n);
      b.Put(t.type).Put(t.offset);
    }
    b.PadTo(alignment);
    b.Raw(data.data(), data.size());
    return b.bytes();
  }
};

// One F32 tensor of `n` floats with a u32 kv: the smallest valid GGUF.
inline RawGguf SmallRawGguf() {
  RawGguf g;
  Bytes kv;
  kv.Str("general.architecture").Put<uint32_t>(8).Str("llama");
  kv.Str("llama.block_count").Put<uint32_t>(4).Put<uint32_t>(1);
  g.n_kv = 2;
  g.kv_bytes = kv.bytes();
  g.tensors = {{"a.weight", {4, 2}, 0, 0}, {"b.weight", {3}, 0, 32}};
  g.data.resize(32 + 12);
  for (size_t i = 0; i < g.data.size(); ++i) g.data[i] = static_cast<uint8_t>(i);
  return g;
}

// Every scalar type, every array element type, at their extremes.
inline std::vector<std::pair<std::string, MetaValue>> AllTypesMeta() {
  return {
      {"t.u8", MetaValue::Integer(MetaType::kU8, 255)},
      {"t.i8", MetaValue::Integer(MetaType::kI8, -128)},
      {"t.u16", MetaValue::Integer(MetaType::kU16, 65535)},
      {"t.i16", MetaValue::Integer(MetaType::kI16, -32768)},
      {"t.u32", MetaValue::U32(4294967295u)},
      {"t.i32", MetaValue::I32(INT32_MIN)},
      {"t.u64", MetaValue::U64(UINT64_MAX)},
      {"t.i64", MetaValue::I64(INT64_MIN)},
      {"t.f32", MetaValue::F32(-1.5e-7f)},
      {"t.f64", MetaValue::F64(3.141592653589793)},
      {"t.bool", MetaValue::Bool(true)},
      {"t.str", MetaValue::String(std::string("with\0nul and utf8 \xc3\xa9", 20))},
      {"t.str_empty", MetaValue::String("")},
      {"t.arr_u8", MetaValue::IntArray(MetaType::kU8, {0, 1, 255})},
      {"t.arr_i8", MetaValue::IntArray(MetaType::kI8, {-128, 127})},
      {"t.arr_u16", MetaValue::IntArray(MetaType::kU16, {65535})},
      {"t.arr_i16", MetaValue::IntArray(MetaType::kI16, {-32768, 5})},
      {"t.arr_u32", MetaValue::IntArray(MetaType::kU32, {4294967295LL, 0})},
      {"t.arr_i32", MetaValue::I32Array({INT32_MIN, INT32_MAX})},
      {"t.arr_u64", MetaValue::IntArray(MetaType::kU64, {INT64_MAX})},
      {"t.arr_i64", MetaValue::IntArray(MetaType::kI64, {INT64_MIN, -1})},
      {"t.arr_bool", MetaValue::IntArray(MetaType::kBool, {1, 0, 1})},
      {"t.arr_f32", MetaValue::F32Array({0.5, -2.0, 1e-3f})},
      {"t.arr_f64", MetaValue::RealArray(MetaType::kF64, {1e300, -0.0})},
      {"t.arr_str", MetaValue::StringArray({"<unk>", "", "\xe2\x96\x81the"})},
      {"t.arr_empty", MetaValue::StringArray({})},
  };
}

// Tiny llama dims shared by the synthetic checkpoints (head size 4, GQA 2:1).
struct TinyDims {
  int dim = 8, hidden = 12, layers = 2, heads = 2, kv_heads = 1, vocab = 16, seq_len = 8;
  int head_size() const { return dim / heads; }
  int kv_dim() const { return head_size() * kv_heads; }
};

// llama2.c legacy (version 0) file whose k-th float (after the header) equals k, so a
// test can tell exactly which slice a tensor views.
inline std::vector<uint8_t> MakeLlama2cLegacy(const TinyDims& d, bool shared) {
  Bytes b;
  for (int v : {d.dim, d.hidden, d.layers, d.heads, d.kv_heads, shared ? d.vocab : -d.vocab, d.seq_len}) {
    b.Put<int32_t>(v);
  }
  const int64_t L = d.layers;
  const int64_t n = int64_t{d.vocab} * d.dim + L * d.dim + L * d.dim * d.dim + 2 * L * d.kv_dim() * d.dim +
                    L * d.dim * d.dim + L * d.dim + 3 * L * d.hidden * d.dim + d.dim +
                    int64_t{d.seq_len} * d.head_size() + (shared ? 0 : int64_t{d.vocab} * d.dim);
  for (int64_t k = 0; k < n; ++k) b.Put<float>(static_cast<float>(k));
  return b.bytes();
}

// llama2.c export version 1 ("ak42") with the same counting floats.
inline std::vector<uint8_t> MakeLlama2cV1(const TinyDims& d, bool shared) {
  Bytes b;
  b.Put<uint32_t>(0x616b3432).Put<int32_t>(1);
  for (int v : {d.dim, d.hidden, d.layers, d.heads, d.kv_heads, d.vocab, d.seq_len}) b.Put<int32_t>(v);
  b.Put<uint8_t>(shared ? 1 : 0).PadTo(256);
  const int64_t L = d.layers;
  const int64_t n = 2 * L * d.dim + d.dim + int64_t{d.vocab} * d.dim + 2 * L * d.dim * d.dim +
                    2 * L * d.kv_dim() * d.dim + 3 * L * d.hidden * d.dim + (shared ? 0 : int64_t{d.vocab} * d.dim);
  for (int64_t k = 0; k < n; ++k) b.Put<float>(static_cast<float>(k));
  return b.bytes();
}

// ---- safetensors ----

struct StTensor {
  std::string name;
  std::string dtype;  // "F32", "BF16", "F16", "I64", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

inline std::vector<uint8_t> EncodeSafetensors(const std::vector<StTensor>& tensors) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string js = header.dump();
  while ((8 + js.size()) % 8 != 0) js.push_back(' ');
  Bytes b;
  b.Put<uint64_t>(js.size()).Raw(js.data(), js.size());
  for (const auto& t : tensors) b.Raw(t.bytes.data(), t.bytes.size());
  return b.bytes();
}

// Values for HF tensor number `index`: element k is index * 1000 + k, stored in `dtype`
// (rounded for BF16/F16; tests compare against the same rounding).
inline std::vector<uint8_t> HfTensorBytes(const std::string& dtype, int64_t numel, int index) {
  Bytes b;
  for (int64_t k = 0; k < numel; ++k) {
    const float v = static_cast<float>(index * 1000 + k);
    if (dtype == "F32") {
      b.Put<float>(v);
    } else if (dtype == "BF16") {
      b.Put<uint16_t>(FloatToBf16(v));
    } else if (dtype == "F16") {
      b.Put<uint16_t>(FloatToFp16(v));
    } else {
      b.Put<uint16_t>(0);  // only for dtype tests; size matches 2-byte types
    }
  }
  return b.bytes();
}

struct HfOptions {
  TinyDims dims;
  std::string dtype = "F32";
  bool tied = false;
  int shards = 1;                      // > 1: model.safetensors.index.json + shard files
  bool extra_unmapped = true;          // adds rotary_emb.inv_freq tensors (ignored by the loader)
  nlohmann::json config_overrides = nlohmann::json::object();
};

inline std::vector<StTensor> TinyHfTensors(const HfOptions& o) {
  const TinyDims& d = o.dims;
  std::vector<StTensor> ts;
  int index = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t numel = 1;
    for (int64_t s : shape) numel *= s;
    ts.push_back({name, o.dtype, shape, HfTensorBytes(o.dtype, numel, index++)});
  };
  add("model.embed_tokens.weight", {d.vocab, d.dim});
  for (int l = 0; l < d.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {d.dim});
    add(p + "self_attn.q_proj.weight", {d.dim, d.dim});
    add(p + "self_attn.k_proj.weight", {d.kv_dim(), d.dim});
    add(p + "self_attn.v_proj.weight", {d.kv_dim(), d.dim});
    add(p + "self_attn.o_proj.weight", {d.dim, d.dim});
    add(p + "post_attention_layernorm.weight", {d.dim});
    add(p + "mlp.gate_proj.weight", {d.hidden, d.dim});
    add(p + "mlp.up_proj.weight", {d.hidden, d.dim});
    add(p + "mlp.down_proj.weight", {d.dim, d.hidden});
    if (o.extra_unmapped) {
      Bytes inv;
      for (int k = 0; k < d.head_size() / 2; ++k) inv.Put<float>(1.0f);
      ts.push_back({p + "self_attn.rotary_emb.inv_freq", "F32", {d.head_size() / 2}, inv.bytes()});
    }
  }
  add("model.norm.weight", {d.dim});
  if (!o.tied) add("lm_head.weight", {d.vocab, d.dim});
  return ts;
}

inline nlohmann::json TinyHfConfig(const HfOptions& o) {
  const TinyDims& d = o.dims;
  nlohmann::json c = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", d.dim},
      {"intermediate_size", d.hidden},
      {"num_hidden_layers", d.layers},
      {"num_attention_heads", d.heads},
      {"num_key_value_heads", d.kv_heads},
      {"max_position_embeddings", d.seq_len},
      {"rope_theta", 500000.0},
      {"rms_norm_eps", 1e-5},
      {"vocab_size", d.vocab},
      {"tie_word_embeddings", o.tied},
      {"hidden_act", "silu"},
      {"torch_dtype", "float32"},
  };
  for (auto it = o.config_overrides.begin(); it != o.config_overrides.end(); ++it) c[it.key()] = it.value();
  return c;
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}
inline void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A fresh directory under the test temp dir.
inline std::string MakeTempSubdir(const std::string& name) {
  const std::string dir = TempDir() + "/" + name;
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

// Writes config.json for `o` and the tensors `ts` (o.shards files and an index
// when o.shards > 1) into TempDir()/name; returns the directory.
inline std::string WriteHfModel(const std::string& name, const HfOptions& o, const std::vector<StTensor>& ts) {
  const std::string dir = MakeTempSubdir(name);
  WriteFile(dir + "/config.json", TinyHfConfig(o).dump(2));
  if (o.shards <= 1) {
    WriteFile(dir + "/model.safetensors", EncodeSafetensors(ts));
    return dir;
  }
  nlohmann::ordered_json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::ordered_json::object()}};
  for (int s = 0; s < o.shards; ++s) {
    const std::string file = "model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(o.shards) +
                             ".safetensors";
    std::vector<StTensor> part;
    for (size_t k = static_cast<size_t>(s); k < ts.size(); k += static_cast<size_t>(o.shards)) {
      part.push_back(ts[k]);
      index["weight_map"][ts[k].name] = file;
    }
    WriteFile(dir + "/" + file, EncodeSafetensors(part));
  }
  WriteFile(dir + "/model.safetensors.index.json", index.dump(2));
  return dir;
}

// Writes config.json + weights for a tiny HF Llama into TempDir()/name; returns the directory.
inline std::string WriteTinyHfModel(const std::string& name, const HfOptions& o) {
  return WriteHfModel(name, o, TinyHfTensors(o));
}

}  // namespace septet::testing
