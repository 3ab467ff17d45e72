// Load-time Q4_NL and Q4_T repacks (kQ4NLRows16, kQ4TRows16: the same bytes,
// kernels/simd/repack.h): exact round trips of any bytes, the group block as
// documented, the repack policy, and the kernels on the layouts on every compiled
// Highway target: MatVec and MatMul give exactly the file layout's results (which
// simd_matvec_test.cc checks bit for bit against the scalar reference, extremes
// included, on these layouts too).
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
#include "quant/q4_nl.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

using RepackFn = void (*)(const cpu::WeightView&, std::vector<uint8_t>*, cpu::WeightView*);
struct Rows16Type {
  DType type;
  RepackFn repack;
  cpu::WeightLayout layout;
};
const Rows16Type kTypes[] = {{DType::kQ4_NL, RepackQ4NLRows16, cpu::WeightLayout::kQ4NLRows16},
                             {DType::kQ4_T, RepackQ4TRows16, cpu::WeightLayout::kQ4TRows16}};

// Random bytes, D kept finite (a random fp16 in (-0.05, 0.05) per block).
std::vector<uint8_t> RandomRows(std::mt19937_64& rng, int64_t rows, int64_t cols, bool finite_d = true) {
  const size_t rb = quant::Q4NLRowBytes(cols);
  std::vector<uint8_t> bytes(rb * static_cast<size_t>(rows));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte(rng));
  if (!finite_d) return bytes;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i0 = 0; i0 < cols; i0 += 128) {
      const int64_t ns = (std::min<int64_t>(128, cols - i0) + 31) / 32;
      const uint16_t d16 = FloatToFp16(d(rng));
      std::memcpy(bytes.data() + static_cast<size_t>(r) * rb + quant::Q4NLRowBytes(i0) + 16 * ns, &d16, 2);
    }
  }
  return bytes;
}

TEST(RepackQ4NLRows16Test, RoundTripIsExactForAnyBytes) {
  for (const Rows16Type& t : kTypes) {
    for (int64_t cols : {1, 33, 64, 100, 128, 172, 300, 576, 1000}) {
      for (int64_t rows : {1, 15, 16, 17, 40}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(cols * 100 + rows));
        const std::vector<uint8_t> file = RandomRows(rng, rows, cols, /*finite_d=*/false);  // every bit
        const size_t rb = quant::Q4NLRowBytes(cols);
        const cpu::WeightView w{t.type, rows, cols, file.data(), rb};
        testing_repack::ExpectRows16RoundTrip(w, t.repack, t.layout);
        if (HasFatalFailure()) return;
        std::vector<uint8_t> packed;
        cpu::WeightView pv;
        t.repack(w, &packed, &pv);
        testing_repack::ExpectRowToFloatMatchesFile(w, pv, 7);
      }
    }
  }
}

// The group block of repack.h read back field by field against the format's own
// readers (quant/q4_nl.h): D, the scale bytes and every code, for a full block
// and short ones (ns = 1, 2, 3; the last sub-block partial too).
TEST(RepackQ4NLRows16Test, GroupBlockHoldsTheDocumentedFields) {
  for (int64_t cols : {128, 32, 64, 96, 100}) {
    auto rng = testing::MakeRng(static_cast<uint64_t>(cols) + 4);
    const std::vector<uint8_t> file = RandomRows(rng, 16, cols);
    const size_t rb = quant::Q4NLRowBytes(cols);
    const cpu::WeightView w{DType::kQ4_NL, 16, cols, file.data(), rb};
    std::vector<uint8_t> packed;
    cpu::WeightView pv;
    RepackQ4NLRows16(w, &packed, &pv);
    const int ns = static_cast<int>((cols + 31) / 32), nsc = (ns + 1) / 2;
    for (int r = 0; r < 16; ++r) {
      const uint8_t* fb = file.data() + static_cast<size_t>(r) * rb;
      ASSERT_EQ(std::memcmp(packed.data() + 2 * r, fb + 16 * ns, 2), 0) << "D, row " << r;
      ASSERT_EQ(std::memcmp(packed.data() + 32 + nsc * r, fb + 16 * ns + 2, static_cast<size_t>(nsc)), 0)
          << "scales, row " << r;
      uint8_t u[128];
      quant::Q4NLReadCodes(fb, static_cast<int>(cols), u);
      for (int k = 0; k < static_cast<int>(cols); ++k) {
        const int s = k / 32, h = (k % 32) / 16, c = (k % 16) / 4, j = k % 4;
        const uint8_t byte = packed[Q4NLRows16CodeByte(ns, s, c, r, j)];
        ASSERT_EQ((byte >> (4 * h)) & 15, u[k]) << "cols " << cols << " row " << r << " weight " << k;
      }
    }
  }
}

class RepackQ4NLTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(RepackQ4NLTestGroup, RepackQ4NLTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

TEST_P(RepackQ4NLTest, PolicyRepacksIntoRowsOf16OnAvx3Dl) {
  auto rng = testing::MakeRng(3);
  const std::vector<uint8_t> file = RandomRows(rng, 2, 256);
  for (const Rows16Type& t : kTypes) {
    testing_repack::ExpectRows16PolicyOnAvx3Dl(cpu::WeightView{t.type, 2, 256, file.data(), quant::Q4NLRowBytes(256)},
                                               t.layout);
  }
}

// Q4_NL and Q4_T, random rows (every code and scale; for Q4_T every trellis
// path), row ranges cutting the groups of 16, and token counts (above 64 the rows
// go back to the file layout for its GEMM): MatVec and MatMul on kQ4NLRows16 /
// kQ4TRows16 equal MatVec on the file layout, bit for bit, and write nothing
// outside [r0, r1).
TEST_P(RepackQ4NLTest, KernelsOnRowsOf16EqualTheFileLayout) {
  for (const Rows16Type& t : kTypes) {
    for (int64_t cols : {1, 31, 33, 64, 96, 100, 128, 172, 256, 300, 576, 1000, 1536, 4096 + 96}) {
      auto rng = testing::MakeRng(static_cast<uint64_t>(cols) * 5 + 2);
      const int64_t rows = 37, max_m = 70;
      const std::vector<uint8_t> file = RandomRows(rng, rows, cols);
      const cpu::WeightView w{t.type, rows, cols, file.data(), quant::Q4NLRowBytes(cols)};
      std::vector<uint8_t> packed;
      cpu::WeightView pv;
      t.repack(w, &packed, &pv);
      const auto act = testing_repack::RandomActivations(rng, DType::kQ8_A, cols, max_m);
      testing_repack::ExpectRepackedGivesFileBits(w, pv, act.bytes.data(), act.stride, testing_repack::kRows16Ranges37,
                                                    testing_repack::kRows16TokenCounts);
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace septet::simd
