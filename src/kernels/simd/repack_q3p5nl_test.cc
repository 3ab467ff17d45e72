// Load-time Q3P5_NL repacks (kQ3P5NLPlanes, kQ3P5NLRows16: kernels/simd/repack.h):
// the layouts as defined weight by weight, exact round trips of blocks and matrices, the repack
// policy, and the kernels on the repacked layout on every compiled Highway
// target: MatVec and MatMul give exactly the file layout's results (the int32
// sums are exact in both and the float steps are the same, so no tolerance is
// needed; the file layout's kernels are tested against the scalar reference in
// simd_matvec_test.cc, extremes included, and again on this layout there).
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_test_util.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q3p5_nl.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

// Random bytes are a valid Q3P5_NL row except for D, which is kept finite.
std::vector<uint8_t> RandomRows(std::mt19937_64& rng, int64_t rows, int64_t cols) {
  const size_t rb = quant::Q3P5NLRowBytes(cols);
  std::vector<uint8_t> bytes(rb * static_cast<size_t>(rows));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte(rng));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i0 = 0; i0 < cols; i0 += 128) {
      const int64_t len = std::min<int64_t>(128, cols - i0);
      const size_t ns = static_cast<size_t>((len + 31) / 32);
      const uint16_t d16 = FloatToFp16(d(rng));
      std::memcpy(bytes.data() + static_cast<size_t>(r) * rb + quant::Q3P5NLRowBytes(i0) + 12 * ns, &d16, 2);
    }
  }
  return bytes;
}

// The planes layout of repack.h written out weight by weight.
void PlanesByDefinition(const uint8_t* file_block, uint8_t* planes_block) {
  uint8_t u[128];
  quant::Q3P5NLReadCodes(file_block, 128, u);
  uint8_t out[56] = {};
  for (int j = 0; j < 32; ++j) {
    const int u0 = u[j], u1 = u[32 + j], u2 = u[64 + j], u3 = u[96 + j];
    out[j] = static_cast<uint8_t>(u0 | (u1 << 3) | ((u2 & 3) << 6));
    const int nibble = (u3 & 3) | ((u2 >> 2) << 2) | ((u3 >> 2) << 3);
    out[32 + j % 16] = static_cast<uint8_t>(out[32 + j % 16] | (nibble << (4 * (j / 16))));
  }
  std::memcpy(out + 48, file_block + 48, 8);
  std::memcpy(planes_block, out, 56);
}

TEST(RepackQ3P5NLBlockTest, FollowsTheLayoutDefinitionAndRoundTrips) {
  auto rng = testing::MakeRng(5151);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int it = 0; it < 5000; ++it) {
    uint8_t blk[56], fast[56], ref[56], back[56];
    for (auto& b : blk) b = static_cast<uint8_t>(byte(rng));
    Q3P5NLBlockToPlanes(blk, fast);
    PlanesByDefinition(blk, ref);
    ASSERT_EQ(std::memcmp(fast, ref, 56), 0) << "iteration " << it;
    ASSERT_EQ(std::memcmp(fast + 48, blk + 48, 8), 0) << "D and the scales must be kept";
    Q3P5NLPlanesToBlock(fast, back);
    ASSERT_EQ(std::memcmp(back, blk, 56), 0) << "iteration " << it;
  }
}

// Large enough (about 40 MB) for the repack and its inverse to run on several threads.
TEST(RepackQ3P5NLBlockTest, LargeMatrixRoundTripIsExact) {
  auto rng = testing::MakeRng(5252);
  const int64_t rows = 20000, cols = 4096 + 64;
  const std::vector<uint8_t> file = RandomRows(rng, rows, cols);
  const size_t rb = quant::Q3P5NLRowBytes(cols);
  const cpu::WeightView w{DType::kQ3P5_NL, rows, cols, file.data(), rb};
  std::vector<uint8_t> packed, back;
  cpu::WeightView pv, bv;
  RepackQ3P5NLPlanes(w, &packed, &pv);
  uint8_t planes[56];
  for (int64_t r : {int64_t{0}, rows / 3, rows - 1}) {
    Q3P5NLBlockToPlanes(file.data() + static_cast<size_t>(r) * rb + 56 * 7, planes);
    ASSERT_EQ(std::memcmp(packed.data() + static_cast<size_t>(r) * rb + 56 * 7, planes, 56), 0) << "row " << r;
    ASSERT_EQ(std::memcmp(packed.data() + static_cast<size_t>(r + 1) * rb - 29, file.data() + (r + 1) * rb - 29, 29), 0)
        << "the short block keeps the file layout";
  }
  UnpackRows(pv, &back, &bv);
  ASSERT_EQ(back, file);
}

class RepackQ3P5NLTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackQ3P5NLTestGroup, RepackQ3P5NLTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(RepackQ3P5NLTest, RowsRoundTripAndViews) {
  for (int64_t cols : {1, 33, 64, 128, 172, 256, 300, 576, 1000, 4096 + 96}) {
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols) + 7);
    const std::vector<uint8_t> file = RandomRows(rng, 5, cols);
    const cpu::WeightView w{DType::kQ3P5_NL, 5, cols, file.data(), quant::Q3P5NLRowBytes(cols)};
    std::vector<uint8_t> packed, back;
    cpu::WeightView pv, bv;
    RepackQ3P5NLPlanes(w, &packed, &pv);
    EXPECT_EQ(pv.layout, cpu::WeightLayout::kQ3P5NLPlanes);
    EXPECT_EQ(pv.row_bytes, w.row_bytes);
    EXPECT_EQ(ActivationType(pv), DType::kQ8_A);
    UnpackRows(pv, &back, &bv);
    EXPECT_EQ(bv.layout, cpu::WeightLayout::kFile);
    ASSERT_EQ(back, file) << "cols=" << cols;
    std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
    for (int64_t r = 0; r < 5; ++r) {
      GetTypeTraits(DType::kQ3P5_NL).to_float(w.row(r), a.data(), cols);
      RowToFloat(pv, r, b.data());
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "cols=" << cols << " row " << r;
    }
  }
  // Policy: repacked at load only where a fast kernel exists (the Q3P5 slots' targets),
  // in rows of 16 on AVX3_DL (repack_test.cc tests that layout).
  auto rng = testing::MakeRng(3);
  const std::vector<uint8_t> file = RandomRows(rng, 2, 256);
  const cpu::WeightView w{DType::kQ3P5_NL, 2, 256, file.data(), quant::Q3P5NLRowBytes(256)};
  std::vector<uint8_t> out;
  cpu::WeightView v;
  const std::string target = TargetName();
  const bool fast = target == "AVX2" || target == "AVX3" || target == "AVX3_DL";
  EXPECT_EQ(RepackRows(w, &out, &v), fast) << target;
  if (fast) {
    EXPECT_EQ(v.layout, target == "AVX3_DL" ? cpu::WeightLayout::kQ3P5NLRows16 : cpu::WeightLayout::kQ3P5NLPlanes);
    const cpu::WeightView packed = v;
    EXPECT_FALSE(RepackRows(packed, &out, &v)) << "an already repacked view is left alone";
  }
}

// Random rows (every code and scale), row ranges (cutting the groups of 16) and
// token counts (the rows of 16 switch GEMMs above 64): MatVec and MatMul on each
// repacked layout (planes; rows of 16) equal MatVec on the file layout, bit for bit.
TEST_P(RepackQ3P5NLTest, KernelsOnRepackedEqualTheFileLayout) {
  using Repack = void (*)(const cpu::WeightView&, std::vector<uint8_t>*, cpu::WeightView*);
  for (Repack repack : {Repack{RepackQ3P5NLPlanes}, Repack{RepackQ3P5NLRows16}}) {
    for (int64_t cols : {1, 31, 33, 64, 96, 128, 172, 256, 300, 576, 1000, 1536, 4096 + 96}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols) * 3 + 1);
      const int64_t rows = 37, max_m = 70;
      const std::vector<uint8_t> file = RandomRows(rng, rows, cols);
      const cpu::WeightView w{DType::kQ3P5_NL, rows, cols, file.data(), quant::Q3P5NLRowBytes(cols)};
      std::vector<uint8_t> packed;
      cpu::WeightView pv;
      repack(w, &packed, &pv);
      const auto act = testing_repack::RandomActivations(rng, DType::kQ8_A, cols, max_m);
      testing_repack::ExpectRepackedGivesFileBits(w, pv, act.bytes.data(), act.stride,
                                                  {{0, rows}, {3, 20}, {16, 32}, {17, 18}, {5, 5}},
                                                  {1, 2, 3, 4, 5, 8, 9, 16, 17, 33, 37, 64, 65, 70});
      if (HasFailure()) return;
    }
  }
}

// ---- WeightLayout::kQ3P5NLRows16 (groups of 16 rows, AVX3_DL's kernels) ----

TEST(RepackQ3P5NLRows16Test, RoundTripIsExactForAnyBytes) {
  for (int64_t cols : {1, 33, 64, 100, 128, 172, 300, 576, 1000}) {
    for (int64_t rows : {1, 15, 16, 17, 40}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 100 + rows));
      const size_t rb = quant::Q3P5NLRowBytes(cols);
      std::vector<uint8_t> file(rb * static_cast<size_t>(rows));
      std::uniform_int_distribution<int> byte(0, 255);
      for (uint8_t& b : file) b = static_cast<uint8_t>(byte(rng));  // every bit, D included
      const cpu::WeightView w{DType::kQ3P5_NL, rows, cols, file.data(), rb};
      std::vector<uint8_t> packed, back;
      cpu::WeightView pv, bv;
      RepackQ3P5NLRows16(w, &packed, &pv);
      EXPECT_EQ(pv.layout, cpu::WeightLayout::kQ3P5NLRows16);
      EXPECT_EQ(pv.row_bytes, rb);
      EXPECT_EQ(ActivationType(pv), DType::kQ8_A);
      EXPECT_EQ(packed.size(), static_cast<size_t>((rows + 15) / 16 * 16) * rb);
      UnpackRows(pv, &back, &bv);
      ASSERT_EQ(back, file) << "cols=" << cols << " rows=" << rows;
    }
  }
}

// The group block of repack.h read back field by field: D and the scale bytes of
// every row where the layout puts them, and each code bit in the documented plane
// and bit (those of kQ3P5Rows16), for a full block and a short one.
TEST(RepackQ3P5NLRows16Test, GroupBlockHoldsTheDocumentedFields) {
  const int plane_of[8][3] = {{0, 0, 0}, {0, 0, 0}, {1, 1, 1}, {1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {0, 0, 2}, {1, 1, 2}};
  const int bit_of[8][3] = {{0, 1, 2}, {3, 4, 5}, {0, 1, 2}, {3, 4, 5}, {0, 1, 2}, {5, 6, 7}, {6, 7, 3}, {6, 7, 4}};
  for (int64_t cols : {128, 64, 96, 32}) {  // ns = 4 (full), 2, 3, 1
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols) + 16);
    const std::vector<uint8_t> file = RandomRows(rng, 16, cols);
    const size_t rb = quant::Q3P5NLRowBytes(cols);
    const cpu::WeightView w{DType::kQ3P5_NL, 16, cols, file.data(), rb};
    std::vector<uint8_t> packed;
    cpu::WeightView pv;
    RepackQ3P5NLRows16(w, &packed, &pv);
    const int ns = static_cast<int>((cols + 31) / 32), extra = Q3P5NLRows16ScaleExtra(ns);
    for (int r = 0; r < 16; ++r) {
      const uint8_t* fb = file.data() + static_cast<size_t>(r) * rb;
      ASSERT_EQ(std::memcmp(packed.data() + 2 * r, fb + 12 * ns, 2), 0) << "D, row " << r;
      ASSERT_EQ(std::memcmp(packed.data() + 32 + 2 * r, fb + 12 * ns + 2, 2), 0) << "scale bytes 0-1, row " << r;
      for (int i = 0; i < extra; ++i) {
        ASSERT_EQ(packed[Q3P5NLRows16ScaleByte(ns, r, i)], fb[12 * ns + 4 + i]) << "scale byte " << 2 + i;
      }
      uint8_t u[128];
      quant::Q3P5NLReadCodes(fb, static_cast<int>(cols), u);
      for (int s = 0; s < ns; ++s) {
        for (int k = 0; k < 32; ++k) {
          const int q = k / 4, j = k % 4;
          for (int i = 0; i < 3; ++i) {
            const uint8_t byte = packed[Q3P5Rows16PlaneByte(s, plane_of[q][i], r, j)];
            ASSERT_EQ((byte >> bit_of[q][i]) & 1, (u[32 * s + k] >> i) & 1)
                << "cols " << cols << " row " << r << " s " << s << " k " << k;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace septet::simd
