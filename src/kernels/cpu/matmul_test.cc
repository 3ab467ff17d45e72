#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/embedding.h"
#include "quant/ggml_test_util.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::cpu {
namespace {

// Every storable type the registry has right now (the list grows as formats land).
// Input-only types (no quantizer) get random well-formed rows instead of
// quantized `w`, and row lengths of whole blocks only (WholeBlocks).
std::vector<const TypeTraits*> StorableTypes() {
  std::vector<const TypeTraits*> out;
  for (uint32_t raw = 0; raw < 256; ++raw) {
    const TypeTraits* t = FindTypeTraits(raw);
    if (t != nullptr && !t->is_activation_only) out.push_back(t);
  }
  return out;
}

bool WholeBlocks(const TypeTraits& t, int64_t cols) { return RowLengthFits(t, cols); }

struct Quantized {
  std::vector<uint8_t> bytes;
  WeightView view;
};

Quantized Quantize(const TypeTraits& t, const std::vector<float>& w, int64_t rows, int64_t cols) {
  Quantized q;
  const size_t rb = t.row_bytes(cols);
  q.bytes.resize(rb * static_cast<size_t>(rows));
  if (t.whole_blocks) {
    auto rng = testing::MakeRng(static_cast<uint64_t>(t.type) * 31 + static_cast<uint64_t>(cols));
    quant::testing::FillRandomGgmlRows(t.type, rows, cols, rng, q.bytes.data());
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      t.from_float(w.data() + r * cols, q.bytes.data() + r * rb, cols, nullptr);
    }
  }
  q.view = WeightView{t.type, rows, cols, q.bytes.data(), rb};
  return q;
}

// y = W x against sum_i w~_i x~_i in long double, where w~ is the dequantized
// stored row and x~ the activation after its round trip through vec_dot_type.
// Whatever order vec_dot sums in, each term carries at most a few float
// roundings (block scale products) and the sum at most n-1 more, so
//   |y - ref| <= gamma_{n+4} * sum_i |w~_i x~_i|,  gamma_k = k u / (1 - k u), u = 2^-24.
TEST(MatMulTest, EveryRegistryTypeMatchesDequantizedDot) {
  auto rng = testing::MakeRng(40);
  for (const TypeTraits* t : StorableTypes()) {
    const TypeTraits& at = GetTypeTraits(t->vec_dot_type);
    for (int64_t cols : {1, 2, 31, 32, 33, 64, 127, 172, 256, 300}) {
      if (!WholeBlocks(*t, cols)) continue;
      const int64_t rows = 5;
      auto w = testing::RandomWeights(rng, rows * cols, 0.1f);
      auto x = testing::RandomWeights(rng, cols, 1.0f);
      Quantized q = Quantize(*t, w, rows, cols);
      std::vector<float> wd(static_cast<size_t>(cols)), xd(static_cast<size_t>(cols));
      if (t->vec_dot_type == DType::kF32) {
        xd = x;
      } else {
        ASSERT_NE(at.to_float, nullptr) << at.name;
        std::vector<uint8_t> xa(at.row_bytes(cols));
        at.from_float(x.data(), xa.data(), cols, nullptr);
        at.to_float(xa.data(), xd.data(), cols);
      }
      std::vector<float> y(rows);
      MatMulScratch scratch;
      MatVec(q.view, x.data(), y.data(), &scratch);
      for (int64_t r = 0; r < rows; ++r) {
        t->to_float(q.view.row(r), wd.data(), cols);
        long double ref = 0, abs_sum = 0;
        for (int64_t i = 0; i < cols; ++i) {
          ref += static_cast<long double>(wd[i]) * xd[i];
          abs_sum += std::fabs(static_cast<long double>(wd[i]) * xd[i]);
        }
        const double k = static_cast<double>(cols + 4) * 0x1p-24;
        const double tol = k / (1 - k) * static_cast<double>(abs_sum) + 1e-30;
        ASSERT_NEAR(y[r], static_cast<double>(ref), tol)
            << t->name << " cols=" << cols << " row=" << r;
      }
    }
  }
}

TEST(MatMulTest, BatchEqualsRepeatedMatVecBitwise) {
  auto rng = testing::MakeRng(41);
  for (const TypeTraits* t : StorableTypes()) {
    const int64_t rows = 7, cols = WholeBlocks(*t, 172) ? 172 : 256;
    for (int64_t m : {1, 2, 33}) {
      auto w = testing::RandomWeights(rng, rows * cols, 0.1f);
      auto x = testing::RandomWeights(rng, m * cols, 1.0f);
      Quantized q = Quantize(*t, w, rows, cols);
      std::vector<float> yb(static_cast<size_t>(m * rows)), yv(static_cast<size_t>(rows));
      MatMulScratch scratch;
      MatMul(q.view, x.data(), m, yb.data(), &scratch);
      for (int64_t i = 0; i < m; ++i) {
        MatVec(q.view, x.data() + i * cols, yv.data(), &scratch);
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(yb[i * rows + r], yv[r]) << t->name << " m=" << m << " i=" << i << " r=" << r;
        }
      }
    }
  }
}

TEST(MatMulTest, F32IsExactOnSmallIntegers) {
  // Integer-valued products and sums below 2^24 are exact in float.
  const int64_t rows = 3, cols = 5;
  std::vector<float> w = {1, 2, 3, 4, 5, -1, 0, 1, 0, -1, 2, 2, 2, 2, 2};
  std::vector<float> x = {1, -1, 2, 0, 3};
  Quantized q = Quantize(GetTypeTraits(DType::kF32), w, rows, cols);
  std::vector<float> y(3);
  MatMulScratch scratch;
  MatVec(q.view, x.data(), y.data(), &scratch);
  EXPECT_EQ(y[0], 1 - 2 + 6 + 0 + 15);
  EXPECT_EQ(y[1], -1 + 0 + 2 + 0 - 3);
  EXPECT_EQ(y[2], 2 - 2 + 4 + 0 + 6);
}

TEST(EmbeddingTest, RowIsDequantizedStoredRow) {
  auto rng = testing::MakeRng(42);
  for (const TypeTraits* t : StorableTypes()) {
    const int64_t rows = 9, cols = WholeBlocks(*t, 72) ? 72 : 256;
    auto w = testing::RandomWeights(rng, rows * cols, 0.2f);
    Quantized q = Quantize(*t, w, rows, cols);
    std::vector<float> got(cols), want(cols);
    for (int64_t r : {0, 4, 8}) {
      EmbeddingRow(q.view, r, got.data());
      t->to_float(q.bytes.data() + r * q.view.row_bytes, want.data(), cols);
      EXPECT_EQ(got, want) << t->name << " row " << r;
    }
  }
}

}  // namespace
}  // namespace septet::cpu
