#include "model/hparams.h"

#include <cinttypes>
#include <cmath>

#include "io/model_file.h"

namespace septet::model {
namespace {

// Adds the file path to a metadata error ("metadata key 'x' not found").
Status WithPath(const ModelFile& f, const Status& s) {
  return Status(s.code(), f.path() + ": " + s.message());
}

Result<int64_t> RequiredInt(const ModelFile& f, const char* key, int64_t min_value) {
  auto v = f.metadata().GetInt(key);
  if (!v.ok()) return WithPath(f, v.status());
  if (v.value() < min_value) {
    return Corrupt("%s: metadata '%s' = %" PRId64 "; expected >= %" PRId64, f.path().c_str(), key,
                   v.value(), min_value);
  }
  return v.value();
}

// Optional key: absent -> fallback; present with a wrong type -> error.
Result<int64_t> OptionalInt(const ModelFile& f, const char* key, int64_t fallback, int64_t min_value) {
  if (!f.metadata().Has(key)) return fallback;
  return RequiredInt(f, key, min_value);
}

Result<double> OptionalPositiveFloat(const ModelFile& f, const char* key, double fallback) {
  if (!f.metadata().Has(key)) return fallback;
  auto v = f.metadata().GetFloat(key);
  if (!v.ok()) return WithPath(f, v.status());
  if (!(v.value() > 0.0) || !std::isfinite(v.value())) {
    return Corrupt("%s: metadata '%s' = %g; expected a finite value > 0", f.path().c_str(), key, v.value());
  }
  return v.value();
}

Result<cpu::RopeScaling> ReadRopeScaling(const ModelFile& f) {
  cpu::RopeScaling s;
  const Metadata& m = f.metadata();
  constexpr const char* kType = "llama.rope.scaling.type";
  if (!m.Has(kType)) return s;
  auto type = m.GetString(kType);
  if (!type.ok()) return WithPath(f, type.status());
  if (type.value() == "none" || type.value() == "default") return s;
  if (type.value() != "linear" && type.value() != "llama3") {
    return Unsupported("%s: metadata '%s' = '%s'; supported: none, linear, llama3", f.path().c_str(), kType,
                       type.value().c_str());
  }
  SEPTET_ASSIGN_OR_RETURN(s.factor, OptionalPositiveFloat(f, "llama.rope.scaling.factor", 0.0));
  if (s.factor == 0.0) {
    return Corrupt("%s: metadata 'llama.rope.scaling.factor' missing; required by scaling type '%s'",
                   f.path().c_str(), type.value().c_str());
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
      return Corrupt("%s: metadata 'llama.rope.scaling.high_freq_factor' = %g; expected > low_freq_factor = %g",
                     f.path().c_str(), s.high_freq_factor, s.low_freq_factor);
    }
  }
  return s;
}

}  // namespace

Result<LlamaHParams> ReadLlamaHParams(const ModelFile& f) {
  const Metadata& m = f.metadata();
  const char* path = f.path().c_str();
  {
    auto arch = m.GetString("general.architecture");
    if (!arch.ok()) return WithPath(f, arch.status());
    if (arch.value() != "llama") {
      return Unsupported("%s: metadata 'general.architecture' = '%s'; only 'llama' is supported", path,
                         arch.value().c_str());
    }
  }
  LlamaHParams hp;
  SEPTET_ASSIGN_OR_RETURN(hp.dim, RequiredInt(f, "llama.embedding_length", 1));
  SEPTET_ASSIGN_OR_RETURN(hp.ffn_dim, RequiredInt(f, "llama.feed_forward_length", 1));
  SEPTET_ASSIGN_OR_RETURN(hp.n_layers, RequiredInt(f, "llama.block_count", 1));
  SEPTET_ASSIGN_OR_RETURN(hp.n_heads, RequiredInt(f, "llama.attention.head_count", 1));
  SEPTET_ASSIGN_OR_RETURN(hp.n_kv_heads, OptionalInt(f, "llama.attention.head_count_kv", hp.n_heads, 1));
  SEPTET_ASSIGN_OR_RETURN(hp.context_length, RequiredInt(f, "llama.context_length", 1));
  if (hp.n_heads % hp.n_kv_heads != 0) {
    return Corrupt("%s: metadata 'llama.attention.head_count' = %" PRId64
                   " is not a multiple of 'llama.attention.head_count_kv' = %" PRId64,
                   path, hp.n_heads, hp.n_kv_heads);
  }
  if (!m.Has("llama.attention.key_length") && hp.dim % hp.n_heads != 0) {
    return Corrupt("%s: metadata 'llama.embedding_length' = %" PRId64
                   " is not a multiple of 'llama.attention.head_count' = %" PRId64,
                   path, hp.dim, hp.n_heads);
  }
  SEPTET_ASSIGN_OR_RETURN(hp.head_dim, OptionalInt(f, "llama.attention.key_length", hp.dim / hp.n_heads, 1));
  SEPTET_ASSIGN_OR_RETURN(const int64_t v_len, OptionalInt(f, "llama.attention.value_length", hp.head_dim, 1));
  if (v_len != hp.head_dim) {
    return Unsupported("%s: metadata 'llama.attention.value_length' = %" PRId64
                       " differs from key_length %" PRId64 "; not supported",
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
                          OptionalPositiveFloat(f, "llama.attention.layer_norm_rms_epsilon", 1e-5));
  hp.rms_eps = static_cast<float>(eps);
  {
    const std::string pairing = m.GetStringOr("septet.rope.pairing", "interleaved");
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

  const TensorInfo* embd = f.FindTensor("token_embd.weight");
  if (embd == nullptr) return NotFound("%s: tensor 'token_embd.weight' not found", path);
  if (embd->shape.size() != 2 || embd->shape[0] < 1) {
    return Corrupt("%s: tensor 'token_embd.weight' has %zu dims; expected 2 ([vocab, %" PRId64 "])", path,
                   embd->shape.size(), hp.dim);
  }
  hp.vocab = embd->shape[0];
  if (m.Has("llama.vocab_size")) {
    SEPTET_ASSIGN_OR_RETURN(const int64_t v, RequiredInt(f, "llama.vocab_size", 1));
    if (v != hp.vocab) {
      return Corrupt("%s: metadata 'llama.vocab_size' = %" PRId64
                     " disagrees with tensor 'token_embd.weight' rows = %" PRId64,
                     path, v, hp.vocab);
    }
  }
  return hp;
}

}  // namespace septet::model
