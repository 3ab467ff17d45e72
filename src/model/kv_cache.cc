#include "model/kv_cache.h"

#include <cinttypes>
#include <new>
#include <stdexcept>

namespace septet::model {

Result<KvCache> KvCache::Create(int64_t n_layers, int64_t n_ctx, int64_t kv_dim) {
  if (n_layers <= 0 || n_ctx <= 0 || kv_dim <= 0) {
    return InvalidArgument("KV cache: n_layers %" PRId64 ", n_ctx %" PRId64 ", kv_dim %" PRId64
                           " must all be > 0",
                           n_layers, n_ctx, kv_dim);
  }
  KvCache c;
  c.n_layers_ = n_layers;
  c.n_ctx_ = n_ctx;
  c.kv_dim_ = kv_dim;
  const size_t n = static_cast<size_t>(n_layers) * static_cast<size_t>(n_ctx) * static_cast<size_t>(kv_dim);
  try {
    c.k_.assign(n, 0.0f);
    c.v_.assign(n, 0.0f);
  } catch (const std::bad_alloc&) {
    return InvalidArgument("KV cache for n_ctx %" PRId64 " needs %" PRIu64 " bytes, which cannot be allocated",
                           n_ctx, Bytes(n_layers, n_ctx, kv_dim));
  } catch (const std::length_error&) {
    return InvalidArgument("KV cache for n_ctx %" PRId64 " needs %" PRIu64 " bytes, which cannot be allocated",
                           n_ctx, Bytes(n_layers, n_ctx, kv_dim));
  }
  return c;
}

}  // namespace septet::model
