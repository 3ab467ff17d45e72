// One sequence's generation after its prompt: sample from the logits, turn the
// token into streamed text (whole UTF-8 characters, stop strings held back and
// never emitted), and decide whether to go on. runtime::Generate drives one
// TokenStream over one context; the server's batch engine drives one per slot of
// a multi-sequence context. Both therefore stop, stream and count identically.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "runtime/stop_matcher.h"
#include "tokenizer/tokenizer.h"

namespace septet::runtime {

class TokenStream {
 public:
  // params must already be valid (ValidateSamplerParams, max_tokens >= 0).
  // `prev` is the last prompt token (for the tokenizer's leading-space rule).
  TokenStream(const Tokenizer& tokenizer, const GenerationParams& params, int32_t prev);

  struct Step {
    bool done = false;     // finished: stats().finish says why
    int32_t next = -1;     // when !done: the token to evaluate next (append it to
                           // the sequence, then call Next with its logits)
    std::string text;      // text safe to emit now (may be empty)
  };
  // `logits` predict the token after `history` (prompt + tokens evaluated so far;
  // used by the repetition penalty); n_past / n_ctx: the sequence's KV positions.
  // Must not be called again once a step said done. Flushes held-back text into
  // the final step's text unless a stop string ended the run.
  Step Next(std::span<const float> logits, std::span<const int32_t> history, int64_t n_past, int64_t n_ctx);
  // The caller stopped (e.g. the client went away): no more text, finish = kCancelled.
  void Cancel() { stats_.finish = FinishReason::kCancelled; }

  // tokens / generated_tokens / finish; timing fields are the caller's.
  GenerationStats& stats() { return stats_; }

 private:
  const Tokenizer& tokenizer_;
  GenerationParams params_;
  Sampler sampler_;
  Utf8Streamer utf8_;
  StopMatcher stops_;
  std::vector<int32_t> stop_ids_;
  int32_t prev_;
  GenerationStats stats_;
};

}  // namespace septet::runtime
