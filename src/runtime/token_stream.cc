#include "runtime/token_stream.h"

#include <algorithm>
#include <cmath>

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

namespace {

TokenLogprob LogprobOf(std::span<const float> logits, int32_t id, int32_t top_n) {
  double mx = -INFINITY;
  for (const float v : logits) mx = std::max(mx, static_cast<double>(v));
  double z = 0;
  for (const float v : logits) z += std::exp(static_cast<double>(v) - mx);
  const double log_z = mx + std::log(z);
  TokenLogprob t;
  t.id = id;
  t.logprob = static_cast<float>(logits[static_cast<size_t>(id)] - log_z);
  if (top_n > 0) {
    for (const Candidate& c : sampling::SortedCandidates(logits, top_n)) {
      if (static_cast<int32_t>(t.top.size()) == top_n) break;
      t.top.emplace_back(c.id, static_cast<float>(c.logit - log_z));
    }
  }
  return t;
}

}  // namespace

TokenStream::Step TokenStream::Next(std::span<const float> logits, std::span<const int32_t> history,
                                    int64_t n_past, int64_t n_ctx) {
  Step s;
  s.done = true;
  if (stats_.generated_tokens < params_.max_tokens) {
    const int32_t next = sampler_.Sample(logits, history, stats_.tokens);
    ++stats_.generated_tokens;
    if (std::find(stop_ids_.begin(), stop_ids_.end(), next) != stop_ids_.end()) {
      stats_.finish = FinishReason::kEos;
    } else {
      stats_.tokens.push_back(next);
      if (params_.logprobs >= 0) stats_.logprobs.push_back(LogprobOf(logits, next, params_.logprobs));
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
