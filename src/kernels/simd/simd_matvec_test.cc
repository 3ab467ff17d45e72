// MatVecRows / MatMulRows / QuantizeActivation against the scalar registry, on
// every compiled Highway target.
//
// Error model for the block formats paired with Q8_A (Q3P5, Q4_G, Q8_0 and the
// ggml blocks Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS).
// Every activation block s contributes one term t_s = x_d * (step * acc_s + min *
// x_sum_s) (Q8_0, Q4_0, Q5_0, Q3_K, Q6_K, IQ4: (d_w * x_d) * acc_s, with the
// offset code, the levels or the
// int8 sub-scales folded into the integer) whose integer acc_s is exact in both
// tiers, as are the block's step and min (the same float operations on the
// stored fields, e.g. K-quants' dl = d * sc). The scalar reference rounds each
// term at most 4 times and adds the N_s terms in sequence; the SIMD kernel
// rounds each term at most 3 times (FMA) and adds them in L = 4 or 8 lanes of
// N_s / L terms, then log2(L) + 1 more additions (lane tree + tail): at most
// N_s + 5 roundings on any term's path (adding an exact 0 is exact, so a row of
// one block has 3). With u = 2^-24 and
//   M = sum_s |x_d| (|step| |acc_s| + |min| |x_sum_s|)
//     <= sum_k |x~_k| (|step_k| |c_k| + |min_k|)      (x~ = x_d * x_q, c the
//        code as the integer dot sees it: v_k, q - 8, q - 32 times sc, ...)
// both are within gamma_{N_s + 5} M of the exact sum, so
//   |simd - scalar| <= 2 gamma_{N_s + 5} M                       (tolerance used).
// The ggml rows are random well-formed blocks (quant/ggml_test_util.h: every
// code and sub-scale occurs), whole blocks only (rows of 32 k for the legacy
// types, 256 k for K-quants, incl. partial groups of 1..3 legacy blocks), and a
// second test fills whole rows with extreme codes and scales against |x_q| =
// 127 (where an int16 pair sum would saturate if a bound were wrong).
// Q3P5_NL: the term is (d_eff * x_d) * isum_s, an exact integer times a float
// as for Q6_K, with M = sum_k |x~_k| |d_eff| |sc_g L[u_k]| from the stored
// fields; scrambled rows cover every code and scale in full and short blocks,
// and a third test runs whole rows at the extremes (scales -32 / 31, every code,
// |x_q| = 127: the int32 bound 16516096 of isum_s is reached).
// Q3P5_SEED: the int32 accumulator is exact and the final float formula is the
// scalar one, compiled without FMA: bit-identical (tolerance 0).
// Q4_NL, Q4_T: the int32 isum_s is exact and every target does the scalar's float
// steps, sum += (d_eff * x_d) * float(isum_s) one sub-block at a time, without
// FMA: bit-identical (tolerance 0), scrambled rows included (every code and
// scale byte, the padding codes of partial sub-blocks too); a second test runs
// rows at the extremes.
// Float weights: the reference accumulates in double (error ~ u |y|); the SIMD
// kernel sums n products in f32 lanes: |simd - scalar| <= gamma_{n+2} sum|w x|.
// MatMulRows must equal MatVecRows per token bit for bit (same target).
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/repack_test_util.h"
#include "kernels/simd/simd_ops.h"
#include "quant/ggml_test_util.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q4_g.h"
#include "quant/q4_nl.h"
#include "quant/q8_0.h"
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

Matrix MakeMatrix(DType type, int64_t rows, int64_t cols, std::mt19937_64& rng, bool scramble_codes) {
  const TypeTraits& t = GetTypeTraits(type);
  Matrix m;
  const size_t rb = t.row_bytes(cols);
  m.bytes.resize(rb * static_cast<size_t>(rows) + 1);  // +1: the view starts misaligned
  uint8_t* base = m.bytes.data() + 1;
  if (t.whole_blocks) {  // ggml types (Q6_K, which septet writes, too): every code value
    quant::testing::FillRandomGgmlRows(type, rows, cols, rng, base);
  } else {
    const auto w = testing::RandomWeights(rng, rows * cols, 0.05f);
    for (int64_t r = 0; r < rows; ++r) t.from_float(w.data() + r * cols, base + r * rb, cols, nullptr);
  }
  if (scramble_codes) {  // every code value, not only the quantizer's choices (full blocks only)
    std::uniform_int_distribution<int> byte(0, 255);
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t* row = base + r * rb;
      if (type == DType::kQ3P5) {
        for (int64_t b = 0; b < cols / 128; ++b) {
          for (size_t i = 4; i < 56; ++i) row[b * 56 + i] = static_cast<uint8_t>(byte(rng));
        }
      } else if (type == DType::kQ3P5_NL) {  // every byte but d, short block included
        for (int64_t i0 = 0; i0 < cols; i0 += 128) {
          const int64_t len = std::min<int64_t>(128, cols - i0);
          const size_t ns = static_cast<size_t>((len + 31) / 32), bytes = quant::Q3P5NLShortBlockBytes(len);
          uint8_t* blk = row + quant::Q3P5NLRowBytes(i0);
          for (size_t i = 0; i < bytes; ++i) {
            if (i < 12 * ns || i >= 12 * ns + 2) blk[i] = static_cast<uint8_t>(byte(rng));
          }
        }
      } else if (type == DType::kQ4_NL || type == DType::kQ4_T) {  // every byte but d, short block included
        for (int64_t i0 = 0; i0 < cols; i0 += 128) {
          const int64_t len = std::min<int64_t>(128, cols - i0);
          const size_t ns = static_cast<size_t>((len + 31) / 32), bytes = quant::Q4NLShortBlockBytes(len);
          uint8_t* blk = row + quant::Q4NLRowBytes(i0);
          for (size_t i = 0; i < bytes; ++i) {
            if (i < 16 * ns || i >= 16 * ns + 2) blk[i] = static_cast<uint8_t>(byte(rng));
          }
        }
      } else if (type == DType::kQ4_G) {
        for (int64_t b = 0; b < cols / 128; ++b) {
          for (size_t i = 4; i < 68; ++i) row[b * 68 + i] = static_cast<uint8_t>(byte(rng));
        }
      } else if (type == DType::kQ8_0) {
        std::uniform_int_distribution<int> code(-127, 127);
        for (int64_t b = 0; b < cols / 32; ++b) {
          for (size_t i = 2; i < 34; ++i) row[b * 34 + i] = static_cast<uint8_t>(static_cast<int8_t>(code(rng)));
        }
      }
    }
  }
  m.view = cpu::WeightView{type, rows, cols, base, rb};
  return m;
}

// M of the error model for row r (block formats), from the stored fields.
double BlockMagnitude(const cpu::WeightView& w, int64_t r, const std::vector<float>& xq) {
  const int64_t n = w.cols;
  const uint8_t* row = w.row(r);
  double m = 0;
  if (w.type == DType::kQ8_0) {
    std::vector<float> wd(static_cast<size_t>(n));
    quant::Q8_0DequantizeRow(row, wd.data(), n);
    for (int64_t k = 0; k < n; ++k) m += std::fabs(double{wd[k]} * xq[k]);
    return m;
  }
  if (w.type == DType::kQ3P5_NL) {  // |x~_k| |d_eff| |sc_g L[u_k]|
    for (int64_t i0 = 0; i0 < n; i0 += 128) {
      const int len = static_cast<int>(std::min<int64_t>(128, n - i0));
      const uint8_t* blk = row + quant::Q3P5NLRowBytes(i0);
      const quant::Q3P5NLParams p = quant::Q3P5NLReadParams(blk, len);
      uint8_t codes[128] = {};
      quant::Q3P5NLReadCodes(blk, len, codes);
      for (int k = 0; k < len; ++k) {
        const int q = p.sc[k / quant::kQ3P5NLGroupSize] * quant::kQ3P5NLLevels[codes[k]];
        m += std::fabs(double{xq[i0 + k]}) * std::fabs(double{p.d}) * std::abs(q);
      }
    }
    return m;
  }
  for (int64_t i0 = 0; i0 < n; i0 += 128) {
    const int len = static_cast<int>(std::min<int64_t>(128, n - i0));
    const int ns = (len + 31) / 32;
    double step = 0, mn = 0;
    uint8_t codes[128] = {};
    if (w.type == DType::kQ3P5) {
      quant::BlockQ3P5 blk{};
      std::memcpy(&blk, row, quant::Q3P5ShortBlockBytes(len) + (len == 128 ? 4 : 0));
      row += len == 128 ? sizeof(blk) : quant::Q3P5ShortBlockBytes(len);
      const auto p = quant::Q3P5UnpackHeader(blk.hdr);
      step = p.d / 2.0;
      mn = p.m;
      quant::Q3P5UnpackCodes(blk, ns, codes);
      for (int k = 0; k < 32 * ns; ++k) {
        if (!(ns == 4 && k / 32 == p.sel)) codes[k] = static_cast<uint8_t>(2 * codes[k]);  // v
      }
    } else {  // Q4_G
      quant::BlockQ4G blk{};
      const size_t bytes = len == 128 ? sizeof(blk) : quant::Q4GShortBlockBytes(len);
      std::memcpy(&blk, row, bytes);
      row += bytes;
      step = Fp16ToFloat(blk.d);
      mn = Fp16ToFloat(blk.m);
      for (int k = 0; k < len; ++k) codes[k] = static_cast<uint8_t>(quant::Q4GCode(blk, k));
    }
    for (int k = 0; k < len; ++k) m += std::fabs(double{xq[i0 + k]}) * (std::fabs(step) * codes[k] + std::fabs(mn));
  }
  return m;
}

// M of the error model for row r of a ggml type paired with Q8_A: per weight
// |x~_k| (|step_k c_k| + |min_k|), from the stored fields (GgmlQ8ADotParts).
double GgmlMagnitude(const cpu::WeightView& w, int64_t r, const std::vector<float>& xq) {
  std::vector<double> a, b;
  quant::testing::GgmlQ8ADotParts(w.type, w.row(r), w.cols, &a, &b);
  double m = 0;
  for (int64_t k = 0; k < w.cols; ++k) m += std::fabs(double{xq[k]}) * (std::fabs(a[k]) + std::fabs(b[k]));
  return m;
}

// The tolerance of the error model (file header) for row r of w against the
// scalar vec_dot; x: the float activations, xq: their Q8_A round trip (or x).
double Tolerance(const cpu::WeightView& w, int64_t r, const std::vector<float>& x, const std::vector<float>& xq) {
  const TypeTraits& t = GetTypeTraits(w.type);
  const int64_t cols = w.cols;
  if (w.type == DType::kQ3P5_SEED || w.type == DType::kQ4_NL || w.type == DType::kQ4_T) return 0;
  if (t.vec_dot_type == DType::kF32) {
    std::vector<float> wd(static_cast<size_t>(cols));
    t.to_float(w.row(r), wd.data(), cols);
    double mag = 0;
    for (int64_t k = 0; k < cols; ++k) mag += std::fabs(double{wd[k]} * x[k]);
    return Gamma(static_cast<double>(cols) + 2) * mag;
  }
  const double ns = std::ceil(static_cast<double>(cols) / 32.0);
  const double mag = t.whole_blocks ? GgmlMagnitude(w, r, xq) : BlockMagnitude(w, r, xq);
  return 2 * Gamma(ns + 5) * mag;
}

class SimdMatVecTest : public hwy::TestWithParamTarget {};
// (hwy's HWY_TARGET_INSTANTIATE_TEST_SUITE_P spelled out: its unqualified
// `testing::` would resolve to septet::testing here.)
INSTANTIATE_TEST_SUITE_P(SimdMatVecTestGroup, SimdMatVecTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()),
                         ::hwy::TestParamTargetName);

const DType kWeightTypes[] = {DType::kQ3P5,  DType::kQ3P5_NL, DType::kQ4_G,   DType::kQ4_NL, DType::kQ4_T, DType::kQ8_0,
                              DType::kQ3P5_SEED, DType::kF32, DType::kF16,     DType::kBF16,  DType::kQ4_0,
                              DType::kQ4_1,  DType::kQ5_0,    DType::kQ5_1,    DType::kQ2_K,  DType::kQ3_K,
                              DType::kQ4_K,  DType::kQ5_K,    DType::kQ6_K,    DType::kIQ4_NL, DType::kIQ4_XS};

// ggml types take whole blocks only.
bool RowLengthOk(const TypeTraits& t, int64_t cols) { return RowLengthFits(t, cols); }

TEST_P(SimdMatVecTest, MatchesRegistryVecDot) {
  for (DType type : kWeightTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    const TypeTraits& at = GetTypeTraits(t.vec_dot_type);
    for (int64_t cols : {32, 64, 96, 100, 127, 128, 160, 172, 256, 300, 512, 576, 768, 1000, 1536, 4096, 4096 + 96}) {
      if (!RowLengthOk(t, cols)) continue;
      for (bool scramble : {false, true}) {
        auto rng = testing::MakeRng(static_cast<uint64_t>(type) * 100003 + static_cast<uint64_t>(cols) * 2 + scramble);
        const int64_t rows = 11;
        Matrix w = MakeMatrix(type, rows, cols, rng, scramble);
        const auto x = testing::RandomWeights(rng, cols, 1.0f);
        std::vector<uint8_t> act(at.row_bytes(cols) + 1);
        uint8_t* a = act.data() + 1;  // misaligned on purpose
        QuantizeActivation(t.vec_dot_type, x.data(), cols, a);
        std::vector<float> xq(static_cast<size_t>(cols));
        if (t.vec_dot_type == DType::kF32) {
          xq = x;
        } else {
          at.to_float(a, xq.data(), cols);
        }
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {3, 10}, {5, 6}, {7, 7}}) {
          std::vector<float> y(static_cast<size_t>(rows), -1.0f);
          MatVecRows(w.view, r0, r1, a, y.data());
          for (int64_t r = r0; r < r1; ++r) {
            const float ref = t.vec_dot(cols, w.view.row(r), a);
            const float got = y[r - r0];
            const double tol = Tolerance(w.view, r, x, xq);
            ASSERT_LE(std::fabs(double{got} - ref), tol)
                << t.name << " cols=" << cols << " scramble=" << scramble << " row " << r << " of [" << r0
                << "," << r1 << "): simd " << got << " scalar " << ref << " target " << TargetName();
          }
          for (int64_t i = r1 - r0; i < rows; ++i) ASSERT_EQ(y[i], -1.0f) << "wrote past r1 - r0";
        }
      }
    }
  }
}

TEST_P(SimdMatVecTest, MatMulRowsEqualsMatVecRowsPerToken) {
  for (DType type : kWeightTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    const TypeTraits& at = GetTypeTraits(t.vec_dot_type);
    for (int64_t cols : {64, 96, 100, 172, 512, 576, 1536, 4096 + 96}) {
      if (!RowLengthOk(t, cols)) continue;
      auto rng = testing::MakeRng(static_cast<uint64_t>(type) * 7919 + static_cast<uint64_t>(cols));
      const int64_t rows = 9;
      Matrix w = MakeMatrix(type, rows, cols, rng, false);
      const int64_t max_m = 65;
      const size_t act_stride = at.row_bytes(cols) + 5;  // odd stride: rows misaligned
      std::vector<uint8_t> act(act_stride * max_m);
      for (int64_t tk = 0; tk < max_m; ++tk) {
        const auto x = testing::RandomWeights(rng, cols, 1.0f);
        QuantizeActivation(t.vec_dot_type, x.data(), cols, act.data() + tk * act_stride);
      }
      for (int64_t m : {1, 2, 5, 8, 15, 16, 33, 65}) {  // tile edges: 8 and 16 lanes, the 15-token one-tile GEMMs
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {1, 6}, {8, 9}}) {
          const int64_t y_stride = rows + 3;
          std::vector<float> y(static_cast<size_t>(y_stride * m), -7.0f);
          MatMulRows(w.view, r0, r1, act.data(), act_stride, m, y.data(), y_stride);
          for (int64_t tk = 0; tk < m; ++tk) {
            std::vector<float> yv(static_cast<size_t>(r1 - r0));
            MatVecRows(w.view, r0, r1, act.data() + tk * act_stride, yv.data());
            for (int64_t r = 0; r < y_stride; ++r) {
              const float got = y[tk * y_stride + r];
              if (r >= r0 && r < r1) {
                ASSERT_EQ(std::memcmp(&got, &yv[r - r0], 4), 0)
                    << t.name << " cols=" << cols << " m=" << m << " token " << tk << " row " << r << ": matmul "
                    << got << " matvec " << yv[r - r0] << " target " << TargetName();
              } else {
                ASSERT_EQ(got, -7.0f) << "MatMulRows wrote outside [r0, r1): row " << r;
              }
            }
          }
        }
      }
    }
  }
}

// The load-time rows of 16 of a ggml type on AVX3_DL (repack.h), or null.
using RepackFn = void (*)(const cpu::WeightView&, std::vector<uint8_t>*, cpu::WeightView*);
RepackFn Rows16Repack(DType type) {
  if (type == DType::kQ4_K) return RepackQ4KRows16;
  if (type == DType::kQ5_K) return RepackQ5KRows16;
  return type == DType::kQ6_K ? RepackQ6KRows16 : nullptr;
}

// Whole rows of one byte pattern (every code at an extreme or a fixed mix: all
// nibbles 0 or 15, 6-bit fields 0 or 63, Q6_K sub-scales -128 / -1 / 127, Q3_K
// codes -4 or 3 and scales -32 or 31), fp16
// scales +-1 (one sign per row and field, so blocks never cancel), against
// activations of constant |x_q| = 127 (x = +-1: d = 1/127), all positive,
// alternating, or in runs of 16: the integer sums reach their
// bounds (e.g. Q6_K's 16646144), where a saturating int16 step or a wrong bound
// would show. SIMD against the scalar vec_dot with the same tolerance; Q4_K,
// Q5_K and Q6_K again on their load-time rows of 16, bit for bit equal to the
// file layout.
TEST_P(SimdMatVecTest, GgmlExtremeBlocksMatchRegistryVecDot) {
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                     DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS}) {
    const TypeTraits& t = GetTypeTraits(type);
    ASSERT_EQ(t.vec_dot_type, DType::kQ8_A) << t.name;
    const int64_t cols = 512, rows = 5;
    std::vector<uint8_t> bytes(t.row_bytes(cols) * rows);
    const std::vector<size_t> scale_offsets = quant::testing::GgmlScaleOffsets(type);
    for (uint8_t pattern : {0x00, 0xFF, 0x80, 0x7F, 0x0F, 0xF0, 0x55}) {
      for (int sign_mode = 0; sign_mode < 3; ++sign_mode) {
        std::fill(bytes.begin(), bytes.end(), pattern);
        for (int64_t b = 0; b < rows * (cols / t.block_size); ++b) {
          const int64_t row = b / (cols / t.block_size);  // one sign per row and field: no cancelling blocks
          for (size_t i = 0; i < scale_offsets.size(); ++i) {
            const uint16_t h = FloatToFp16(((row + static_cast<int64_t>(i)) % 2 == 0) ? 1.0f : -1.0f);
            std::memcpy(bytes.data() + b * t.block_bytes + scale_offsets[i], &h, 2);
          }
        }
        const cpu::WeightView view{type, rows, cols, bytes.data(), t.row_bytes(cols)};
        std::vector<float> x(static_cast<size_t>(cols));
        for (int64_t k = 0; k < cols; ++k) {
          const bool neg = sign_mode == 1 ? k % 2 == 1 : sign_mode == 2 ? (k / 16) % 2 == 1 : false;
          x[k] = neg ? -1.0f : 1.0f;
        }
        std::vector<uint8_t> act(GetTypeTraits(DType::kQ8_A).row_bytes(cols));
        QuantizeActivation(DType::kQ8_A, x.data(), cols, act.data());
        std::vector<float> xq(static_cast<size_t>(cols));
        GetTypeTraits(DType::kQ8_A).to_float(act.data(), xq.data(), cols);
        std::vector<float> y(static_cast<size_t>(rows));
        MatVecRows(view, 0, rows, act.data(), y.data());
        for (int64_t r = 0; r < rows; ++r) {
          const float ref = t.vec_dot(cols, view.row(r), act.data());
          ASSERT_LE(std::fabs(double{y[r]} - ref), Tolerance(view, r, x, xq))
              << t.name << " pattern 0x" << std::hex << int{pattern} << std::dec << " signs " << sign_mode << " row "
              << r << ": simd " << y[r] << " scalar " << ref << " target " << TargetName();
        }
        // The GEMMs at the same extremes (8 and 16 tokens of this activation; the int16
        // pair sums of the AVX2 tiles at their bound): MatVec's bits.
        for (int64_t m : {8, 16}) {
          std::vector<uint8_t> acts(act.size() * static_cast<size_t>(m));
          for (int64_t tk = 0; tk < m; ++tk) std::memcpy(acts.data() + tk * act.size(), act.data(), act.size());
          std::vector<float> ym(static_cast<size_t>(rows * m));
          MatMulRows(view, 0, rows, acts.data(), act.size(), m, ym.data(), rows);
          for (int64_t tk = 0; tk < m; ++tk) {
            for (int64_t r = 0; r < rows; ++r) {
              ASSERT_EQ(std::memcmp(&ym[tk * rows + r], &y[r], 4), 0)
                  << t.name << " pattern 0x" << std::hex << int{pattern} << std::dec << " signs " << sign_mode
                  << " m=" << m << " token " << tk << " row " << r << ": matmul " << ym[tk * rows + r] << " matvec "
                  << y[r] << " target " << TargetName();
            }
          }
          if (const auto repack = Rows16Repack(type); repack != nullptr && m == 16) {  // the same bits
            std::vector<uint8_t> packed;
            cpu::WeightView rows16;
            repack(view, &packed, &rows16);
            testing_repack::ExpectRepackedGivesFileBits(view, rows16, acts.data(), act.size(), {{0, rows}, {1, 4}},
                                                        {1, 8, 16});
            if (HasFailure()) return;
          }
        }
      }
    }
  }
}

// Q3P5_NL rows at the extremes, full and short blocks (n = 64, 100, 576, 1536,
// 4096): codes all 0 (L = -127), all 7, every code in turn or random; scales
// all -32, all 31, alternating -32 / 31 or random in [-32, 31]; D = +-1 (one
// sign per row), against |x_q| = 127 with all-positive, alternating or
// run-of-16 signs. Codes 0, scales -32 and x_q = 127 reach |isum_s| = 16516096,
// the header's int32 bound. SIMD against the scalar vec_dot (same tolerance),
// and MatMul (3, 7 and 35 tokens: see the Q4_NL test) against MatVec per token,
// bit for bit; both again on the load-time kQ3P5NLPlanes and kQ3P5NLRows16
// layouts, bit for bit equal to the file layout's results.
TEST_P(SimdMatVecTest, Q3P5NLExtremeBlocksMatchRegistryVecDot) {
  const TypeTraits& t = GetTypeTraits(DType::kQ3P5_NL);
  const TypeTraits& at = GetTypeTraits(DType::kQ8_A);
  ASSERT_EQ(t.vec_dot_type, DType::kQ8_A);
  auto rng = testing::MakeRng(206);
  for (int64_t cols : {64, 100, 576, 1536, 4096}) {
    const int64_t rows = 5;
    const size_t rb = t.row_bytes(cols);
    ASSERT_EQ(rb, quant::Q3P5NLRowBytes(cols));
    std::vector<uint8_t> bytes(rb * rows + 1);
    uint8_t* base = bytes.data() + 1;  // misaligned on purpose
    for (int code_mode = 0; code_mode < 4; ++code_mode) {
      for (int scale_mode = 0; scale_mode < 4; ++scale_mode) {
        for (int64_t r = 0; r < rows; ++r) {
          const uint16_t d16 = FloatToFp16(r % 2 == 0 ? 1.0f : -1.0f);
          for (int64_t i0 = 0; i0 < cols; i0 += 128) {
            const int len = static_cast<int>(std::min<int64_t>(128, cols - i0));
            int8_t sc[8];
            uint8_t codes[128];
            for (int g = 0; g < 8; ++g) {
              sc[g] = static_cast<int8_t>(scale_mode == 0   ? -32
                                          : scale_mode == 1 ? 31
                                          : scale_mode == 2 ? (g % 2 == 0 ? -32 : 31)
                                                            : std::uniform_int_distribution<int>(-32, 31)(rng));
            }
            for (int k = 0; k < 128; ++k) {
              codes[k] = static_cast<uint8_t>(code_mode == 0   ? 0
                                              : code_mode == 1 ? 7
                                              : code_mode == 2 ? (k + r) % 8
                                                               : std::uniform_int_distribution<int>(0, 7)(rng));
            }
            quant::Q3P5NLWriteBlock(d16, sc, codes, len, base + r * rb + quant::Q3P5NLRowBytes(i0));
          }
        }
        const cpu::WeightView view{DType::kQ3P5_NL, rows, cols, base, rb};
        std::vector<uint8_t> packed, packed16;
        cpu::WeightView planes, rows16;
        RepackQ3P5NLPlanes(view, &packed, &planes);
        RepackQ3P5NLRows16(view, &packed16, &rows16);
        for (int sign_mode = 0; sign_mode < 3; ++sign_mode) {
          std::vector<float> x(static_cast<size_t>(cols));
          for (int64_t k = 0; k < cols; ++k) {
            const bool neg = sign_mode == 1 ? k % 2 == 1 : sign_mode == 2 ? (k / 16) % 2 == 1 : false;
            x[k] = neg ? -1.0f : 1.0f;
          }
          std::vector<uint8_t> act(at.row_bytes(cols));
          QuantizeActivation(DType::kQ8_A, x.data(), cols, act.data());
          std::vector<float> xq(static_cast<size_t>(cols));
          at.to_float(act.data(), xq.data(), cols);
          constexpr int64_t kM = 35;
          std::vector<float> y(static_cast<size_t>(rows)), ym(static_cast<size_t>(kM * rows));
          MatVecRows(view, 0, rows, act.data(), y.data());
          for (int64_t r = 0; r < rows; ++r) {
            const float ref = t.vec_dot(cols, view.row(r), act.data());
            ASSERT_LE(std::fabs(double{y[r]} - ref), Tolerance(view, r, x, xq))
                << "Q3P5_NL cols=" << cols << " codes " << code_mode << " scales " << scale_mode << " signs "
                << sign_mode << " row " << r << ": simd " << y[r] << " scalar " << ref << " target " << TargetName();
          }
          for (int64_t m : {int64_t{3}, int64_t{7}, kM}) {
            MatMulRows(view, 0, rows, act.data(), 0, m, ym.data(), rows);
            for (int64_t r = 0; r < rows; ++r) {
              for (int64_t tk = 0; tk < m; ++tk) {
                ASSERT_EQ(std::memcmp(&y[r], &ym[tk * rows + r], 4), 0)
                    << "Q3P5_NL cols=" << cols << " m=" << m << " row " << r << " token " << tk << ": matvec "
                    << y[r] << " matmul " << ym[tk * rows + r] << " target " << TargetName();
              }
            }
          }
          // The kQ3P5NLPlanes and kQ3P5NLRows16 layouts (repack.h): the same
          // integers, the same bits.
          for (const cpu::WeightView& packed_view : {planes, rows16}) {
            std::vector<float> yp(static_cast<size_t>(rows)), ypm(static_cast<size_t>(kM * rows));
            MatVecRows(packed_view, 0, rows, act.data(), yp.data());
            for (int64_t r = 0; r < rows; ++r) {
              ASSERT_EQ(std::memcmp(&y[r], &yp[r], 4), 0)
                  << "Q3P5_NL layout " << static_cast<int>(packed_view.layout) << " cols=" << cols << " row " << r << ": " << yp[r]
                  << " file layout " << y[r] << " target " << TargetName();
            }
            for (int64_t m : {int64_t{3}, int64_t{7}, int64_t{16}, kM, int64_t{70}}) {
              ypm.resize(static_cast<size_t>(m * rows));
              MatMulRows(packed_view, 0, rows, act.data(), 0, m, ypm.data(), rows);
              for (int64_t r = 0; r < rows; ++r) {
                for (int64_t tk = 0; tk < m; ++tk) {
                  ASSERT_EQ(std::memcmp(&y[r], &ypm[tk * rows + r], 4), 0)
                      << "Q3P5_NL layout " << static_cast<int>(packed_view.layout) << " matmul cols=" << cols << " m=" << m
                      << " row " << r << " token " << tk << " target " << TargetName();
                }
              }
            }
          }
        }
      }
    }
  }
}

// Q4_NL rows at the extremes, full and short blocks (n = 64, 100, 576, 1536,
// 4096 + 96): codes all 0 (L = -127), all 15 (L = 101), every code in turn or
// random; scales all -8, all 7, alternating -8 / 7 or random in [-8, 7]; D = +-1
// (one sign per row) or a random fp16 per block; against |x_q| = 127 with
// all-positive, alternating or run-of-16 signs. Codes 0, scales -8 and
// x_q = 127 reach |isum_s| = 4129024, the header's int32 bound. MatVec and
// MatMul (3 tokens: a row tile's per-token steps; 7: AVX3_DL's VNNI lanes, 8 of
// them; 35: lanes of 16, two full tiles and one of 3; 16: the rows of 16's
// largest own tile) bit for bit equal to the scalar Q4NLVecDot, on the file
// layout and on the load-time kQ4NLRows16 layout. The same rows read as Q4_T
// (Q4_NL's container; its levels through the trellis: codes 0 keep every branch
// bit 0, so every level is L[0] = -127 and the bound is reached as well), on the
// file layout and on kQ4TRows16.
TEST_P(SimdMatVecTest, Q4NLExtremeBlocksBitIdenticalToScalar) {
  for (const DType type : {DType::kQ4_NL, DType::kQ4_T}) {
    const TypeTraits& t = GetTypeTraits(type);
    const TypeTraits& at = GetTypeTraits(DType::kQ8_A);
    ASSERT_EQ(t.vec_dot_type, DType::kQ8_A);
    auto rng = testing::MakeRng(207);
    for (int64_t cols : {64, 100, 576, 1536, 4096 + 96}) {
      const int64_t rows = 5;
      const size_t rb = t.row_bytes(cols);
      ASSERT_EQ(rb, quant::Q4NLRowBytes(cols));
      std::vector<uint8_t> bytes(rb * rows + 1);
      uint8_t* base = bytes.data() + 1;  // misaligned on purpose
      for (int code_mode = 0; code_mode < 4; ++code_mode) {
        for (int scale_mode = 0; scale_mode < 4; ++scale_mode) {
          for (int64_t r = 0; r < rows; ++r) {
            for (int64_t i0 = 0; i0 < cols; i0 += 128) {
              const int len = static_cast<int>(std::min<int64_t>(128, cols - i0));
              const float d = scale_mode == 3 ? std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng)
                                              : (r % 2 == 0 ? 1.0f : -1.0f);
              int8_t sc[4];
              uint8_t codes[128];
              for (int s = 0; s < 4; ++s) {
                sc[s] = static_cast<int8_t>(scale_mode == 0   ? -8
                                            : scale_mode == 1 ? 7
                                            : scale_mode == 2 ? (s % 2 == 0 ? -8 : 7)
                                                              : std::uniform_int_distribution<int>(-8, 7)(rng));
              }
              for (int k = 0; k < 128; ++k) {
                codes[k] = static_cast<uint8_t>(code_mode == 0   ? 0
                                                : code_mode == 1 ? 15
                                                : code_mode == 2 ? (k + r) % 16
                                                                 : std::uniform_int_distribution<int>(0, 15)(rng));
              }
              quant::Q4NLWriteBlock(FloatToFp16(d), sc, codes, len, base + r * rb + quant::Q4NLRowBytes(i0));
            }
          }
          const cpu::WeightView file{type, rows, cols, base, rb};
          std::vector<uint8_t> packed16;
          cpu::WeightView rows16;
          (type == DType::kQ4_NL ? RepackQ4NLRows16 : RepackQ4TRows16)(file, &packed16, &rows16);
          for (int sign_mode = 0; sign_mode < 3; ++sign_mode) {
            std::vector<float> x(static_cast<size_t>(cols));
            for (int64_t k = 0; k < cols; ++k) {
              const bool neg = sign_mode == 1 ? k % 2 == 1 : sign_mode == 2 ? (k / 16) % 2 == 1 : false;
              x[k] = neg ? -1.0f : 1.0f;
            }
            std::vector<uint8_t> act(at.row_bytes(cols));
            QuantizeActivation(DType::kQ8_A, x.data(), cols, act.data());
            // The file layout and the load-time kQ4NLRows16 / kQ4TRows16 layout (repack.h).
            for (const cpu::WeightView& view : {file, rows16}) {
              const int layout = static_cast<int>(view.layout);
              std::vector<float> y(static_cast<size_t>(rows));
              MatVecRows(view, 0, rows, act.data(), y.data());
              for (int64_t m : {3, 7, 16, 35, 70}) {
                std::vector<float> ym(static_cast<size_t>(m * rows));
                MatMulRows(view, 0, rows, act.data(), 0, m, ym.data(), rows);
                for (int64_t r = 0; r < rows; ++r) {
                  const float ref = t.vec_dot(cols, file.row(r), act.data());
                  ASSERT_EQ(std::memcmp(&y[r], &ref, 4), 0)
                      << t.name << " layout " << layout << " cols=" << cols << " codes " << code_mode << " scales "
                      << scale_mode << " signs " << sign_mode << " row " << r << ": simd " << y[r] << " scalar " << ref
                      << " target " << TargetName();
                  for (int64_t tk = 0; tk < m; ++tk) {
                    ASSERT_EQ(std::memcmp(&ref, &ym[tk * rows + r], 4), 0)
                        << t.name << " layout " << layout << " matmul cols=" << cols << " m=" << m << " row " << r
                        << " token " << tk << ": " << ym[tk * rows + r] << " scalar " << ref << " target "
                        << TargetName();
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// ---- QuantizeActivation: byte-identical to the registry from_float ----

void ExpectSameBytes(DType act_type, const std::vector<float>& x, const std::string& what) {
  const TypeTraits& at = GetTypeTraits(act_type);
  const int64_t n = static_cast<int64_t>(x.size());
  const size_t bytes = at.row_bytes(n);
  std::vector<uint8_t> ref(bytes + 1, 0xAB), got(bytes + 1, 0xCD);
  at.from_float(x.data(), ref.data(), n, nullptr);
  QuantizeActivation(act_type, x.data(), n, got.data());
  for (size_t i = 0; i < bytes; ++i) {
    ASSERT_EQ(got[i], ref[i]) << at.name << " " << what << " n=" << n << ": first differing byte " << i
                              << " target " << TargetName();
  }
  ASSERT_EQ(got[bytes], 0xCD) << "wrote past row_bytes";
}

TEST_P(SimdMatVecTest, QuantizeActivationIsByteIdentical) {
  auto rng = testing::MakeRng(17);
  for (DType act_type : {DType::kQ8_A, DType::kQ8_B, DType::kQ8_R, DType::kF32}) {
    for (int64_t n : {0, 1, 5, 7, 8, 9, 31, 32, 33, 64, 100, 127, 128, 129, 300, 4096, 4099}) {
      ExpectSameBytes(act_type, testing::RandomWeights(rng, n, 1.0f), "random");
      // Exact ties: amax = 127 gives d = 1 and x = k + 1/2 rounds to even.
      std::vector<float> ties(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) ties[i] = static_cast<float>(i % 254 - 127) + (i % 3 == 0 ? 0.5f : 0.0f);
      if (n > 0) ties[0] = 127.0f;
      ExpectSameBytes(act_type, ties, "ties");
      std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
      ExpectSameBytes(act_type, zeros, "zeros");
      if (n >= 3) {
        auto special = testing::RandomWeights(rng, n, 1.0f);
        special[1] = std::nanf("");
        special[n - 1] = -0.0f;
        ExpectSameBytes(act_type, special, "nan");
        special[2] = INFINITY;
        ExpectSameBytes(act_type, special, "inf");
        std::vector<float> tiny(static_cast<size_t>(n), 1e-42f);  // subnormal scale
        tiny[0] = -3e-41f;
        ExpectSameBytes(act_type, tiny, "subnormal");
      }
    }
  }
}

// Which targets this machine runs the per-target tests on (every compiled one it
// supports: an AVX-512 host tests the AVX3/AVX3_DL code, an AVX2 host does not),
// and which one dispatch picks for the engine.
TEST(SimdTargetTest, ReportsTarget) {
  const std::string name = TargetName();
  EXPECT_FALSE(name.empty());
  std::string tested;
  for (const int64_t t : ::hwy::SupportedAndGeneratedTargets()) tested += std::string(" ") + ::hwy::TargetName(t);
  EXPECT_FALSE(tested.empty());
  std::printf("simd target: %s (dispatched); kernel tests run on:%s\n", name.c_str(), tested.c_str());
}

}  // namespace
}  // namespace septet::simd
