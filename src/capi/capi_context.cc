// C API: contexts (evaluate, logits), samplers and the generation loop.
#include <algorithm>
#include <cmath>
#include <span>

#include "capi/capi_internal.h"
#include "runtime/backend.h"
#include "runtime/generator.h"

using namespace septet;        // NOLINT: the extern "C" definitions below
using namespace septet::capi;  // NOLINT

namespace {

static_assert(static_cast<int>(runtime::FinishReason::kEos) == SEPTET_FINISH_EOS);
static_assert(static_cast<int>(runtime::FinishReason::kStopString) == SEPTET_FINISH_STOP_STRING);
static_assert(static_cast<int>(runtime::FinishReason::kMaxTokens) == SEPTET_FINISH_MAX_TOKENS);
static_assert(static_cast<int>(runtime::FinishReason::kContextFull) == SEPTET_FINISH_CONTEXT_FULL);
static_assert(static_cast<int>(runtime::FinishReason::kCancelled) == SEPTET_FINISH_CANCELLED);

constexpr int32_t kDefaultMaxCtx = 4096;  // = septet::LoadOptions::kDefaultMaxCtx

septet_status Create(septet_model* model, const septet_context_params& p, septet_context** out) {
  if (p.n_ctx < 0) {
    return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                    StrFormat("septet_context_params.n_ctx = %d; expected >= 0 (0: the model's, at most %d)", p.n_ctx,
                              kDefaultMaxCtx));
  }
  if (p.n_threads < 0) {
    return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                    StrFormat("septet_context_params.n_threads = %d; expected >= 0 (0: all)", p.n_threads));
  }
  const model::LlamaModel& lm = *model->m->model;
  const int64_t n_ctx = p.n_ctx > 0 ? p.n_ctx : std::min<int64_t>(lm.hparams().context_length, kDefaultMaxCtx);
  runtime::BackendOptions bo;
  bo.backend = p.backend != nullptr ? p.backend : "cpu";
  bo.n_threads = runtime::ResolveThreads(p.n_threads);
  auto ctx = runtime::CreateContext(lm, n_ctx, bo);
  if (!ctx.ok()) return FromStatus(ctx.status());
  auto* h = new septet_context();
  h->m = model->m;
  h->ctx = std::move(ctx).value();
  Register(h, Kind::kContext);
  *out = h;
  return SEPTET_OK;
}

// The callback adapter: a C function pointer behind the runtime's std::function.
struct Callback {
  septet_text_callback fn;
  void* user;
  bool operator()(std::string_view text) const { return fn == nullptr || fn(text.data(), text.size(), user) != 0; }
};

}  // namespace

extern "C" {

void septet_context_params_init(septet_context_params* p) {
  if (p == nullptr) return;
  *p = septet_context_params{};
  p->struct_size = sizeof(*p);
}

septet_status septet_context_create(septet_model* model, const septet_context_params* params, septet_context** out) {
  return Guard("septet_context_create", [&] {
    if (septet_status s = CheckHandle(model, Kind::kModel, "septet_context_create: model"); s != SEPTET_OK) return s;
    if (out == nullptr) return NullArg("septet_context_create", "out_context");
    septet_context_params p;
    septet_context_params_init(&p);
    if (septet_status s = ReadVersioned(params, sizeof(septet_context_params), "septet_context_params", &p);
        s != SEPTET_OK) {
      return s;
    }
    return Create(model, p, out);
  });
}

septet_status septet_context_free(septet_context* context) {
  return Guard("septet_context_free", [&] {
    if (context == nullptr) return SEPTET_OK;
    if (septet_status s = CheckHandle(context, Kind::kContext, "septet_context_free: context"); s != SEPTET_OK) {
      return s;
    }
    if (!Unregister(context, Kind::kContext)) {  // another thread freed it since the check
      return SetError(SEPTET_ERR_BAD_HANDLE, "septet_context_free: freed concurrently by another thread");
    }
    context->magic = 0;
    delete context;
    return SEPTET_OK;
  });
}

septet_status septet_context_n_ctx(const septet_context* context, int64_t* out) {
  return Guard("septet_context_n_ctx", [&] {
    if (septet_status s = CheckHandle(context, Kind::kContext, "septet_context_n_ctx: context"); s != SEPTET_OK) {
      return s;
    }
    if (out == nullptr) return NullArg("septet_context_n_ctx", "out");
    *out = context->ctx->n_ctx();
    return SEPTET_OK;
  });
}

septet_status septet_context_n_past(const septet_context* context, int64_t* out) {
  return Guard("septet_context_n_past", [&] {
    if (septet_status s = CheckHandle(context, Kind::kContext, "septet_context_n_past: context"); s != SEPTET_OK) {
      return s;
    }
    if (out == nullptr) return NullArg("septet_context_n_past", "out");
    *out = context->ctx->n_past();
    return SEPTET_OK;
  });
}

septet_status septet_context_truncate(septet_context* context, int64_t n) {
  return Guard("septet_context_truncate", [&] {
    if (septet_status s = CheckHandle(context, Kind::kContext, "septet_context_truncate: context"); s != SEPTET_OK) {
      return s;
    }
    const int64_t past = context->ctx->n_past();
    if (n < 0 || n > past) {
      return SetError(SEPTET_ERR_OUT_OF_RANGE,
                      StrFormat("septet_context_truncate: n = %lld; expected 0 <= n <= n_past = %lld",
                                static_cast<long long>(n), static_cast<long long>(past)));
    }
    context->ctx->Truncate(n);
    context->history.resize(static_cast<size_t>(n));
    context->logits.clear();
    return SEPTET_OK;
  });
}

septet_status septet_eval(septet_context* context, const int32_t* tokens, size_t n) {
  return Guard("septet_eval", [&] {
    if (septet_status s = CheckHandle(context, Kind::kContext, "septet_eval: context"); s != SEPTET_OK) return s;
    if (tokens == nullptr) return NullArg("septet_eval", "tokens");
    if (n == 0) return SetError(SEPTET_ERR_INVALID_ARGUMENT, "septet_eval: n_tokens = 0; expected >= 1");
    std::vector<float> logits;
    const std::span<const int32_t> span(tokens, n);
    if (Status st = context->ctx->Forward(span, model::LogitsMode::kLast, &logits); !st.ok()) {
      return FromStatus(st);
    }
    context->history.insert(context->history.end(), span.begin(), span.end());
    context->logits = std::move(logits);
    return SEPTET_OK;
  });
}

septet_status septet_get_logits(const septet_context* context, float* logits, size_t capacity, size_t* n_logits) {
  return Guard("septet_get_logits", [&] {
    if (septet_status s = CheckHandle(context, Kind::kContext, "septet_get_logits: context"); s != SEPTET_OK) return s;
    if (n_logits == nullptr) return NullArg("septet_get_logits", "n_logits");
    if (logits == nullptr && capacity > 0) return NullArg("septet_get_logits", "logits (with capacity > 0)");
    const std::vector<float>& l = context->logits;
    if (l.empty()) {
      return SetError(SEPTET_ERR_NO_LOGITS, "septet_get_logits: no logits yet (call septet_eval first)");
    }
    if (capacity < l.size()) {
      *n_logits = l.size();
      return SetError(SEPTET_ERR_BUFFER_TOO_SMALL,
                      StrFormat("septet_get_logits: capacity = %zu but vocab = %zu", capacity, l.size()));
    }
    std::copy(l.begin(), l.end(), logits);
    *n_logits = l.size();
    return SEPTET_OK;
  });
}

septet_status septet_sampler_create(const septet_sampler_params* params, septet_sampler** out) {
  return Guard("septet_sampler_create", [&] {
    if (out == nullptr) return NullArg("septet_sampler_create", "out_sampler");
    runtime::SamplerParams rp;
    if (septet_status s = ToRuntimeSampler(params, &rp); s != SEPTET_OK) return s;
    auto* h = new septet_sampler();
    h->sampler = std::make_unique<runtime::Sampler>(rp);
    Register(h, Kind::kSampler);
    *out = h;
    return SEPTET_OK;
  });
}

septet_status septet_sampler_free(septet_sampler* sampler) {
  return Guard("septet_sampler_free", [&] {
    if (sampler == nullptr) return SEPTET_OK;
    if (septet_status s = CheckHandle(sampler, Kind::kSampler, "septet_sampler_free: sampler"); s != SEPTET_OK) {
      return s;
    }
    if (!Unregister(sampler, Kind::kSampler)) {  // another thread freed it since the check
      return SetError(SEPTET_ERR_BAD_HANDLE, "septet_sampler_free: freed concurrently by another thread");
    }
    sampler->magic = 0;
    delete sampler;
    return SEPTET_OK;
  });
}

septet_status septet_sampler_sample(septet_sampler* sampler, const float* logits, size_t n_logits,
                                    const int32_t* history, size_t n_history, int32_t* out_token) {
  return Guard("septet_sampler_sample", [&] {
    if (septet_status s = CheckHandle(sampler, Kind::kSampler, "septet_sampler_sample: sampler"); s != SEPTET_OK) {
      return s;
    }
    if (logits == nullptr) return NullArg("septet_sampler_sample", "logits");
    if (history == nullptr && n_history > 0) return NullArg("septet_sampler_sample", "history (with n_history > 0)");
    if (out_token == nullptr) return NullArg("septet_sampler_sample", "out_token");
    if (n_logits == 0 || n_logits > static_cast<size_t>(INT32_MAX)) {
      return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                      StrFormat("septet_sampler_sample: n_logits = %zu; expected 1..2^31-1", n_logits));
    }
    for (size_t i = 0; i < n_logits; ++i) {
      if (std::isnan(logits[i]) || logits[i] == INFINITY) {
        return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                        StrFormat("septet_sampler_sample: logits[%zu] = %g; expected a number below +inf", i,
                                  static_cast<double>(logits[i])));
      }
    }
    *out_token = sampler->sampler->Sample({logits, n_logits}, {history, n_history});
    return SEPTET_OK;
  });
}

void septet_generate_params_init(septet_generate_params* p) {
  if (p == nullptr) return;
  *p = septet_generate_params{};
  p->struct_size = sizeof(*p);
  p->max_tokens = 128;
  p->stop_at_eos = 1;
  p->sampler = nullptr;
}

septet_status septet_generate(septet_context* context, const int32_t* prompt, size_t n_prompt,
                              const septet_generate_params* params, septet_text_callback callback, void* user_data,
                              int32_t* tokens, size_t capacity, size_t* n_tokens, septet_finish_reason* finish) {
  return Guard("septet_generate", [&] {
    if (septet_status s = CheckHandle(context, Kind::kContext, "septet_generate: context"); s != SEPTET_OK) return s;
    if (prompt == nullptr && n_prompt > 0) return NullArg("septet_generate", "prompt (with n_prompt > 0)");
    septet_generate_params p;
    septet_generate_params_init(&p);
    if (septet_status s = ReadVersioned(params, sizeof(septet_generate_params), "septet_generate_params", &p);
        s != SEPTET_OK) {
      return s;
    }
    if (p.max_tokens < 0) {
      return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                      StrFormat("septet_generate_params.max_tokens = %d; expected >= 0", p.max_tokens));
    }
    runtime::GenerationParams gp;
    if (septet_status s = ToRuntimeSampler(p.sampler, &gp.sampler); s != SEPTET_OK) return s;
    gp.max_tokens = p.max_tokens;
    gp.stop_at_eos = p.stop_at_eos != 0;
    if (tokens != nullptr && capacity < static_cast<size_t>(p.max_tokens)) {
      if (n_tokens != nullptr) *n_tokens = static_cast<size_t>(p.max_tokens);
      return SetError(SEPTET_ERR_BUFFER_TOO_SMALL,
                      StrFormat("septet_generate: capacity = %zu but max_tokens = %d", capacity, p.max_tokens));
    }
    const int64_t vocab = context->m->model->hparams().vocab;
    for (size_t i = 0; i < n_prompt; ++i) {
      if (prompt[i] < 0 || prompt[i] >= vocab) {
        return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                        StrFormat("septet_generate: prompt[%zu] = %d; expected an id in [0, %lld)", i, prompt[i],
                                  static_cast<long long>(vocab)));
      }
    }
    auto r = runtime::Generate(context->ctx.get(), *context->m->tokenizer, {prompt, n_prompt}, &context->history, gp,
                               Callback{callback, user_data});
    context->logits.clear();  // the KV cache moved on; the last eval's logits are stale
    if (!r.ok()) return FromStatus(r.status());
    const std::vector<int32_t>& out = r.value().tokens;
    if (tokens != nullptr) std::copy(out.begin(), out.end(), tokens);
    if (n_tokens != nullptr) *n_tokens = out.size();
    if (finish != nullptr) *finish = static_cast<septet_finish_reason>(r.value().finish);
    return SEPTET_OK;
  });
}

}  // extern "C"
