#include "quant/registry.h"

#include <gtest/gtest.h>

#include "quant/ggml_iq4.h"
#include "quant/ggml_kquants.h"
#include "quant/ggml_legacy.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q3p5_seed.h"
#include "quant/q4_g.h"
#include "quant/q4_nl.h"
#include "quant/q4_t.h"
#include "quant/q8_0.h"
#include "quant/q8_act.h"

namespace septet {
namespace {

constexpr DType kAll[] = {
    DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0, DType::kQ3P5,  DType::kQ3P5_SEED, DType::kQ4_G,
    DType::kQ3P5_NL, DType::kQ4_NL, DType::kQ4_T,
    DType::kQ8_A, DType::kQ8_B, DType::kQ8_R, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,  DType::kQ5_1,      DType::kQ2_K,
    DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS};

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
    // Input-only types (ggml formats septet reads, never writes) have no
    // quantizer, are quantized weight formats dotted with Q8_A (an integer dot)
    // or float activations (decode, then dot).
    EXPECT_EQ(tr->from_float == nullptr, tr->is_input_only) << tr->name;
    EXPECT_EQ(tr->vec_dot == nullptr, tr->is_activation_only) << tr->name;
    if (tr->is_input_only) {
      EXPECT_TRUE(tr->is_quantized && !tr->is_activation_only &&
                  (tr->vec_dot_type == DType::kF32 || tr->vec_dot_type == DType::kQ8_A))
          << tr->name;
      EXPECT_LT(static_cast<uint32_t>(t), 200u) << tr->name << ": input-only types are ggml types";
      EXPECT_TRUE(tr->whole_blocks) << tr->name;
    }
    if (tr->whole_blocks) {
      EXPECT_LT(static_cast<uint32_t>(t), 200u) << tr->name << ": whole-block rows are ggml's rule";
    }
    // The activation type exists, and a quantized weight type's (other than the
    // input-only ones) is activation-only.
    const TypeTraits& act = GetTypeTraits(tr->vec_dot_type);
    if (tr->is_quantized && !tr->is_activation_only && !tr->is_input_only) {
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
  for (uint32_t raw : {4u, 5u, 9u, 15u, 16u, 21u, 22u, 24u, 29u, 209u}) {  // ggml types septet lacks, unknown ids
    EXPECT_EQ(FindTypeTraits(raw), nullptr) << raw;
  }
}

// The constexpr figures in the format headers are the registry's figures.
TEST(Registry, HeaderBitsPerWeightMatch) {
  EXPECT_EQ(GetTypeTraits(DType::kQ8_0).bits_per_weight, quant::kQ8_0BitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ4_G).bits_per_weight, quant::kQ4GBitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ3P5).bits_per_weight, quant::kQ3P5BitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ3P5_NL).bits_per_weight, quant::kQ3P5NLBitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ4_NL).bits_per_weight, quant::kQ4NLBitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ4_T).bits_per_weight, quant::kQ4TBitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ3P5_SEED).bits_per_weight, quant::kQ3P5SeedBitsPerWeight4096);
  EXPECT_EQ(GetTypeTraits(DType::kQ8_A).bits_per_weight, quant::kQ8ABitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ8_R).bits_per_weight, quant::kQ8RBitsPerWeight4096);
  EXPECT_EQ(GetTypeTraits(DType::kQ8_B).bits_per_weight, quant::kQ8BBitsPerWeight);
  EXPECT_EQ(GetTypeTraits(DType::kQ8_B).block_bytes, sizeof(quant::BlockQ8B));
  EXPECT_EQ(GetTypeTraits(DType::kQ3P5).block_bytes, sizeof(quant::BlockQ3P5));
  EXPECT_EQ(GetTypeTraits(DType::kQ4_G).block_bytes, sizeof(quant::BlockQ4G));
  EXPECT_EQ(GetTypeTraits(DType::kQ8_0).block_bytes, sizeof(quant::BlockQ8_0));
  EXPECT_EQ(GetTypeTraits(DType::kQ8_A).block_bytes, sizeof(quant::BlockQ8A));
  const std::pair<DType, double> kGgml[] = {
      {DType::kQ4_0, quant::kQ4_0BitsPerWeight}, {DType::kQ4_1, quant::kQ4_1BitsPerWeight},
      {DType::kQ5_0, quant::kQ5_0BitsPerWeight}, {DType::kQ5_1, quant::kQ5_1BitsPerWeight},
      {DType::kQ2_K, quant::kQ2_KBitsPerWeight}, {DType::kQ3_K, quant::kQ3_KBitsPerWeight},
      {DType::kQ4_K, quant::kQ4_KBitsPerWeight}, {DType::kQ5_K, quant::kQ5_KBitsPerWeight},
      {DType::kQ6_K, quant::kQ6_KBitsPerWeight}, {DType::kIQ4_NL, quant::kIQ4_NLBitsPerWeight},
      {DType::kIQ4_XS, quant::kIQ4_XSBitsPerWeight}};
  for (auto [t, bpw] : kGgml) EXPECT_EQ(GetTypeTraits(t).bits_per_weight, bpw) << DTypeName(t);
  // Per-n figures: the constexpr row functions agree with the registry at every n.
  for (int64_t n = 0; n <= 600; ++n) {
    EXPECT_EQ(GetTypeTraits(DType::kQ3P5).row_bytes(n), quant::Q3P5RowBytes(n));
    EXPECT_EQ(GetTypeTraits(DType::kQ4_G).row_bytes(n), quant::Q4GRowBytes(n));
    EXPECT_EQ(GetTypeTraits(DType::kQ3P5_SEED).row_bytes(n), quant::Q3P5SeedRowBytes(n));
    EXPECT_EQ(GetTypeTraits(DType::kQ8_R).row_bytes(n), quant::Q8RRowBytes(n));
    EXPECT_EQ(GetTypeTraits(DType::kQ8_B).row_bytes(n), quant::Q8BRowBytes(n));
    if (n > 0) {
      EXPECT_DOUBLE_EQ(RowBitsPerWeight(DType::kQ3P5, n), quant::Q3P5RowBitsPerWeight(n));
      EXPECT_DOUBLE_EQ(RowBitsPerWeight(DType::kQ3P5_SEED, n), quant::Q3P5SeedRowBitsPerWeight(n));
    }
  }
}

}  // namespace
}  // namespace septet
