#include "model/llama_model.h"

namespace septet::model {

Result<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& path, const ModelOptions& options) {
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<ModelFile> file, ModelFile::Open(path));
  return FromFile(std::move(file), options);
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::FromFile(std::unique_ptr<ModelFile> file,
                                                         const ModelOptions& options) {
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  SEPTET_ASSIGN_OR_RETURN(m->hp_, ReadLlamaHParams(*file));
  BindOptions bind;
  bind.compute_type = options.compute_type;
  bind.repack = options.repack;
  bind.threads = options.threads;
  SEPTET_ASSIGN_OR_RETURN(m->w_, BindLlamaWeights(*file, m->hp_, bind));
  m->inv_freq_ = cpu::RopeInvFreq(m->hp_.n_rot, m->hp_.rope_base, m->hp_.rope_scaling);
  // llama.cpp's Llama-3 GGUF files carry the scaling as per-frequency divisors.
  if (const TensorInfo* t = file->FindTensor("rope_freqs.weight"); t != nullptr) {
    const int64_t n = m->hp_.n_rot / 2;
    if (t->dtype != DType::kF32 || t->shape != std::vector<int64_t>{n} || t->nbytes != static_cast<size_t>(n) * 4) {
      return Corrupt("%s: tensor 'rope_freqs.weight' must be F32 of shape [%lld]", file->path().c_str(),
                     static_cast<long long>(n));
    }
    if (m->hp_.rope_scaling.kind != cpu::RopeScaling::Kind::kNone) {
      return Corrupt("%s: both tensor 'rope_freqs.weight' and metadata 'llama.rope.scaling.type' are set; "
                     "expected one way of scaling RoPE",
                     file->path().c_str());
    }
    const float* div = reinterpret_cast<const float*>(t->data);
    for (int64_t i = 0; i < n; ++i) {
      if (!(div[i] > 0.0f)) {
        return Corrupt("%s: tensor 'rope_freqs.weight'[%lld] = %g; expected > 0", file->path().c_str(),
                       static_cast<long long>(i), static_cast<double>(div[i]));
      }
      m->inv_freq_[static_cast<size_t>(i)] /= div[i];
    }
  }
  m->file_ = std::move(file);
  return m;
}

}  // namespace septet::model
