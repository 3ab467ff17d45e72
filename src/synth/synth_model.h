// Synthetic full-size models: GGUF files with a real model's hyper-parameters and
// tensor shapes but RANDOM WEIGHTS. They exist to measure speed (bytes per token,
// tokens/s, memory bandwidth) on shapes whose real weights are not at hand; they
// produce gibberish. Every file carries septet.synthetic = true and a
// general.description saying so.
//
// Weights (deterministic for a given seed, whatever the thread count):
//   * 2-D matrices: N(0, 0.02^2) (the LLaMA initialisation scale) with 1% outliers
//     scaled x8 (the distribution formats.md measures the formats on);
//   * norm vectors: 1 + N(0, 0.05^2), stored F32.
// Quantized types are produced with the registry's from_float in one of two modes:
//   * block pool (default, fast): a pool of blocks, each a genuine quantization of
//     freshly drawn weights, and every row is a random draw of blocks from the pool
//     (block formats quantize each block independently, so a row assembled this way
//     is a row the quantizer could have written). Whole-row formats (Q3P5_SEED) draw
//     whole rows from a pool of quantized rows instead.
//   * exact: every row drawn and quantized (slow: the reference quantizers run at
//     ~0.2-1.5 us per weight).
// The file is streamed tensor by tensor in chunks (io/gguf_stream_writer.h), so a
// 70B file needs about one chunk of memory, not the model.
//
// The tokenizer is a synthetic SentencePiece-style vocabulary of exactly `vocab`
// pieces (<unk>, <s>, </s>, the 256 byte pieces, then letter strings), so the
// files load and `generate` / `bench` run on them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "model/memory_plan.h"
#include "synth/shapes.h"

namespace septet::synth {

inline constexpr const char* kSyntheticDescription =
    "random weights: for speed measurement only, produces gibberish";

struct SynthOptions {
  ModelShape shape{};
  DType type = DType::kQ3P5;  // the 2-D matrices (token_embd and output included)
  uint64_t seed = 1;
  std::optional<int64_t> n_layers;  // override the shape's layer count (small test files)
  bool exact = false;               // quantize every row instead of the block pool
  int32_t n_threads = 0;            // 0: std::thread::hardware_concurrency()
  bool overwrite = false;
  // Called after each tensor: (tensor index, tensor count, bytes written so far, total bytes).
  std::function<void(size_t, size_t, uint64_t, uint64_t)> progress;
};

struct SynthSummary {
  uint64_t file_bytes = 0;
  uint64_t n_params = 0;
  size_t n_tensors = 0;
};

// The SentencePiece-style vocabulary written into the file (exposed for tests).
struct SynthVocab {
  std::vector<std::string> pieces;
  std::vector<double> scores;
  std::vector<int64_t> types;  // 1 normal, 2 unknown, 3 control, 6 byte
};
SynthVocab MakeSyntheticVocab(int64_t n);

// The tensors WriteSyntheticModel would write for the full shape (names and
// stored bytes) with its hyper-parameters: what `septet plan --shape` plans
// without a file. kInvalidArgument for a type gen-weights cannot write.
Result<model::PlanInput> ShapePlanInput(const ModelShape& shape, DType type);

// Writes the model to `path` (temp file + rename; refuses an existing file unless
// options.overwrite). Errors name the option or file at fault.
Result<SynthSummary> WriteSyntheticModel(const std::string& path, const SynthOptions& options);

}  // namespace septet::synth
