#include "model/hparams.h"

#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <optional>
#include <string>

#include "io/model_file.h"

namespace septet::model {
namespace {

// Adds the file path to a metadata error ("metadata key 'x' not found").
Status WithPath(const ModelFile& f, const Status& s) {
  return Status(s.code(), f.path() + ": " + s.message());
}

// "an integer >= 1" or "an integer in [2, 2147483647]".
std::string IntRange(int64_t min_value, int64_t max_value) {
  if (max_value == INT64_MAX) return StrFormat("an integer >= %" PRId64, min_value);
  return StrFormat("an integer in [%" PRId64 ", %" PRId64 "]", min_value, max_value);
}

// A required integer key in [min_value, max_value]. A wrong type or a value out of
// range is reported with the key, the value as stored and what was expected.
Result<int64_t> RequiredInt(const ModelFile& f, const char* key, int64_t min_value,
                            int64_t max_value = INT64_MAX) {
  auto v = f.metadata().GetInt(key);
  const MetaValue* mv = f.metadata().Find(key);
  if (mv == nullptr) return WithPath(f, v.status());
  if (!v.ok() || v.value() < min_value || v.value() > max_value) {
    return Status(v.ok() ? StatusCode::kCorrupt : v.status().code(),
                  StrFormat("%s: metadata '%s' = %s; expected %s", f.path().c_str(), key, mv->DebugString(4).c_str(),
                            IntRange(min_value, max_value).c_str()));
  }
  return v.value();
}

// Optional key: absent -> fallback; present with a wrong type -> error.
Result<int64_t> OptionalInt(const ModelFile& f, const char* key, int64_t fallback, int64_t min_value,
                            int64_t max_value = INT64_MAX) {
  if (!f.metadata().Has(key)) return fallback;
  return RequiredInt(f, key, min_value, max_value);
}

// max_value: FLT_MAX for values stored in a float (a larger double would not convert).
Result<double> OptionalPositiveFloat(const ModelFile& f, const char* key, double fallback,
                                     double max_value = DBL_MAX) {
  const MetaValue* mv = f.metadata().Find(key);
  if (mv == nullptr) return fallback;
  auto v = f.metadata().GetFloat(key);
  if (!v.ok()) {
    return Status(v.status().code(), StrFormat("%s: metadata '%s' = %s; expected a number", f.path().c_str(), key,
                                               mv->DebugString(4).c_str()));
  }
  if (!(v.value() > 0.0) || !(v.value() <= max_value)) {  // the value as stored, not as a double
    return Corrupt("%s: metadata '%s' = %s; expected a finite value in (0, %g]", f.path().c_str(), key,
                   mv->DebugString(4).c_str(), max_value);
  }
  return v.value();
}

// A string key; absent -> fallback (nullopt: required). A wrong type is an error, not
// the fallback.
Result<std::string> StringKey(const ModelFile& f, const char* key, std::optional<std::string> fallback) {
  const MetaValue* mv = f.metadata().Find(key);
  if (mv == nullptr) {
    if (fallback.has_value()) return *fallback;
    return NotFound("%s: metadata key '%s' not found", f.path().c_str(), key);
  }
  if (mv->type != MetaType::kString) {
    return InvalidArgument("%s: metadata '%s' = %s; expected a string", f.path().c_str(), key,
                           mv->DebugString(4).c_str());
  }
  return mv->s;
}

Result<cpu::RopeScaling> ReadRopeScaling(const ModelFile& f) {
  cpu::RopeScaling s;
  const Metadata& m = f.metadata();
  constexpr const char* kType = "llama.rope.scaling.type";
  if (!m.Has(kType)) return s;
  auto type = StringKey(f, kType, std::nullopt);
  if (!type.ok()) return type.status();
  if (type.value() == "none" || type.value() == "default") return s;
  if (type.value() != "linear" && type.value() != "llama3") {
    return Unsupported("%s: metadata '%s' = '%s'; supported: none, linear, llama3", f.path().c_str(), kType,
                       type.value().c_str());
  }
  SEPTET_ASSIGN_OR_RETURN(s.factor, OptionalPositiveFloat(f, "llama.rope.scaling.factor", 0.0));
  if (s.factor == 0.0) {
    return Corrupt("%s: metadata 'llama.rope.scaling.factor' missing; required by '%s' = '%s'", f.path().c_str(),
                   kType, type.value().c_str());
  }
  if (type.value() == "linear") {
    s.kind = cpu::RopeScaling::Kind::kLinear;
    return s;
  }
  {  // llama3
    s.kind = cpu::RopeScaling::Kind::kLlama3;
    SEPTET_ASSIGN_OR_RETURN(s.low_freq_factor, OptionalPositiveFloat(f, "llama.rope.scaling.low_freq_factor", 1.0));
    SEPTET_ASSIGN_OR_RETURN(s.high_freq_factor, OptionalPositiveFloat(f, "llama.rope.scaling.high_freq_factor", 4.0));
    SEPTET_ASSIGN_OR_RETURN(s.original_context,
                            OptionalPositiveFloat(f, "llama.rope.scaling.original_context_length", 8192.0));
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      return Corrupt("%s: metadata 'llama.rope.scaling.high_freq_factor' = %g; expected > "
                     "'llama.rope.scaling.low_freq_factor' = %g",
                     f.path().c_str(), s.high_freq_factor, s.low_freq_factor);
    }
  }
  return s;
}

constexpr const char* kDim = "llama.embedding_length";
constexpr const char* kFfn = "llama.feed_forward_length";
constexpr const char* kBlocks = "llama.block_count";
constexpr const char* kHeads = "llama.attention.head_count";
constexpr const char* kKvHeads = "llama.attention.head_count_kv";
constexpr const char* kKeyLength = "llama.attention.key_length";

// Rows of the matrix `name`, which a hyper-parameter check (`for_what`) needs.
Result<int64_t> MatrixRows(const ModelFile& f, const char* name, const char* for_what) {
  const TensorInfo* t = f.FindTensor(name);
  if (t == nullptr) {
    return NotFound("%s: tensor '%s' not found (needed to check metadata '%s')", f.path().c_str(), name, for_what);
  }
  if (t->shape.size() != 2) {
    return Corrupt("%s: tensor '%s' has %zu dims; expected 2", f.path().c_str(), name, t->shape.size());
  }
  return t->shape[0];
}

// Every size the metadata declares is checked against the tensors that exist before
// anything multiplies or allocates with it: a file saying block_count = 2^40, or
// head_count x key_length past 2^63, fails here with the key named, not later as
// std::bad_alloc or a wrapped product.
Status CheckAgainstTensors(const ModelFile& f, LlamaHParams* hp) {
  const char* path = f.path().c_str();
  const Metadata& m = f.metadata();
  const TensorInfo* embd = f.FindTensor("token_embd.weight");
  if (embd == nullptr) return NotFound("%s: tensor 'token_embd.weight' not found", path);
  if (embd->shape.size() != 2 || embd->shape[0] < 1) {
    return Corrupt("%s: tensor 'token_embd.weight' has %zu dims; expected 2 ([vocab, %" PRId64 "])", path,
                   embd->shape.size(), hp->dim);
  }
  if (embd->shape[1] != hp->dim) {
    return Corrupt("%s: metadata '%s' = %" PRId64 "; tensor 'token_embd.weight' has shape [%" PRId64 ", %" PRId64
                   "]: expected its row length %" PRId64,
                   path, kDim, hp->dim, embd->shape[0], embd->shape[1], embd->shape[1]);
  }
  hp->vocab = embd->shape[0];
  if (hp->vocab > INT32_MAX) {  // token ids are int32
    return Corrupt("%s: tensor 'token_embd.weight' has %" PRId64 " rows; expected at most %d tokens", path,
                   hp->vocab, INT32_MAX);
  }
  if (m.Has("llama.vocab_size")) {
    SEPTET_ASSIGN_OR_RETURN(const int64_t v, RequiredInt(f, "llama.vocab_size", 1));
    if (v != hp->vocab) {
      return Corrupt("%s: metadata 'llama.vocab_size' = %" PRId64
                     " disagrees with tensor 'token_embd.weight' rows = %" PRId64,
                     path, v, hp->vocab);
    }
  }
  const int64_t blocks = f.NumBlocks();
  if (hp->n_layers > blocks) {
    return Corrupt("%s: metadata '%s' = %" PRId64 "; the file has tensors for %" PRId64
                   " blocks (blk.N.*): expected at most that",
                   path, kBlocks, hp->n_layers, blocks);
  }
  SEPTET_ASSIGN_OR_RETURN(const int64_t ffn_rows, MatrixRows(f, "blk.0.ffn_gate.weight", kFfn));
  if (hp->ffn_dim != ffn_rows) {
    return Corrupt("%s: metadata '%s' = %" PRId64 "; tensor 'blk.0.ffn_gate.weight' has %" PRId64
                   " rows: expected equal",
                   path, kFfn, hp->ffn_dim, ffn_rows);
  }
  // Where the head dim came from, for the messages below.
  const std::string head_dim =
      m.Has(kKeyLength)
          ? StrFormat("'%s' = %" PRId64, kKeyLength, hp->head_dim)
          : StrFormat("head dim %" PRId64 " = '%s' %" PRId64 " / '%s' %" PRId64, hp->head_dim, kDim, hp->dim, kHeads,
                      hp->n_heads);
  SEPTET_ASSIGN_OR_RETURN(const int64_t q_rows, MatrixRows(f, "blk.0.attn_q.weight", kHeads));
  // Compared without forming heads x head_dim first: both come from the file.
  if (hp->n_heads > q_rows || hp->head_dim > q_rows / hp->n_heads || hp->n_heads * hp->head_dim != q_rows) {
    return Corrupt("%s: metadata '%s' = %" PRId64 " with %s; tensor 'blk.0.attn_q.weight' has %" PRId64
                   " rows: expected heads x head dim",
                   path, kHeads, hp->n_heads, head_dim.c_str(), q_rows);
  }
  SEPTET_ASSIGN_OR_RETURN(const int64_t kv_rows, MatrixRows(f, "blk.0.attn_k.weight", kKvHeads));
  if (hp->n_kv_heads * hp->head_dim != kv_rows) {  // n_kv_heads <= n_heads: no overflow
    const std::string kv = m.Has(kKvHeads) ? StrFormat("'%s' = %" PRId64, kKvHeads, hp->n_kv_heads)
                                           : StrFormat("'%s' (absent: defaults to '%s' = %" PRId64 ")", kKvHeads,
                                                       kHeads, hp->n_kv_heads);
    return Corrupt("%s: metadata %s with %s; tensor 'blk.0.attn_k.weight' has %" PRId64
                   " rows: expected KV heads x head dim",
                   path, kv.c_str(), head_dim.c_str(), kv_rows);
  }
  return Status::Ok();
}

}  // namespace

Result<LlamaHParams> ReadLlamaHParams(const ModelFile& f) {
  const Metadata& m = f.metadata();
  const char* path = f.path().c_str();
  {
    SEPTET_ASSIGN_OR_RETURN(const std::string arch, StringKey(f, "general.architecture", std::nullopt));
    if (arch != "llama") {
      return Unsupported("%s: metadata 'general.architecture' = '%s'; only 'llama' is supported", path,
                         arch.c_str());
    }
  }
  LlamaHParams hp;
  SEPTET_ASSIGN_OR_RETURN(hp.dim, RequiredInt(f, kDim, 1));
  SEPTET_ASSIGN_OR_RETURN(hp.ffn_dim, RequiredInt(f, kFfn, 1));
  SEPTET_ASSIGN_OR_RETURN(hp.n_layers, RequiredInt(f, kBlocks, 1));
  SEPTET_ASSIGN_OR_RETURN(hp.n_heads, RequiredInt(f, kHeads, 1));
  SEPTET_ASSIGN_OR_RETURN(hp.n_kv_heads, OptionalInt(f, kKvHeads, hp.n_heads, 1));
  // Positions are int32 downstream (KV cache, LoadOptions::n_ctx).
  SEPTET_ASSIGN_OR_RETURN(hp.context_length, RequiredInt(f, "llama.context_length", 1, INT32_MAX));
  if (hp.n_heads % hp.n_kv_heads != 0) {
    return Corrupt("%s: metadata '%s' = %" PRId64 " is not a multiple of '%s' = %" PRId64, path, kHeads, hp.n_heads,
                   kKvHeads, hp.n_kv_heads);
  }
  if (!m.Has(kKeyLength) && hp.dim % hp.n_heads != 0) {
    return Corrupt("%s: metadata '%s' = %" PRId64 " is not a multiple of '%s' = %" PRId64, path, kDim, hp.dim,
                   kHeads, hp.n_heads);
  }
  SEPTET_ASSIGN_OR_RETURN(hp.head_dim, OptionalInt(f, kKeyLength, hp.dim / hp.n_heads, 1));
  SEPTET_RETURN_IF_ERROR(CheckAgainstTensors(f, &hp));
  SEPTET_ASSIGN_OR_RETURN(const int64_t v_len, OptionalInt(f, "llama.attention.value_length", hp.head_dim, 1));
  if (v_len != hp.head_dim) {
    return Unsupported("%s: metadata 'llama.attention.value_length' = %" PRId64
                       " differs from the head dim %" PRId64 "; not supported",
                       path, v_len, hp.head_dim);
  }
  SEPTET_ASSIGN_OR_RETURN(hp.n_rot, OptionalInt(f, "llama.rope.dimension_count", hp.head_dim, 2));
  if (hp.n_rot % 2 != 0 || hp.n_rot > hp.head_dim) {
    return Corrupt("%s: metadata 'llama.rope.dimension_count' = %" PRId64
                   "; expected an even number <= head dim %" PRId64,
                   path, hp.n_rot, hp.head_dim);
  }
  SEPTET_ASSIGN_OR_RETURN(hp.rope_base, OptionalPositiveFloat(f, "llama.rope.freq_base", 10000.0));
  SEPTET_ASSIGN_OR_RETURN(const double eps,
                          OptionalPositiveFloat(f, "llama.attention.layer_norm_rms_epsilon", 1e-5, FLT_MAX));
  hp.rms_eps = static_cast<float>(eps);
  {
    SEPTET_ASSIGN_OR_RETURN(const std::string pairing, StringKey(f, "septet.rope.pairing", "interleaved"));
    if (pairing == "interleaved") {
      hp.rope_pairing = cpu::RopePairing::kInterleaved;
    } else if (pairing == "half") {
      hp.rope_pairing = cpu::RopePairing::kHalf;
    } else {
      return Corrupt("%s: metadata 'septet.rope.pairing' = '%s'; expected 'interleaved' or 'half'", path,
                     pairing.c_str());
    }
  }
  SEPTET_ASSIGN_OR_RETURN(hp.rope_scaling, ReadRopeScaling(f));
  {
    SEPTET_ASSIGN_OR_RETURN(const std::string rotation, StringKey(f, kRotationKey, "none"));
    if (rotation == kRotationHadamardV1) {
      hp.rotation = InputRotationKind::kHadamardV1;
    } else if (rotation != "none") {
      return Unsupported("%s: metadata '%s' = '%s'; this septet knows '%s' and 'none' (a newer septet wrote the "
                         "file?)",
                         path, kRotationKey, rotation.c_str(), kRotationHadamardV1);
    }
  }
  return hp;
}

}  // namespace septet::model
