// InputPrep (quantize/input_prep.h) and the quantizer's row schedulers
// (quantize/parallel_rows.h): whatever runs ahead on helper threads, and however the
// rows are split, the results are the on-demand ones bit for bit.
#include "quantize/input_prep.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <vector>

#include "quant/registry.h"
#include "quantize/parallel_rows.h"
#include "util/test_util.h"

namespace septet::quantize {
namespace {

// Statistics of `rows` correlated inputs (x = A z, z Gaussian), accumulated in the
// lower triangle as the calibration leaves them.
InputStats MakeStats(int64_t cols, int64_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> a(static_cast<size_t>(cols * cols));
  for (double& v : a) v = g(rng) / static_cast<double>(cols);
  for (int64_t i = 0; i < cols; ++i) a[static_cast<size_t>(i * cols + i)] += 1.0;
  InputStats s;
  s.cols = cols;
  s.sum_sq.assign(static_cast<size_t>(cols), 0.0);
  s.xtx.assign(static_cast<size_t>(cols * cols), 0.0);
  std::vector<double> z(static_cast<size_t>(cols)), x(z.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (double& v : z) v = g(rng);
    for (int64_t i = 0; i < cols; ++i) {
      double acc = 0;
      for (int64_t k = 0; k < cols; ++k) acc += a[static_cast<size_t>(i * cols + k)] * z[static_cast<size_t>(k)];
      x[static_cast<size_t>(i)] = static_cast<float>(acc);
    }
    for (int64_t i = 0; i < cols; ++i) {
      s.sum_sq[static_cast<size_t>(i)] += x[static_cast<size_t>(i)] * x[static_cast<size_t>(i)];
      for (int64_t j = 0; j <= i; ++j) s.xtx[static_cast<size_t>(i * cols + j)] += x[static_cast<size_t>(i)] * x[static_cast<size_t>(j)];
    }
  }
  s.rows_seen = rows;
  return s;
}

template <typename T>
bool SameBits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Five inputs (widths of SmolLM2's 576 scaled down, one not a power of two), some
// rotated, some with a factor asked ahead, one with its float U; every lookahead and
// on-demand thread count gives each H and factor the bits of the direct computation.
TEST(InputPrep, EqualsTheOnDemandPreparation) {
  const int64_t widths[] = {64, 96, 64, 128, 96};
  std::vector<InputStats> stats;
  for (int i = 0; i < 5; ++i) stats.push_back(MakeStats(widths[i], 3 * widths[i], 100 + static_cast<uint64_t>(i)));
  std::vector<InputPrepRequest> req;
  for (int i = 0; i < 5; ++i) req.push_back(InputPrepRequest{&stats[static_cast<size_t>(i)], i % 2 == 0, i != 3, i == 2});
  // The references: H, rotated when asked, and GptqPrepare's factor, one input at a time.
  std::vector<std::vector<double>> h_ref;
  std::vector<GptqFactor> f_ref;
  for (int i = 0; i < 5; ++i) {
    std::vector<double> h = stats[static_cast<size_t>(i)].Hessian();
    if (req[static_cast<size_t>(i)].rotate) RotateHessian(&h, widths[i], 1);
    auto f = GptqPrepare(h, widths[i], 0.01, /*act_order=*/true);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    h_ref.push_back(std::move(h));
    f_ref.push_back(std::move(f.value()));
  }
  for (int lookahead : {0, 1, 2, 7}) {
    for (int threads : {1, 3}) {
      SCOPED_TRACE(::testing::Message() << "lookahead " << lookahead << ", threads " << threads);
      InputPrep prep(req, 0.01, /*act_order=*/true, threads, lookahead);
      for (int i = 0; i < 5; ++i) {
        const InputStats* s = &stats[static_cast<size_t>(i)];
        const std::vector<double>* h = prep.Hessian(s);
        ASSERT_NE(h, nullptr);
        EXPECT_TRUE(SameBits(*h, h_ref[static_cast<size_t>(i)])) << "input " << i << ": H";
        auto f = prep.Factor(s);  // input 3's on demand
        ASSERT_TRUE(f.ok()) << f.status().ToString();
        EXPECT_TRUE(SameBits(f.value()->u, f_ref[static_cast<size_t>(i)].u)) << "input " << i << ": U";
        EXPECT_EQ(f.value()->perm, f_ref[static_cast<size_t>(i)].perm) << "input " << i;
        EXPECT_EQ(f.value()->damp_used, f_ref[static_cast<size_t>(i)].damp_used) << "input " << i;
        if (req[static_cast<size_t>(i)].float_u) {
          const std::vector<float> uf(f_ref[static_cast<size_t>(i)].u.begin(), f_ref[static_cast<size_t>(i)].u.end());
          EXPECT_TRUE(SameBits(f.value()->u_float, uf)) << "input " << i << ": U in float";
        } else {
          EXPECT_TRUE(f.value()->u_float.empty()) << "input " << i;
        }
        prep.Release(s);
        EXPECT_TRUE(prep.Hessian(s)->empty()) << "input " << i << ": released";
      }
      InputStats other = MakeStats(8, 8, 1);
      EXPECT_EQ(prep.Hessian(&other), nullptr);  // not requested
    }
  }
}

// A Hessian that no dampening makes positive definite: the factor's error comes back
// from the helper thread with the input's size in it.
TEST(InputPrep, FactorErrorsComeBack) {
  InputStats s;
  s.cols = 4;
  s.rows_seen = 1;
  s.sum_sq.assign(4, 1.0);
  s.xtx.assign(16, 0.0);
  for (int i = 0; i < 4; ++i) s.xtx[static_cast<size_t>(i * 4 + i)] = 1.0;
  s.xtx[3 * 4 + 0] = 50.0;  // |H_30| > sqrt(H_00 H_33) even after H += I
  InputPrep prep({InputPrepRequest{&s, false, true, false}}, 0.01, false, 1, 1);
  auto f = prep.Factor(&s);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("4 x 4"), std::string::npos) << f.status().message();
}

// Q4_T's search reads the float U from the factor when InputPrep filled it, or rounds
// its own copy: the same codes either way.
TEST(InputPrep, FloatFactorGivesQ4TTheSameBytes) {
  const int64_t n = 256, rows = 9;
  InputStats s = MakeStats(n, 2 * n, 7);
  auto f = GptqPrepare(s.Hessian(), n, 0.01);
  ASSERT_TRUE(f.ok());
  GptqFactor with = f.value();
  AddFloatFactor(&with);
  auto rng = testing::MakeRng(9);
  const std::vector<float> w = testing::RandomWeights(rng, rows * n);
  const size_t rb = GetTypeTraits(DType::kQ4_T).row_bytes(n);
  std::vector<uint8_t> a(rb * rows), b(rb * rows);
  std::vector<float> qa(static_cast<size_t>(rows * n)), qb(qa.size());
  GptqQuantizeRows(w.data(), rows, f.value(), DType::kQ4_T, false, qa.data(), a.data(), rb);
  GptqQuantizeRows(w.data(), rows, with, DType::kQ4_T, false, qb.data(), b.data(), rb);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(SameBits(qa, qb));
}

// Every row is handed out exactly once, in ranges of the chunk size, for any thread count.
TEST(ParallelChunks, CoversEveryRowOnce) {
  for (int64_t rows : {0, 1, 7, 32, 33, 100}) {
    for (int64_t chunk : {1, 8, 32, 1000}) {
      for (int threads : {1, 2, 5}) {
        std::vector<std::atomic<int>> seen(static_cast<size_t>(rows));
        std::atomic<bool> bad_range{false};
        ParallelChunks(rows, threads, chunk, [&](int64_t r0, int64_t r1) {
          if (r0 < 0 || r1 > rows || r0 >= r1 || r1 - r0 > chunk || r0 % chunk != 0) bad_range = true;
          for (int64_t r = r0; r < r1; ++r) seen[static_cast<size_t>(r)].fetch_add(1);
        });
        EXPECT_FALSE(bad_range) << rows << " rows, chunk " << chunk << ", " << threads << " threads";
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(seen[static_cast<size_t>(r)].load(), 1) << "row " << r << " of " << rows << ", chunk " << chunk;
        }
      }
    }
  }
}

}  // namespace
}  // namespace septet::quantize
