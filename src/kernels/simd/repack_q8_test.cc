// Load-time Q8_0 repack (kQ8_0Rows16, kernels/simd/repack.h): exact round trips
// of any bytes, the group block as documented, the repack policy, and the kernels
// on the layout on every compiled Highway target: MatVec and MatMul give exactly
// the file layout's results (which simd_matvec_test.cc checks against the scalar
// reference with its error-model tolerance), extreme codes included.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/half.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_test_util.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q8_0.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

// Random rows: codes random bytes (-128 .. 127) or, with `extreme`, all -128 or
// all 127 by row; d a random fp16 in (-0.05, 0.05), or any bits with !finite_d.
std::vector<uint8_t> RandomRows(std::mt19937_64& rng, int64_t rows, int64_t cols, bool finite_d = true,
                                bool extreme = false) {
  const size_t rb = quant::Q8_0RowBytes(cols);
  std::vector<uint8_t> bytes(rb * static_cast<size_t>(rows));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < rb; ++i) {
      bytes[static_cast<size_t>(r) * rb + i] = static_cast<uint8_t>(extreme ? (r % 2 == 0 ? 0x80 : 0x7F) : byte(rng));
    }
    if (!finite_d) continue;
    for (size_t b = 0; b < rb / sizeof(quant::BlockQ8_0); ++b) {
      const uint16_t d16 = FloatToFp16(extreme ? (b % 2 == 0 ? 1.0f : -1.0f) : d(rng));
      std::memcpy(bytes.data() + static_cast<size_t>(r) * rb + b * sizeof(quant::BlockQ8_0), &d16, 2);
    }
  }
  return bytes;
}

TEST(RepackQ8_0Rows16Test, RoundTripIsExactForAnyBytes) {
  for (int64_t cols : {1, 32, 33, 64, 100, 576, 1000}) {
    for (int64_t rows : {1, 15, 16, 17, 40}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 100 + rows));
      const std::vector<uint8_t> file = RandomRows(rng, rows, cols, /*finite_d=*/false);
      const size_t rb = quant::Q8_0RowBytes(cols);
      const cpu::WeightView w{DType::kQ8_0, rows, cols, file.data(), rb};
      testing_repack::ExpectRows16RoundTrip(w, RepackQ8_0Rows16, cpu::WeightLayout::kQ8_0Rows16);
      if (HasFatalFailure()) return;
      std::vector<uint8_t> packed, back;
      cpu::WeightView pv, bv;
      RepackQ8_0Rows16(w, &packed, &pv);
      UnpackRowRange(pv, rows / 3, rows, &back, &bv);  // a range of rows
      ASSERT_EQ(bv.rows, rows - rows / 3);
      ASSERT_EQ(std::memcmp(back.data(), file.data() + static_cast<size_t>(rows / 3) * rb, back.size()), 0);
    }
  }
  // RowToFloat on the layout (a tied head's lookup) equals the file rows' values.
  auto rng = testing::MakeRng(11);
  const std::vector<uint8_t> file = RandomRows(rng, 21, 100);
  const cpu::WeightView w{DType::kQ8_0, 21, 100, file.data(), quant::Q8_0RowBytes(100)};
  std::vector<uint8_t> packed;
  cpu::WeightView pv;
  RepackQ8_0Rows16(w, &packed, &pv);
  testing_repack::ExpectRowToFloatMatchesFile(w, pv);
}

// The group block of repack.h read back field by field against the file block
// (quant::BlockQ8_0): d and every code of a full block and a partial one.
TEST(RepackQ8_0Rows16Test, GroupBlockHoldsTheDocumentedFields) {
  auto rng = testing::MakeRng(4);
  const int64_t cols = 50;
  const std::vector<uint8_t> file = RandomRows(rng, 16, cols);
  const size_t rb = quant::Q8_0RowBytes(cols);
  const cpu::WeightView w{DType::kQ8_0, 16, cols, file.data(), rb};
  std::vector<uint8_t> packed;
  cpu::WeightView pv;
  RepackQ8_0Rows16(w, &packed, &pv);
  for (int b = 0; b < 2; ++b) {
    const uint8_t* gb = packed.data() + static_cast<size_t>(b) * 16 * sizeof(quant::BlockQ8_0);
    for (int r = 0; r < 16; ++r) {
      quant::BlockQ8_0 blk;
      std::memcpy(&blk, file.data() + static_cast<size_t>(r) * rb + b * sizeof(blk), sizeof(blk));
      ASSERT_EQ(std::memcmp(gb + 2 * r, &blk.d, 2), 0) << "d, row " << r;
      for (int k = 0; k < 32; ++k) {
        ASSERT_EQ(static_cast<int>(gb[Q8_0Rows16CodeByte(k / 4, r, k % 4)]), blk.qs[k] + 128)
            << "block " << b << " row " << r << " weight " << k;
      }
    }
  }
}

class RepackQ8_0Test : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackQ8_0TestGroup, RepackQ8_0Test,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(RepackQ8_0Test, PolicyRepacksIntoRowsOf16OnAvx3Dl) {
  auto rng = testing::MakeRng(3);
  const std::vector<uint8_t> file = RandomRows(rng, 2, 256);
  testing_repack::ExpectRows16PolicyOnAvx3Dl(
      cpu::WeightView{DType::kQ8_0, 2, 256, file.data(), quant::Q8_0RowBytes(256)}, cpu::WeightLayout::kQ8_0Rows16);
}

// Random rows (every code byte) and rows at the extremes (codes -128 / 127, d =
// +-1, against activations whose codes are random), row ranges cutting the groups
// of 16, and token counts (tiles of 8 and the rest, prefill-sized calls too):
// MatVec and MatMul on kQ8_0Rows16 equal MatVec on the file layout, bit for bit,
// and write nothing outside [r0, r1).
TEST_P(RepackQ8_0Test, KernelsOnRowsOf16EqualTheFileLayout) {
  for (bool extreme : {false, true}) {
    for (int64_t cols : {1, 31, 32, 33, 64, 100, 128, 160, 576, 1000, 1536, 4096 + 96}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols) * 5 + 2 + extreme);
      const int64_t rows = 37, max_m = 70;
      const std::vector<uint8_t> file = RandomRows(rng, rows, cols, true, extreme);
      const cpu::WeightView w{DType::kQ8_0, rows, cols, file.data(), quant::Q8_0RowBytes(cols)};
      std::vector<uint8_t> packed;
      cpu::WeightView pv;
      RepackQ8_0Rows16(w, &packed, &pv);
      const auto act = testing_repack::RandomActivations(rng, DType::kQ8_A, cols, max_m);
      testing_repack::ExpectRepackedGivesFileBits(w, pv, act.bytes.data(), act.stride, testing_repack::kRows16Ranges37,
                                                  testing_repack::kRows16TokenCounts);
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace septet::simd
