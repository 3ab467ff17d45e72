// WeightLayout::kFloatPanels (kernels/simd/repack.h): exact round trip of the
// bytes, the repack policy, and the panel kernels (dot_float_panels.cc) against
// the scalar reference on the file layout, on every compiled Highway target.
//
// Error model: the reference (registry vec_dot of F32 / F16 / BF16 with F32
// activations) accumulates in double, within u |y| plus the final rounding; a
// panel kernel sums the n products of a row in one f32 FMA chain in index order
// (n roundings), so |simd - exact| <= gamma_n sum |w x| and
//   |simd - scalar| <= gamma_{n+2} sum |w x|                   (tolerance used),
// the float bound of simd_matvec_test.cc. Every tile shape runs the same chain:
// MatMulRows equals MatVecRows per token bit for bit, and a row range that cuts a
// panel gives its rows the bits of the whole range.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

using testing::Gamma;

constexpr DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

struct Matrix {
  std::vector<uint8_t> bytes;
  cpu::WeightView view;
};

// rows x cols of `type` from Gaussian floats (from_float), one byte off alignment.
Matrix MakeFloat(DType type, int64_t rows, int64_t cols, std::mt19937_64& rng) {
  const TypeTraits& t = GetTypeTraits(type);
  Matrix m;
  const size_t rb = t.row_bytes(cols);
  m.bytes.resize(rb * static_cast<size_t>(rows) + 1);
  uint8_t* base = m.bytes.data() + 1;
  const auto w = testing::RandomWeights(rng, rows * cols, 0.5f);
  for (int64_t r = 0; r < rows; ++r) t.from_float(w.data() + r * cols, base + r * rb, cols, nullptr);
  m.view = cpu::WeightView{type, rows, cols, base, rb};
  return m;
}

Matrix Panels(const cpu::WeightView& w) {
  Matrix p;
  RepackFloatPanels(w, &p.bytes, &p.view);
  return p;
}

class RepackFloatTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackFloatTestGroup, RepackFloatTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST(RepackFloatPanelsTest, RoundTripIsExactForAnyBytes) {
  for (DType type : kFloatTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    for (int64_t rows : {1, 15, 16, 17, 37}) {
      for (int64_t cols : {1, 7, 64, 576}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(rows * 1000 + cols));
        const size_t rb = t.row_bytes(cols);
        std::vector<uint8_t> file(rb * static_cast<size_t>(rows));
        std::uniform_int_distribution<int> byte(0, 255);  // NaN payloads, infinities, signed zeros
        for (uint8_t& b : file) b = static_cast<uint8_t>(byte(rng));
        const cpu::WeightView w{type, rows, cols, file.data(), rb};
        Matrix p = Panels(w);
        EXPECT_EQ(p.view.layout, cpu::WeightLayout::kFloatPanels);
        EXPECT_EQ(p.view.row_bytes, rb);
        const int64_t padded = (rows + kFloatPanelRows - 1) / kFloatPanelRows * kFloatPanelRows;
        ASSERT_EQ(p.bytes.size(), rb * static_cast<size_t>(padded));
        // Panel p, column k, row j at element (p * cols + k) * 16 + j; padding rows are zero.
        const size_t es = rb / static_cast<size_t>(cols);
        for (int64_t r = 0; r < padded; ++r) {
          for (int64_t k = 0; k < cols; k += 3) {
            const size_t at = (static_cast<size_t>((r / 16) * cols + k) * 16 + static_cast<size_t>(r % 16)) * es;
            const std::vector<uint8_t> zero(es, 0);
            const uint8_t* want = r < rows ? file.data() + static_cast<size_t>(r) * rb + static_cast<size_t>(k) * es
                                           : zero.data();
            ASSERT_EQ(std::memcmp(p.bytes.data() + at, want, es), 0) << t.name << " row " << r << " col " << k;
          }
        }
        std::vector<uint8_t> back;
        cpu::WeightView bv;
        UnpackRows(p.view, &back, &bv);
        EXPECT_EQ(bv.layout, cpu::WeightLayout::kFile);
        ASSERT_EQ(back, file) << t.name << " rows=" << rows << " cols=" << cols;
        std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          t.to_float(w.row(r), a.data(), cols);
          RowToFloat(p.view, r, b.data());
          ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << t.name << " row " << r;
        }
      }
    }
  }
}

TEST(RepackParallelTest, RangesCoverEveryRowOnce) {
  for (int64_t n : {0, 1, 2, 7, 100, 4097}) {
    for (size_t bytes : {size_t{0}, size_t{1} << 20, size_t{40} << 20, size_t{1} << 32}) {
      std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
      std::atomic<int> calls{0};
      ParallelRanges(n, bytes, [&](int64_t r0, int64_t r1) {
        ASSERT_TRUE(0 <= r0 && r0 <= r1 && r1 <= n);
        for (int64_t r = r0; r < r1; ++r) seen[static_cast<size_t>(r)]++;
        calls++;
      });
      EXPECT_GE(calls.load(), 1);
      for (int64_t r = 0; r < n; ++r) ASSERT_EQ(seen[static_cast<size_t>(r)].load(), 1) << "n " << n << " row " << r;
    }
  }
}

// A matrix large enough for the repack to run on several threads (40 MiB): the
// same bytes as the definition, row by row.
TEST(RepackParallelTest, LargeFloatRepackIsExact) {
  const int64_t rows = 2500, cols = 4196;  // 42 MB of F32, a padded last panel
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 9973) - 4000.5f;
  const cpu::WeightView v{DType::kF32, rows, cols, reinterpret_cast<const uint8_t*>(w.data()),
                          static_cast<size_t>(cols) * 4};
  Matrix p = Panels(v);
  for (int64_t r : {int64_t{0}, int64_t{17}, rows / 2, rows - 1}) {
    for (int64_t k = 0; k < cols; k += 97) {
      float got;
      std::memcpy(&got, p.bytes.data() + (static_cast<size_t>((r / 16) * cols + k) * 16 + static_cast<size_t>(r % 16)) * 4, 4);
      ASSERT_EQ(got, w[static_cast<size_t>(r * cols + k)]) << "row " << r << " col " << k;
    }
  }
  std::vector<uint8_t> back;
  cpu::WeightView bv;
  UnpackRows(p.view, &back, &bv);
  ASSERT_EQ(std::memcmp(back.data(), w.data(), back.size()), 0);
}

TEST_P(RepackFloatTest, PolicyRepacksFloatTypesWhereTheKernelIsFast) {
  const std::string target = TargetName();
  const bool fast = target == "AVX2" || target == "AVX3" || target == "AVX3_DL";
  auto rng = testing::MakeRng(5);
  for (DType type : kFloatTypes) {
    Matrix w = MakeFloat(type, 20, 64, rng);
    std::vector<uint8_t> out;
    cpu::WeightView v;
    ASSERT_EQ(RepackRows(w.view, &out, &v), fast) << GetTypeTraits(type).name << " on " << target;
    if (fast) {
      EXPECT_EQ(v.layout, cpu::WeightLayout::kFloatPanels);
      std::vector<uint8_t> again;
      cpu::WeightView v2;
      EXPECT_FALSE(RepackRows(v, &again, &v2)) << "an already repacked view is left alone";
    }
  }
  const auto xs = testing::RandomWeights(rng, 64, 1.0f);  // a block type that keeps the file layout everywhere
  const TypeTraits& seed = GetTypeTraits(DType::kQ3P5_SEED);
  std::vector<uint8_t> row(seed.row_bytes(64));
  seed.from_float(xs.data(), row.data(), 64, nullptr);
  std::vector<uint8_t> out;
  cpu::WeightView v;
  EXPECT_FALSE(RepackRows(cpu::WeightView{DType::kQ3P5_SEED, 1, 64, row.data(), seed.row_bytes(64)}, &out, &v));
}

TEST_P(RepackFloatTest, MatVecOnPanelsMatchesScalarReference) {
  for (DType type : kFloatTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    for (int64_t cols : {1, 3, 64, 127, 576, 1000}) {
      for (int64_t rows : {1, 16, 37}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(type) * 7919 + static_cast<uint64_t>(cols * 64 + rows));
        Matrix w = MakeFloat(type, rows, cols, rng);
        Matrix p = Panels(w.view);
        ASSERT_EQ(ActivationType(p.view), DType::kF32);
        const auto x = testing::RandomWeights(rng, cols, 1.0f);
        std::vector<uint8_t> act(static_cast<size_t>(cols) * 4 + 1);
        uint8_t* a = act.data() + 1;  // misaligned on purpose
        std::memcpy(a, x.data(), static_cast<size_t>(cols) * 4);
        std::vector<float> wd(static_cast<size_t>(cols));
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {rows / 3, rows - rows / 4}, {rows - 1, rows}}) {
          std::vector<float> y(static_cast<size_t>(rows), -1.0f);
          MatVecRows(p.view, r0, r1, a, y.data());
          for (int64_t r = r0; r < r1; ++r) {
            const float ref = t.vec_dot(cols, w.view.row(r), a);
            t.to_float(w.view.row(r), wd.data(), cols);
            double mag = 0;
            for (int64_t k = 0; k < cols; ++k) mag += std::fabs(double{wd[k]} * x[k]);
            ASSERT_LE(std::fabs(double{y[r - r0]} - ref), Gamma(static_cast<double>(cols) + 2) * mag)
                << t.name << " cols=" << cols << " row " << r << ": panels " << y[r - r0] << " scalar " << ref
                << " target " << TargetName();
          }
          for (int64_t i = r1 - r0; i < rows; ++i) ASSERT_EQ(y[i], -1.0f) << "wrote past r1 - r0";
        }
      }
    }
  }
}

TEST_P(RepackFloatTest, EveryTileAndRangeGivesTheMatVecBits) {
  for (DType type : kFloatTypes) {
    for (int64_t cols : {5, 64, 576}) {
      const int64_t rows = 53;  // 3 whole panels and a padded one
      auto rng = testing::MakeRng(static_cast<uint64_t>(type) * 31 + static_cast<uint64_t>(cols));
      Matrix w = MakeFloat(type, rows, cols, rng);
      Matrix p = Panels(w.view);
      const int64_t max_m = 37;
      const size_t act_stride = static_cast<size_t>(cols) * 4 + 3;  // misaligned rows
      std::vector<uint8_t> act(act_stride * max_m);
      for (int64_t tk = 0; tk < max_m; ++tk) {
        const auto x = testing::RandomWeights(rng, cols, 1.0f);
        std::memcpy(act.data() + tk * act_stride, x.data(), static_cast<size_t>(cols) * 4);
      }
      std::vector<float> full(static_cast<size_t>(rows * max_m));  // MatVec over all rows, per token
      for (int64_t tk = 0; tk < max_m; ++tk) MatVecRows(p.view, 0, rows, act.data() + tk * act_stride, &full[tk * rows]);
      for (int64_t m : {1, 2, 3, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 25, 37}) {
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {5, 40}, {16, 32}, {31, 33}, {48, 53}}) {
          const int64_t y_stride = rows + 3;
          std::vector<float> y(static_cast<size_t>(y_stride * m), -7.0f);
          MatMulRows(p.view, r0, r1, act.data(), act_stride, m, y.data(), y_stride);
          std::vector<float> yv(static_cast<size_t>(r1 - r0));
          for (int64_t tk = 0; tk < m; ++tk) {
            MatVecRows(p.view, r0, r1, act.data() + tk * act_stride, yv.data());
            for (int64_t r = 0; r < y_stride; ++r) {
              const float got = y[tk * y_stride + r];
              if (r < r0 || r >= r1) {
                ASSERT_EQ(got, -7.0f) << "MatMulRows wrote outside [r0, r1)";
                continue;
              }
              const float want = full[tk * rows + r];
              ASSERT_EQ(std::memcmp(&got, &want, 4), 0) << GetTypeTraits(type).name << " cols=" << cols << " m=" << m
                                                         << " token " << tk << " row " << r << " " << TargetName();
              ASSERT_EQ(std::memcmp(&yv[r - r0], &want, 4), 0) << "MatVec over [" << r0 << ", " << r1 << ") row " << r;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace septet::simd
