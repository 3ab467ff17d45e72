#include "runtime/token_stream.h"

#include <algorithm>

namespace septet::runtime {

TokenStream::TokenStream(const Tokenizer& tokenizer, const GenerationParams& params, int32_t prev)
    : tokenizer_(tokenizer),
      params_(params),
      sampler_(params.sampler),
      stops_(params.stop_strings),
      stop_ids_(params.stop_at_eos ? tokenizer.stop_ids() : std::vector<int32_t>{}),
      prev_(prev) {
  stats_.finish = FinishReason::kMaxTokens;
}

TokenStream::Step TokenStream::Next(std::span<const float> logits, std::span<const int32_t> history,
                                    int64_t n_past, int64_t n_ctx) {
  Step s;
  s.done = true;
  if (stats_.generated_tokens < params_.max_tokens) {
    const int32_t next = sampler_.Sample(logits, history);
    ++stats_.generated_tokens;
    if (std::find(stop_ids_.begin(), stop_ids_.end(), next) != stop_ids_.end()) {
      stats_.finish = FinishReason::kEos;
    } else {
      stats_.tokens.push_back(next);
      bool stopped = false;
      s.text = stops_.Push(utf8_.Push(tokenizer_.TokenBytes(next, prev_)), &stopped);
      prev_ = next;
      if (stopped) {
        stats_.finish = FinishReason::kStopString;
        return s;
      }
      if (stats_.generated_tokens >= params_.max_tokens) {
        stats_.finish = FinishReason::kMaxTokens;  // no need to evaluate it
      } else if (n_past >= n_ctx) {
        stats_.finish = FinishReason::kContextFull;
      } else {
        s.done = false;
        s.next = next;
        return s;
      }
    }
  }
  // Text held back for UTF-8 completion or as a possible stop-string prefix.
  bool stopped = false;
  std::string tail = stops_.Push(utf8_.Flush(), &stopped);
  if (!stopped) tail += stops_.Flush();
  s.text += tail;
  return s;
}

}  // namespace septet::runtime
