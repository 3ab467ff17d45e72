#include "model/inference_context.h"

#include <cinttypes>

namespace septet::model {

Status ValidateForward(std::span<const int32_t> tokens, int64_t vocab, int64_t n_past, int64_t n_ctx) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return InvalidArgument("forward pass: no tokens given");
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return InvalidArgument("forward pass: token %d at index %" PRId64 " is outside the vocabulary [0, %" PRId64
                             ")",
                             tokens[i], i, vocab);
    }
  }
  if (n > n_ctx - n_past) {
    return OutOfRange("context overflow: %" PRId64 " cached + %" PRId64 " new tokens exceed n_ctx = %" PRId64, n_past,
                      n, n_ctx);
  }
  return Status::Ok();
}

}  // namespace septet::model
