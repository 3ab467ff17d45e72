#include "model/inference_context.h"

#include <cinttypes>

namespace septet::model {

Status InferenceContext::Forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) {
  const std::vector<int32_t> seq0(tokens.size(), 0);
  return ForwardBatch(tokens, seq0, mode, logits);
}

Result<BatchPlan> PlanBatch(std::span<const int32_t> tokens, std::span<const int32_t> seq_ids, LogitsMode mode,
                            int64_t vocab, std::span<const int64_t> seq_past, int64_t n_ctx) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t n_seq = static_cast<int64_t>(seq_past.size());
  if (static_cast<int64_t>(seq_ids.size()) != n) {
    return InvalidArgument("forward pass: %" PRId64 " tokens but %zu sequence ids; expected one id per token", n,
                           seq_ids.size());
  }
  BatchPlan plan;
  plan.seq_count.assign(static_cast<size_t>(n_seq), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t s = seq_ids[static_cast<size_t>(i)];
    if (s < 0 || s >= n_seq) {
      return InvalidArgument("forward pass: sequence id %d at index %" PRId64 " is outside [0, %" PRId64
                             ") (the context was created with n_seq = %" PRId64 ")",
                             s, i, n_seq, n_seq);
    }
    ++plan.seq_count[static_cast<size_t>(s)];
  }
  if (n == 0) return InvalidArgument("forward pass: no tokens given");
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return InvalidArgument("forward pass: token %d at index %" PRId64 " is outside the vocabulary [0, %" PRId64
                             ")",
                             tokens[i], i, vocab);
    }
  }
  for (int64_t s = 0; s < n_seq; ++s) {
    const int64_t cnt = plan.seq_count[static_cast<size_t>(s)], past = seq_past[static_cast<size_t>(s)];
    if (cnt > n_ctx - past) {
      if (n_seq == 1) {
        return OutOfRange("context overflow: %" PRId64 " cached + %" PRId64 " new tokens exceed n_ctx = %" PRId64,
                          past, cnt, n_ctx);
      }
      return OutOfRange("context overflow in sequence %" PRId64 ": %" PRId64 " cached + %" PRId64
                        " new tokens exceed n_ctx = %" PRId64,
                        s, past, cnt, n_ctx);
    }
  }
  plan.pos.resize(static_cast<size_t>(n));
  std::vector<int64_t> next(seq_past.begin(), seq_past.end()), left = plan.seq_count;
  for (int64_t i = 0; i < n; ++i) {
    const size_t s = static_cast<size_t>(seq_ids[static_cast<size_t>(i)]);
    plan.pos[static_cast<size_t>(i)] = static_cast<int32_t>(next[s]++);
    if (mode == LogitsMode::kAll || --left[s] == 0) plan.logit_rows.push_back(i);
  }
  return plan;
}

}  // namespace septet::model
