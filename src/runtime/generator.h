// The generation loop: prompt tokens -> prefill -> sample/decode until EOS, a
// stop string, max_tokens or a full context; text streamed through a callback
// as whole UTF-8 characters.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "model/inference_context.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace septet::runtime {

struct GenerationParams {
  int32_t max_tokens = 128;             // new tokens at most (>= 0)
  SamplerParams sampler;
  std::vector<std::string> stop_strings;  // end generation; never emitted
  bool stop_at_eos = true;              // tokenizer stop_ids() end generation
  // >= 0: record each generated token's log-probability and this many most
  // likely alternatives (GenerationStats::logprobs). -1: off.
  int32_t logprobs = -1;
};

// A generated token's log-probability under the model (log-softmax of the raw
// logits: before bias, penalties, temperature and filters, as OpenAI reports them).
struct TokenLogprob {
  int32_t id = -1;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely first (ties: lower id)
};

enum class FinishReason { kEos, kStopString, kMaxTokens, kContextFull, kCancelled };
const char* FinishReasonName(FinishReason r);

struct GenerationStats {
  int64_t prompt_tokens = 0;     // evaluated by this call (after any reused prefix)
  int64_t generated_tokens = 0;  // sampled (EOS included when it ended the run)
  double prompt_ms = 0;          // prefill forward pass
  double first_token_ms = 0;     // call start -> first token sampled
  double decode_ms = 0;          // forward passes + sampling after the first token
  FinishReason finish = FinishReason::kMaxTokens;
  std::vector<int32_t> tokens;   // the generated ids, EOS excluded
  std::vector<TokenLogprob> logprobs;  // one per entry of `tokens` when params.logprobs >= 0
  double prompt_tok_per_s() const { return prompt_ms > 0 ? prompt_tokens * 1000.0 / prompt_ms : 0; }
  double decode_tok_per_s() const {
    return decode_ms > 0 && generated_tokens > 1 ? (generated_tokens - 1) * 1000.0 / decode_ms : 0;
  }
};

// Returns false to cancel.
using TextCallback = std::function<bool(std::string_view text)>;

// Evaluates `new_tokens` after what `ctx` already holds (ctx->n_past() tokens,
// whose ids are `history`), then generates. On return `history` is exactly what
// the KV cache holds: the new prompt tokens and every generated token that was
// evaluated (the last sampled token, and EOS, are not). A chat continues from it.
// A prompt that does not fit is kOutOfRange naming n_ctx; an empty new_tokens
// with an empty context is kInvalidArgument.
Result<GenerationStats> Generate(model::InferenceContext* ctx, const Tokenizer& tokenizer,
                                 std::span<const int32_t> new_tokens, std::vector<int32_t>* history,
                                 const GenerationParams& params, const TextCallback& on_text);

}  // namespace septet::runtime
