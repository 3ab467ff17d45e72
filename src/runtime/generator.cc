#include "runtime/generator.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>

#include "runtime/stop_matcher.h"

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

  Sampler sampler(params.sampler);
  Utf8Streamer utf8;
  StopMatcher stops(params.stop_strings);
  const std::vector<int32_t> stop_ids = params.stop_at_eos ? tokenizer.stop_ids() : std::vector<int32_t>{};
  Clock::time_point decode_start;
  int32_t prev = history->back();
  bool cancelled = false;
  const auto emit = [&](const std::string& text) {
    if (!text.empty() && on_text && !on_text(text)) cancelled = true;
  };
  // Invariant: `history` is exactly what the KV cache holds, and `logits`
  // predict the token after history->back().
  stats.finish = FinishReason::kMaxTokens;
  while (stats.generated_tokens < params.max_tokens) {
    SEPTET_RETURN_IF_ERROR(CheckFinite(logits, ctx->n_past() - 1));
    const int32_t next = sampler.Sample(logits, *history);
    ++stats.generated_tokens;
    if (stats.generated_tokens == 1) {
      stats.first_token_ms = MsSince(t0);
      decode_start = Clock::now();
    }
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) {
      stats.finish = FinishReason::kEos;
      break;
    }
    stats.tokens.push_back(next);
    bool stopped = false;
    emit(stops.Push(utf8.Push(tokenizer.TokenBytes(next, prev)), &stopped));
    prev = next;
    if (stopped) {
      stats.finish = FinishReason::kStopString;
      break;
    }
    if (cancelled) {
      stats.finish = FinishReason::kCancelled;
      break;
    }
    if (stats.generated_tokens >= params.max_tokens) break;  // no need to evaluate it
    if (ctx->n_past() >= ctx->n_ctx()) {
      stats.finish = FinishReason::kContextFull;
      break;
    }
    SEPTET_RETURN_IF_ERROR(ctx->Forward({&next, 1}, model::LogitsMode::kLast, &logits));
    history->push_back(next);
  }
  if (stats.finish != FinishReason::kStopString && stats.finish != FinishReason::kCancelled) {
    // Text held back for UTF-8 completion or as a possible stop-string prefix.
    bool stopped = false;
    std::string tail = stops.Push(utf8.Flush(), &stopped);
    if (!stopped) tail += stops.Flush();
    emit(tail);
  }
  if (stats.generated_tokens > 0) stats.decode_ms = MsSince(decode_start);
  return stats;
}

}  // namespace septet::runtime
