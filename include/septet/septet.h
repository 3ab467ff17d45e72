// septet public C++ API: load a LLaMA-family model, tokenize, generate, chat.
// Only the standard library appears here; internals stay behind a pimpl.
//
//   septet::Error err;
//   auto model = septet::Model::Load({.model_path = "stories260K.bin"}, &err);
//   if (!model) { fprintf(stderr, "%s\n", err.message.c_str()); return 1; }
//   septet::GenerateParams p;  p.temperature = 0;  p.max_tokens = 64;
//   model->Generate("Once upon a time", p, [](std::string_view t) { fwrite(t.data(), 1, t.size(), stdout); return true; },
//                   nullptr, &err);
//
// Errors: functions that can fail return false / nullptr and fill `*error`
// (when non-null) with a code and a message naming the file, tensor, key or
// parameter at fault. Nothing throws across this API: an allocation that fails
// is an error too (kOutOfRange, "out of memory"), so is an exception thrown by a
// callback (kInternal); Tokenize / Detokenize / TokenText, which have no Error,
// return an empty result then.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace septet {

enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kCorrupt = 3,
  kUnsupported = 4,
  kIoError = 5,
  kOutOfRange = 6,
  kInternal = 7,
};

struct Error {
  ErrorCode code = ErrorCode::kOk;
  std::string message;  // "not found: /x/model.bin: no such file"
  bool ok() const { return code == ErrorCode::kOk; }
};

struct LoadOptions {
  std::string model_path;      // .gguf, llama2.c .bin, or an HF directory / config.json
  std::string tokenizer_path;  // "" = from the model (GGUF) or beside it (tokenizer.bin, tok<N>.bin, tokenizer.json)
  std::string compute_type;    // "" = weights as stored; else a weight type ("F16", "Q8_0", "Q3P5", ...)
                               // to quantize the matmul weights to at load time
  int32_t n_ctx = 0;           // KV cache length; 0 = min(the model's context_length, kDefaultMaxCtx)
                               // (a 128k-context model would otherwise reserve a huge KV cache)
  int32_t n_threads = 0;       // CPU worker threads; 0 = every hardware thread
  std::string backend = "cpu"; // "cpu" or "cuda" (a build with CUDA and a GPU present)
  std::string kv_type = "f32"; // KV cache storage: "f32", "f16" or "q8_0" (CPU backend; docs/memory.md)
  uint64_t mem_budget = 0;     // host bytes the model may use (weights + KV + scratch); 0 = no limit.
                               // Checked at load with the memory plan (docs/memory.md): a budget that
                               // cannot hold the KV cache plus two layer buffers is refused with the
                               // numbers; layers that do not fit are streamed from the file (read into
                               // a ring of two layer buffers)
  int32_t gpu_layers = 0;      // backend "cpu": > 0 runs the first gpu_layers layers on the CUDA device and
                               // the rest on the CPU (docs/memory.md); a build without CUDA or a machine
                               // without a GPU is refused at load
  uint64_t gpu_mem = 0;        // > 0 (and gpu_layers 0): the memory plan chooses gpu_layers to fit this
                               // many bytes of GPU memory
  bool mlock = false;          // lock the resident weights in RAM (mlock); refused by the kernel: a warning
                               // in ModelInfo::mlock_warning and the model runs unlocked (docs/memory.md)

  static constexpr int32_t kDefaultMaxCtx = 4096;
};

// Default generation settings (see docs/design.md, "Sampling").
struct GenerateParams {
  int32_t max_tokens = 128;
  float temperature = 0.8f;    // <= 0: greedy
  int32_t top_k = 40;          // <= 0: off
  float top_p = 0.95f;         // 1: off
  float min_p = 0.05f;         // 0: off
  float repeat_penalty = 1.0f; // 1: off
  int32_t repeat_window = 64;  // tokens the penalty looks back over
  uint64_t seed = kRandomSeed; // kRandomSeed: drawn from std::random_device (reported in stats)
  std::vector<std::string> stop;  // extra stop strings (never emitted)
  bool add_bos = true;         // prepend BOS when the model has one (Generate only)

  static constexpr uint64_t kRandomSeed = ~0ull;
};

enum class FinishReason { kEos, kStopString, kMaxTokens, kContextFull, kCancelled };
const char* FinishReasonName(FinishReason r);

struct GenerateStats {
  int64_t prompt_tokens = 0;     // evaluated by this call
  int64_t cached_tokens = 0;     // prompt prefix reused from the KV cache (Chat)
  int64_t generated_tokens = 0;
  double prompt_ms = 0;
  double first_token_ms = 0;     // call start -> first token sampled (includes prompt_ms)
  double decode_ms = 0;
  double prompt_tok_per_s = 0;
  double decode_tok_per_s = 0;   // (generated_tokens - 1) / decode time
  uint64_t seed = 0;             // the seed actually used
  FinishReason finish = FinishReason::kMaxTokens;
  std::vector<int32_t> tokens;   // generated ids (EOS excluded)
};

// Receives generated text as it is produced, in whole UTF-8 characters.
// Return false to stop generation.
using TokenCallback = std::function<bool(std::string_view text)>;

struct TensorSummary {
  std::string name;
  std::string type;            // "F32", "Q8_0", ...
  std::vector<int64_t> shape;  // outermost first
  uint64_t bytes = 0;
  double bits_per_weight = 0;  // all-in, scales included
};

struct ModelInfo {
  std::string path, format, architecture;
  int64_t dim = 0, ffn_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, n_rot = 0;
  int64_t vocab = 0, context_length = 0;
  double rope_base = 0, rms_eps = 0;
  std::string rope_pairing;    // "interleaved" | "half"
  std::string rotation;        // "none" | "hadamard-v1" (matmul inputs rotated: septet quantize --rotate)
  std::string rope_scaling;    // "none" | "linear x8" | "llama3 x8 (low 1, high 4, orig 8192)"
  bool tied_output = false;
  bool synthetic = false;      // septet.synthetic: random weights (gen-weights), speed only
  std::vector<TensorSummary> tensors;
  uint64_t n_params = 0;
  uint64_t tensor_bytes = 0;
  // Filled by Model::Load only:
  std::string compute_type;    // "" when weights are used as stored
  uint64_t owned_weight_bytes = 0;  // load-time conversions
  int64_t n_ctx = 0;
  uint64_t kv_cache_bytes = 0;
  std::string kv_type;         // "F32" | "F16" | "Q8_0"
  int64_t streamed_layers = 0; // layers streamed from disk to keep within mem_budget (docs/memory.md)
  int64_t gpu_layers = 0;      // layers run on the CUDA device (LoadOptions::gpu_layers / gpu_mem)
  uint64_t locked_bytes = 0;   // LoadOptions::mlock: resident weight bytes locked in RAM (page-rounded)
  std::string mlock_warning;   // LoadOptions::mlock refused: why, the limit and the fix; "" otherwise
  int32_t n_threads = 1;       // resolved (never 0)
  std::string backend;         // "cpu" | "cuda"
  std::string simd_target;     // CPU kernels' runtime-dispatched target, e.g. "AVX2"
  std::string chat_format;     // "plain" | "chatml" | "llama3" | "llama2"
  int32_t bos_id = -1, eos_id = -1;
  double load_ms = 0;
};

class Chat;

class Model {
 public:
  static std::unique_ptr<Model> Load(const LoadOptions& options, Error* error);
  // Header, hyper-parameters and tensor table only: no tokenizer, no KV cache.
  static bool Inspect(const std::string& path, ModelInfo* info, Error* error);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;
  std::vector<int32_t> Tokenize(std::string_view text, bool add_bos, bool parse_special = false) const;
  std::string Detokenize(const std::vector<int32_t>& ids) const;
  // The raw bytes of one token (after `prev`, or -1), as streamed.
  std::string TokenText(int32_t id, int32_t prev) const;

  // One independent completion of `prompt` (the KV cache starts empty).
  bool Generate(std::string_view prompt, const GenerateParams& params, const TokenCallback& on_text,
                GenerateStats* stats, Error* error);

  // A multi-turn conversation with its own KV cache. The Model must outlive it.
  std::unique_ptr<Chat> StartChat(std::string system_prompt, Error* error);

 private:
  friend class Chat;
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Chat {
 public:
  ~Chat();
  // Adds a user turn, streams the assistant's reply and records it. The prompt
  // is the whole conversation rendered with the model's chat format; the
  // cached prefix is reused, only new tokens are evaluated.
  bool Send(std::string_view user_message, const GenerateParams& params, const TokenCallback& on_text,
            std::string* reply, GenerateStats* stats, Error* error);
  void Reset();  // forget the turns (the system prompt stays)
  int64_t n_past() const;  // tokens in the KV cache

 private:
  friend class Model;
  struct Impl;
  explicit Chat(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

std::string Version();

// Caps the CPU kernels' SIMD dispatch at `target` (as ModelInfo::simd_target
// spells it, any case: "AVX3_DL", "AVX3", "AVX2", "SSE4", "EMU128", ...) for the
// rest of the process: every better target is disabled, so one machine can
// measure each target's kernels. Call it before loading a model. The CLI takes
// it from the environment variable SEPTET_SIMD. kInvalidArgument, naming the
// targets this CPU runs, for any other name.
bool CapSimdTarget(const std::string& target, Error* error);

// OpenBLAS (prefill, perplexity and calibration GEMMs) picks its kernels once,
// when it loads, from its own table of CPUs; one older than the CPU falls back to
// SSE3 kernels several times slower (Debian 12's OpenBLAS on an Intel Emerald
// Rapids). Returns the OPENBLAS_CORETYPE value ("SkylakeX", "Haswell") that
// selects the kernels this CPU runs when that happened and the variable is unset;
// empty otherwise. The variable only acts at load: a program sets it and
// re-executes itself (the septet CLI does) or passes it to the processes it starts.
std::string BlasCoreTypeAdvice();

}  // namespace septet
