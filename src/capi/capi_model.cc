// C API: model load / free / queries, tokenize, detokenize.
#include <optional>
#include <string_view>

#include "capi/capi_internal.h"
#include "core/dtype.h"
#include "io/model_file.h"

using namespace septet;        // NOLINT: the extern "C" definitions below
using namespace septet::capi;  // NOLINT

namespace {

constexpr size_t kModelOptionsV1 = sizeof(septet_model_options);

// Loads model + tokenizer; the C++ API's rules (api_model.cc): a tokenizer whose
// size differs from the embedding's rows is refused.
septet_status Load(const char* path, const septet_model_options& o, septet_model** out) {
  model::ModelOptions mo;
  if (o.compute_type != nullptr && o.compute_type[0] != '\0') {
    const std::optional<DType> t = ParseDType(o.compute_type);
    if (!t.has_value()) {
      return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                      StrFormat("septet_model_options.compute_type = '%s': unknown weight type (e.g. F32, F16, "
                                "Q8_0, Q4_G, Q3P5, Q3P5_NL)",
                                o.compute_type));
    }
    mo.compute_type = *t;
  }
  auto file = ModelFile::Open(path);
  if (!file.ok()) return FromStatus(file.status());
  auto lm = std::make_shared<LoadedModel>();
  auto model = model::LlamaModel::FromFile(std::move(file).value(), mo);
  if (!model.ok()) return FromStatus(model.status());
  lm->model = std::move(model).value();
  auto tok = LoadTokenizer(lm->model->file(), o.tokenizer_path != nullptr ? o.tokenizer_path : "");
  if (!tok.ok()) return FromStatus(tok.status());
  lm->tokenizer = std::move(tok).value();
  if (lm->tokenizer->vocab_size() != lm->model->hparams().vocab) {
    return SetError(SEPTET_ERR_CORRUPT,
                    StrFormat("%s: tokenizer has %d tokens but the model's token_embd.weight has %lld rows", path,
                              lm->tokenizer->vocab_size(), static_cast<long long>(lm->model->hparams().vocab)));
  }
  auto* h = new septet_model();
  h->m = std::move(lm);
  Register(h, Kind::kModel);
  *out = h;
  return SEPTET_OK;
}

}  // namespace

extern "C" {

void septet_model_options_init(septet_model_options* o) {
  if (o == nullptr) return;
  *o = septet_model_options{};
  o->struct_size = sizeof(*o);
}

septet_status septet_model_load(const char* path, const septet_model_options* options, septet_model** out) {
  return Guard("septet_model_load", [&] {
    if (path == nullptr) return NullArg("septet_model_load", "path");
    if (out == nullptr) return NullArg("septet_model_load", "out_model");
    if (path[0] == '\0') return SetError(SEPTET_ERR_INVALID_ARGUMENT, "septet_model_load: path is empty");
    septet_model_options o;
    septet_model_options_init(&o);
    if (septet_status s = ReadVersioned(options, kModelOptionsV1, "septet_model_options", &o); s != SEPTET_OK) {
      return s;
    }
    return Load(path, o, out);
  });
}

septet_status septet_model_free(septet_model* model) {
  return Guard("septet_model_free", [&] {
    if (model == nullptr) return SEPTET_OK;
    if (septet_status s = CheckHandle(model, Kind::kModel, "septet_model_free: model"); s != SEPTET_OK) return s;
    if (!Unregister(model, Kind::kModel)) {  // another thread freed it since the check
      return SetError(SEPTET_ERR_BAD_HANDLE, "septet_model_free: freed concurrently by another thread");
    }
    model->magic = 0;
    delete model;
    return SEPTET_OK;
  });
}

#define SEPTET_MODEL_QUERY(fn, expr)                                                   \
  septet_status fn(const septet_model* model, int32_t* out) {                          \
    return Guard(#fn, [&] {                                                            \
      if (septet_status s = CheckHandle(model, Kind::kModel, #fn ": model"); s != SEPTET_OK) return s; \
      if (out == nullptr) return NullArg(#fn, "out");                                  \
      const LoadedModel& m = *model->m;                                                \
      *out = (expr);                                                                   \
      return SEPTET_OK;                                                                \
    });                                                                                \
  }
SEPTET_MODEL_QUERY(septet_model_vocab_size, static_cast<int32_t>(m.model->hparams().vocab))
SEPTET_MODEL_QUERY(septet_model_bos, m.tokenizer->bos_id())
SEPTET_MODEL_QUERY(septet_model_eos, m.tokenizer->eos_id())
#undef SEPTET_MODEL_QUERY

septet_status septet_tokenize(const septet_model* model, const char* text, size_t len, int add_bos, int32_t* tokens,
                              size_t capacity, size_t* n_tokens) {
  return Guard("septet_tokenize", [&] {
    if (septet_status s = CheckHandle(model, Kind::kModel, "septet_tokenize: model"); s != SEPTET_OK) return s;
    if (text == nullptr && len > 0) return NullArg("septet_tokenize", "text (with len > 0)");
    if (n_tokens == nullptr) return NullArg("septet_tokenize", "n_tokens");
    if (tokens == nullptr && capacity > 0) return NullArg("septet_tokenize", "tokens (with capacity > 0)");
    const std::vector<int32_t> ids =
        model->m->tokenizer->Encode(std::string_view(text == nullptr ? "" : text, len), add_bos != 0);
    if (ids.size() > capacity) {
      *n_tokens = ids.size();
      return SetError(SEPTET_ERR_BUFFER_TOO_SMALL,
                      StrFormat("septet_tokenize: capacity = %zu but the text is %zu tokens", capacity, ids.size()));
    }
    std::copy(ids.begin(), ids.end(), tokens);
    *n_tokens = ids.size();
    return SEPTET_OK;
  });
}

septet_status septet_detokenize(const septet_model* model, const int32_t* tokens, size_t n, char* text,
                                size_t capacity, size_t* n_bytes) {
  return Guard("septet_detokenize", [&] {
    if (septet_status s = CheckHandle(model, Kind::kModel, "septet_detokenize: model"); s != SEPTET_OK) return s;
    if (tokens == nullptr && n > 0) return NullArg("septet_detokenize", "tokens (with n_tokens > 0)");
    if (n_bytes == nullptr) return NullArg("septet_detokenize", "n_bytes");
    if (text == nullptr && capacity > 0) return NullArg("septet_detokenize", "text (with capacity > 0)");
    const int32_t vocab = model->m->tokenizer->vocab_size();
    for (size_t i = 0; i < n; ++i) {
      if (tokens[i] < 0 || tokens[i] >= vocab) {
        return SetError(SEPTET_ERR_INVALID_ARGUMENT,
                        StrFormat("septet_detokenize: tokens[%zu] = %d; expected an id in [0, %d)", i, tokens[i],
                                  vocab));
      }
    }
    const std::string s = model->m->tokenizer->Decode(std::vector<int32_t>(tokens, tokens + n));
    if (s.size() + 1 > capacity) {
      *n_bytes = s.size();
      return SetError(SEPTET_ERR_BUFFER_TOO_SMALL,
                      StrFormat("septet_detokenize: capacity = %zu but the text needs %zu bytes + 1 for the NUL",
                                capacity, s.size()));
    }
    std::memcpy(text, s.data(), s.size());
    text[s.size()] = '\0';
    *n_bytes = s.size();
    return SEPTET_OK;
  });
}

}  // extern "C"
