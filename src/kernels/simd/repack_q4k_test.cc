// Load-time Q4_K / Q5_K repacks into rows of 16 (kQ4KRows16, kQ5KRows16,
// kernels/simd/repack.h): exact round trips of any bytes, the group block as
// documented, the repack policy, and the kernels on the layouts on every compiled
// Highway target: MatVec and MatMul give exactly the file layout's results (which
// simd_matvec_test.cc checks against the scalar reference with its error-model
// tolerance, extremes included, on these layouts too).
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
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

constexpr DType kTypes[] = {DType::kQ4_K, DType::kQ5_K};

size_t RowBytes(DType type, int64_t cols) { return GetTypeTraits(type).row_bytes(cols); }

using RepackFn = void (*)(const cpu::WeightView&, std::vector<uint8_t>*, cpu::WeightView*);
RepackFn Rows16Repack(DType type) { return type == DType::kQ5_K ? RepackQ5KRows16 : RepackQ4KRows16; }
cpu::WeightLayout Rows16Layout(DType type) {
  return type == DType::kQ5_K ? cpu::WeightLayout::kQ5KRows16 : cpu::WeightLayout::kQ4KRows16;
}

// Random rows: every code and scale byte, d and dmin random finite fp16s (quant/ggml_test_util.h).
std::vector<uint8_t> RandomRows(DType type, std::mt19937_64& rng, int64_t rows, int64_t cols) {
  std::vector<uint8_t> bytes(RowBytes(type, cols) * static_cast<size_t>(rows));
  quant::testing::FillRandomGgmlRows(type, rows, cols, rng, bytes.data());
  return bytes;
}

TEST(RepackQ4KRows16Test, RoundTripIsExactForAnyBytes) {
  for (DType type : kTypes) {
    for (int64_t cols : {256, 512, 2048}) {
      for (int64_t rows : {1, 15, 16, 17, 40}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 100 + rows));
        std::vector<uint8_t> file(RowBytes(type, cols) * static_cast<size_t>(rows));
        std::uniform_int_distribution<int> byte(0, 255);
        for (uint8_t& b : file) b = static_cast<uint8_t>(byte(rng));  // every bit, d and dmin included
        const cpu::WeightView w{type, rows, cols, file.data(), RowBytes(type, cols)};
        testing_repack::ExpectRows16RoundTrip(w, Rows16Repack(type), Rows16Layout(type));
        if (HasFatalFailure()) return;
      }
    }
    // RowToFloat on the layout (a tied head's lookup) equals the file rows' values.
    auto rng = testing::MakeRng(11);
    const std::vector<uint8_t> file = RandomRows(type, rng, 21, 512);
    const cpu::WeightView w{type, 21, 512, file.data(), RowBytes(type, 512)};
    std::vector<uint8_t> packed;
    cpu::WeightView pv;
    Rows16Repack(type)(w, &packed, &pv);
    testing_repack::ExpectRowToFloatMatchesFile(w, pv);
  }
}

// The code of weight e (0..255) of a Q4_K / Q5_K block as the format defines it
// (quant/ggml_kquants.h): the nibble of qs[32 (j / 2) + l] for sub-block j = e /
// 32, l = e % 32 (low for even j), Q5_K with bit j of qh[l] as bit 4.
int FileCode(DType type, const uint8_t* blk, int e) {
  const int j = e / 32, l = e % 32;
  const size_t qs = type == DType::kQ5_K ? offsetof(quant::BlockQ5_K, qs) : offsetof(quant::BlockQ4_K, qs);
  int u = (blk[qs + 32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
  if (type == DType::kQ5_K) u |= ((blk[offsetof(quant::BlockQ5_K, qh) + l] >> j) & 1) << 4;
  return u;
}

// The group block of repack.h read back field by field: d, dmin, the scales and
// mins (through quant::KQuantScaleMin on the scale bytes) and every code of two
// super-blocks.
TEST(RepackQ4KRows16Test, GroupBlockHoldsTheDocumentedFields) {
  for (DType type : kTypes) {
    auto rng = testing::MakeRng(4);
    const int64_t cols = 512;
    const std::vector<uint8_t> file = RandomRows(type, rng, 16, cols);
    const size_t rb = RowBytes(type, cols), bb = GetTypeTraits(type).block_bytes;
    std::vector<uint8_t> packed;
    cpu::WeightView pv;
    Rows16Repack(type)(cpu::WeightView{type, 16, cols, file.data(), rb}, &packed, &pv);
    for (int64_t sb = 0; sb < cols / quant::kQK; ++sb) {
      const uint8_t* gb = packed.data() + static_cast<size_t>(sb) * 16 * bb;
      for (int r = 0; r < 16; ++r) {
        const uint8_t* blk = file.data() + static_cast<size_t>(r) * rb + static_cast<size_t>(sb) * bb;
        ASSERT_EQ(std::memcmp(gb + 2 * r, blk, 2), 0) << "d, row " << r;
        ASSERT_EQ(std::memcmp(gb + 32 + 2 * r, blk + 2, 2), 0) << "dmin, row " << r;
        uint8_t scales[12];
        for (int k = 0; k < 12; ++k) scales[k] = gb[Q4KRows16ScaleByte(k / 4, r, k % 4)];
        for (int j = 0; j < 8; ++j) {
          int sc, mn, want_sc, want_mn;
          quant::KQuantScaleMin(scales, j, &sc, &mn);
          quant::KQuantScaleMin(blk + 4, j, &want_sc, &want_mn);
          ASSERT_EQ(sc, want_sc) << "scale " << j << ", row " << r;
          ASSERT_EQ(mn, want_mn) << "min " << j << ", row " << r;
        }
        for (int e = 0; e < quant::kQK; ++e) {
          const int j = e / 32, c = (e % 32) / 4, i = e % 4;
          int u = (gb[Q4KRows16CodeByte(type, j / 2, c, r, i)] >> (4 * (j % 2))) & 15;
          if (type == DType::kQ5_K) u |= ((gb[Q5KRows16HighByte(c, r, i)] >> j) & 1) << 4;
          ASSERT_EQ(u, FileCode(type, blk, e)) << GetTypeTraits(type).name << " super-block " << sb << " row " << r
                                               << " weight " << e;
        }
      }
    }
  }
}

class RepackQ4KTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackQ4KTestGroup, RepackQ4KTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(RepackQ4KTest, PolicyRepacksIntoRowsOf16OnAvx3Dl) {
  // Q4_K: rows of 8 on AVX2 / AVX3 (repack_legacy_test.cc checks them), so only AVX3_DL here.
  auto rng = testing::MakeRng(3);
  const std::vector<uint8_t> q4 = RandomRows(DType::kQ4_K, rng, 2, 256);
  if (std::string(TargetName()) == "AVX3_DL") {
    testing_repack::ExpectRows16PolicyOnAvx3Dl(
        cpu::WeightView{DType::kQ4_K, 2, 256, q4.data(), RowBytes(DType::kQ4_K, 256)}, cpu::WeightLayout::kQ4KRows16);
  }
  const std::vector<uint8_t> q5 = RandomRows(DType::kQ5_K, rng, 2, 256);
  testing_repack::ExpectRows16PolicyOnAvx3Dl(
      cpu::WeightView{DType::kQ5_K, 2, 256, q5.data(), RowBytes(DType::kQ5_K, 256)}, cpu::WeightLayout::kQ5KRows16);
}

// Random rows (every code, scale and min), row ranges cutting the groups of 16,
// and token counts on both sides of the 8-token tiles and of 64 (above which the
// file layout's GEMM runs on the rows decoded a group at a time): MatVec and
// MatMul on the rows of 16 equal MatVec on the file layout, bit for bit, and
// write nothing outside [r0, r1).
TEST_P(RepackQ4KTest, KernelsOnRowsOf16EqualTheFileLayout) {
  for (DType type : kTypes) {
    for (int64_t cols : {256, 512, 1536, 2048}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols) * 5 + 2 + (type == DType::kQ5_K));
      const int64_t rows = 37, max_m = 70;
      const std::vector<uint8_t> file = RandomRows(type, rng, rows, cols);
      const cpu::WeightView w{type, rows, cols, file.data(), RowBytes(type, cols)};
      std::vector<uint8_t> packed;
      cpu::WeightView pv;
      Rows16Repack(type)(w, &packed, &pv);
      const auto act = testing_repack::RandomActivations(rng, DType::kQ8_A, cols, max_m);
      testing_repack::ExpectRepackedGivesFileBits(w, pv, act.bytes.data(), act.stride,
                                                  testing_repack::kRows16Ranges37, testing_repack::kRows16TokenCounts);
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace septet::simd
