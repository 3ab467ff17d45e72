// Float key/value cache, one [n_ctx][kv_dim] plane per layer for K and for V:
//   k(layer, pos) -> kv_dim floats (n_kv_heads heads of head_dim, RoPE applied)
//   bytes = 2 * n_layers * n_ctx * kv_dim * sizeof(float)
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace septet::model {

class KvCache {
 public:
  static uint64_t Bytes(int64_t n_layers, int64_t n_ctx, int64_t kv_dim) {
    return 2ull * static_cast<uint64_t>(n_layers) * static_cast<uint64_t>(n_ctx) *
           static_cast<uint64_t>(kv_dim) * sizeof(float);
  }
  // Fails (kInvalidArgument) when the allocation is impossible.
  static Result<KvCache> Create(int64_t n_layers, int64_t n_ctx, int64_t kv_dim);

  float* k(int64_t layer, int64_t pos) { return k_.data() + Offset(layer, pos); }
  float* v(int64_t layer, int64_t pos) { return v_.data() + Offset(layer, pos); }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  uint64_t bytes() const { return Bytes(n_layers_, n_ctx_, kv_dim_); }

 private:
  size_t Offset(int64_t layer, int64_t pos) const {
    return (static_cast<size_t>(layer) * static_cast<size_t>(n_ctx_) + static_cast<size_t>(pos)) *
           static_cast<size_t>(kv_dim_);
  }
  int64_t n_layers_ = 0, n_ctx_ = 0, kv_dim_ = 0;
  std::vector<float> k_, v_;
};

}  // namespace septet::model
