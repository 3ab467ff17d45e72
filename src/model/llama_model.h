// A loaded LLaMA model: the file (mapping kept alive), its hyper-parameters and
// the bound weights. Immutable after Load, so several contexts may share one.
#pragma once

#include <memory>
#include <vector>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "io/model_file.h"
#include "model/hparams.h"
#include "model/weights.h"

namespace septet::model {

struct ModelOptions {
  std::optional<DType> compute_type;  // see weights.h for the policy
  bool repack = true;                 // load-time SIMD repack of matmul weights (weights.h)
  int32_t threads = 0;                // workers of the load-time conversion to compute_type (0: all cores)
};

class LlamaModel {
 public:
  static Result<std::unique_ptr<LlamaModel>> Load(const std::string& path, const ModelOptions& options);
  static Result<std::unique_ptr<LlamaModel>> FromFile(std::unique_ptr<ModelFile> file,
                                                       const ModelOptions& options);

  const ModelFile& file() const { return *file_; }
  const LlamaHParams& hparams() const { return hp_; }
  const LlamaWeights& weights() const { return w_; }
  // RoPE inverse frequencies [n_rot/2], scaling applied.
  const std::vector<double>& rope_inv_freq() const { return inv_freq_; }

 private:
  LlamaModel() = default;
  std::unique_ptr<ModelFile> file_;
  LlamaHParams hp_;
  LlamaWeights w_;
  std::vector<double> inv_freq_;
};

}  // namespace septet::model
