// septet inspect: architecture, hyper-parameters and the tensor table.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "cli_common.h"

namespace septet::cli {
namespace {

std::string Shape(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

int RunInspect(const std::string& path) {
  ModelInfo i;
  Error err;
  if (!Model::Inspect(path, &i, &err)) {
    PrintError(err);
    return kExitFailure;
  }
  std::printf("file          %s\n", i.path.c_str());
  std::printf("format        %s\n", i.format.c_str());
  std::printf("architecture  %s\n", i.architecture.c_str());
  if (i.synthetic) std::printf("synthetic     RANDOM WEIGHTS (septet gen-weights): for speed measurement only, produces gibberish\n");
  std::printf("dim           %" PRId64 "\n", i.dim);
  std::printf("ffn_dim       %" PRId64 "\n", i.ffn_dim);
  std::printf("layers        %" PRId64 "\n", i.n_layers);
  std::printf("heads         %" PRId64 " query, %" PRId64 " key/value (head dim %" PRId64 ")\n", i.n_heads,
              i.n_kv_heads, i.head_dim);
  std::printf("vocab         %" PRId64 "\n", i.vocab);
  std::printf("context       %" PRId64 "\n", i.context_length);
  std::printf("rope          base %g, %" PRId64 " dims, %s pairs, scaling %s\n", i.rope_base, i.n_rot,
              i.rope_pairing.c_str(), i.rope_scaling.c_str());
  std::printf("rms eps       %g\n", i.rms_eps);
  if (i.rotation != "none") {
    std::printf("rotation      %s (septet.rotation: matmul inputs rotated; CPU backend only)\n", i.rotation.c_str());
  }
  std::printf("output        %s\n", i.tied_output ? "tied to token_embd.weight" : "output.weight");
  std::printf("\n%-32s %-10s %-16s %12s %8s\n", "tensor", "type", "shape", "bytes", "bpw");
  for (const TensorSummary& t : i.tensors) {
    std::printf("%-32s %-10s %-16s %12" PRIu64 " %8.3f\n", t.name.c_str(), t.type.c_str(), Shape(t.shape).c_str(),
                t.bytes, t.bits_per_weight);
  }
  const double bpw = i.n_params ? static_cast<double>(i.tensor_bytes) * 8.0 / static_cast<double>(i.n_params) : 0;
  std::printf("\ntotal         %zu tensors, %" PRIu64 " parameters, %" PRIu64 " bytes (%s), %.3f bits/weight\n",
              i.tensors.size(), i.n_params, i.tensor_bytes, HumanBytes(i.tensor_bytes).c_str(), bpw);
  return 0;
}

}  // namespace septet::cli
