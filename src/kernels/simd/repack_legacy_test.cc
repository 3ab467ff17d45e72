// WeightLayout::kLegacy4Rows8 and kQ4KRows8 (kernels/simd/repack.h): exact round
// trip of the bytes of Q4_0, Q4_1 and Q4_K, the repack policy, and the kernels on
// them (dot_legacy_rows8.cc, dot_q4k_rows8.cc) on every compiled Highway target:
// bit for bit the file layout's kernels (dot_ggml_legacy.cc, dot_ggml_kquants.cc)
// on the same target, and within the error model of simd_matvec_test.cc of the
// scalar reference (registry vec_dot on the file layout):
//   |simd - scalar| <= 2 gamma_{N_s + 5} M,  M = sum_k |x~_k| (|a_k| + |b_k|)
// (a_k, b_k: quant/ggml_test_util.h GgmlQ8ADotParts; N_s the activation blocks
// of a row: the kernels add each lane's block terms into 4 positions, then 2
// additions, as the file kernels do). Rows are random well-formed blocks (every
// code, scales over 8 octaves); counts that are not a multiple of 8 cover the
// padded last group, and row ranges cut groups.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_test_util.h"
#include "kernels/simd/simd_ops.h"
#include "quant/ggml_test_util.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

using testing::Gamma;

constexpr DType kTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ4_K};
constexpr DType kLegacyTypes[] = {DType::kQ4_0, DType::kQ4_1};

// Row lengths for a type: multiples of its block (32 or 256 weights).
std::vector<int64_t> Cols(DType type, std::vector<int64_t> legacy) {
  if (type != DType::kQ4_K) return legacy;
  for (int64_t& c : legacy) c = (c + 255) / 256 * 256 + (c > 256 ? 256 : 0);
  return legacy;
}

cpu::WeightLayout LayoutOf(DType type) {
  return type == DType::kQ4_K ? cpu::WeightLayout::kQ4KRows8 : cpu::WeightLayout::kLegacy4Rows8;
}
void RowOf(const cpu::WeightView& w, int64_t r, uint8_t* dst) {
  if (w.type == DType::kQ4_K) return Q4KRows8Row(w, r, dst);
  Legacy4Rows8Row(w, r, dst);
}

struct Matrix {
  std::vector<uint8_t> bytes;
  cpu::WeightView view;
};

// rows x cols of random well-formed blocks, one byte off alignment.
Matrix MakeRows(DType type, int64_t rows, int64_t cols, std::mt19937_64& rng) {
  Matrix m;
  const size_t rb = GetTypeTraits(type).row_bytes(cols);
  m.bytes.resize(rb * static_cast<size_t>(rows) + 1);
  quant::testing::FillRandomGgmlRows(type, rows, cols, rng, m.bytes.data() + 1);
  m.view = cpu::WeightView{type, rows, cols, m.bytes.data() + 1, rb};
  return m;
}

Matrix Rows8(const cpu::WeightView& w) {
  Matrix p;
  if (w.type == DType::kQ4_K) {
    RepackQ4KRows8(w, &p.bytes, &p.view);
  } else {
    RepackLegacy4Rows8(w, &p.bytes, &p.view);
  }
  return p;
}

// `m` Q8_A activation rows of cols (act_stride apart, misaligned) and their float round trips.
struct Acts {
  std::vector<uint8_t> bytes;
  size_t stride = 0;
  std::vector<std::vector<float>> xq;
  const uint8_t* row(int64_t t) const { return bytes.data() + 1 + static_cast<size_t>(t) * stride; }
};
Acts MakeActs(int64_t m, int64_t cols, std::mt19937_64& rng) {
  const TypeTraits& a = GetTypeTraits(DType::kQ8_A);
  Acts acts;
  acts.stride = a.row_bytes(cols) + 3;
  acts.bytes.resize(acts.stride * static_cast<size_t>(m) + 1);
  for (int64_t t = 0; t < m; ++t) {
    const auto x = testing::RandomWeights(rng, cols, 1.0f);
    uint8_t* dst = acts.bytes.data() + 1 + static_cast<size_t>(t) * acts.stride;
    QuantizeActivation(DType::kQ8_A, x.data(), cols, dst);
    acts.xq.emplace_back(static_cast<size_t>(cols));
    a.to_float(dst, acts.xq.back().data(), cols);
  }
  return acts;
}

double Tolerance(const cpu::WeightView& w, int64_t r, const std::vector<float>& xq) {
  std::vector<double> a, b;
  quant::testing::GgmlQ8ADotParts(w.type, w.row(r), w.cols, &a, &b);
  double mag = 0;
  for (int64_t k = 0; k < w.cols; ++k) mag += std::fabs(double{xq[k]}) * (std::fabs(a[k]) + std::fabs(b[k]));
  return 2 * Gamma(static_cast<double>(w.cols) / 32.0 + 5) * mag;
}

class RepackLegacyTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackLegacyTestGroup, RepackLegacyTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST(RepackLegacy4Rows8Test, RoundTripIsExactForAnyBytes) {
  auto rng = testing::MakeRng(43);
  std::uniform_int_distribution<int> byte(0, 255);
  for (DType type : kTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    for (int64_t cols : Cols(type, {32, 96, 576})) {
      for (int64_t rows : {1, 7, 8, 9, 23}) {
        const size_t rb = t.row_bytes(cols);
        std::vector<uint8_t> file(rb * static_cast<size_t>(rows));
        for (auto& b : file) b = static_cast<uint8_t>(byte(rng));  // any bytes: fp16 NaNs, every code
        Matrix p = Rows8(cpu::WeightView{type, rows, cols, file.data(), rb});
        EXPECT_EQ(p.view.layout, LayoutOf(type));
        const int64_t padded = (rows + 7) / 8 * 8;
        ASSERT_EQ(p.bytes.size(), rb * static_cast<size_t>(padded));
        std::vector<uint8_t> row(rb);
        for (int64_t r = 0; r < rows; ++r) {
          RowOf(p.view, r, row.data());
          ASSERT_EQ(std::memcmp(row.data(), file.data() + static_cast<size_t>(r) * rb, rb), 0)
              << t.name << " rows=" << rows << " cols=" << cols << " row " << r;
          std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
          RowToFloat(p.view, r, a.data());
          t.to_float(file.data() + static_cast<size_t>(r) * rb, b.data(), cols);
          ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "RowToFloat row " << r;
        }
        const cpu::WeightView pad{type, padded, cols, p.bytes.data(), rb, LayoutOf(type)};
        for (int64_t r = rows; r < padded; ++r) {
          RowOf(pad, r, row.data());
          for (size_t i = 0; i < rb; ++i) ASSERT_EQ(row[i], 0) << "padding row " << r << " byte " << i;
        }
        std::vector<uint8_t> back;
        cpu::WeightView bv;
        UnpackRows(p.view, &back, &bv);
        EXPECT_EQ(bv.layout, cpu::WeightLayout::kFile);
        ASSERT_EQ(back, file) << t.name << " rows=" << rows << " cols=" << cols;
      }
    }
  }
}

TEST(RepackLegacy4Rows8Test, GroupBlockHoldsTheDocumentedBytes) {
  // Row 5 of 6, two blocks; its block b has d = 0x11b1, m = 0x22b2 (Q4_1) and qs byte k = 16 b + k.
  for (DType type : kLegacyTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    const int64_t cols = 64, rows = 6;
    const size_t rb = t.row_bytes(cols), qs = type == DType::kQ4_1 ? 4 : 2;
    std::vector<uint8_t> file(rb * rows, 0);
    for (int b = 0; b < 2; ++b) {
      uint8_t* blk = file.data() + 5 * rb + b * t.block_bytes;
      blk[0] = static_cast<uint8_t>(0xb1 + b), blk[1] = 0x11;
      if (qs == 4) blk[2] = static_cast<uint8_t>(0xb2 + b), blk[3] = 0x22;
      for (int k = 0; k < 16; ++k) blk[qs + k] = static_cast<uint8_t>(16 * b + k);
    }
    Matrix p = Rows8(cpu::WeightView{type, rows, cols, file.data(), rb});
    for (int b = 0; b < 2; ++b) {
      const uint8_t* gb = p.bytes.data() + b * 8 * t.block_bytes;
      EXPECT_EQ(gb[10], 0xb1 + b) << t.name;
      EXPECT_EQ(gb[11], 0x11) << t.name;
      if (qs == 4) {
        EXPECT_EQ(gb[26], 0xb2 + b) << t.name;
        EXPECT_EQ(gb[27], 0x22) << t.name;
      }
      for (int c = 0; c < 4; ++c) {
        for (int i = 0; i < 4; ++i) {
          ASSERT_EQ(gb[Legacy4Rows8CodeByte(type, c, 5, i)], 16 * b + 4 * c + i) << t.name << " c " << c << " i " << i;
        }
      }
    }
  }
}

TEST(RepackQ4KRows8Test, GroupBlockHoldsTheDocumentedBytes) {
  // Row 5 of 6, one super-block: d = 0x11b1, dmin = 0x22b2, scales[k] = 0x40 + k, qs[k] = k.
  const int64_t cols = 256, rows = 6;
  const size_t rb = GetTypeTraits(DType::kQ4_K).row_bytes(cols);
  std::vector<uint8_t> file(rb * rows, 0);
  uint8_t* blk = file.data() + 5 * rb;
  blk[0] = 0xb1, blk[1] = 0x11, blk[2] = 0xb2, blk[3] = 0x22;
  for (int k = 0; k < 12; ++k) blk[4 + k] = static_cast<uint8_t>(0x40 + k);
  for (int k = 0; k < 128; ++k) blk[16 + k] = static_cast<uint8_t>(k);
  Matrix p = Rows8(cpu::WeightView{DType::kQ4_K, rows, cols, file.data(), rb});
  EXPECT_EQ(p.bytes[10], 0xb1);
  EXPECT_EQ(p.bytes[11], 0x11);
  EXPECT_EQ(p.bytes[26], 0xb2);
  EXPECT_EQ(p.bytes[27], 0x22);
  for (int k = 0; k < 12; ++k) EXPECT_EQ(p.bytes[32 + 8 * k + 5], 0x40 + k) << "scale byte " << k;
  for (int q = 0; q < 4; ++q) {
    for (int c = 0; c < 8; ++c) {
      for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(p.bytes[128 + 256 * q + 32 * c + 4 * 5 + i], 32 * q + 4 * c + i) << q << " " << c << " " << i;
      }
    }
  }
}

TEST_P(RepackLegacyTest, PolicyRepacksWhereTheKernelIsFast) {
  const std::string target = TargetName();
  const bool fast = target == "AVX2" || target == "AVX3" || target == "AVX3_DL";
  auto rng = testing::MakeRng(8);
  for (DType type : kTypes) {
    Matrix w = MakeRows(type, 20, 256, rng);
    std::vector<uint8_t> out;
    cpu::WeightView v;
    ASSERT_EQ(RepackRows(w.view, &out, &v), fast) << target;
    if (fast) {  // AVX3_DL takes Q4_0 / Q4_1 / Q4_K in rows of 16
      const cpu::WeightLayout rows16 =
          type == DType::kQ4_K ? cpu::WeightLayout::kQ4KRows16 : cpu::WeightLayout::kLegacy4Rows16;
      EXPECT_EQ(v.layout, target == "AVX3_DL" ? rows16 : LayoutOf(type));
      EXPECT_EQ(ActivationType(v), DType::kQ8_A);
      std::vector<uint8_t> again;
      cpu::WeightView v2;
      EXPECT_FALSE(RepackRows(v, &again, &v2)) << "an already repacked view is left alone";
    }
  }
}

TEST_P(RepackLegacyTest, MatVecGivesTheFileLayoutBitsWithinTheScalarBound) {
  for (DType type : kTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    for (int64_t cols : Cols(type, {32, 64, 96, 160, 576})) {
      for (int64_t rows : {1, 8, 13, 37}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 64 + rows) * 2 + (type == DType::kQ4_1));
        Matrix w = MakeRows(type, rows, cols, rng);
        Matrix p = Rows8(w.view);
        const Acts act = MakeActs(1, cols, rng);
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {rows / 3, rows - rows / 4}, {rows - 1, rows}}) {
          if (r0 >= r1) continue;
          std::vector<float> y(static_cast<size_t>(rows), -1.0f), yf(static_cast<size_t>(rows), -1.0f);
          MatVecRows(p.view, r0, r1, act.row(0), y.data());
          MatVecRows(w.view, r0, r1, act.row(0), yf.data());
          for (int64_t r = r0; r < r1; ++r) {
            ASSERT_EQ(std::memcmp(&y[r - r0], &yf[r - r0], 4), 0) << t.name << " cols=" << cols << " row " << r
                                                                  << ": rows8 " << y[r - r0] << " file " << yf[r - r0]
                                                                  << " " << TargetName();
            const float ref = t.vec_dot(cols, w.view.row(r), act.row(0));
            ASSERT_LE(std::fabs(double{y[r - r0]} - ref), Tolerance(w.view, r, act.xq[0]))
                << t.name << " cols=" << cols << " row " << r << ": rows8 " << y[r - r0] << " scalar " << ref << " "
                << TargetName();
          }
          for (int64_t i = r1 - r0; i < rows; ++i) ASSERT_EQ(y[i], -1.0f) << "wrote past r1 - r0";
        }
      }
    }
  }
}

TEST_P(RepackLegacyTest, EveryTokenCountAndRangeGivesTheMatVecBits) {
  for (DType type : kTypes) {
    for (int64_t cols : Cols(type, {96, 576})) {
      const int64_t rows = 53;  // 6 whole groups and a padded one
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols) + 19 + (type == DType::kQ4_1));
      Matrix w = MakeRows(type, rows, cols, rng);
      Matrix p = Rows8(w.view);
      const int64_t max_m = 40;  // past the 32 tokens of the group loop: the GEMM
      const Acts act = MakeActs(max_m, cols, rng);
      std::vector<float> full(static_cast<size_t>(rows * max_m));  // MatVec over all rows, per token
      for (int64_t tk = 0; tk < max_m; ++tk) MatVecRows(p.view, 0, rows, act.row(tk), &full[tk * rows]);
      for (int64_t m : {1, 2, 3, 4, 5, 9, 33, 40}) {
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {5, 40}, {16, 32}, {31, 33}, {48, 53}}) {
          const int64_t y_stride = rows + 3;
          std::vector<float> y(static_cast<size_t>(y_stride * m), -7.0f), yfile(y.size(), -7.0f);
          MatMulRows(p.view, r0, r1, act.row(0), act.stride, m, y.data(), y_stride);
          MatMulRows(w.view, r0, r1, act.row(0), act.stride, m, yfile.data(), y_stride);
          for (int64_t tk = 0; tk < m; ++tk) {
            for (int64_t r = 0; r < y_stride; ++r) {
              const float got = y[tk * y_stride + r];
              if (r < r0 || r >= r1) {
                ASSERT_EQ(got, -7.0f) << "MatMulRows wrote outside [r0, r1)";
                continue;
              }
              const float want = full[tk * rows + r];
              ASSERT_EQ(std::memcmp(&got, &want, 4), 0) << GetTypeTraits(type).name << " cols=" << cols << " m=" << m
                                                        << " token " << tk << " row " << r << " " << TargetName();
              ASSERT_EQ(std::memcmp(&yfile[tk * y_stride + r], &want, 4), 0) << "file layout MatMul, row " << r;
            }
          }
        }
      }
    }
  }
}

// kLegacy4Rows16 (AVX3_DL's layout; its kernels on every target): exact round
// trips of any bytes, the documented bytes, and MatVec / MatMul equal to the file
// layout's MatVec bit for bit over row ranges cutting the groups and 1-70 tokens.
TEST(RepackLegacy4Rows16Test, RoundTripIsExactAndTheGroupBlockAsDocumented) {
  for (DType type : kLegacyTypes) {
    for (int64_t cols : {32, 64, 160, 576}) {
      for (int64_t rows : {1, 15, 16, 17, 40}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 100 + rows));
        const size_t rb = GetTypeTraits(type).row_bytes(cols);
        std::vector<uint8_t> file(rb * static_cast<size_t>(rows));
        std::uniform_int_distribution<int> byte(0, 255);
        for (uint8_t& b : file) b = static_cast<uint8_t>(byte(rng));
        const cpu::WeightView w{type, rows, cols, file.data(), rb};
        std::vector<uint8_t> packed, back;
        cpu::WeightView pv, bv;
        RepackLegacy4Rows16(w, &packed, &pv);
        EXPECT_EQ(pv.layout, cpu::WeightLayout::kLegacy4Rows16);
        EXPECT_EQ(packed.size(), static_cast<size_t>((rows + 15) / 16 * 16) * rb);
        UnpackRows(pv, &back, &bv);
        ASSERT_EQ(back, file) << GetTypeTraits(type).name << " cols=" << cols << " rows=" << rows;
        if (rows < 16) continue;
        const size_t bb = GetTypeTraits(type).block_bytes, qs = type == DType::kQ4_1 ? 4 : 2;
        const size_t blk = cols > 32 ? 1 : 0;
        for (int r = 0; r < 16; ++r) {  // block 1 (or 0) of each row of group 0
          const uint8_t* fb = file.data() + static_cast<size_t>(r) * rb + blk * bb;
          const uint8_t* gb = packed.data() + 16 * blk * bb;
          ASSERT_EQ(std::memcmp(gb + 2 * r, fb, 2), 0) << "d, row " << r;
          if (type == DType::kQ4_1) {
            ASSERT_EQ(std::memcmp(gb + 32 + 2 * r, fb + 2, 2), 0) << "m, row " << r;
          }
          for (int c = 0; c < 4; ++c) {
            ASSERT_EQ(std::memcmp(gb + Legacy4Rows16CodeByte(type, c, r, 0), fb + qs + 4 * c, 4), 0) << "row " << r;
          }
        }
      }
    }
  }
}

TEST_P(RepackLegacyTest, KernelsOnRowsOf16EqualTheFileLayout) {
  for (DType type : kLegacyTypes) {
    for (int64_t cols : {32, 64, 96, 160, 576, 2048}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols) * 5 + 2 + (type == DType::kQ4_1));
      const int64_t rows = 37, max_m = 70;
      Matrix w = MakeRows(type, rows, cols, rng);
      std::vector<uint8_t> packed;
      cpu::WeightView pv;
      RepackLegacy4Rows16(w.view, &packed, &pv);
      const auto act = testing_repack::RandomActivations(rng, DType::kQ8_A, cols, max_m);
      testing_repack::ExpectRepackedGivesFileBits(w.view, pv, act.bytes.data(), act.stride, testing_repack::kRows16Ranges37,
                                                  testing_repack::kRows16TokenCounts);
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace septet::simd
