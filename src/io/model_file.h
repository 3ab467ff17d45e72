// One neutral view of a model on disk, whatever its container:
//   GGUF (v2/v3), Hugging Face (config.json + *.safetensors [+ index]), llama2.c .bin.
// Every loader maps its names onto the GGUF llama conventions, so the model
// layer reads one vocabulary of names:
//   tensors:  token_embd.weight, output_norm.weight, output.weight (absent when tied),
//             blk.{i}.attn_norm.weight, blk.{i}.attn_q.weight, blk.{i}.attn_k.weight,
//             blk.{i}.attn_v.weight, blk.{i}.attn_output.weight, blk.{i}.ffn_norm.weight,
//             blk.{i}.ffn_gate.weight (w1), blk.{i}.ffn_up.weight (w3), blk.{i}.ffn_down.weight (w2)
//   metadata: general.architecture = "llama", llama.embedding_length, llama.feed_forward_length,
//             llama.block_count, llama.attention.head_count, llama.attention.head_count_kv,
//             llama.context_length, llama.rope.freq_base, llama.rope.dimension_count,
//             llama.attention.layer_norm_rms_epsilon, llama.vocab_size (when known),
//             llama.rope.scaling.* (Llama-3 style), tokenizer.ggml.* (when the file has it),
//             septet.rope.pairing = "interleaved" (GGUF, llama2.c) | "half" (HF safetensors).
// Shapes are outermost-first: a weight matrix of a Linear(n_in -> n_out) is {n_out, n_in}
// and each of its n_out rows is contiguous (GGUF ne[] is the reverse order).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"

namespace septet {

// GGUF metadata value types (the on-disk ids).
enum class MetaType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// A metadata value keeps its GGUF type so a writer can reproduce it exactly.
struct MetaValue {
  MetaType type = MetaType::kU32;
  MetaType array_type = MetaType::kU32;  // element type when type == kArray
  // Scalars: integers in i (signed or unsigned by type), reals in f, bool in i.
  // Unsigned types also carry the value in u (readers and factories fill both);
  // u is the only exact home of a u64 above 2^63 (i then holds the same bits).
  // A writer takes u when it is non-zero, else i.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0.0;
  std::string s;
  // Arrays: exactly one of these is filled, by element type.
  std::vector<int64_t> ints;  // integer and bool arrays (u64 values above 2^63 are rejected)
  std::vector<double> reals;
  std::vector<std::string> strings;

  static MetaValue String(std::string v);
  static MetaValue U32(uint32_t v);
  static MetaValue I32(int32_t v);
  static MetaValue F32(float v);
  static MetaValue Bool(bool v);
  static MetaValue StringArray(std::vector<std::string> v);
  static MetaValue F32Array(std::vector<double> v);
  static MetaValue I32Array(std::vector<int64_t> v);
  // Added by io: the remaining scalar types and generic arrays.
  static MetaValue U64(uint64_t v);
  static MetaValue I64(int64_t v);
  static MetaValue F64(double v);
  // Any integer scalar type (kU8..kI64, kBool); the value must fit the type
  // (a writer checks; out-of-range values are rejected there).
  static MetaValue Integer(MetaType t, int64_t v);
  // Arrays of integers/bools (elem kU8..kI64, kBool) and of reals (kF32/kF64).
  static MetaValue IntArray(MetaType elem, std::vector<int64_t> v);
  static MetaValue RealArray(MetaType elem, std::vector<double> v);

  // Short human-readable form: `u32 5`, `str "llama"`, `arr[str] (512) ["<unk>", ...]`.
  std::string DebugString(size_t max_items = 8) const;
  friend bool operator==(const MetaValue&, const MetaValue&) = default;
};

// "u8", "i32", "f32", "bool", "str", "arr", ... ; "?" for an unknown id.
const char* MetaTypeName(MetaType t);
// True for kU8..kI64 (not kBool).
bool IsIntegerMetaType(MetaType t);

class Metadata {
 public:
  void Set(std::string key, MetaValue v) { kv_[std::move(key)] = std::move(v); }
  const MetaValue* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // Typed getters: a missing key or a type that cannot represent the request is
  // an error naming the key (ints accept any integer type; floats accept ints).
  Result<int64_t> GetInt(std::string_view key) const;
  Result<double> GetFloat(std::string_view key) const;
  Result<std::string> GetString(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  int64_t GetIntOr(std::string_view key, int64_t fallback) const;
  double GetFloatOr(std::string_view key, double fallback) const;
  std::string GetStringOr(std::string_view key, std::string fallback) const;
  const std::map<std::string, MetaValue, std::less<>>& entries() const { return kv_; }

 private:
  std::map<std::string, MetaValue, std::less<>> kv_;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // outermost first
  const uint8_t* data = nullptr;  // into the mapping, or into ModelFile-owned storage
  size_t nbytes = 0;              // rows * row_bytes(innermost) of dtype
  int64_t rows() const;           // product of all but the innermost dim (1 for vectors)
  int64_t cols() const;           // innermost dim
  int64_t numel() const;
};

// N for a tensor named "blk.N.<rest>" (N decimal, without sign or leading zeros); -1 otherwise.
int64_t BlockIndex(std::string_view tensor_name);

// The canonical llama tensor names in septet's file order: token_embd, then per layer
// attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_down, ffn_up,
// then output_norm and (with_output) output.
std::vector<std::string> LlamaTensorNames(int n_layers, bool with_output);

class ModelFile {
 public:
  // Detects the container from the path: a directory or config.json / *.safetensors
  // -> Hugging Face; GGUF magic -> GGUF; otherwise the llama2.c header is tried.
  static Result<std::unique_ptr<ModelFile>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::string& format() const { return format_; }  // "gguf", "safetensors", "llama2c"
  const Metadata& metadata() const { return meta_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;
  // Sum of bytes held by tensors (the weights a forward pass touches).
  uint64_t TensorBytes() const;
  // How many distinct blocks (N of blk.N.*) the tensors name: what bounds llama.block_count.
  int64_t NumBlocks() const;

  // For loaders: build a ModelFile piece by piece.
  ModelFile(std::string path, std::string format) : path_(std::move(path)), format_(std::move(format)) {}
  Metadata& mutable_metadata() { return meta_; }
  void AddTensor(TensorInfo t) { tensors_.push_back(std::move(t)); }
  void KeepAlive(std::shared_ptr<MappedFile> f) { mappings_.push_back(std::move(f)); }
  // The files the tensors point into (mapped, or read into memory: MappedFile::mapped()).
  const std::vector<std::shared_ptr<MappedFile>>& files() const { return mappings_; }
  // Storage for tensors a loader had to convert (e.g. BF16 -> F32 is NOT done; this is
  // for derived data such as a llama2.c file without a separate classifier).
  std::vector<uint8_t>& OwnBuffer(size_t bytes);

 private:
  std::string path_;
  std::string format_;
  Metadata meta_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::shared_ptr<MappedFile>> mappings_;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> owned_;
};

}  // namespace septet
