// Key/value cache of n_seq sequences, one [n_seq][n_ctx] plane of rows per layer
// for K and for V, each row kv_dim values (n_kv_heads heads of head_dim, RoPE
// applied) stored in the cache's type (F32, F16 or Q8_0; kernels/kv_rows.h):
//   row(layer, seq, pos) -> KvRowBytes(type, kv_dim) bytes
//   bytes = 2 * n_layers * n_seq * n_ctx * KvRowBytes(type, kv_dim)
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/kv_rows.h"

namespace septet::model {

class KvCache {
 public:
  static uint64_t Bytes(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, int64_t n_seq = 1,
                        DType type = DType::kF32) {
    return 2ull * static_cast<uint64_t>(n_layers) * static_cast<uint64_t>(n_seq) * static_cast<uint64_t>(n_ctx) *
           kernels::KvRowBytes(type, kv_dim);
  }
  // Fails (kInvalidArgument) for a non-positive size, n_ctx or n_seq above
  // INT32_MAX, a type that is not a KV type (the message names --kv-type), or
  // when the allocation is impossible (the message gives the bytes).
  static Result<KvCache> Create(int64_t n_layers, int64_t n_ctx, int64_t kv_dim, int64_t n_seq = 1,
                                DType type = DType::kF32);

  // Converts and stores one position's K and V (kv_dim floats each).
  void Store(int64_t layer, int64_t seq, int64_t pos, const float* k, const float* v) {
    kernels::KvRowFromFloat(type_, k, kv_dim_, k_.data() + Offset(layer, seq, pos));
    kernels::KvRowFromFloat(type_, v, kv_dim_, v_.data() + Offset(layer, seq, pos));
  }
  const uint8_t* k_row(int64_t layer, int64_t seq, int64_t pos) const { return k_.data() + Offset(layer, seq, pos); }
  const uint8_t* v_row(int64_t layer, int64_t seq, int64_t pos) const { return v_.data() + Offset(layer, seq, pos); }
  size_t row_bytes() const { return row_bytes_; }
  DType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_seq() const { return n_seq_; }
  int64_t kv_dim() const { return kv_dim_; }
  uint64_t bytes() const { return Bytes(n_layers_, n_ctx_, kv_dim_, n_seq_, type_); }

 private:
  size_t Offset(int64_t layer, int64_t seq, int64_t pos) const {
    return ((static_cast<size_t>(layer) * static_cast<size_t>(n_seq_) + static_cast<size_t>(seq)) *
                static_cast<size_t>(n_ctx_) +
            static_cast<size_t>(pos)) *
           row_bytes_;
  }
  int64_t n_layers_ = 0, n_ctx_ = 0, kv_dim_ = 0, n_seq_ = 1;
  DType type_ = DType::kF32;
  size_t row_bytes_ = 0;
  std::vector<uint8_t> k_, v_;
};

}  // namespace septet::model
