// Typed KV rows: a stored row read back in any slice equals the registry's
// to_float of the whole row (F16, Q8_0), and F32 is stored exactly.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "quant/registry.h"

namespace septet::model {
namespace {

TEST(KvCacheTest, SlicesEqualTheRegistryDequantization) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 2.0f);
  for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0}) {
    for (int64_t kv_dim : {8, 32, 40, 192}) {
      auto c = KvCache::Create(2, 3, kv_dim, 2, t);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      std::vector<float> k(static_cast<size_t>(kv_dim)), v(k.size());
      for (float& x : k) x = g(rng);
      for (float& x : v) x = g(rng);
      k[1] = 0.0f;
      c->Store(1, 1, 2, k.data(), v.data());
      EXPECT_EQ(c->row_bytes(), GetTypeTraits(t).row_bytes(kv_dim));
      std::vector<float> whole(k.size()), slice(k.size());
      GetTypeTraits(t).to_float(c->k_row(1, 1, 2), whole.data(), kv_dim);
      if (t == DType::kF32) {
        EXPECT_EQ(std::memcmp(whole.data(), k.data(), k.size() * 4), 0);
      }
      for (int64_t first = 0; first < kv_dim; first += 3) {
        const int64_t n = std::min<int64_t>(8, kv_dim - first);
        kernels::KvRowToFloat(t, c->k_row(1, 1, 2), first, n, slice.data());
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(slice[static_cast<size_t>(i)], whole[static_cast<size_t>(first + i)])
              << DTypeName(t) << " kv_dim " << kv_dim << " element " << first + i;
        }
      }
      // The dequantized row is close to the input: |err| <= d / 2 per Q8_0 block (+ fp16 rounding of d).
      for (int64_t i = 0; i < kv_dim; ++i) {
        const float tol = t == DType::kF32 ? 0.0f : t == DType::kF16 ? 4e-3f : 0.06f;
        EXPECT_NEAR(whole[static_cast<size_t>(i)], k[static_cast<size_t>(i)], tol) << DTypeName(t) << " " << i;
      }
      // Other rows are untouched (zero).
      GetTypeTraits(t).to_float(c->v_row(0, 1, 2), whole.data(), kv_dim);
      for (float x : whole) EXPECT_EQ(x, 0.0f);
    }
  }
}

TEST(KvCacheTest, BytesPerType) {
  EXPECT_EQ(KvCache::Bytes(5, 512, 32, 1, DType::kF32), 2u * 5 * 512 * 32 * 4);
  EXPECT_EQ(KvCache::Bytes(5, 512, 32, 1, DType::kF16), 2u * 5 * 512 * 32 * 2);
  EXPECT_EQ(KvCache::Bytes(5, 512, 32, 2, DType::kQ8_0), 2u * 5 * 512 * 2 * 34);
  EXPECT_EQ(KvCache::Bytes(1, 1, 40, 1, DType::kQ8_0), 2u * 68);  // a partial final block
  auto bad = KvCache::Create(1, 4, 32, 1, DType::kQ4_G);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--kv-type"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace septet::model
