// Load-time repack (kernels/simd/repack.h): exact round trip of the bytes, and
// the kernels on the repacked layout against the scalar reference on the file
// layout, on every compiled Highway target.
//
// The kernels on kQ3P5Slots take Q8_B activations (simd::ActivationType); their
// reference is quant::Q3P5VecDotQ8B on the file layout. Error model (x86
// targets): per block the int32 sum is exact and exactly converted (|lane| <
// 2^24); s = h x_d is one rounding and acc += float(i) s one more per block (nbs
// blocks in sequence per lane, the short block included), then 3 additions over
// the lanes; the offset term X_b = x_d x_sum (1 rounding) is accumulated by FMA
// (nbs) and added once. AVX3_DL (q3p5_lanes-inl.h) converts the exact block sum
// and accumulates both terms into position b mod 4: 1 + 2 ceil(nbs / 4) + 2
// roundings, fewer. Every product term passes through at most nbs + 5
// roundings, every partial value is bounded by M = sum_k |x~_k| (|h| c_k + |m|),
// so |simd - exact| <= gamma_{nbs + 5} M; the reference is within
// gamma_{nbs + 3} M (quant/q3p5_test.cc), hence
//   |simd - scalar| <= (gamma_{nbs + 3} + gamma_{nbs + 5}) M     (tolerance used).
// The portable targets run the reference's own block terms in its order (0).
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_test_util.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q3p5.h"
#include "quant/q8_act.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

using testing::Gamma;

struct Matrix {
  std::vector<uint8_t> bytes;
  cpu::WeightView view;
};

Matrix MakeQ3P5(int64_t rows, int64_t cols, std::mt19937_64& rng, bool scramble) {
  const TypeTraits& t = GetTypeTraits(DType::kQ3P5);
  Matrix m;
  const size_t rb = t.row_bytes(cols);
  m.bytes.resize(rb * static_cast<size_t>(rows) + 1);
  uint8_t* base = m.bytes.data() + 1;  // misaligned on purpose
  const auto w = testing::RandomWeights(rng, rows * cols, 0.05f);
  for (int64_t r = 0; r < rows; ++r) t.from_float(w.data() + r * cols, base + r * rb, cols, nullptr);
  if (scramble) {  // every code and sel value (full blocks; header d/m kept)
    std::uniform_int_distribution<int> byte(0, 255), sel(0, 3);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t b = 0; b < cols / 128; ++b) {
        uint8_t* blk = base + r * rb + b * 56;
        for (size_t i = 4; i < 56; ++i) blk[i] = static_cast<uint8_t>(byte(rng));
        uint32_t hdr;
        std::memcpy(&hdr, blk, 4);
        hdr = (hdr & ~(3u << 15)) | (static_cast<uint32_t>(sel(rng)) << 15);
        std::memcpy(blk, &hdr, 4);
      }
    }
  }
  m.view = cpu::WeightView{DType::kQ3P5, rows, cols, base, rb};
  return m;
}

// M of the error model (as in simd_matvec_test.cc).
double Magnitude(const cpu::WeightView& w, int64_t r, const std::vector<float>& xq) {
  std::vector<float> wd(static_cast<size_t>(w.cols));
  const uint8_t* row = w.row(r);
  double m = 0;
  for (int64_t i0 = 0; i0 < w.cols; i0 += 128) {
    const int len = static_cast<int>(std::min<int64_t>(128, w.cols - i0));
    const int ns = (len + 31) / 32;
    quant::BlockQ3P5 blk{};
    std::memcpy(&blk, row, quant::Q3P5ShortBlockBytes(len) + (len == 128 ? 4 : 0));
    row += len == 128 ? sizeof(blk) : quant::Q3P5ShortBlockBytes(len);
    const auto p = quant::Q3P5UnpackHeader(blk.hdr);
    uint8_t codes[128] = {};
    quant::Q3P5UnpackCodes(blk, ns, codes);
    for (int k = 0; k < len; ++k) {
      const int v = (ns == 4 && k / 32 == p.sel) ? codes[k] : 2 * codes[k];
      m += std::fabs(double{xq[i0 + k]}) * (std::fabs(p.d / 2.0) * v + std::fabs(double{p.m}));
    }
  }
  return m;
}

using testing_repack::ExpectMatMulGivesMatVecBits;

class RepackTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackTestGroup, RepackTest, ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()),
                         ::hwy::TestParamTargetName);

// The slot layout of repack.h written out weight by weight (Q3P5BlockToSlots
// builds it from bit planes).
void SlotsByDefinition(const uint8_t* file_block, uint8_t* slots_block) {
  quant::BlockQ3P5 blk;
  std::memcpy(&blk, file_block, 56);
  uint8_t codes[128];
  quant::Q3P5UnpackCodes(blk, quant::kQ3P5SubBlocks, codes);
  const int sel = static_cast<int>((blk.hdr >> 15) & 3u);
  const uint8_t* c[4];
  for (int k = 0; k < 4; ++k) c[k] = codes + 32 * ((sel + k) & 3);
  uint8_t out[56] = {};
  std::memcpy(out, &blk.hdr, 4);
  for (int j = 0; j < 32; ++j) {
    const int v0 = c[0][j], u1 = c[1][j], u2 = c[2][j], u3 = c[3][j];
    out[4 + j] = static_cast<uint8_t>(u1 | (u2 << 3) | ((u3 >> 1) << 6));
    out[36 + j % 16] = static_cast<uint8_t>(out[36 + j % 16] | (v0 << (4 * (j / 16))));
    const int bit = 8 * (j % 4) + j / 4;
    out[52 + bit / 8] = static_cast<uint8_t>(out[52 + bit / 8] | ((u3 & 1) << (bit % 8)));
  }
  std::memcpy(slots_block, out, 56);
}

TEST(RepackBlockTest, BlockToSlotsFollowsTheLayoutDefinition) {
  auto rng = testing::MakeRng(4141);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int it = 0; it < 5000; ++it) {
    uint8_t blk[56], fast[56], ref[56];
    for (auto& b : blk) b = static_cast<uint8_t>(byte(rng));
    Q3P5BlockToSlots(blk, fast);
    SlotsByDefinition(blk, ref);
    ASSERT_EQ(std::memcmp(fast, ref, 56), 0) << "iteration " << it;
  }
}

TEST(RepackBlockTest, BlockRoundTripIsExact) {
  auto rng = testing::MakeRng(4242);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int it = 0; it < 2000; ++it) {
    uint8_t blk[56], slots[56], back[56];
    for (auto& b : blk) b = static_cast<uint8_t>(byte(rng));
    // ext (bytes 52..55) is the LSB of sub-block sel's codes: any value is valid.
    Q3P5BlockToSlots(blk, slots);
    ASSERT_EQ(std::memcmp(slots, blk, 4), 0) << "header word must be kept";
    Q3P5SlotsToBlock(slots, back);
    ASSERT_EQ(std::memcmp(back, blk, 56), 0) << "iteration " << it;
  }
}

// Large enough (40 MB) for the repack and its inverse to run on several threads.
TEST(RepackBlockTest, LargeMatrixRoundTripIsExact) {
  const int64_t rows = 23000, cols = 4096 + 64;  // 32 full blocks and a short one per row
  const size_t rb = quant::Q3P5RowBytes(cols);
  std::vector<uint8_t> file(rb * static_cast<size_t>(rows));
  uint64_t x = 88172645463325252ull;
  for (uint8_t& b : file) {  // xorshift: any bytes are a valid block (the short block's ext is absent)
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  const cpu::WeightView w{DType::kQ3P5, rows, cols, file.data(), rb};
  std::vector<uint8_t> packed, back;
  cpu::WeightView pv, bv;
  RepackQ3P5Slots(w, &packed, &pv);
  uint8_t slots[56];
  for (int64_t r : {int64_t{0}, rows / 3, rows - 1}) {
    Q3P5BlockToSlots(file.data() + static_cast<size_t>(r) * rb + 56 * 5, slots);
    ASSERT_EQ(std::memcmp(packed.data() + static_cast<size_t>(r) * rb + 56 * 5, slots, 56), 0) << "row " << r;
  }
  UnpackRows(pv, &back, &bv);
  ASSERT_EQ(back, file);
}

TEST(RepackBlockTest, ShortBlockRoundTripIsExact) {
  auto rng = testing::MakeRng(4343);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int ns = 1; ns <= 4; ++ns) {
    const size_t bytes = 4 + 12 * static_cast<size_t>(ns);
    for (int it = 0; it < 1000; ++it) {
      uint8_t blk[56] = {}, slots[56] = {}, back[56] = {};
      for (size_t i = 0; i < bytes; ++i) blk[i] = static_cast<uint8_t>(byte(rng));
      Q3P5ShortToSlots(blk, ns, slots);
      ASSERT_EQ(std::memcmp(slots, blk, 4), 0) << "header word must be kept";
      for (size_t i = bytes; i < 56; ++i) ASSERT_EQ(slots[i], 0) << "wrote past the short block";
      Q3P5SlotsToShort(slots, ns, back);
      ASSERT_EQ(std::memcmp(back, blk, bytes), 0) << "ns " << ns << " iteration " << it;
    }
  }
}

TEST_P(RepackTest, RowsRoundTripAndViews) {
  for (int64_t cols : {1, 33, 64, 128, 172, 256, 300, 576, 1000, 4096 + 96}) {
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols));
    Matrix w = MakeQ3P5(5, cols, rng, true);
    std::vector<uint8_t> packed, back;
    cpu::WeightView pv, bv;
    RepackQ3P5Slots(w.view, &packed, &pv);
    EXPECT_EQ(pv.layout, cpu::WeightLayout::kQ3P5Slots);
    EXPECT_EQ(pv.row_bytes, w.view.row_bytes);
    EXPECT_EQ(packed.size(), w.view.row_bytes * 5);
    UnpackRows(pv, &back, &bv);
    EXPECT_EQ(bv.layout, cpu::WeightLayout::kFile);
    ASSERT_EQ(std::memcmp(back.data(), w.view.data, back.size()), 0) << "cols=" << cols;
    std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
    for (int64_t r = 0; r < 5; ++r) {
      GetTypeTraits(DType::kQ3P5).to_float(w.view.row(r), a.data(), cols);
      RowToFloat(pv, r, b.data());
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
    }
  }
  // Policy: Q3P5 in the file layout, only where the fast kernel exists (the float
  // types: repack_float_test.cc).
  auto rng = testing::MakeRng(1);
  Matrix w = MakeQ3P5(2, 256, rng, false);
  std::vector<uint8_t> out;
  cpu::WeightView v;
  const std::string target = TargetName();
  const bool fast = target == "AVX2" || target == "AVX3" || target == "AVX3_DL";
  EXPECT_EQ(RepackRows(w.view, &out, &v), fast);
  if (fast) {
    const cpu::WeightView packed = v;
    EXPECT_FALSE(RepackRows(packed, &out, &v)) << "an already repacked view is left alone";
  }
}

TEST_P(RepackTest, KernelsOnRepackedMatchScalarReference) {
  const TypeTraits& at = GetTypeTraits(DType::kQ8_B);
  for (int64_t cols : {1, 31, 33, 64, 96, 128, 172, 256, 300, 576, 1000, 4096, 4096 + 96, 14336}) {
    for (bool scramble : {false, true}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols) * 2 + scramble);
      const int64_t rows = 11;
      Matrix w = MakeQ3P5(rows, cols, rng, scramble);
      std::vector<uint8_t> packed;
      cpu::WeightView pv;
      RepackQ3P5Slots(w.view, &packed, &pv);
      ASSERT_EQ(ActivationType(pv), DType::kQ8_B);
      const auto x = testing::RandomWeights(rng, cols, 1.0f);
      std::vector<uint8_t> act(at.row_bytes(cols) + 1);
      uint8_t* a = act.data() + 1;
      QuantizeActivation(DType::kQ8_B, x.data(), cols, a);
      std::vector<float> xq(static_cast<size_t>(cols));
      at.to_float(a, xq.data(), cols);
      const double nbs = std::ceil(static_cast<double>(cols) / 128.0);  // the short block is one more
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {3, 10}, {5, 6}, {7, 7}}) {
        std::vector<float> y(static_cast<size_t>(rows), -1.0f);
        MatVecRows(pv, r0, r1, a, y.data());
        for (int64_t r = r0; r < r1; ++r) {
          const float ref = quant::Q3P5VecDotQ8B(cols, w.view.row(r), a);
          const double tol = (Gamma(nbs + 3) + Gamma(nbs + 5)) * Magnitude(w.view, r, xq);
          ASSERT_LE(std::fabs(double{y[r - r0]} - ref), tol)
              << "cols=" << cols << " scramble=" << scramble << " row " << r << ": repacked " << y[r - r0]
              << " scalar " << ref << " target " << TargetName();
        }
        for (int64_t i = r1 - r0; i < rows; ++i) ASSERT_EQ(y[i], -1.0f) << "wrote past r1 - r0";
      }
    }
  }
}

TEST_P(RepackTest, MatMulOnRepackedEqualsMatVecPerToken) {
  const TypeTraits& at = GetTypeTraits(DType::kQ8_B);
  for (int64_t cols : {64, 128, 172, 512, 576, 4096 + 96}) {
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols) + 99);
    // 70 rows of 4192 columns span two of the AVX3_DL GEMM's decoded row chunks.
    const int64_t rows = cols == 4096 + 96 ? 70 : 9;
    Matrix w = MakeQ3P5(rows, cols, rng, true);
    std::vector<uint8_t> packed;
    cpu::WeightView pv;
    RepackQ3P5Slots(w.view, &packed, &pv);
    const int64_t max_m = 37;
    const size_t act_stride = at.row_bytes(cols) + 5;
    std::vector<uint8_t> act(act_stride * max_m);
    for (int64_t tk = 0; tk < max_m; ++tk) {
      const auto x = testing::RandomWeights(rng, cols, 1.0f);
      QuantizeActivation(DType::kQ8_B, x.data(), cols, act.data() + tk * act_stride);
    }
    for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 37}) {
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {1, 6}, {8, 9}}) {
        ExpectMatMulGivesMatVecBits(pv, pv, r0, r1, act.data(), act_stride, m, rows + 3);
        if (HasFailure()) return;
      }
    }
  }
}

// ---- WeightLayout::kQ3P5Rows16 (groups of 16 rows, AVX3_DL's kernels) ----

// Every byte of every block random (header, codes, ext, the short block's sel bits).
Matrix MakeRandomBytes(int64_t rows, int64_t cols, std::mt19937_64& rng) {
  Matrix m;
  const size_t rb = quant::Q3P5RowBytes(cols);
  m.bytes.resize(rb * static_cast<size_t>(rows) + 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t i = 1; i < m.bytes.size(); ++i) m.bytes[i] = static_cast<uint8_t>(byte(rng));
  m.view = cpu::WeightView{DType::kQ3P5, rows, cols, m.bytes.data() + 1, rb};
  return m;
}

TEST(RepackRows16Test, RoundTripIsExactForAnyBytes) {
  for (int64_t cols : {1, 33, 64, 100, 128, 172, 300, 576, 1000}) {
    for (int64_t rows : {1, 15, 16, 17, 40}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 100 + rows));
      Matrix w = MakeRandomBytes(rows, cols, rng);
      std::vector<uint8_t> packed, back;
      cpu::WeightView pv, bv;
      RepackQ3P5Rows16(w.view, &packed, &pv);
      EXPECT_EQ(pv.layout, cpu::WeightLayout::kQ3P5Rows16);
      EXPECT_EQ(pv.row_bytes, w.view.row_bytes);
      EXPECT_EQ(packed.size(), static_cast<size_t>((rows + 15) / 16 * 16) * w.view.row_bytes);
      UnpackRows(pv, &back, &bv);
      ASSERT_EQ(back.size(), w.view.row_bytes * static_cast<size_t>(rows));
      ASSERT_EQ(std::memcmp(back.data(), w.view.data, back.size()), 0) << "cols=" << cols << " rows=" << rows;
    }
  }
}

// The planes of repack.h, read back weight by weight: code bit i of quad q at
// the documented plane and bit, e at bit q of the ext byte.
TEST(RepackRows16Test, PlanesHoldTheDocumentedBits) {
  auto rng = testing::MakeRng(16);
  Matrix w = MakeQ3P5(16, 128, rng, true);
  std::vector<uint8_t> packed;
  cpu::WeightView pv;
  RepackQ3P5Rows16(w.view, &packed, &pv);
  const int plane_of[8][3] = {{0, 0, 0}, {0, 0, 0}, {1, 1, 1}, {1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {0, 0, 2}, {1, 1, 2}};
  const int bit_of[8][3] = {{0, 1, 2}, {3, 4, 5}, {0, 1, 2}, {3, 4, 5}, {0, 1, 2}, {5, 6, 7}, {6, 7, 3}, {6, 7, 4}};
  for (int r = 0; r < 16; ++r) {
    quant::BlockQ3P5 blk;
    std::memcpy(&blk, w.view.row(r), sizeof(blk));
    const int sel = static_cast<int>((blk.hdr >> 15) & 3u);
    uint8_t codes[128];
    quant::Q3P5UnpackCodes(blk, 4, codes);
    uint16_t lo, hi;
    std::memcpy(&lo, packed.data() + 2 * r, 2);
    std::memcpy(&hi, packed.data() + 32 + 2 * r, 2);
    ASSERT_EQ(lo, blk.hdr & 0xFFFFu);
    ASSERT_EQ(hi, blk.hdr >> 16);
    for (int s = 0; s < 4; ++s) {
      for (int k = 0; k < 32; ++k) {
        const int q = k / 4, j = k % 4, c = codes[32 * s + k], u = s == sel ? c >> 1 : c;
        for (int i = 0; i < 3; ++i) {
          const uint8_t byte = packed[Q3P5Rows16PlaneByte(s, plane_of[q][i], r, j)];
          ASSERT_EQ((byte >> bit_of[q][i]) & 1, (u >> i) & 1) << "row " << r << " s " << s << " k " << k;
        }
        if (s == sel) {
          ASSERT_EQ((packed[Q3P5Rows16ExtByte(r, j)] >> q) & 1, c & 1);
        }
      }
    }
  }
}

// On every target: MatVec and MatMul (any token count, ranges that cut groups)
// on the rows of 16 give the slot layout's bits on the same target, and are
// within the error model of the scalar reference (the slots' test above).
TEST_P(RepackTest, Rows16KernelsGiveTheSlotBits) {
  const TypeTraits& at = GetTypeTraits(DType::kQ8_B);
  for (int64_t cols : {64, 128, 172, 300, 576, 1536, 4096 + 96}) {
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols) + 1616);
    const int64_t rows = cols == 576 ? 48 : 37;
    Matrix w = MakeQ3P5(rows, cols, rng, true);
    std::vector<uint8_t> b16, bsl;
    cpu::WeightView v16, vsl;
    RepackQ3P5Rows16(w.view, &b16, &v16);
    RepackQ3P5Slots(w.view, &bsl, &vsl);
    ASSERT_EQ(ActivationType(v16), DType::kQ8_B);
    const int64_t max_m = 19;
    const size_t act_stride = at.row_bytes(cols) + 3;
    std::vector<uint8_t> act(act_stride * max_m + 1);
    for (int64_t tk = 0; tk < max_m; ++tk) {
      const auto x = testing::RandomWeights(rng, cols, 1.0f);
      QuantizeActivation(DType::kQ8_B, x.data(), cols, act.data() + 1 + tk * act_stride);
    }
    const uint8_t* a = act.data() + 1;
    std::vector<float> xq(static_cast<size_t>(cols));
    at.to_float(a, xq.data(), cols);
    const double nbs = std::ceil(static_cast<double>(cols) / 128.0);
    for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {3, 20}, {16, 32}, {17, 18}, {9, 9}}) {
      std::vector<float> y16(static_cast<size_t>(rows), -1.0f), ysl(static_cast<size_t>(rows), -1.0f);
      MatVecRows(v16, r0, r1, a, y16.data());
      MatVecRows(vsl, r0, r1, a, ysl.data());
      ASSERT_EQ(std::memcmp(y16.data(), ysl.data(), y16.size() * 4), 0)
          << "cols=" << cols << " rows [" << r0 << ", " << r1 << ") target " << TargetName();
      for (int64_t r = r0; r < r1; ++r) {
        const float ref = quant::Q3P5VecDotQ8B(cols, w.view.row(r), a);
        ASSERT_LE(std::fabs(double{y16[r - r0]} - ref),
                  (Gamma(nbs + 3) + Gamma(nbs + 5)) * Magnitude(w.view, r, xq));
      }
      for (int64_t m : {2, 3, 5, 8, 9, 16, 19}) {
        ExpectMatMulGivesMatVecBits(v16, vsl, r0, r1, a, act_stride, m, rows + 2);
        if (HasFailure()) return;
      }
    }
  }
}

}  // namespace
}  // namespace septet::simd
