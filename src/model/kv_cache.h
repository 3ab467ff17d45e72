// Float key/value cache of n_seq sequences, one [n_seq][n_ctx][kv_dim] plane per
// layer for K and for V:
//   k(layer, seq, pos) -> kv_dim floats (n_kv_heads heads of head_dim, RoPE applied)
//   bytes = 2 * n_layers * n_seq * n_ctx * kv_dim * sizeof(float)
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace septet::model {

class KvCache {
 public:
  static uint64_t Bytes(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, int64_t n_seq = 1) {
    return 2ull * static_cast<uint64_t>(n_layers) * static_cast<uint64_t>(n_seq) * static_cast<uint64_t>(n_ctx) *
           static_cast<uint64_t>(kv_dim) * sizeof(float);
  }
  // Fails (kInvalidArgument) for a non-positive size, n_ctx or n_seq above
  // INT32_MAX, or when the allocation is impossible (the message gives the bytes).
  static Result<KvCache> Create(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, int64_t n_seq = 1);

  float* k(int64_t layer, int64_t seq, int64_t pos) { return k_.data() + Offset(layer, seq, pos); }
  float* v(int64_t layer, int64_t seq, int64_t pos) { return v_.data() + Offset(layer, seq, pos); }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_seq() const { return n_seq_; }
  int64_t kv_dim() const { return kv_dim_; }
  uint64_t bytes() const { return Bytes(n_layers_, n_ctx_, kv_dim_, n_seq_); }

 private:
  size_t Offset(int64_t layer, int64_t seq, int64_t pos) const {
    return ((static_cast<size_t>(layer) * static_cast<size_t>(n_seq_) + static_cast<size_t>(seq)) *
                static_cast<size_t>(n_ctx_) +
            static_cast<size_t>(pos)) *
           static_cast<size_t>(kv_dim_);
  }
  int64_t n_layers_ = 0, n_ctx_ = 0, kv_dim_ = 0, n_seq_ = 1;
  std::vector<float> k_, v_;
};

}  // namespace septet::model
