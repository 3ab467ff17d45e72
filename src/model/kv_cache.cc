#include "model/kv_cache.h"

#include <cinttypes>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

namespace septet::model {

Result<KvCache> KvCache::Create(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, int64_t n_seq, DType type) {
  if (!kernels::IsKvType(type)) {
    return InvalidArgument("--kv-type %s: a KV cache is stored as f32, f16 or q8_0", std::string(DTypeName(type)).c_str());
  }
  if (n_layers <= 0 || n_ctx <= 0 || kv_dim <= 0 || n_seq <= 0) {
    return InvalidArgument("KV cache: n_layers %" PRId64 ", n_ctx %" PRId64 ", kv_dim %" PRId64 ", n_seq %" PRId64
                           " must all be > 0",
                           n_layers, n_ctx, kv_dim, n_seq);
  }
  if (n_ctx > INT32_MAX || n_seq > INT32_MAX) {
    return InvalidArgument("KV cache: n_ctx %" PRId64 " / n_seq %" PRId64 " exceed %d", n_ctx, n_seq, INT32_MAX);
  }
  KvCache c;
  c.n_layers_ = n_layers;
  c.n_ctx_ = n_ctx;
  c.kv_dim_ = kv_dim;
  c.n_seq_ = n_seq;
  c.type_ = type;
  c.row_bytes_ = kernels::KvRowBytes(type, kv_dim);
  const uint64_t bytes = Bytes(n_layers, n_ctx, kv_dim, n_seq, type);
  const auto fail = [&] {
    return InvalidArgument("KV cache for n_ctx %" PRId64 " x %" PRId64 " sequence(s) needs %" PRIu64
                           " bytes, which cannot be allocated; use a smaller context",
                           n_ctx, n_seq, bytes);
  };
  // Overflow guard: the element count must fit size_t (Bytes saturates nowhere).
  const double elems = static_cast<double>(n_layers) * static_cast<double>(n_seq) * static_cast<double>(n_ctx) *
                       static_cast<double>(c.row_bytes_);
  if (elems > static_cast<double>(SIZE_MAX / 8)) return fail();
  const size_t n = static_cast<size_t>(n_layers) * static_cast<size_t>(n_seq) * static_cast<size_t>(n_ctx) *
                   c.row_bytes_;
  try {
    c.k_.assign(n, 0);
    c.v_.assign(n, 0);
  } catch (const std::bad_alloc&) {
    return fail();
  } catch (const std::length_error&) {
    return fail();
  }
  return c;
}

}  // namespace septet::model
