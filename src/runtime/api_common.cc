#include <random>

#include "kernels/blas_core.h"
#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"
#include "runtime/api_impl.h"

namespace septet {

const char* FinishReasonName(FinishReason r) {
  return runtime::FinishReasonName(static_cast<runtime::FinishReason>(r));
}

std::string Version() { return SEPTET_VERSION; }

bool CapSimdTarget(const std::string& target, Error* error) {
  std::string why;
  if (simd::CapTarget(target, &why)) return true;
  if (error != nullptr) {
    error->code = ErrorCode::kInvalidArgument;
    error->message = why;
  }
  return false;
}

std::string BlasCoreTypeAdvice() { return kernels::BlasCoreAdvice(); }

namespace api {

bool Fail(const Status& s, Error* out) {
  if (out != nullptr) {
    out->code = static_cast<ErrorCode>(s.code());
    out->message = s.ToString();
  }
  return false;
}

runtime::GenerationParams ToRuntime(const GenerateParams& p, uint64_t* seed_used) {
  runtime::GenerationParams g;
  g.max_tokens = p.max_tokens;
  g.sampler.temperature = p.temperature;
  g.sampler.top_k = p.top_k;
  g.sampler.top_p = p.top_p;
  g.sampler.min_p = p.min_p;
  g.sampler.repeat_penalty = p.repeat_penalty;
  g.sampler.repeat_window = p.repeat_window;
  uint64_t seed = p.seed;
  if (seed == GenerateParams::kRandomSeed) {
    std::random_device rd;
    seed = ((static_cast<uint64_t>(rd()) << 32) ^ rd()) & 0xFFFFFFFFFFFFull;  // 48 bits: easy to retype
  }
  g.sampler.seed = seed;
  *seed_used = seed;
  g.stop_strings = p.stop;
  return g;
}

void CopyStats(const runtime::GenerationStats& in, uint64_t seed, GenerateStats* out) {
  if (out == nullptr) return;
  out->prompt_tokens = in.prompt_tokens;
  out->generated_tokens = in.generated_tokens;
  out->prompt_ms = in.prompt_ms;
  out->first_token_ms = in.first_token_ms;
  out->decode_ms = in.decode_ms;
  out->prompt_tok_per_s = in.prompt_tok_per_s();
  out->decode_tok_per_s = in.decode_tok_per_s();
  out->seed = seed;
  out->finish = static_cast<FinishReason>(in.finish);
  out->tokens = in.tokens;
}

Result<ModelInfo> DescribeFile(const ModelFile& file, const model::LlamaHParams& hp, bool tied) {
  ModelInfo info;
  info.path = file.path();
  info.format = file.format();
  info.architecture = file.metadata().GetStringOr("general.architecture", "?");
  if (auto syn = file.metadata().GetBool("septet.synthetic"); syn.ok()) info.synthetic = *syn;
  info.dim = hp.dim;
  info.ffn_dim = hp.ffn_dim;
  info.n_layers = hp.n_layers;
  info.n_heads = hp.n_heads;
  info.n_kv_heads = hp.n_kv_heads;
  info.head_dim = hp.head_dim;
  info.n_rot = hp.n_rot;
  info.vocab = hp.vocab;
  info.context_length = hp.context_length;
  info.rope_base = hp.rope_base;
  info.rms_eps = hp.rms_eps;
  info.rope_pairing = hp.rope_pairing == cpu::RopePairing::kHalf ? "half" : "interleaved";
  info.rotation = hp.rotation == model::InputRotationKind::kHadamardV1 ? model::kRotationHadamardV1 : "none";
  const cpu::RopeScaling& s = hp.rope_scaling;
  switch (s.kind) {
    case cpu::RopeScaling::Kind::kNone: info.rope_scaling = "none"; break;
    case cpu::RopeScaling::Kind::kLinear: info.rope_scaling = StrFormat("linear x%g", s.factor); break;
    case cpu::RopeScaling::Kind::kLlama3:
      info.rope_scaling = StrFormat("llama3 x%g (low %g, high %g, original context %g)", s.factor,
                                    s.low_freq_factor, s.high_freq_factor, s.original_context);
      break;
  }
  info.tied_output = tied;
  for (const TensorInfo& t : file.tensors()) {
    TensorSummary ts;
    ts.name = t.name;
    ts.type = std::string(DTypeName(t.dtype));
    ts.shape = t.shape;
    ts.bytes = t.nbytes;
    ts.bits_per_weight = t.numel() > 0 ? static_cast<double>(t.nbytes) * 8.0 / static_cast<double>(t.numel()) : 0;
    info.n_params += static_cast<uint64_t>(t.numel());
    info.tensor_bytes += t.nbytes;
    info.tensors.push_back(std::move(ts));
  }
  return info;
}

}  // namespace api
}  // namespace septet
