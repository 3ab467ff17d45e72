#include "runtime/generator.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>

#include "runtime/token_stream.h"

namespace septet::runtime {
namespace {

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

Status CheckFinite(const std::vector<float>& logits, int64_t pos) {
  for (float v : logits) {
    if (std::isnan(v)) return Internal("forward pass produced NaN logits at position %" PRId64, pos);
  }
  return Status::Ok();
}

}  // namespace

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kEos: return "eos";
    case FinishReason::kStopString: return "stop string";
    case FinishReason::kMaxTokens: return "max tokens";
    case FinishReason::kContextFull: return "context full";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

Result<GenerationStats> Generate(model::InferenceContext* ctx, const Tokenizer& tokenizer,
                                 std::span<const int32_t> new_tokens, std::vector<int32_t>* history,
                                 const GenerationParams& params, const TextCallback& on_text) {
  SEPTET_RETURN_IF_ERROR(ValidateSamplerParams(params.sampler));
  if (params.max_tokens < 0) return InvalidArgument("max_tokens = %d; expected >= 0", params.max_tokens);
  if (new_tokens.empty() && ctx->n_past() == 0) return InvalidArgument("prompt is empty (no tokens to evaluate)");
  if (static_cast<int64_t>(history->size()) != ctx->n_past()) {
    return Internal("history holds %zu tokens but the context %" PRId64, history->size(), ctx->n_past());
  }
  GenerationStats stats;
  const auto t0 = Clock::now();
  std::vector<float> logits;
  if (!new_tokens.empty()) {
    SEPTET_RETURN_IF_ERROR(ctx->Forward(new_tokens, model::LogitsMode::kLast, &logits));
    history->insert(history->end(), new_tokens.begin(), new_tokens.end());
    stats.prompt_tokens = static_cast<int64_t>(new_tokens.size());
  } else {
    // Everything is cached already: re-evaluate the last token for its logits.
    const int32_t last = history->back();
    ctx->Truncate(ctx->n_past() - 1);
    history->pop_back();
    SEPTET_RETURN_IF_ERROR(ctx->Forward({&last, 1}, model::LogitsMode::kLast, &logits));
    history->push_back(last);
    stats.prompt_tokens = 1;
  }
  stats.prompt_ms = MsSince(t0);

  TokenStream stream(tokenizer, params, history->back());
  Clock::time_point decode_start;
  bool first = true;
  // Invariant: `history` is exactly what the KV cache holds, and `logits`
  // predict the token after history->back().
  while (true) {
    SEPTET_RETURN_IF_ERROR(CheckFinite(logits, ctx->n_past() - 1));
    const TokenStream::Step step = stream.Next(logits, *history, ctx->n_past(), ctx->n_ctx());
    if (first && stream.stats().generated_tokens == 1) {
      first = false;
      stats.first_token_ms = MsSince(t0);
      decode_start = Clock::now();
    }
    // A refused callback cancels, unless a stop string has just ended the run.
    if (!step.text.empty() && on_text && !on_text(step.text) &&
        stream.stats().finish != FinishReason::kStopString) {
      stream.Cancel();
      break;
    }
    if (step.done) break;
    SEPTET_RETURN_IF_ERROR(ctx->Forward({&step.next, 1}, model::LogitsMode::kLast, &logits));
    history->push_back(step.next);
  }
  const GenerationStats& s = stream.stats();
  stats.generated_tokens = s.generated_tokens;
  stats.finish = s.finish;
  stats.tokens = s.tokens;
  stats.logprobs = s.logprobs;
  if (stats.generated_tokens > 0) stats.decode_ms = MsSince(decode_start);
  return stats;
}

}  // namespace septet::runtime
