// The fast-tier matmul driver against references:
//   * own path (SIMD MatVecRows / MatMulRows over the pool): bit-identical for
//     every pool size and between m = 1 calls and one m-row call;
//   * both paths against a float64 sum of x . dequant(W) with derived bounds:
//       BLAS (float x, float sgemm, some summation order):
//         |err| <= gamma_K * sum_k |x_k w_k|,  gamma_K = K u / (1 - K u), u = 2^-24
//       own path, quantized weight types (x rounded to int8 per 32-block, step d_b):
//         |err| <= sum_b (d_b / 2) * sum_{k in b} |w_k| + gamma_K-term for the float combination.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/simd/repack.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::kernels {
namespace {

struct Matrix {
  DType type;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // dequantized, [rows][cols]
  cpu::WeightView view() const {
    const TypeTraits& t = GetTypeTraits(type);
    return {type, rows, cols, bytes.data(), t.row_bytes(cols)};
  }
};

Matrix MakeMatrix(DType type, int64_t rows, int64_t cols, uint64_t salt) {
  auto rng = testing::MakeRng(salt);
  const std::vector<float> w = testing::RandomWeights(rng, rows * cols);
  const TypeTraits& t = GetTypeTraits(type);
  Matrix m{type, rows, cols, std::vector<uint8_t>(t.row_bytes(cols) * static_cast<size_t>(rows)),
           std::vector<float>(static_cast<size_t>(rows * cols))};
  for (int64_t r = 0; r < rows; ++r) {
    t.from_float(w.data() + r * cols, m.bytes.data() + r * t.row_bytes(cols), cols, nullptr);
    t.to_float(m.bytes.data() + r * t.row_bytes(cols), m.deq.data() + r * cols, cols);
  }
  return m;
}

std::vector<float> RandomActs(int64_t n, uint64_t salt) {
  auto rng = testing::MakeRng(salt);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = g(rng);
  return x;
}

constexpr double kU = 0x1p-24;
double Gamma(int64_t n) { return n * kU / (1.0 - n * kU); }

const DType kTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0,
                        DType::kQ4_G, DType::kQ3P5, DType::kQ3P5_SEED};

std::vector<float> RunMatMul(const cpu::WeightView& w, const std::vector<float>& x, int64_t m, int threads,
                             PrefillPath path, bool one_row_at_a_time) {
  ThreadPool pool(threads);
  MatMulContext ctx;
  ctx.pool = &pool;
  ctx.prefill = path;
  ctx.min_macs_per_task = 1;  // split every job, however small
  std::vector<float> y(static_cast<size_t>(m * w.rows));
  if (one_row_at_a_time) {
    for (int64_t i = 0; i < m; ++i) MatMul(w, x.data() + i * w.cols, 1, y.data() + i * w.rows, &ctx);
  } else {
    MatMul(w, x.data(), m, y.data(), &ctx);
  }
  return y;
}
std::vector<float> RunMatMul(const Matrix& w, const std::vector<float>& x, int64_t m, int threads, PrefillPath path,
                             bool one_row_at_a_time) {
  return RunMatMul(w.view(), x, m, threads, path, one_row_at_a_time);
}

TEST(FastMatMulTest, OwnPathBitIdenticalAcrossThreadsAndBatching) {
  for (DType type : kTypes) {
    for (int64_t cols : {64, 172, 256, 1000}) {
      const Matrix w = MakeMatrix(type, 77, cols, 1);
      const int64_t m = 19;
      const std::vector<float> x = RandomActs(m * cols, 2);
      const std::vector<float> ref = RunMatMul(w, x, m, 1, PrefillPath::kOwnGemm, true);
      for (int threads : {1, 2, 3, 7}) {
        for (bool rowwise : {false, true}) {
          const std::vector<float> got = RunMatMul(w, x, m, threads, PrefillPath::kOwnGemm, rowwise);
          EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
              << DTypeName(type) << " cols=" << cols << " threads=" << threads << " rowwise=" << rowwise;
        }
      }
    }
  }
}

// The same on the load-time repacked layouts the CPU has (simd::RepackRows:
// Q3P5 slots, Q4_G groups of 8 rows, float panels of 16 on AVX2 and up): row
// counts and task ranges that cut the groups and panels, short final blocks.
TEST(FastMatMulTest, RepackedOwnPathBitIdenticalAcrossThreadsAndBatching) {
  for (DType type : kTypes) {
    for (int64_t cols : {172, 1000}) {
      const Matrix w = MakeMatrix(type, 77, cols, 1);
      std::vector<uint8_t> buf;
      cpu::WeightView v;
      if (!simd::RepackRows(w.view(), &buf, &v)) continue;  // no repacked layout for it here
      for (int64_t m : {1, 3, 8, 19}) {
        const std::vector<float> x = RandomActs(m * cols, 2);
        const std::vector<float> ref = RunMatMul(v, x, m, 1, PrefillPath::kOwnGemm, true);
        for (int threads : {1, 2, 3, 7}) {
          for (bool rowwise : {false, true}) {
            const std::vector<float> got = RunMatMul(v, x, m, threads, PrefillPath::kOwnGemm, rowwise);
            EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
                << DTypeName(type) << " cols=" << cols << " m=" << m << " threads=" << threads
                << " rowwise=" << rowwise;
          }
        }
      }
    }
  }
}

// The BLAS path splits rows over tasks like the own path (one single-threaded
// sgemm per task): the same bits for any pool size, for shapes whose row ranges
// cut OpenBLAS's register tiles at different places.
TEST(FastMatMulTest, BlasPathBitIdenticalAcrossThreads) {
  for (DType type : {DType::kF32, DType::kF16, DType::kQ8_0}) {
    for (int64_t rows : {77, 300}) {
      for (int64_t m : {2, 19, 64}) {
        const int64_t cols = 576;
        const Matrix w = MakeMatrix(type, rows, cols, 5);
        const std::vector<float> x = RandomActs(m * cols, 6);
        const std::vector<float> ref = RunMatMul(w, x, m, 1, PrefillPath::kBlas, false);
        for (int threads : {2, 3, 4, 7}) {
          const std::vector<float> got = RunMatMul(w, x, m, threads, PrefillPath::kBlas, false);
          EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
              << DTypeName(type) << " rows=" << rows << " m=" << m << " threads=" << threads;
        }
      }
    }
  }
}

TEST(FastMatMulTest, BothPathsWithinDerivedBoundOfFloat64) {
  for (DType type : kTypes) {
    const int64_t rows = 70, cols = 300, m = 9;
    const Matrix w = MakeMatrix(type, rows, cols, 3);
    const std::vector<float> x = RandomActs(m * cols, 4);
    const std::vector<float> blas = RunMatMul(w, x, m, 2, PrefillPath::kBlas, false);
    const std::vector<float> own = RunMatMul(w, x, m, 2, PrefillPath::kOwnGemm, false);
    const bool int8_acts = GetTypeTraits(type).vec_dot_type != DType::kF32;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t r = 0; r < rows; ++r) {
        double exact = 0, abs_sum = 0, act_err = 0, comb = 0;
        for (int64_t b = 0; b < cols; b += 32) {
          double amax = 0, wabs = 0, wmax = 0, xabs = 0;
          for (int64_t k = b; k < std::min(cols, b + 32); ++k) {
            const double xk = x[static_cast<size_t>(i * cols + k)], wk = w.deq[static_cast<size_t>(r * cols + k)];
            exact += xk * wk;
            abs_sum += std::fabs(xk * wk);
            amax = std::max(amax, std::fabs(xk));
            wabs += std::fabs(wk);
            wmax = std::max(wmax, std::fabs(wk));
            xabs += std::fabs(xk);
          }
          // Affine formats evaluate m * sum(x) + h * sum(x v): with m ~ min(w) and
          // h v <= max(w) - min(w), each term is at most 3 max|w| per |x|.
          comb += 3.0 * wmax * xabs;
          // Q8_A step max|x|/127 per 32-block (Q8_R: one step per row, never smaller per block
          // than the row max; bound it by the row max below).
          act_err += amax / 127.0 / 2.0 * wabs;
        }
        if (type == DType::kQ3P5_SEED) {
          double rmax = 0, wabs = 0, wmax = 0, xabs = 0;
          for (int64_t k = 0; k < cols; ++k) {
            const double xk = x[static_cast<size_t>(i * cols + k)], wk = w.deq[static_cast<size_t>(r * cols + k)];
            rmax = std::max(rmax, std::fabs(xk));
            wabs += std::fabs(wk);
            wmax = std::max(wmax, std::fabs(wk));
            xabs += std::fabs(xk);
          }
          act_err = rmax / 127.0 / 2.0 * wabs;  // one activation step per row
          comb = 3.0 * wmax * xabs;             // one (scale, offset) per row
        }
        const size_t at = static_cast<size_t>(i * rows + r);
        const double blas_bound = Gamma(cols) * abs_sum + 1e-30;
        EXPECT_LE(std::fabs(blas[at] - exact), blas_bound) << DTypeName(type) << " i=" << i << " r=" << r;
        // Own path: float weights are exact products summed in float (gamma bound);
        // int8 paths add the activation rounding and float scale combination.
        const double own_bound =
            (int8_acts ? act_err * 1.0001 : 0.0) + 2 * Gamma(cols) * (abs_sum + comb + act_err) + 1e-30;
        EXPECT_LE(std::fabs(own[at] - exact), own_bound) << DTypeName(type) << " i=" << i << " r=" << r;
      }
    }
  }
}

}  // namespace
}  // namespace septet::kernels
