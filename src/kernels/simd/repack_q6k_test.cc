// Load-time Q6_K repack (kQ6KRows16, kernels/simd/repack.h): exact round trips
// of any bytes, the group block as documented, the repack policy, and the kernels
// on the layout on every compiled Highway target: MatVec and MatMul give exactly
// the file layout's results (which simd_matvec_test.cc checks against the scalar
// reference with its error-model tolerance, extremes included, on this layout too).
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_test_util.h"
#include "kernels/simd/simd_ops.h"
#include "quant/ggml_kquants.h"
#include "quant/ggml_test_util.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

size_t RowBytes(int64_t cols) { return GetTypeTraits(DType::kQ6_K).row_bytes(cols); }

// Random rows: every code and scale byte, d a random finite fp16 (quant/ggml_test_util.h).
std::vector<uint8_t> RandomRows(std::mt19937_64& rng, int64_t rows, int64_t cols) {
  std::vector<uint8_t> bytes(RowBytes(cols) * static_cast<size_t>(rows));
  quant::testing::FillRandomGgmlRows(DType::kQ6_K, rows, cols, rng, bytes.data());
  return bytes;
}

TEST(RepackQ6KRows16Test, RoundTripIsExactForAnyBytes) {
  for (int64_t cols : {256, 512, 2048}) {
    for (int64_t rows : {1, 15, 16, 17, 40}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 100 + rows));
      std::vector<uint8_t> file(RowBytes(cols) * static_cast<size_t>(rows));
      std::uniform_int_distribution<int> byte(0, 255);
      for (uint8_t& b : file) b = static_cast<uint8_t>(byte(rng));  // every bit, d included
      const cpu::WeightView w{DType::kQ6_K, rows, cols, file.data(), RowBytes(cols)};
      testing_repack::ExpectRows16RoundTrip(w, RepackQ6KRows16, cpu::WeightLayout::kQ6KRows16);
      if (HasFatalFailure()) return;
    }
  }
  // RowToFloat on the layout (a tied head's lookup) equals the file rows' values.
  auto rng = testing::MakeRng(11);
  const std::vector<uint8_t> file = RandomRows(rng, 21, 512);
  const cpu::WeightView w{DType::kQ6_K, 21, 512, file.data(), RowBytes(512)};
  std::vector<uint8_t> packed;
  cpu::WeightView pv;
  RepackQ6KRows16(w, &packed, &pv);
  testing_repack::ExpectRowToFloatMatchesFile(w, pv);
}

// The group block of repack.h read back field by field against the format's own
// reader (quant::Q6_KCode): d, every scale and every code of two super-blocks.
TEST(RepackQ6KRows16Test, GroupBlockHoldsTheDocumentedFields) {
  auto rng = testing::MakeRng(4);
  const int64_t cols = 512;
  const std::vector<uint8_t> file = RandomRows(rng, 16, cols);
  const size_t rb = RowBytes(cols);
  const cpu::WeightView w{DType::kQ6_K, 16, cols, file.data(), rb};
  std::vector<uint8_t> packed;
  cpu::WeightView pv;
  RepackQ6KRows16(w, &packed, &pv);
  constexpr size_t kGroupBlock = 16 * sizeof(quant::BlockQ6_K);
  for (int64_t sb = 0; sb < cols / quant::kQK; ++sb) {
    const uint8_t* gb = packed.data() + static_cast<size_t>(sb) * kGroupBlock;
    for (int r = 0; r < 16; ++r) {
      quant::BlockQ6_K blk;
      std::memcpy(&blk, file.data() + static_cast<size_t>(r) * rb + static_cast<size_t>(sb) * sizeof(blk),
                  sizeof(blk));
      ASSERT_EQ(std::memcmp(gb + 2 * r, &blk.d, 2), 0) << "d, row " << r;
      for (int i = 0; i < 16; ++i) {
        ASSERT_EQ(static_cast<int8_t>(gb[32 + 16 * i + r]), blk.scales[i]) << "scale " << i << ", row " << r;
      }
      for (int e = 0; e < quant::kQK; ++e) {
        const int j = e / 32, p = e % 32, h = p / 16, c = (p % 16) / 4, i = p % 4;
        const int low = (gb[Q6KRows16LowByte(j, c, r, i)] >> (4 * h)) & 15;
        const int high = (gb[Q6KRows16HighByte(j, h, r, i)] >> (2 * c)) & 3;
        ASSERT_EQ(low | high << 4, quant::Q6_KCode(blk, e)) << "super-block " << sb << " row " << r << " weight " << e;
      }
    }
  }
}

class RepackQ6KTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackQ6KTestGroup, RepackQ6KTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(RepackQ6KTest, PolicyRepacksIntoRowsOf16OnAvx3Dl) {
  auto rng = testing::MakeRng(3);
  const std::vector<uint8_t> file = RandomRows(rng, 2, 256);
  testing_repack::ExpectRows16PolicyOnAvx3Dl(cpu::WeightView{DType::kQ6_K, 2, 256, file.data(), RowBytes(256)},
                                             cpu::WeightLayout::kQ6KRows16);
}

// Random rows (every code and scale), row ranges cutting the groups of 16, and
// token counts (above 64 the rows go back to the file layout for its GEMM): MatVec
// and MatMul on kQ6KRows16 equal MatVec on the file layout, bit for bit, and write
// nothing outside [r0, r1).
TEST_P(RepackQ6KTest, KernelsOnRowsOf16EqualTheFileLayout) {
  for (int64_t cols : {256, 512, 1536, 2048}) {
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols) * 5 + 2);
    const int64_t rows = 37, max_m = 70;
    const std::vector<uint8_t> file = RandomRows(rng, rows, cols);
    const cpu::WeightView w{DType::kQ6_K, rows, cols, file.data(), RowBytes(cols)};
    std::vector<uint8_t> packed;
    cpu::WeightView pv;
    RepackQ6KRows16(w, &packed, &pv);
    const auto act = testing_repack::RandomActivations(rng, DType::kQ8_A, cols, max_m);
    testing_repack::ExpectRepackedGivesFileBits(w, pv, act.bytes.data(), act.stride, testing_repack::kRows16Ranges37,
                                                  testing_repack::kRows16TokenCounts);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace septet::simd
