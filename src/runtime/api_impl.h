// Internals behind include/septet/septet.h (the pimpl bodies). Runtime-only.
#pragma once

#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "model/weight_lock.h"
#include "runtime/backend.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "septet/septet.h"
#include "tokenizer/tokenizer.h"

namespace septet {

struct Model::Impl {
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<model::InferenceContext> ctx;  // for Generate; created on first use
  int64_t n_ctx = 0;
  runtime::BackendOptions backend;
  runtime::ChatFormat chat_format = runtime::ChatFormat::kPlain;
  std::string default_system;  // the template's own system message (runtime::DefaultSystemPrompt)
  ModelInfo info;
  std::unique_ptr<model::WeightLock> lock;  // LoadOptions::mlock; declared last: unlocks before the model unmaps
};

struct Chat::Impl {
  Model::Impl* model = nullptr;
  std::unique_ptr<model::InferenceContext> ctx;
  std::vector<int32_t> history;  // exactly the tokens in ctx's KV cache
  std::vector<runtime::ChatMessage> messages;
  std::string system_prompt;
};

namespace api {
// Status -> Error (no-op for a null `out`); returns false for convenience.
bool Fail(const Status& s, Error* out);

// Runs `body` and returns its result; an exception escaping it (std::bad_alloc or
// std::length_error from a size no check caught, or anything a user callback throws)
// becomes *error naming `what`, and `on_throw` is returned. Every public entry point
// runs through this: nothing throws across include/septet/septet.h. `cleanup` runs
// after an exception (to restore state the body may have left half-changed).
inline void NoCleanup() {}
template <typename R, typename F, typename C = void (*)()>
R Guard(Error* error, const char* what, R on_throw, F&& body, C cleanup = &NoCleanup) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    Fail(OutOfRange("%s: out of memory (std::bad_alloc)", what), error);
  } catch (const std::length_error& e) {
    Fail(OutOfRange("%s: a size past what can be allocated (std::length_error: %s)", what, e.what()), error);
  } catch (const std::exception& e) {
    Fail(Internal("%s: unexpected exception: %s", what, e.what()), error);
  } catch (...) {
    Fail(Internal("%s: unexpected exception", what), error);
  }
  cleanup();
  return on_throw;
}
// Public params -> runtime params (seed resolved: kRandomSeed -> random_device).
runtime::GenerationParams ToRuntime(const GenerateParams& p, uint64_t* seed_used);
void CopyStats(const runtime::GenerationStats& in, uint64_t seed, GenerateStats* out);
// Header-level info (no tokenizer, no KV cache).
Result<ModelInfo> DescribeFile(const ModelFile& file, const model::LlamaHParams& hp, bool tied);
}  // namespace api

}  // namespace septet
