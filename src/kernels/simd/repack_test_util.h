// Test helpers shared by the repack tests (kernels/simd/repack*_test.cc): the
// kernels on a repacked view against another view of the same rows, bit for bit.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/weight_view.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd::testing_repack {

// m rows of random unit-variance activations of n values quantized to act_type,
// act_stride = the type's row bytes + 3 apart (misaligned on purpose).
struct Activations {
  std::vector<uint8_t> bytes;
  size_t stride;
};
inline Activations RandomActivations(std::mt19937_64& rng, DType act_type, int64_t n, int64_t m) {
  Activations a;
  a.stride = GetTypeTraits(act_type).row_bytes(n) + 3;
  a.bytes.resize(a.stride * static_cast<size_t>(m));
  for (int64_t t = 0; t < m; ++t) {
    const auto x = testing::RandomWeights(rng, n, 1.0f);
    QuantizeActivation(act_type, x.data(), n, a.bytes.data() + static_cast<size_t>(t) * a.stride);
  }
  return a;
}

// MatMulRows of `mm` over m tokens (activations act_stride apart, outputs y_stride
// apart) gives, bit for bit, MatVecRows of `mv` per token in rows [r0, r1) and
// writes nothing else.
inline void ExpectMatMulGivesMatVecBits(const cpu::WeightView& mm, const cpu::WeightView& mv, int64_t r0, int64_t r1,
                                        const uint8_t* act, size_t act_stride, int64_t m, int64_t y_stride) {
  std::vector<float> y(static_cast<size_t>(y_stride * m), -7.0f);
  MatMulRows(mm, r0, r1, act, act_stride, m, y.data(), y_stride);
  for (int64_t tk = 0; tk < m; ++tk) {
    std::vector<float> yv(static_cast<size_t>(std::max<int64_t>(r1 - r0, 1)));
    MatVecRows(mv, r0, r1, act + tk * act_stride, yv.data());
    for (int64_t r = 0; r < y_stride; ++r) {
      const float got = y[tk * y_stride + r];
      if (r >= r0 && r < r1) {
        ASSERT_EQ(std::memcmp(&got, &yv[r - r0], 4), 0)
            << "layout " << static_cast<int>(mm.layout) << " cols=" << mm.cols << " m=" << m << " token " << tk
            << " row " << r << " target " << TargetName();
      } else {
        ASSERT_EQ(got, -7.0f) << "MatMulRows wrote outside [r0, r1)";
      }
    }
  }
}

// MatVecRows and MatMulRows of `packed` over each row range and token count equal
// MatVecRows of `file` (the same rows in the file layout) bit for bit, and write
// nothing outside their rows. act: at least the largest m activation rows.
inline void ExpectRepackedGivesFileBits(const cpu::WeightView& file, const cpu::WeightView& packed, const uint8_t* act,
                                        size_t act_stride, const std::vector<std::pair<int64_t, int64_t>>& ranges,
                                        const std::vector<int64_t>& token_counts) {
  for (auto [r0, r1] : ranges) {
    std::vector<float> want(static_cast<size_t>(file.rows), -1.0f), y(static_cast<size_t>(file.rows), -1.0f);
    MatVecRows(file, r0, r1, act, want.data());
    MatVecRows(packed, r0, r1, act, y.data());
    for (int64_t r = r0; r < r1; ++r) {
      ASSERT_EQ(std::memcmp(&y[r - r0], &want[r - r0], 4), 0)
          << "layout " << static_cast<int>(packed.layout) << " matvec cols=" << file.cols << " row " << r << ": "
          << y[r - r0] << " file layout " << want[r - r0] << " target " << TargetName();
    }
    for (int64_t i = r1 - r0; i < file.rows; ++i) ASSERT_EQ(y[i], -1.0f) << "wrote past r1 - r0";
    for (int64_t m : token_counts) {
      ExpectMatMulGivesMatVecBits(packed, file, r0, r1, act, act_stride, m, file.rows + 2);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// The rows-of-16 kernel tests' checks on a matrix of 37 rows: row ranges that
// cut the groups of 16 (or are empty), and token counts on both sides of the
// 8-token tiles and of the 64 above which some kernels convert rows back.
inline const std::vector<std::pair<int64_t, int64_t>> kRows16Ranges37 = {{0, 37}, {3, 20}, {16, 32}, {17, 18}, {5, 5}};
inline const std::vector<int64_t> kRows16TokenCounts = {1, 2, 3, 5, 8, 9, 16, 17, 37, 64, 65, 70};

// A rows-of-16 repack (repack(file, &bytes, &view)) of a file-layout view of any
// bytes: the view's layout, row bytes and activation type, the padded size, and
// UnpackRows giving the file bytes back exactly.
template <class Repack>
inline void ExpectRows16RoundTrip(const cpu::WeightView& file, const Repack& repack, cpu::WeightLayout layout) {
  std::vector<uint8_t> packed, back;
  cpu::WeightView pv, bv;
  repack(file, &packed, &pv);
  EXPECT_EQ(pv.layout, layout);
  EXPECT_EQ(pv.row_bytes, file.row_bytes);
  EXPECT_EQ(ActivationType(pv), DType::kQ8_A);
  EXPECT_EQ(packed.size(), static_cast<size_t>((file.rows + 15) / 16 * 16) * file.row_bytes);
  UnpackRows(pv, &back, &bv);
  EXPECT_EQ(bv.layout, cpu::WeightLayout::kFile);
  ASSERT_EQ(std::memcmp(back.data(), file.data, file.row_bytes * static_cast<size_t>(file.rows)), 0)
      << "cols=" << file.cols << " rows=" << file.rows;
}

// RowToFloat on a repacked view (a tied head's lookup) equals the registry's
// to_float of the same file rows, bit for bit (every `step`-th row).
inline void ExpectRowToFloatMatchesFile(const cpu::WeightView& file, const cpu::WeightView& packed, int64_t step = 1) {
  std::vector<float> a(static_cast<size_t>(file.cols)), b(a.size());
  for (int64_t r = 0; r < file.rows; r += step) {
    GetTypeTraits(file.type).to_float(file.row(r), a.data(), file.cols);
    RowToFloat(packed, r, b.data());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "cols=" << file.cols << " row " << r;
  }
}

// The repack policy (RepackRows) puts w into `layout` on AVX3_DL, and leaves an
// already repacked view alone; other targets keep the file layout.
inline void ExpectRows16PolicyOnAvx3Dl(const cpu::WeightView& w, cpu::WeightLayout layout) {
  std::vector<uint8_t> out;
  cpu::WeightView v;
  const bool fast = std::string(TargetName()) == "AVX3_DL";
  EXPECT_EQ(RepackRows(w, &out, &v), fast) << TargetName();
  if (fast) {
    EXPECT_EQ(v.layout, layout);
    const cpu::WeightView packed = v;
    EXPECT_FALSE(RepackRows(packed, &out, &v)) << "an already repacked view is left alone";
  }
}

}  // namespace septet::simd::testing_repack
