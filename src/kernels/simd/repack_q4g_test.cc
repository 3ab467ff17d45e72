// WeightLayout::kQ4GRows8 (kernels/simd/repack.h): exact round trip of the bytes,
// the repack policy, and the kernels on it (dot_q4g_rows8.cc) on every compiled
// Highway target: bit for bit the file layout's kernels (dot_q4g.cc) on the same
// target, and within the error model of simd_matvec_test.cc of the scalar
// reference (quant::Q4GVecDot on the file layout):
//   |simd - scalar| <= 2 gamma_{N_s + 5} M,  M = sum_k |x~_k| (|d| u_k + |m|),
// N_s the activation blocks of a row (the rows-of-8 kernel adds each lane's
// sub-block terms into 4 positions, then 2 additions, as the file kernel does).
// Rows are scrambled (every code byte random) and counts that are not a multiple
// of 8 cover the padded last group; row ranges cut groups.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/half.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q4_g.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

using testing::Gamma;

struct Matrix {
  std::vector<uint8_t> bytes;
  cpu::WeightView view;
};

// rows x cols of Q4_G from random floats, one byte off alignment; with
// `scramble`, every code byte random (d and m kept).
Matrix MakeQ4G(int64_t rows, int64_t cols, std::mt19937_64& rng, bool scramble) {
  const TypeTraits& t = GetTypeTraits(DType::kQ4_G);
  Matrix m;
  const size_t rb = t.row_bytes(cols);
  m.bytes.resize(rb * static_cast<size_t>(rows) + 1);
  uint8_t* base = m.bytes.data() + 1;
  const auto w = testing::RandomWeights(rng, rows * cols, 0.05f);
  for (int64_t r = 0; r < rows; ++r) t.from_float(w.data() + r * cols, base + r * rb, cols, nullptr);
  if (scramble) {
    std::uniform_int_distribution<int> byte(0, 255);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k0 = 0; k0 < cols; k0 += 128) {
        const size_t at = static_cast<size_t>(r) * rb + static_cast<size_t>(k0 / 128) * sizeof(quant::BlockQ4G);
        const size_t codes = (std::min<int64_t>(128, cols - k0) + 31) / 32 * 16;
        for (size_t i = 0; i < codes; ++i) base[at + 4 + i] = static_cast<uint8_t>(byte(rng));
      }
    }
  }
  m.view = cpu::WeightView{DType::kQ4_G, rows, cols, base, rb};
  return m;
}

Matrix Rows8(const cpu::WeightView& w) {
  Matrix p;
  RepackQ4GRows8(w, &p.bytes, &p.view);
  return p;
}

// The Q8_A activation of x (misaligned by one byte) and its float round trip.
struct Act {
  std::vector<uint8_t> bytes;
  const uint8_t* data() const { return bytes.data() + 1; }
  std::vector<float> xq;
};
Act Quantize(const std::vector<float>& x) {
  const TypeTraits& a = GetTypeTraits(DType::kQ8_A);
  const int64_t n = static_cast<int64_t>(x.size());
  Act act;
  act.bytes.resize(a.row_bytes(n) + 1);
  QuantizeActivation(DType::kQ8_A, x.data(), n, act.bytes.data() + 1);
  act.xq.resize(x.size());
  a.to_float(act.data(), act.xq.data(), n);
  return act;
}

// M of the error model for row r (file layout).
double Magnitude(const cpu::WeightView& w, int64_t r, const std::vector<float>& xq) {
  const uint8_t* row = w.row(r);
  double m = 0;
  for (int64_t k0 = 0; k0 < w.cols; k0 += 128) {
    const int len = static_cast<int>(std::min<int64_t>(128, w.cols - k0));
    quant::BlockQ4G blk{};
    std::memcpy(&blk, row + (k0 / 128) * sizeof(blk), len == 128 ? sizeof(blk) : quant::Q4GShortBlockBytes(len));
    const double d = std::fabs(Fp16ToFloat(blk.d)), mn = std::fabs(Fp16ToFloat(blk.m));
    for (int k = 0; k < len; ++k) m += std::fabs(double{xq[k0 + k]}) * (d * quant::Q4GCode(blk, k) + mn);
  }
  return m;
}

class RepackQ4GTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackQ4GTestGroup, RepackQ4GTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST(RepackQ4GRows8Test, RoundTripIsExactForAnyBytes) {
  auto rng = testing::MakeRng(41);
  std::uniform_int_distribution<int> byte(0, 255);
  const TypeTraits& t = GetTypeTraits(DType::kQ4_G);
  for (int64_t cols : {32, 100, 128, 200, 576, 1000}) {
    for (int64_t rows : {1, 7, 8, 9, 23}) {
      const size_t rb = t.row_bytes(cols);
      std::vector<uint8_t> file(rb * static_cast<size_t>(rows));
      for (auto& b : file) b = static_cast<uint8_t>(byte(rng));  // any bytes: fp16 NaNs, every code
      const cpu::WeightView w{DType::kQ4_G, rows, cols, file.data(), rb};
      Matrix p = Rows8(w);
      EXPECT_EQ(p.view.layout, cpu::WeightLayout::kQ4GRows8);
      EXPECT_EQ(p.view.row_bytes, rb);
      const int64_t padded = (rows + 7) / 8 * 8;
      ASSERT_EQ(p.bytes.size(), rb * static_cast<size_t>(padded));
      // The padding rows are zero: the last group's lanes past `rows` have d = m = 0 and codes 0.
      std::vector<uint8_t> row(rb);
      for (int64_t r = 0; r < rows; ++r) {
        Q4GRows8Row(p.view, r, row.data());
        ASSERT_EQ(std::memcmp(row.data(), file.data() + static_cast<size_t>(r) * rb, rb), 0)
            << "rows=" << rows << " cols=" << cols << " row " << r;
        std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
        RowToFloat(p.view, r, a.data());
        t.to_float(file.data() + static_cast<size_t>(r) * rb, b.data(), cols);
        ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "RowToFloat row " << r;
      }
      const cpu::WeightView pad{DType::kQ4_G, padded, cols, p.bytes.data(), rb, cpu::WeightLayout::kQ4GRows8};
      for (int64_t r = rows; r < padded; ++r) {
        Q4GRows8Row(pad, r, row.data());
        for (size_t i = 0; i < rb; ++i) ASSERT_EQ(row[i], 0) << "padding row " << r << " byte " << i;
      }
      std::vector<uint8_t> back;
      cpu::WeightView bv;
      UnpackRows(p.view, &back, &bv);
      EXPECT_EQ(bv.layout, cpu::WeightLayout::kFile);
      ASSERT_EQ(back, file) << "rows=" << rows << " cols=" << cols;
    }
  }
}

TEST(RepackQ4GRows8Test, CodeByteHoldsTheDocumentedWeights) {
  // One row whose code of weight k is k % 16, in lane 5 of its group: byte
  // 32 + 128 s + 32 c + 4 * 5 + i holds (4 c + i) % 16 | ((16 + 4 c + i) % 16) << 4.
  const int64_t cols = 128, rows = 6;
  const size_t rb = quant::Q4GRowBytes(cols);
  std::vector<uint8_t> file(rb * rows, 0);
  uint8_t* r5 = file.data() + 5 * rb;
  for (int k = 0; k < 128; k += 2) r5[4 + k / 2] = static_cast<uint8_t>((k % 16) | ((k + 1) % 16) << 4);
  r5[0] = 0x11, r5[1] = 0x22, r5[2] = 0x33, r5[3] = 0x44;
  Matrix p = Rows8(cpu::WeightView{DType::kQ4_G, rows, cols, file.data(), rb});
  EXPECT_EQ(p.bytes[10], 0x11);
  EXPECT_EQ(p.bytes[11], 0x22);
  EXPECT_EQ(p.bytes[26], 0x33);
  EXPECT_EQ(p.bytes[27], 0x44);
  for (int s = 0; s < 4; ++s) {
    for (int c = 0; c < 4; ++c) {
      for (int i = 0; i < 4; ++i) {
        const int want = (4 * c + i) % 16 | ((16 + 4 * c + i) % 16) << 4;
        ASSERT_EQ(p.bytes[Q4GRows8CodeByte(s, c, 5, i)], want) << "s " << s << " c " << c << " i " << i;
      }
    }
  }
}

TEST_P(RepackQ4GTest, PolicyRepacksWhereTheKernelIsFast) {
  const std::string target = TargetName();
  const bool fast = target == "AVX2" || target == "AVX3" || target == "AVX3_DL";
  auto rng = testing::MakeRng(6);
  Matrix w = MakeQ4G(20, 256, rng, false);
  std::vector<uint8_t> out;
  cpu::WeightView v;
  ASSERT_EQ(RepackRows(w.view, &out, &v), fast) << target;
  if (fast) {
    EXPECT_EQ(v.layout, cpu::WeightLayout::kQ4GRows8);
    EXPECT_EQ(ActivationType(v), DType::kQ8_A);
    std::vector<uint8_t> again;
    cpu::WeightView v2;
    EXPECT_FALSE(RepackRows(v, &again, &v2)) << "an already repacked view is left alone";
  }
}

TEST_P(RepackQ4GTest, MatVecGivesTheFileLayoutBitsWithinTheScalarBound) {
  for (int64_t cols : {32, 64, 128, 200, 576, 1000}) {
    for (int64_t rows : {1, 8, 13, 37}) {
      for (bool scramble : {false, true}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 64 + rows) * 2 + scramble);
        Matrix w = MakeQ4G(rows, cols, rng, scramble);
        Matrix p = Rows8(w.view);
        const Act act = Quantize(testing::RandomWeights(rng, cols, 1.0f));
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {rows / 3, rows - rows / 4}, {rows - 1, rows}}) {
          if (r0 >= r1) continue;
          std::vector<float> y(static_cast<size_t>(rows), -1.0f), yf(static_cast<size_t>(rows), -1.0f);
          MatVecRows(p.view, r0, r1, act.data(), y.data());
          MatVecRows(w.view, r0, r1, act.data(), yf.data());
          for (int64_t r = r0; r < r1; ++r) {
            ASSERT_EQ(std::memcmp(&y[r - r0], &yf[r - r0], 4), 0)
                << "cols=" << cols << " row " << r << ": rows8 " << y[r - r0] << " file " << yf[r - r0] << " "
                << TargetName();
            const float ref = quant::Q4GVecDot(cols, w.view.row(r), act.data());
            const double tol = 2 * Gamma(std::ceil(static_cast<double>(cols) / 32.0) + 5) * Magnitude(w.view, r, act.xq);
            ASSERT_LE(std::fabs(double{y[r - r0]} - ref), tol)
                << "cols=" << cols << " row " << r << ": rows8 " << y[r - r0] << " scalar " << ref << " " << TargetName();
          }
          for (int64_t i = r1 - r0; i < rows; ++i) ASSERT_EQ(y[i], -1.0f) << "wrote past r1 - r0";
        }
      }
    }
  }
}

TEST_P(RepackQ4GTest, EveryTokenCountAndRangeGivesTheMatVecBits) {
  for (int64_t cols : {96, 576}) {
    const int64_t rows = 53;  // 6 whole groups and a padded one
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols) + 17);
    Matrix w = MakeQ4G(rows, cols, rng, true);
    Matrix p = Rows8(w.view);
    const int64_t max_m = 33;
    const TypeTraits& a = GetTypeTraits(DType::kQ8_A);
    const size_t act_stride = a.row_bytes(cols) + 3;  // misaligned rows
    std::vector<uint8_t> act(act_stride * max_m);
    for (int64_t tk = 0; tk < max_m; ++tk) {
      const auto x = testing::RandomWeights(rng, cols, 1.0f);
      QuantizeActivation(DType::kQ8_A, x.data(), cols, act.data() + tk * act_stride);
    }
    std::vector<float> full(static_cast<size_t>(rows * max_m));  // MatVec over all rows, per token
    for (int64_t tk = 0; tk < max_m; ++tk) MatVecRows(p.view, 0, rows, act.data() + tk * act_stride, &full[tk * rows]);
    for (int64_t m : {1, 2, 3, 4, 5, 8, 9, 17, 33}) {
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {5, 40}, {16, 32}, {31, 33}, {48, 53}}) {
        const int64_t y_stride = rows + 3;
        std::vector<float> y(static_cast<size_t>(y_stride * m), -7.0f), yfile(y.size(), -7.0f);
        MatMulRows(p.view, r0, r1, act.data(), act_stride, m, y.data(), y_stride);
        MatMulRows(w.view, r0, r1, act.data(), act_stride, m, yfile.data(), y_stride);
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
            ASSERT_EQ(std::memcmp(&got, &want, 4), 0)
                << "cols=" << cols << " m=" << m << " token " << tk << " row " << r << " " << TargetName();
            ASSERT_EQ(std::memcmp(&yfile[tk * y_stride + r], &want, 4), 0) << "file layout MatMul, row " << r;
            ASSERT_EQ(std::memcmp(&yv[r - r0], &want, 4), 0) << "MatVec over [" << r0 << ", " << r1 << ") row " << r;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace septet::simd
