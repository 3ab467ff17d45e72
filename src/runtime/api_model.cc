#include <algorithm>
#include <chrono>

#include "runtime/api_impl.h"

#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"
#include "runtime/placement.h"

namespace septet {
namespace {

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::Load(const LoadOptions& o, Error* error) {
  // The path names the file in an allocation failure that no check caught.
  return api::Guard<std::unique_ptr<Model>>(error, o.model_path.c_str(), nullptr, [&]() -> std::unique_ptr<Model> {
    const auto t0 = std::chrono::steady_clock::now();
    if (o.model_path.empty()) return api::Fail(InvalidArgument("no model path given"), error), nullptr;
    if (o.n_ctx < 0) {
      return api::Fail(InvalidArgument("n_ctx = %d; expected >= 0 (0: the model's)", o.n_ctx), error), nullptr;
    }
    if (o.n_threads < 0) {
      return api::Fail(InvalidArgument("n_threads = %d; expected >= 0 (0 = all)", o.n_threads), error), nullptr;
    }
    model::ModelOptions mo;
    if (!o.compute_type.empty()) {
      const std::optional<DType> t = ParseDType(o.compute_type);
      if (!t.has_value()) {
        return api::Fail(InvalidArgument("unknown weight type '%s' (e.g. %s)", o.compute_type.c_str(), WritableTypeNames()),
                         error),
               nullptr;
      }
      mo.compute_type = *t;
    }
    auto impl = std::make_unique<Impl>();
    auto file = ModelFile::Open(o.model_path);
    if (!file.ok()) return api::Fail(file.status(), error), nullptr;
    runtime::PlacementRequest pr;
    pr.mem_budget = o.mem_budget;
    pr.gpu_mem = o.gpu_mem;
    pr.gpu_layers = o.gpu_layers;
    pr.n_ctx = o.n_ctx;
    pr.n_threads = runtime::ResolveThreads(o.n_threads);
    pr.converted = mo.compute_type.has_value();
    auto pr_kv = runtime::ParseKvType(o.kv_type);
    if (!pr_kv.ok()) return api::Fail(pr_kv.status(), error), nullptr;
    pr.kv_type = *pr_kv;
    // Before anything large is allocated.
    auto placed = runtime::PlanPlacement(**file, pr);
    if (!placed.ok()) return api::Fail(placed.status(), error), nullptr;
    placed->ApplyTo(&mo);
    auto model = model::LlamaModel::FromFile(std::move(file).value(), mo);
    if (!model.ok()) return api::Fail(model.status(), error), nullptr;
    impl->model = std::move(model).value();
    auto tok = LoadTokenizer(impl->model->file(), o.tokenizer_path);
    if (!tok.ok()) return api::Fail(tok.status(), error), nullptr;
    impl->tokenizer = std::move(tok).value();
    if (impl->tokenizer->vocab_size() != impl->model->hparams().vocab) {
      return api::Fail(Corrupt("tokenizer has %d tokens but the model's token_embd.weight has %lld rows",
                               impl->tokenizer->vocab_size(), static_cast<long long>(impl->model->hparams().vocab)),
                       error),
             nullptr;
    }
    impl->n_ctx = o.n_ctx > 0 ? o.n_ctx
                              : std::min<int64_t>(impl->model->hparams().context_length, LoadOptions::kDefaultMaxCtx);
    // Allocate the KV cache now so a too-large n_ctx fails at load, not mid-run.
    impl->backend.backend = o.backend;
    impl->backend.n_threads = runtime::ResolveThreads(o.n_threads);
    auto kv_type = runtime::ParseKvType(o.kv_type);
    if (!kv_type.ok()) return api::Fail(kv_type.status(), error), nullptr;
    impl->backend.kv_type = kv_type.value();
    placed->ApplyTo(&impl->backend);
    auto ctx = runtime::CreateContext(*impl->model, impl->n_ctx, impl->backend);
    if (!ctx.ok()) return api::Fail(ctx.status(), error), nullptr;
    impl->ctx = std::move(ctx).value();
    impl->chat_format = runtime::DetectChatFormat(impl->tokenizer->chat_template());
    impl->default_system = runtime::DefaultSystemPrompt(impl->tokenizer->chat_template());

    auto info = api::DescribeFile(impl->model->file(), impl->model->hparams(), impl->model->weights().tied_output);
    if (!info.ok()) return api::Fail(info.status(), error), nullptr;
    impl->info = std::move(info).value();
    impl->info.compute_type = mo.compute_type.has_value() ? std::string(DTypeName(*mo.compute_type)) : "";
    impl->info.owned_weight_bytes = impl->model->weights().owned_bytes;
    impl->info.n_ctx = impl->n_ctx;
    impl->info.kv_cache_bytes = impl->ctx->kv_cache_bytes();
    impl->info.kv_type = std::string(DTypeName(impl->backend.kv_type));
    impl->info.streamed_layers = static_cast<int64_t>(placed->streamed.size());
    impl->info.gpu_layers = placed->gpu_layers;
    if (o.mlock) {
      impl->lock = runtime::LockResident(*impl->model, *placed);
      impl->info.locked_bytes = impl->lock->locked_bytes();
      impl->info.mlock_warning = impl->lock->warning();
    }
    impl->info.n_threads = impl->backend.n_threads;
    impl->info.backend = impl->ctx->backend_name();
    if (impl->info.backend == "cpu") impl->info.simd_target = simd::TargetName();
    impl->info.chat_format = runtime::ChatFormatName(impl->chat_format);
    impl->info.bos_id = impl->tokenizer->bos_id();
    impl->info.eos_id = impl->tokenizer->eos_id();
    impl->info.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return std::unique_ptr<Model>(new Model(std::move(impl)));
  });
}

bool Model::Inspect(const std::string& path, ModelInfo* info, Error* error) {
  return api::Guard(error, path.c_str(), false, [&] {
    auto file = ModelFile::Open(path);
    if (!file.ok()) return api::Fail(file.status(), error);
    auto hp = model::ReadLlamaHParams(*file.value());
    if (!hp.ok()) return api::Fail(hp.status(), error);
    auto d = api::DescribeFile(*file.value(), hp.value(), file.value()->FindTensor("output.weight") == nullptr);
    if (!d.ok()) return api::Fail(d.status(), error);
    *info = std::move(d).value();
    return true;
  });
}

const ModelInfo& Model::info() const { return impl_->info; }

// These three have no Error to fill: an allocation failure returns empty (septet.h).
std::vector<int32_t> Model::Tokenize(std::string_view text, bool add_bos, bool parse_special) const {
  return api::Guard<std::vector<int32_t>>(nullptr, "Model::Tokenize", {},
                                          [&] { return impl_->tokenizer->Encode(text, add_bos, parse_special); });
}

std::string Model::Detokenize(const std::vector<int32_t>& ids) const {
  return api::Guard<std::string>(nullptr, "Model::Detokenize", {}, [&] { return impl_->tokenizer->Decode(ids); });
}

std::string Model::TokenText(int32_t id, int32_t prev) const {
  return api::Guard<std::string>(nullptr, "Model::TokenText", {},
                                 [&] { return impl_->tokenizer->TokenBytes(id, prev); });
}

bool Model::Generate(std::string_view prompt, const GenerateParams& params, const TokenCallback& on_text,
                     GenerateStats* stats, Error* error) {
  return api::Guard(error, "Model::Generate", false, [&] {
    const std::vector<int32_t> tokens = impl_->tokenizer->Encode(prompt, params.add_bos);
    if (tokens.empty()) return api::Fail(InvalidArgument("prompt is empty and the model has no BOS token"), error);
    for (int32_t t : tokens) {
      if (t < 0 || t >= impl_->model->hparams().vocab) {
        return api::Fail(Internal("tokenizer produced id %d outside the vocabulary", t), error);
      }
    }
    impl_->ctx->Truncate(0);
    std::vector<int32_t> history;
    uint64_t seed = 0;
    const runtime::GenerationParams gp = api::ToRuntime(params, &seed);
    auto r = runtime::Generate(impl_->ctx.get(), *impl_->tokenizer, tokens, &history, gp, on_text);
    if (!r.ok()) return api::Fail(r.status(), error);
    api::CopyStats(r.value(), seed, stats);
    return true;
  });
}

std::unique_ptr<Chat> Model::StartChat(std::string system_prompt, Error* error) {
  return api::Guard<std::unique_ptr<Chat>>(error, "Model::StartChat", nullptr, [&]() -> std::unique_ptr<Chat> {
    auto ctx = runtime::CreateContext(*impl_->model, impl_->n_ctx, impl_->backend);
    if (!ctx.ok()) return api::Fail(ctx.status(), error), nullptr;
    auto c = std::make_unique<Chat::Impl>();
    c->model = impl_.get();
    c->ctx = std::move(ctx).value();
    c->system_prompt = std::move(system_prompt);
    return std::unique_ptr<Chat>(new Chat(std::move(c)));
  });
}

}  // namespace septet
