// Library-level C API functions and the shared machinery of capi_internal.h.
#include <mutex>
#include <unordered_map>

#include "capi/capi_internal.h"

namespace septet::capi {
namespace {

// The live-handle table. A leaked-on-exit static (never destroyed) so a handle
// freed from another static's destructor still finds it.
struct LiveTable {
  std::mutex mu;
  std::unordered_map<const void*, Kind> live;
};
LiveTable& Live() {
  static LiveTable* t = new LiveTable();
  return *t;
}

thread_local std::string t_error;

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kModel: return "septet_model";
    case Kind::kContext: return "septet_context";
    case Kind::kSampler: return "septet_sampler";
  }
  return "handle";
}

}  // namespace

void Register(const void* h, Kind kind) {
  LiveTable& t = Live();
  std::lock_guard<std::mutex> lock(t.mu);
  t.live[h] = kind;
}

bool Unregister(const void* h, Kind kind) {
  LiveTable& t = Live();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.live.find(h);
  if (it == t.live.end() || it->second != kind) return false;
  t.live.erase(it);
  return true;
}

septet_status CheckHandle(const void* h, Kind kind, const char* arg) {
  if (h == nullptr) return SetError(SEPTET_ERR_NULL_ARGUMENT, StrFormat("%s is NULL", arg));
  {
    LiveTable& t = Live();
    std::lock_guard<std::mutex> lock(t.mu);
    auto it = t.live.find(h);
    if (it == t.live.end()) {
      return SetError(SEPTET_ERR_BAD_HANDLE,
                      StrFormat("%s = %p is not a live %s (already freed, or never made by septet)", arg, h,
                                KindName(kind)));
    }
    if (it->second != kind) {
      return SetError(SEPTET_ERR_BAD_HANDLE,
                      StrFormat("%s = %p is a %s, expected a %s", arg, h, KindName(it->second), KindName(kind)));
    }
  }
  // Live, so its memory is ours to read: the magic catches a caller overwrite.
  uint64_t magic = 0;
  std::memcpy(&magic, h, sizeof(magic));
  if (magic != static_cast<uint64_t>(kind)) {
    return SetError(SEPTET_ERR_BAD_HANDLE,
                    StrFormat("%s = %p: magic 0x%016llx is not %s's (memory overwritten?)", arg, h,
                              static_cast<unsigned long long>(magic), KindName(kind)));
  }
  return SEPTET_OK;
}

void ClearError() { t_error.clear(); }

septet_status SetError(septet_status s, const std::string& text) {
  t_error = text;
  return s;
}

septet_status FromStatus(const Status& s) {
  if (s.ok()) return SEPTET_OK;
  // StatusCode 1..7 and septet_status 1..7 are the same values (static_asserts below).
  return SetError(static_cast<septet_status>(s.code()), s.ToString());
}
static_assert(static_cast<int>(StatusCode::kInvalidArgument) == SEPTET_ERR_INVALID_ARGUMENT);
static_assert(static_cast<int>(StatusCode::kNotFound) == SEPTET_ERR_NOT_FOUND);
static_assert(static_cast<int>(StatusCode::kCorrupt) == SEPTET_ERR_CORRUPT);
static_assert(static_cast<int>(StatusCode::kUnsupported) == SEPTET_ERR_UNSUPPORTED);
static_assert(static_cast<int>(StatusCode::kIoError) == SEPTET_ERR_IO);
static_assert(static_cast<int>(StatusCode::kOutOfRange) == SEPTET_ERR_OUT_OF_RANGE);
static_assert(static_cast<int>(StatusCode::kInternal) == SEPTET_ERR_INTERNAL);

septet_status NullArg(const char* fn, const char* arg) {
  return SetError(SEPTET_ERR_NULL_ARGUMENT, StrFormat("%s: %s is NULL", fn, arg));
}

septet_status ToRuntimeSampler(const septet_sampler_params* p, runtime::SamplerParams* out) {
  septet_sampler_params v;
  septet_sampler_params_init(&v);
  if (septet_status s = ReadVersioned(p, sizeof(septet_sampler_params), "septet_sampler_params", &v); s != SEPTET_OK) {
    return s;
  }
  runtime::SamplerParams r;
  r.temperature = v.temperature;
  r.top_k = v.top_k;
  r.top_p = v.top_p;
  r.min_p = v.min_p;
  r.repeat_penalty = v.repeat_penalty;
  r.repeat_window = v.repeat_window;
  r.seed = v.seed;
  if (Status st = runtime::ValidateSamplerParams(r); !st.ok()) {
    return SetError(SEPTET_ERR_INVALID_ARGUMENT, "septet_sampler_params." + st.message());
  }
  *out = r;
  return SEPTET_OK;
}

}  // namespace septet::capi

using namespace septet::capi;  // NOLINT: the extern "C" definitions below

extern "C" {

uint32_t septet_abi_version(void) { return SEPTET_C_ABI_VERSION; }
const char* septet_version(void) { return SEPTET_VERSION; }
const char* septet_last_error(void) { return t_error.c_str(); }

const char* septet_status_name(septet_status s) {
  switch (s) {
    case SEPTET_OK: return "SEPTET_OK";
    case SEPTET_ERR_INVALID_ARGUMENT: return "SEPTET_ERR_INVALID_ARGUMENT";
    case SEPTET_ERR_NOT_FOUND: return "SEPTET_ERR_NOT_FOUND";
    case SEPTET_ERR_CORRUPT: return "SEPTET_ERR_CORRUPT";
    case SEPTET_ERR_UNSUPPORTED: return "SEPTET_ERR_UNSUPPORTED";
    case SEPTET_ERR_IO: return "SEPTET_ERR_IO";
    case SEPTET_ERR_OUT_OF_RANGE: return "SEPTET_ERR_OUT_OF_RANGE";
    case SEPTET_ERR_INTERNAL: return "SEPTET_ERR_INTERNAL";
    case SEPTET_ERR_NULL_ARGUMENT: return "SEPTET_ERR_NULL_ARGUMENT";
    case SEPTET_ERR_BAD_HANDLE: return "SEPTET_ERR_BAD_HANDLE";
    case SEPTET_ERR_BUFFER_TOO_SMALL: return "SEPTET_ERR_BUFFER_TOO_SMALL";
    case SEPTET_ERR_OUT_OF_MEMORY: return "SEPTET_ERR_OUT_OF_MEMORY";
    case SEPTET_ERR_NO_LOGITS: return "SEPTET_ERR_NO_LOGITS";
  }
  return "unknown status";
}

void septet_sampler_params_init(septet_sampler_params* p) {
  if (p == nullptr) return;
  *p = septet_sampler_params{};
  p->struct_size = sizeof(*p);
  const septet::runtime::SamplerParams d;
  p->temperature = d.temperature;
  p->top_k = d.top_k;
  p->top_p = d.top_p;
  p->min_p = d.min_p;
  p->repeat_penalty = d.repeat_penalty;
  p->repeat_window = d.repeat_window;
  p->seed = d.seed;
}

}  // extern "C"
