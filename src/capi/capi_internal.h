// Internals of the C API (include/septet/septet_c.h): the handle structs, the
// live-handle table that guards against double frees, the thread-local error
// text and the exception barrier every entry point runs through.
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/inference_context.h"
#include "model/llama_model.h"
#include "runtime/sampler.h"
#include "septet/septet_c.h"
#include "tokenizer/tokenizer.h"

namespace septet::capi {

// One per kind, so a context passed where a model is expected is refused.
enum class Kind : uint64_t {
  kModel = 0x5345505445544d44ull,    // "SEPTETMD"
  kContext = 0x5345505445544358ull,  // "SEPTETCX"
  kSampler = 0x5345505445545350ull,  // "SEPTETSP"
};

// What a model handle points at; contexts share it, so it outlives the handle.
struct LoadedModel {
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

}  // namespace septet::capi

// The opaque types of the header. `magic` is first, checked after the handle is
// found in the live table (a defence against memory overwritten by the caller).
struct septet_model {
  uint64_t magic = static_cast<uint64_t>(septet::capi::Kind::kModel);
  std::shared_ptr<const septet::capi::LoadedModel> m;
};
struct septet_context {
  uint64_t magic = static_cast<uint64_t>(septet::capi::Kind::kContext);
  std::shared_ptr<const septet::capi::LoadedModel> m;
  std::unique_ptr<septet::model::InferenceContext> ctx;
  std::vector<int32_t> history;  // exactly the tokens in ctx's KV cache
  std::vector<float> logits;     // of the last evaluated token; empty = none
};
struct septet_sampler {
  uint64_t magic = static_cast<uint64_t>(septet::capi::Kind::kSampler);
  std::unique_ptr<septet::runtime::Sampler> sampler;
};

namespace septet::capi {

// ---- live handles ----
void Register(const void* h, Kind kind);
// True (and removes it) when h is live with that kind.
bool Unregister(const void* h, Kind kind);
// kOk, or the status to return for a null / not-live / wrong-kind handle (error text set).
septet_status CheckHandle(const void* h, Kind kind, const char* arg);

// ---- errors ----
void ClearError();
septet_status SetError(septet_status s, const std::string& text);
septet_status FromStatus(const Status& s);  // kOk -> SEPTET_OK (no text)
septet_status NullArg(const char* fn, const char* arg);

// Runs body() and returns its status; an exception escaping it becomes
// SEPTET_ERR_OUT_OF_MEMORY / SEPTET_ERR_INTERNAL naming `fn`. Clears the error
// text first.
template <typename F>
septet_status Guard(const char* fn, F&& body) noexcept {
  try {
    ClearError();
    return body();
  } catch (const std::bad_alloc&) {
    return SetError(SEPTET_ERR_OUT_OF_MEMORY, std::string(fn) + ": out of memory");
  } catch (const std::length_error& e) {
    return SetError(SEPTET_ERR_OUT_OF_MEMORY, std::string(fn) + ": size past what can be allocated: " + e.what());
  } catch (const std::exception& e) {
    return SetError(SEPTET_ERR_INTERNAL, std::string(fn) + ": unexpected exception: " + e.what());
  } catch (...) {
    return SetError(SEPTET_ERR_INTERNAL, std::string(fn) + ": unexpected exception");
  }
}

// Versioned struct read: `in` (may be null: defaults) is copied over *out up to
// min(in->struct_size, sizeof(T)). A struct_size below `min_size` (the first
// version's) or above sizeof(T) is refused naming `type_name`.
template <typename T>
septet_status ReadVersioned(const T* in, size_t min_size, const char* type_name, T* out) {
  if (in == nullptr) return SEPTET_OK;
  if (in->struct_size < min_size || in->struct_size > sizeof(T)) {
    return SetError(in->struct_size < min_size ? SEPTET_ERR_INVALID_ARGUMENT : SEPTET_ERR_UNSUPPORTED,
                    StrFormat("%s.struct_size = %u; this library (ABI %d) reads %zu..%zu (use %s_init)", type_name,
                              in->struct_size, SEPTET_C_ABI_VERSION, min_size, sizeof(T), type_name));
  }
  const uint32_t keep = out->struct_size;
  std::memcpy(static_cast<void*>(out), static_cast<const void*>(in), in->struct_size);
  out->struct_size = keep;
  return SEPTET_OK;
}

// Sampler parameters -> runtime (validated: INVALID_ARGUMENT naming the field).
septet_status ToRuntimeSampler(const septet_sampler_params* p, runtime::SamplerParams* out);

}  // namespace septet::capi
