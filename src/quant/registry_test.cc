#include "quant/registry.h"

#include <gtest/gtest.h>

#include "quant/q3p5.h"
#include "quant/q3p5_seed.h"
#include "quant/q4_g.h"
#include "quant/q8_0.h"
#include "quant/q8_act.h"

namespace septet {
namespace {

constexpr DType kAll[] = {DType::kF32,  DType::kF16,       DType::kBF16, DType::kQ8_0, DType::kQ3P5,
                          DType::kQ3P5_SEED, DType::kQ4_G, DType::kQ8_A, DType::kQ8_R};

TEST(Registry, EveryDTypeHasAConsistentRow) {
  for (DType t : kAll) {
    const TypeTraits* tr = FindTypeTraits(static_cast<uint32_t>(t));
    ASSERT_NE(tr, nullptr) << DTypeName(t);
    EXPECT_EQ(tr->type, t);
    EXPECT_EQ(DTypeName(t), tr->name);
    ASSERT_TRUE(ParseDType(tr->name).has_value()) << tr->name;
    EXPECT_EQ(*ParseDType(tr->name), t);
    ASSERT_NE(tr->row_bytes, nullptr);
    ASSERT_NE(tr->to_float, nullptr);
    ASSERT_NE(tr->from_float, nullptr);
    EXPECT_EQ(tr->vec_dot == nullptr, tr->is_activation_only) << tr->name;
    // The activation type exists, and activation types are activation-only.
    const TypeTraits& act = GetTypeTraits(tr->vec_dot_type);
    if (tr->is_quantized && !tr->is_activation_only) {
      EXPECT_TRUE(act.is_activation_only) << tr->name;
    }
    if (tr->block_size > 0) {
      for (int64_t k = 0; k <= 40; ++k) {
        EXPECT_EQ(tr->row_bytes(tr->block_size * k), static_cast<size_t>(k) * tr->block_bytes) << tr->name;
      }
      EXPECT_DOUBLE_EQ(tr->bits_per_weight, 8.0 * static_cast<double>(tr->block_bytes) / tr->block_size)
          << tr->name;
    } else {  // whole-row formats quote n = 4096
      EXPECT_EQ(tr->block_bytes, 0u);
      EXPECT_DOUBLE_EQ(tr->bits_per_weight, 8.0 * static_cast<double>(tr->row_bytes(4096)) / 4096) << tr->name;
    }
    EXPECT_DOUBLE_EQ(RowBitsPerWeight(t, 4096), tr->bits_per_weight) << tr->name;
  }
  EXPECT_EQ(FindTypeTraits(7), nullptr);
  EXPECT_EQ(FindTypeTraits(205), nullptr);
}

// The constexpr figures in the format headers are the registry's figures.
TEST(Registry, HeaderBitsPerWeightMatch) {
  EXPECT_EQ(GetTypeTraits(DType::kQ8_0).bits_per_weight, quant::kQ8_0BitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ4_G).bits_per_weight, quant::kQ4GBitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ3P5).bits_per_weight, quant::kQ3P5BitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ3P5_SEED).bits_per_weight, quant::kQ3P5SeedBitsPerWeight4096);
  EXPECT_EQ(GetTypeTraits(DType::kQ8_A).bits_per_weight, quant::kQ8ABitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ8_R).bits_per_weight, quant::kQ8RBitsPerWeight4096);
  EXPECT_EQ(GetTypeTraits(DType::kQ3P5).block_bytes, sizeof(quant::BlockQ3P5));
  EXPECT_EQ(GetTypeTraits(DType::kQ4_G).block_bytes, sizeof(quant::BlockQ4G));
  EXPECT_EQ(GetTypeTraits(DType::kQ8_0).block_bytes, sizeof(quant::BlockQ8_0));
  EXPECT_EQ(GetTypeTraits(DType::kQ8_A).block_bytes, sizeof(quant::BlockQ8A));
  // Per-n figures: the constexpr row functions agree with the registry at every n.
  for (int64_t n = 0; n <= 600; ++n) {
    EXPECT_EQ(GetTypeTraits(DType::kQ3P5).row_bytes(n), quant::Q3P5RowBytes(n));
    EXPECT_EQ(GetTypeTraits(DType::kQ4_G).row_bytes(n), quant::Q4GRowBytes(n));
    EXPECT_EQ(GetTypeTraits(DType::kQ3P5_SEED).row_bytes(n), quant::Q3P5SeedRowBytes(n));
    EXPECT_EQ(GetTypeTraits(DType::kQ8_R).row_bytes(n), quant::Q8RRowBytes(n));
    if (n > 0) {
      EXPECT_DOUBLE_EQ(RowBitsPerWeight(DType::kQ3P5, n), quant::Q3P5RowBitsPerWeight(n));
      EXPECT_DOUBLE_EQ(RowBitsPerWeight(DType::kQ3P5_SEED, n), quant::Q3P5SeedRowBitsPerWeight(n));
    }
  }
}

}  // namespace
}  // namespace septet
