#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>

#include "eval/logits_file.h"
#include "runtime/backend.h"

namespace septet::eval {
namespace {

// log-softmax in double: out[v] = logit[v] - max - log Σ exp(logit - max).
void LogSoftmax(const float* logits, int64_t n, std::vector<double>* out) {
  out->resize(static_cast<size_t>(n));
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double z = 0;
  for (int64_t i = 0; i < n; ++i) z += std::exp(static_cast<double>(logits[i]) - mx);
  const double lz = mx + std::log(z);
  for (int64_t i = 0; i < n; ++i) (*out)[i] = static_cast<double>(logits[i]) - lz;
}

template <typename T>
int64_t ArgMax(const T* v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

}  // namespace

MeanSe MeanAndSe(const std::vector<double>& xs) {
  MeanSe r;
  const size_t n = xs.size();
  if (n == 0) return r;
  double s = 0;
  for (double x : xs) s += x;
  r.mean = s / static_cast<double>(n);
  if (n > 1) {
    double ss = 0;
    for (double x : xs) ss += (x - r.mean) * (x - r.mean);
    r.se = std::sqrt(ss / static_cast<double>(n - 1) / static_cast<double>(n));
  }
  return r;
}

double Percentile(std::vector<double> xs, double q) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const double rank = std::ceil(q * static_cast<double>(xs.size()));
  const size_t idx = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(xs.size()))) - 1;
  return xs[idx];
}

Result<PerplexityResult> EvaluatePerplexity(const model::LlamaModel& model, const std::vector<int32_t>& text,
                                            int32_t bos, const PerplexityOptions& o) {
  const int64_t vocab = model.hparams().vocab;
  const int64_t ctx = o.n_ctx;
  if (ctx < 4) return InvalidArgument("--ctx %lld: expected >= 4", static_cast<long long>(ctx));
  if (!o.save_logits.empty() && !o.kl_base.empty()) {
    return InvalidArgument(
        "--save-logits and --kl-divergence: give one (save with the base model, compare with "
        "the quantized one)");
  }
  int64_t chunks = static_cast<int64_t>(text.size()) / ctx;
  if (chunks == 0) {
    return InvalidArgument(
        "the text has %zu tokens; --ctx %lld needs at least %lld (use a smaller --ctx or a longer "
        "text)",
        text.size(), static_cast<long long>(ctx), static_cast<long long>(ctx));
  }
  if (o.max_chunks > 0) chunks = std::min(chunks, o.max_chunks);
  const int64_t first = o.score_from < 0 ? ctx / 2 : o.score_from;
  if (first > ctx - 2) {
    return InvalidArgument("score_from %lld: expected <= n_ctx - 2 = %lld (something must be scored)",
                           static_cast<long long>(first), static_cast<long long>(ctx - 2));
  }
  const int64_t n_scored = ctx - 1 - first;

  // The windows as evaluated (BOS in front).
  std::vector<int32_t> windows(static_cast<size_t>(chunks * ctx));
  for (int64_t c = 0; c < chunks; ++c) {
    std::copy(text.begin() + c * ctx, text.begin() + (c + 1) * ctx, windows.begin() + c * ctx);
    if (bos >= 0) windows[c * ctx] = bos;
  }

  std::unique_ptr<LogitsWriter> writer;
  std::unique_ptr<LogitsReader> reader;
  LogitsHeader hdr;
  hdr.vocab = static_cast<uint32_t>(vocab);
  hdr.n_ctx = static_cast<uint32_t>(ctx);
  hdr.n_chunks = static_cast<uint32_t>(chunks);
  hdr.first = static_cast<uint32_t>(first);
  hdr.n_scored = static_cast<uint32_t>(n_scored);
  if (!o.save_logits.empty()) {
    SEPTET_ASSIGN_OR_RETURN(writer, LogitsWriter::Create(o.save_logits, o.force, hdr, windows));
  }
  if (!o.kl_base.empty()) {
    SEPTET_ASSIGN_OR_RETURN(LogitsReader r, LogitsReader::Open(o.kl_base));
    const LogitsHeader& b = r.header();
    const char* f = o.kl_base.c_str();
    if (b.vocab != hdr.vocab) {
      return InvalidArgument("--kl-divergence %s: saved with a vocabulary of %u; this model has %lld", f, b.vocab,
                             static_cast<long long>(vocab));
    }
    if (b.n_ctx != hdr.n_ctx) {
      return InvalidArgument("--kl-divergence %s: saved with --ctx %u; this run uses --ctx %lld (use the same)", f,
                             b.n_ctx, static_cast<long long>(ctx));
    }
    if (b.first != hdr.first) {
      return InvalidArgument("--kl-divergence %s: scores from position %u; this run from %lld (use the same)", f,
                             b.first, static_cast<long long>(first));
    }
    if (b.n_chunks != hdr.n_chunks) {
      return InvalidArgument(
          "--kl-divergence %s: holds %u chunks; this run evaluates %lld (use the same text and "
          "--chunks)",
          f, b.n_chunks, static_cast<long long>(chunks));
    }
    const int32_t* bt = r.tokens();
    for (size_t i = 0; i < windows.size(); ++i) {
      if (bt[i] != windows[i]) {
        return InvalidArgument(
            "--kl-divergence %s: token %zu (chunk %zu, position %zu) is %d there and %d here: the "
            "file was made from another text or tokenizer",
            f, i, i / ctx, i % ctx, bt[i], windows[i]);
      }
    }
    reader = std::make_unique<LogitsReader>(std::move(r));
  }

  runtime::BackendOptions bo{.backend = o.backend, .n_threads = o.threads, .kv_type = o.kv_type};
  bo.prefill = o.prefill;
  bo.stream_layers = o.stream_layers;
  bo.gpu_layers = o.gpu_layers;
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<model::InferenceContext> ictx, runtime::CreateContext(model, ctx, bo));
  PerplexityResult res;
  res.text_tokens = static_cast<int64_t>(text.size());
  res.n_ctx = ctx;
  res.chunks = chunks;
  std::vector<double> nll, nll_base, kld, top1;
  std::vector<float> logits, lp_out;
  std::vector<double> lp;
  double nll_sum = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    ictx->Truncate(0);
    const std::span<const int32_t> win(windows.data() + c * ctx, static_cast<size_t>(ctx));
    // The unscored context first (only its last row of logits is computed), then
    // the scored positions first .. ctx - 2 with every row: the output head runs
    // on the n_scored rows only. Splitting a prompt changes no bits (the forward
    // pass is chunked anyway; tested in model_batch_test.cc).
    const auto context = win.first(static_cast<size_t>(first));
    const auto scored = win.subspan(static_cast<size_t>(first), static_cast<size_t>(n_scored));
    if (!context.empty()) SEPTET_RETURN_IF_ERROR(ictx->Forward(context, model::LogitsMode::kLast, &logits));
    SEPTET_RETURN_IF_ERROR(ictx->Forward(scored, model::LogitsMode::kAll, &logits));
    if (writer) lp_out.resize(static_cast<size_t>(n_scored * vocab));
    const float* base = reader ? reader->chunk(static_cast<uint32_t>(c)) : nullptr;
    for (int64_t j = first; j < ctx - 1; ++j) {
      const float* lg = logits.data() + (j - first) * vocab;
      LogSoftmax(lg, vocab, &lp);
      const int32_t next = win[j + 1];
      nll.push_back(-lp[next]);
      nll_sum += -lp[next];
      if (writer) {
        float* dst = lp_out.data() + (j - first) * vocab;
        for (int64_t v = 0; v < vocab; ++v) dst[v] = static_cast<float>(lp[v]);
      }
      if (base) {
        const float* lb = base + (j - first) * vocab;
        double kl = 0;
        for (int64_t v = 0; v < vocab; ++v) {
          const double pb = std::exp(static_cast<double>(lb[v]));
          kl += pb * (static_cast<double>(lb[v]) - lp[v]);
        }
        kld.push_back(std::max(kl, 0.0));  // rounding can give -1e-17
        nll_base.push_back(-static_cast<double>(lb[next]));
        top1.push_back(ArgMax(lb, vocab) == ArgMax(lg, vocab) ? 1.0 : 0.0);
      }
    }
    if (writer) SEPTET_RETURN_IF_ERROR(writer->AppendChunk(lp_out.data(), lp_out.size()));
    if (o.progress) o.progress(c + 1, chunks, std::exp(nll_sum / static_cast<double>(nll.size())));
  }
  if (writer) SEPTET_RETURN_IF_ERROR(writer->Finish());

  res.scored = static_cast<int64_t>(nll.size());
  res.nll = MeanAndSe(nll);
  res.ppl = std::exp(res.nll.mean);
  res.ppl_se = res.ppl * res.nll.se;
  if (reader) {
    res.has_kl = true;
    const MeanSe nb = MeanAndSe(nll_base);
    res.base_ppl = std::exp(nb.mean);
    res.base_ppl_se = res.base_ppl * nb.se;
    std::vector<double> diff(nll.size());
    for (size_t i = 0; i < nll.size(); ++i) diff[i] = nll[i] - nll_base[i];
    res.ln_ppl_ratio = MeanAndSe(diff);
    res.kld = MeanAndSe(kld);
    res.kld_median = Percentile(kld, 0.5);
    res.kld_p99 = Percentile(kld, 0.99);
    res.kld_max = *std::max_element(kld.begin(), kld.end());
    res.top1.mean = MeanAndSe(top1).mean;
    const double f = res.top1.mean;
    res.top1.se = std::sqrt(f * (1 - f) / static_cast<double>(top1.size()));
  }
  return res;
}

}  // namespace septet::eval
