// The quantizer: grids reproduce the formats' own quantizers, GPTQ's algebra, and the
// whole-model path on stories260K (determinism, thread independence, self-contained
// output, clear errors).
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/gguf_reader.h"
#include "io/testing_files.h"
#include "io/model_file.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "quant/int3_rtn.h"
#include "quant/registry.h"
#include "quantize/calibration.h"
#include "quantize/gptq.h"
#include "quantize/grid.h"
#include "quantize/quantizer.h"
#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::quantize {
namespace {

std::vector<uint8_t> Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

TEST(GlobMatch, Wildcards) {
  EXPECT_TRUE(GlobMatch("token_embd.weight", "token_embd.weight"));
  EXPECT_TRUE(GlobMatch("blk.*.ffn_down.weight", "blk.12.ffn_down.weight"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("blk.?.attn_*", "blk.3.attn_q.weight"));
  EXPECT_FALSE(GlobMatch("blk.?.attn_*", "blk.13.attn_q.weight"));
  EXPECT_FALSE(GlobMatch("output.weight", "output_norm.weight"));
}

const DType kGridTypes[] = {DType::kQ3P5, DType::kQ3P5_NL, DType::kQ4_G, DType::kQ4_NL, DType::kQ8_0, DType::kQ3P5_SEED};

// Fit = the format's quantizer on the group, so snapping every weight with the fitted
// parameters and encoding must give the format's own bytes, for full and short blocks.
TEST(RowGrid, ReproducesTheFormatQuantizer) {
  auto rng = testing::MakeRng(1);
  for (DType t : kGridTypes) {
    const TypeTraits& tr = GetTypeTraits(t);
    for (int64_t n : {1, 31, 64, 128, 172, 300, 512}) {
      if (t == DType::kQ8_0 && n % 32 != 0 && n > 32) continue;  // not used for partial ggml blocks
      const std::vector<float> w = testing::RandomWeights(rng, n);
      std::vector<float> imp(static_cast<size_t>(n));
      std::uniform_real_distribution<float> u(0.1f, 2.0f);
      for (float& a : imp) a = u(rng);
      std::vector<uint8_t> want(tr.row_bytes(n)), got(tr.row_bytes(n), 0xAB);
      tr.from_float(w.data(), want.data(), n, imp.data());
      std::vector<float> q(static_cast<size_t>(n));
      auto grid = MakeRowGrid(t, false);
      ASSERT_NE(grid, nullptr);
      GridQuantizeRow(w.data(), n, imp.data(), grid.get(), q.data(), got.data());
      EXPECT_EQ(want, got) << tr.name << " n=" << n;
      std::vector<float> deq(static_cast<size_t>(n));
      tr.to_float(got.data(), deq.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(deq[i], q[i]) << tr.name << " n=" << n << " i=" << i;
    }
  }
}

TEST(RowGrid, RtnInt3IsMinMaxRounding) {
  auto rng = testing::MakeRng(2);
  const std::vector<float> w = testing::RandomWeights(rng, 172);
  std::vector<float> want(172), q(172), stored(172);
  quant::Int3RtnFakeQuantizeRow(w.data(), want.data(), 172);
  auto grid = MakeRowGrid(DType::kF32, true);
  GridQuantizeRow(w.data(), 172, nullptr, grid.get(), q.data(), stored.data());
  EXPECT_EQ(want, q);
  EXPECT_EQ(want, stored);
  for (int g = 0; g < 3; ++g) {  // at most 8 distinct values per group of 64
    std::vector<float> v(want.begin() + 64 * g, want.begin() + std::min(172, 64 * (g + 1)));
    std::sort(v.begin(), v.end());
    EXPECT_LE(std::unique(v.begin(), v.end()) - v.begin(), 8);
  }
  EXPECT_DOUBLE_EQ(quant::Int3RtnRowBitsPerWeight(4096), 3.5);
}

// A random row quantized by GPTQ with factor f and by plain grid rounding with the
// given importance gives the same bytes, for each type.
template <class Rng>
void ExpectGptqIsPlainRounding(const GptqFactor& f, const std::vector<float>& importance,
                               std::initializer_list<DType> types, Rng& rng) {
  const int64_t n = f.cols;
  for (DType t : types) {
    const TypeTraits& tr = GetTypeTraits(t);
    const std::vector<float> w = testing::RandomWeights(rng, n);
    std::vector<uint8_t> a(tr.row_bytes(n)), b(tr.row_bytes(n));
    std::vector<float> q(static_cast<size_t>(n));
    std::vector<float> work(static_cast<size_t>(n));
    auto g1 = MakeRowGrid(t, false), g2 = MakeRowGrid(t, false);
    GptqQuantizeRow(w.data(), f, g1.get(), work.data(), q.data(), a.data());
    GridQuantizeRow(w.data(), n, importance.data(), g2.get(), q.data(), b.data());
    EXPECT_EQ(a, b) << tr.name;
  }
}

// With H = c·I there is nothing to compensate: GPTQ equals plain grid quantization.
TEST(Gptq, DiagonalHessianEqualsPlainRounding) {
  auto rng = testing::MakeRng(3);
  const int64_t n = 300;
  std::vector<double> h(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) h[i * n + i] = 2.0;
  auto f = GptqPrepare(h, n, 0.01);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ExpectGptqIsPlainRounding(f.value(), std::vector<float>(static_cast<size_t>(n), 2.0f),
                            {DType::kQ3P5, DType::kQ3P5_NL, DType::kQ4_G, DType::kQ4_NL, DType::kQ3P5_SEED}, rng);
}

// Act-order on a diagonal H with distinct entries: the permutation sorts diag(H) down
// (ties by index), and with nothing to compensate the permuted pass with static groups
// writes exactly plain rounding (every column snapped in its own group, stored in place).
TEST(Gptq, ActOrderPermutesByEnergyAndStoresInPlace) {
  auto rng = testing::MakeRng(6);
  const int64_t n = 300;
  std::vector<double> h(static_cast<size_t>(n * n), 0.0);
  std::vector<float> diag(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) h[i * n + i] = diag[static_cast<size_t>(i)] = 1.0f + static_cast<float>(i * 7 % 13);
  auto f = GptqPrepare(h, n, 0.01, /*act_order=*/true);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f.value().perm.size(), static_cast<size_t>(n));
  for (int64_t p = 1; p < n; ++p) {
    const int32_t a = f.value().perm[p - 1], b = f.value().perm[p];
    ASSERT_TRUE(diag[a] > diag[b] || (diag[a] == diag[b] && a < b)) << "step " << p << ": " << a << ", " << b;
  }
  EXPECT_EQ(f.value().perm[0], 11) << "the largest diagonal (13 at i = 11: 77 % 13 = 12) first";
  EXPECT_FALSE(std::is_sorted(f.value().perm.begin(), f.value().perm.end()));
  ExpectGptqIsPlainRounding(f.value(), diag, {DType::kQ3P5, DType::kQ3P5_NL, DType::kQ4_G, DType::kQ4_NL, DType::kQ8_0, DType::kQ3P5_SEED},
                            rng);
}

// On correlated inputs GPTQ lowers the output error tr(E H Eᵀ) against rounding with
// the same grid and importance (its whole point), for every block format.
TEST(Gptq, LowersOutputErrorOnCorrelatedInputs) {
  auto rng = testing::MakeRng(4);
  const int64_t n = 128, rows = 32, samples = 512;
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> x(static_cast<size_t>(samples * n));
  for (int64_t s = 0; s < samples; ++s) {
    double prev = 0;
    for (int64_t i = 0; i < n; ++i) {  // AR(1) channels: strong neighbour correlation
      prev = 0.9 * prev + nd(rng);
      x[s * n + i] = prev * (1.0 + (i % 7 == 0 ? 3.0 : 0.0));
    }
  }
  std::vector<double> h(static_cast<size_t>(n * n), 0.0);
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) h[i * n + j] += x[s * n + i] * x[s * n + j] / samples;
  auto f = GptqPrepare(h, n, 0.01);
  ASSERT_TRUE(f.ok());
  auto fa = GptqPrepare(h, n, 0.01, /*act_order=*/true);
  ASSERT_TRUE(fa.ok());
  auto out_err = [&](const std::vector<float>& w, const std::vector<float>& q) {
    double e = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) e += (w[i] - q[i]) * h[i * n + j] * (w[j] - q[j]);
    return e;
  };
  for (DType t : kGridTypes) {
    const TypeTraits& tr = GetTypeTraits(t);
    double e_gptq = 0, e_plain = 0, e_act = 0;
    std::vector<uint8_t> buf(tr.row_bytes(n));
    std::vector<float> work(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> w = testing::RandomWeights(rng, n);
      std::vector<float> q1(static_cast<size_t>(n)), q2(static_cast<size_t>(n)), q3(static_cast<size_t>(n));
      auto g1 = MakeRowGrid(t, false), g2 = MakeRowGrid(t, false), g3 = MakeRowGrid(t, false);
      GptqQuantizeRow(w.data(), f.value(), g1.get(), work.data(), q1.data(), buf.data());
      GridQuantizeRow(w.data(), n, f.value().diag_h.data(), g2.get(), q2.data(), buf.data());
      GptqQuantizeRow(w.data(), fa.value(), g3.get(), work.data(), q3.data(), buf.data());
      e_gptq += out_err(w, q1);
      e_plain += out_err(w, q2);
      e_act += out_err(w, q3);
    }
    std::printf("[gptq] %-10s output error gptq/plain = %.3f, act-order/plain = %.3f\n", tr.name, e_gptq / e_plain,
                e_act / e_plain);
    EXPECT_LT(e_gptq, 0.9 * e_plain) << tr.name;
    EXPECT_LT(e_act, 0.9 * e_plain) << tr.name << " (act-order)";
  }
}

// The blocked many-row GPTQ is the column-by-column one, bit for bit: odd row counts
// (a partial chunk), a row length with a short tail block, every grid (group 32, 64,
// 128 and whole row).
TEST(Gptq, BlockedRowsEqualRowByRow) {
  auto rng = testing::MakeRng(5);
  const int64_t n = 300, rows = 37;
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> x(static_cast<size_t>(600 * n));
  for (int64_t s = 0; s < 600; ++s) {
    double prev = 0;
    for (int64_t i = 0; i < n; ++i) x[s * n + i] = prev = 0.8 * prev + nd(rng);
  }
  std::vector<double> h(static_cast<size_t>(n * n), 0.0);
  for (int64_t s = 0; s < 600; ++s)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) h[i * n + j] += x[s * n + i] * x[s * n + j] / 600;
  auto natural = GptqPrepare(h, n, 0.01);
  ASSERT_TRUE(natural.ok());
  for (int i = 0; i < n; ++i) h[i * n + i] *= 1.0 + (i * 37 % 11) * 0.2;  // distinct energies: a real permutation
  auto permuted = GptqPrepare(h, n, 0.01, /*act_order=*/true);
  ASSERT_TRUE(permuted.ok());
  std::vector<float> w;
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> wr = testing::RandomWeights(rng, n);
    w.insert(w.end(), wr.begin(), wr.end());
  }
  struct Case {
    DType t;
    bool rtn;
  };
  for (const GptqFactor* f : {&natural.value(), &permuted.value()})
  for (const Case c : {Case{DType::kQ3P5, false}, Case{DType::kQ3P5_NL, false}, Case{DType::kQ4_G, false}, Case{DType::kQ4_NL, false},
                       Case{DType::kQ8_0, false}, Case{DType::kQ3P5_SEED, false}, Case{DType::kF32, true}}) {
    SCOPED_TRACE(f->perm.empty() ? "natural order" : "act-order");
    const size_t rb = GetTypeTraits(c.t).row_bytes(n);
    std::vector<uint8_t> a(rb * rows), b(rb * rows);
    std::vector<float> qa(w.size()), qb(w.size());
    std::vector<float> work(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      auto g = MakeRowGrid(c.t, c.rtn);
      GptqQuantizeRow(w.data() + r * n, *f, g.get(), work.data(), qa.data() + r * n, a.data() + r * rb);
    }
    GptqQuantizeRows(w.data(), rows, *f, c.t, c.rtn, qb.data(), b.data(), rb);
    EXPECT_EQ(a, b) << DTypeName(c.t) << (c.rtn ? " (RTN3)" : "");
    EXPECT_EQ(0, std::memcmp(qa.data(), qb.data(), qa.size() * sizeof(float))) << DTypeName(c.t);
  }
}

// Q4_T (quant/q4_t.h): GPTQ through the trellis search with each survivor's own
// error feedback lowers the output error against the plain trellis quantizer with
// the same importance, and lands below GPTQ on Q4_NL, the same bits with 16 scalar
// levels (AR(1) inputs with a few loud channels; a short tail block).
TEST(Gptq, TrellisLowersOutputErrorBelowQ4NL) {
  auto rng = testing::MakeRng(7);
  const int64_t n = 300, rows = 24, samples = 900;
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> h(static_cast<size_t>(n * n), 0.0);
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t s = 0; s < samples; ++s) {
    double prev = 0;
    for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = (prev = 0.9 * prev + nd(rng)) * (i % 7 == 0 ? 4.0 : 1.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) h[i * n + j] += x[static_cast<size_t>(i)] * x[static_cast<size_t>(j)] / samples;
  }
  auto f = GptqPrepare(h, n, 0.01);
  ASSERT_TRUE(f.ok());
  std::vector<float> w;
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> wr = testing::RandomWeights(rng, n);
    w.insert(w.end(), wr.begin(), wr.end());
  }
  auto out_err = [&](const std::vector<float>& q) {
    double e = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          e += (w[r * n + i] - q[r * n + i]) * h[i * n + j] * (w[r * n + j] - q[r * n + j]);
    return e;
  };
  const size_t rb = GetTypeTraits(DType::kQ4_T).row_bytes(n);
  std::vector<uint8_t> buf(rb * rows);
  std::vector<float> q_t(w.size()), q_plain(w.size()), q_nl(w.size());
  GptqQuantizeRows(w.data(), rows, f.value(), DType::kQ4_T, false, q_t.data(), buf.data(), rb);
  std::vector<float> deq(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {  // q_t is what the rows decode to
    GetTypeTraits(DType::kQ4_T).to_float(buf.data() + r * rb, deq.data(), n);
    ASSERT_EQ(0, std::memcmp(deq.data(), q_t.data() + r * n, deq.size() * sizeof(float)));
  }
  for (int64_t r = 0; r < rows; ++r) {
    GetTypeTraits(DType::kQ4_T).from_float(w.data() + r * n, buf.data(), n, f.value().diag_h.data());
    GetTypeTraits(DType::kQ4_T).to_float(buf.data(), q_plain.data() + r * n, n);
  }
  const size_t rb_nl = GetTypeTraits(DType::kQ4_NL).row_bytes(n);
  std::vector<uint8_t> buf_nl(rb_nl * rows);
  GptqQuantizeRows(w.data(), rows, f.value(), DType::kQ4_NL, false, q_nl.data(), buf_nl.data(), rb_nl);
  const double e_t = out_err(q_t), e_plain = out_err(q_plain), e_nl = out_err(q_nl);
  std::printf("[gptq] Q4_T output error gptq/plain = %.3f, Q4_T/Q4_NL (both gptq) = %.3f\n", e_t / e_plain,
              e_t / e_nl);
  EXPECT_LT(e_t, 0.9 * e_plain);
  // Against GPTQ on Q4_NL this synthetic problem is not one-sided: over 60 seeds
  // (SEPTET_TEST_SEED=1..60) the ratio had median 0.77 but exceeded 1 on 18 of them
  // (up to 1.79), in the thirtieth session's double-precision search as in this
  // one. It is printed, not asserted; the real-model comparison is in
  // docs/quality.md (rows 41-43).
  (void)e_nl;
  // Deterministic: another call, rows in two pieces, gives the same bytes.
  std::vector<uint8_t> again(rb * rows);
  std::vector<float> q2(w.size());
  GptqQuantizeRows(w.data(), 5, f.value(), DType::kQ4_T, false, q2.data(), again.data(), rb);
  GptqQuantizeRows(w.data() + 5 * n, rows - 5, f.value(), DType::kQ4_T, false, q2.data() + 5 * n, again.data() + 5 * rb, rb);
  EXPECT_EQ(0, std::memcmp(q2.data(), q_t.data(), q2.size() * sizeof(float)));
  // One row at a time (the rows are searched in chunks that share U's rows): the same.
  for (int64_t r = 0; r < rows; ++r) {
    GptqQuantizeRows(w.data() + r * n, 1, f.value(), DType::kQ4_T, false, q2.data() + r * n, again.data() + r * rb, rb);
  }
  EXPECT_EQ(0, std::memcmp(q2.data(), q_t.data(), q2.size() * sizeof(float)));
}

TEST(Gptq, RejectsWrongSizeHessian) { EXPECT_FALSE(GptqPrepare(std::vector<double>(10, 1.0), 4, 0.01).ok()); }

// ---- mixes ----

TEST(ChooseMix, BestGainPerBitFirstWithinBudget) {
  const std::vector<std::vector<MixOption>> opts = {
      {{100, 1.0}, {150, 0.2}, {300, 0.0}},   // gains 0.8 / 50 bits, then 0.2 / 150
      {{100, 0.5}, {150, 0.45}, {300, 0.4}},  // gains 0.05 / 50, then 0.05 / 150
  };
  EXPECT_EQ(ChooseMix(opts, 200), (std::vector<int>{0, 0})) << "no room: the base types";
  EXPECT_EQ(ChooseMix(opts, 249), (std::vector<int>{0, 0})) << "one bit short of the best upgrade";
  EXPECT_EQ(ChooseMix(opts, 250), (std::vector<int>{1, 0}));
  EXPECT_EQ(ChooseMix(opts, 420), (std::vector<int>{2, 0})) << "then tensor 0's second step (0.2/150 > 0.05/50)";
  EXPECT_EQ(ChooseMix(opts, 450), (std::vector<int>{2, 1}));
  EXPECT_EQ(ChooseMix(opts, 1e9), (std::vector<int>{2, 2}));
  // An option that does not lower the error is never taken, whatever the budget.
  EXPECT_EQ(ChooseMix({{{100, 0.1}, {200, 0.1}}}, 1e9), (std::vector<int>{0}));
}

TEST(ChooseMix, OverBudgetStartGivesUpTheCheapestBitsFirst) {
  // Each tensor starts at option 1 (the target); moving down saves bits at an error cost
  // per saved bit of: t0 0.2/30, t1 0.05/30, t2 0.3/60.
  const std::vector<std::vector<MixOption>> opts = {
      {{100, 0.3}, {130, 0.1}},
      {{100, 0.2}, {130, 0.15}},
      {{200, 0.4}, {260, 0.1}},
  };
  const std::vector<int> start = {1, 1, 1};  // 520 bits
  EXPECT_EQ(ChooseMix(opts, start, 520), (std::vector<int>{1, 1, 1})) << "fits: nothing moves";
  EXPECT_EQ(ChooseMix(opts, start, 519), (std::vector<int>{1, 0, 1})) << "t1 costs least per saved bit";
  // 489: t1 then t2 go down (430 bits); then 59 bits are left, enough to take t1 back up.
  EXPECT_EQ(ChooseMix(opts, start, 489), (std::vector<int>{1, 1, 0}));
  EXPECT_EQ(ChooseMix(opts, start, 400), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(ChooseMix(opts, start, 399), (std::vector<int>{0, 0, 0})) << "narrowest everywhere; caller refuses";
  // Equal costs: the lower tensor index moves first.
  EXPECT_EQ(ChooseMix({{{100, 0.2}, {130, 0.1}}, {{100, 0.2}, {130, 0.1}}}, {1, 1}, 259),
            (std::vector<int>{0, 1}));
  // Start at 0 everywhere equals the upgrade-only overload.
  EXPECT_EQ(ChooseMix(opts, {0, 0, 0}, 460), ChooseMix(opts, 460));
}

TEST(MixNeverMovesDown, HoldsForEveryLaterChoice) {
  // Random two-option problems (integer bits, as the quantizer's): streamed in index order,
  // a tensor MixNeverMovesDown rules out after any prefix is never moved down by ChooseMix
  // on the whole problem, and the test sees the rule fire.
  std::mt19937 rng(12);
  int ruled_out = 0, moved = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 2 + rng() % 12;
    std::vector<std::vector<MixOption>> opts;
    double start_bits = 0, narrow_bits = 0;
    for (size_t t = 0; t < n; ++t) {
      if (t > 0 && rng() % 3 == 0) {  // a copy of an earlier tensor: ties go to the lower index
        opts.push_back(opts[rng() % t]);
      } else {
        const double narrow = 8.0 * (10 + rng() % 50), wide = narrow + 8.0 * (1 + rng() % 20);
        const double err = 0.01 + 0.001 * static_cast<double>(rng() % 100);
        const double ratio = 1.5 + 0.01 * static_cast<double>(rng() % 300);
        opts.push_back({{narrow, err * ratio}, {wide, err}});
      }
      start_bits += opts.back()[1].bits;
      narrow_bits += opts.back()[0].bits;
    }
    const double budget = narrow_bits + static_cast<double>(rng() % static_cast<uint32_t>(start_bits - narrow_bits + 1));
    const std::vector<int> choice = ChooseMix(opts, std::vector<int>(n, 1), budget);
    for (size_t seen = 1; seen <= n; ++seen) {
      const std::vector<std::vector<MixOption>> prefix(opts.begin(), opts.begin() + static_cast<std::ptrdiff_t>(seen));
      for (size_t t = 0; t < seen; ++t) {
        if (!MixNeverMovesDown(prefix, t, start_bits, budget)) continue;
        ++ruled_out;
        EXPECT_EQ(choice[t], 1) << "trial " << trial << ": tensor " << t << " ruled out after " << seen << " tensors";
      }
    }
    for (int c : choice) moved += c == 0;
  }
  EXPECT_GT(ruled_out, 300);
  EXPECT_GT(moved, 100);
}

// ---- the head policy on rows of whole 256-blocks (a tiny HF model, dim 256) ----

// Writes a one-layer HF Llama of dim 256 with small random weights (tied or not).
std::string WriteWideHfModel(const std::string& name, bool tied) {
  testing::HfOptions o;
  o.dims.dim = 256;
  o.dims.hidden = 320;
  o.dims.layers = 1;
  o.dims.heads = 4;
  o.dims.kv_heads = 4;
  o.dims.vocab = 24;
  o.dims.seq_len = 32;
  o.tied = tied;
  std::vector<testing::StTensor> ts = testing::TinyHfTensors(o);
  auto rng = testing::MakeRng(tied ? 7 : 8);
  for (testing::StTensor& t : ts) {
    if (t.dtype != "F32") continue;
    std::vector<float> v = testing::RandomWeights(rng, static_cast<int64_t>(t.bytes.size() / 4));
    if (t.shape.size() == 1) std::fill(v.begin(), v.end(), 1.0f);  // norms
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  }
  return testing::WriteHfModel(name, o, ts);
}

TEST(QuantizeHeadPolicy, WholeBlockRowsGetAQ6_KHeadBesideNarrowTypes) {
  const std::string dir = testing::TempDir();
  for (const bool tied : {false, true}) {
    const std::string in = WriteWideHfModel(tied ? "wide_hf_tied" : "wide_hf", tied);
    for (const auto& [type, head] : std::vector<std::pair<std::string, DType>>{
             {"Q3P5", DType::kQ6_K}, {"Q4_G", DType::kQ6_K}, {"Q8_0", DType::kQ8_0}, {"F16", DType::kF16}}) {
      QuantizeOptions o;
      o.input = in;
      o.output = dir + "/wide_" + type + (tied ? "_tied" : "") + ".gguf";
      o.type = type;
      o.force = true;
      auto r = QuantizeModel(o);
      ASSERT_TRUE(r.ok()) << type << ": " << r.status().ToString();
      auto file = ModelFile::Open(o.output);
      ASSERT_TRUE(file.ok()) << file.status().ToString();
      EXPECT_EQ(file.value()->FindTensor("token_embd.weight")->dtype, head) << type;
      if (!tied) {
        EXPECT_EQ(file.value()->FindTensor("output.weight")->dtype, head) << type;
      }
      // The file binds as a model (the head in its stored type).
      auto m = model::LlamaModel::Load(o.output, {});
      ASSERT_TRUE(m.ok()) << m.status().ToString();
    }
  }
}

// ---- whole model (stories260K) ----

class QuantizeModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SharedFileExists("models/stories260K/stories260K.bin")) GTEST_SKIP() << "no stories260K";
    model_ = testing::SharedFile("models/stories260K/stories260K.bin");
    dir_ = testing::TempDir() + "/quantize_test";
    std::filesystem::create_directories(dir_);
    calib_ = dir_ + "/calib.txt";
    std::ofstream(calib_) << "Once upon a time, there was a little girl named Lily. She loved to play outside. "
                             "One day, she saw a big red ball in the park. She ran to it and laughed.\n"
                             "Tom and his dog went to the shop. The dog was happy and wagged its tail.";
  }
  QuantizeOptions Opts(const std::string& out, const std::string& type) const {
    QuantizeOptions o;
    o.input = model_;
    o.output = dir_ + "/" + out;
    o.type = type;
    o.force = true;
    return o;
  }
  std::string model_, dir_, calib_;
};

// UpdateShare is the mean over every token of every window (BOS included) of
// ‖u‖² / ‖h‖², per layer and block: recomputed here from a plain forward pass per window.
TEST_F(QuantizeModelTest, CalibrationUpdateShareIsTheMeanTokenRatio) {
  auto file = ModelFile::Open(model_);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto model = model::LlamaModel::FromFile(std::move(file).value(), model::ModelOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(static_cast<int32_t>(3 + (i * 37) % 500));
  CalibrationOptions co;
  co.n_ctx = 16;
  co.hessian = false;
  auto cal = Calibration::Collect(*model.value(), tokens, 1, co);
  ASSERT_TRUE(cal.ok()) << cal.status().ToString();
  auto ctx = model::LlamaContext::Create(*model.value(), co.n_ctx);
  ASSERT_TRUE(ctx.ok());
  std::map<std::pair<int64_t, int>, std::pair<double, int64_t>> want;
  ctx.value()->SetResidualObserver(
      [&](int64_t layer, model::ResidualBlock block, const float* h, const float* u, int64_t m, int64_t dim) {
        auto& [sum, n] = want[{layer, static_cast<int>(block)}];
        for (int64_t r = 0; r < m; ++r) {
          double hh = 0, uu = 0;
          for (int64_t i = 0; i < dim; ++i) {
            hh += double{h[r * dim + i]} * h[r * dim + i];
            uu += double{u[r * dim + i]} * u[r * dim + i];
          }
          sum += uu / hh;
          n += 1;
        }
      });
  std::vector<float> logits;
  for (size_t start = 0; start < tokens.size(); start += 15) {  // windows of BOS + 15 tokens
    std::vector<int32_t> w{1};
    w.insert(w.end(), tokens.begin() + static_cast<int64_t>(start),
             tokens.begin() + static_cast<int64_t>(std::min(tokens.size(), start + 15)));
    ctx.value()->Truncate(0);
    ASSERT_TRUE(ctx.value()->Forward(w, model::LogitsMode::kAll, &logits).ok());
  }
  ASSERT_EQ(want.size(), 2u * 5u);
  for (const auto& [key, v] : want) {
    EXPECT_EQ(v.second, 40 + 3) << "every token and the three windows' BOS";
    const double got = cal.value().UpdateShare(key.first, static_cast<model::ResidualBlock>(key.second));
    EXPECT_NEAR(got, v.first / static_cast<double>(v.second), 1e-12 * v.first) << "layer " << key.first;
    EXPECT_GT(got, 0.0);
  }
  EXPECT_EQ(cal.value().UpdateShare(5, model::ResidualBlock::kFfn), -1.0) << "no such layer";
}

TEST_F(QuantizeModelTest, CalibratedGptqIsDeterministicAndThreadIndependent) {
  QuantizeOptions a = Opts("a.gguf", "Q3P5");
  a.calib_path = calib_;
  a.calib_ctx = 64;
  QuantizeOptions b = a;
  b.output = dir_ + "/b.gguf";
  b.threads = 3;
  auto ra = QuantizeModel(a);
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  auto rb = QuantizeModel(b);
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_EQ(ra.value().method, "gptq");
  EXPECT_GT(ra.value().calib_tokens, 30);
  const auto bytes_a = Slurp(a.output), bytes_b = Slurp(b.output);
  ASSERT_FALSE(bytes_a.empty());
  EXPECT_EQ(bytes_a, bytes_b) << "thread count or run changed the output";
  // And a second single-thread run into the same path (overwrite) is identical too.
  ASSERT_TRUE(QuantizeModel(a).ok());
  EXPECT_EQ(Slurp(a.output), bytes_a);
  // GPTQ used the calibration: its output differs from the uncalibrated file.
  auto rc = QuantizeModel(Opts("c.gguf", "Q3P5"));
  ASSERT_TRUE(rc.ok());
  EXPECT_NE(Slurp(dir_ + "/c.gguf"), bytes_a);
}

TEST_F(QuantizeModelTest, ActOrderIsThreadIndependentAndRecorded) {
  QuantizeOptions a = Opts("act_a.gguf", "Q3P5");
  a.calib_path = calib_;
  a.calib_ctx = 64;
  a.gptq_act_order = true;
  QuantizeOptions b = a;
  b.output = dir_ + "/act_b.gguf";
  b.threads = 3;
  QuantizeOptions c = a;
  c.output = dir_ + "/act_c.gguf";
  c.gptq_act_order = false;
  ASSERT_TRUE(QuantizeModel(a).ok());
  ASSERT_TRUE(QuantizeModel(b).ok());
  ASSERT_TRUE(QuantizeModel(c).ok());
  const auto bytes_a = Slurp(a.output);
  ASSERT_FALSE(bytes_a.empty());
  EXPECT_EQ(bytes_a, Slurp(b.output)) << "thread count changed the act-order output";
  EXPECT_NE(bytes_a, Slurp(c.output)) << "act-order changed nothing";
  auto file = ModelFile::Open(a.output);
  ASSERT_TRUE(file.ok());
  const std::string method = file.value()->metadata().GetStringOr("septet.quantize.method", "");
  EXPECT_NE(method.find("act-order"), std::string::npos) << method;
}

// --refit: thread-independent, recorded, and it lowers the tensors' output errors (a row
// keeps its GPTQ fields unless the refit lowers its dampened error; the report's undamped
// error is allowed a hair of slack).
TEST_F(QuantizeModelTest, RefitIsThreadIndependentAndLowersOutputErrors) {
  for (const char* type : {"Q3P5", "Q4_G", "Q3P5_NL"}) {
    SCOPED_TRACE(type);
    QuantizeOptions a = Opts("refit_a.gguf", type);
    a.calib_path = calib_;
    a.calib_ctx = 64;
    a.gptq_act_order = true;
    a.refit = 2;
    QuantizeOptions b = a;
    b.output = dir_ + "/refit_b.gguf";
    b.threads = 3;
    QuantizeOptions c = a;
    c.output = dir_ + "/refit_c.gguf";
    c.refit = 0;
    auto ra = QuantizeModel(a), rb = QuantizeModel(b), rc = QuantizeModel(c);
    ASSERT_TRUE(ra.ok() && rb.ok() && rc.ok()) << ra.status().ToString();
    EXPECT_EQ(Slurp(a.output), Slurp(b.output)) << "thread count changed the refit output";
    EXPECT_NE(Slurp(a.output), Slurp(c.output)) << "the refit changed nothing";
    double sum_a = 0, sum_c = 0;
    for (size_t i = 0; i < ra.value().tensors.size(); ++i) {
      const TensorReport& ta = ra.value().tensors[i];
      const TensorReport& tc = rc.value().tensors[i];
      if (ta.rel_out_err < 0) continue;
      EXPECT_LE(ta.rel_out_err, tc.rel_out_err * (1 + 1e-4) + 1e-9) << ta.name;
      sum_a += ta.rel_out_err;
      sum_c += tc.rel_out_err;
    }
    EXPECT_LT(sum_a, sum_c);
    auto file = ModelFile::Open(a.output);
    ASSERT_TRUE(file.ok());
    const std::string method = file.value()->metadata().GetStringOr("septet.quantize.method", "");
    EXPECT_NE(method.find("refit=2"), std::string::npos) << method;
  }
}

// --calib-passes 2: pass 2's statistics come from the first pass's model, so the output
// differs from one pass; the temporary file is gone; the method says so; bad uses fail.
TEST_F(QuantizeModelTest, TwoPassCalibrationUsesTheFirstPassModel) {
  QuantizeOptions one = Opts("pass1.gguf", "Q3P5");
  one.calib_path = calib_;
  one.calib_ctx = 64;
  QuantizeOptions two = one;
  two.output = dir_ + "/pass2.gguf";
  two.calib_passes = 2;
  auto r1 = QuantizeModel(one), r2 = QuantizeModel(two);
  ASSERT_TRUE(r1.ok() && r2.ok()) << r2.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(two.output + ".pass1.tmp"));
  ASSERT_EQ(r1.value().tensors.size(), r2.value().tensors.size());
  // The input model named as the calibration model: the same statistics, the same tensors.
  QuantizeOptions same = one;
  same.output = dir_ + "/pass1_same.gguf";
  same.calib_model = model_;
  auto rs = QuantizeModel(same);
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  int differ = 0;
  for (size_t i = 0; i < r1.value().tensors.size(); ++i) {
    const TensorReport& a = r1.value().tensors[i];
    EXPECT_EQ(a.rel_err, rs.value().tensors[i].rel_err) << a.name;
    EXPECT_EQ(a.rel_out_err, rs.value().tensors[i].rel_out_err) << a.name;
    if (a.name.rfind("blk.4.", 0) == 0 && a.rel_err != r2.value().tensors[i].rel_err) ++differ;
  }
  EXPECT_GT(differ, 0) << "the last layer's statistics did not change";
  auto file = ModelFile::Open(two.output);
  ASSERT_TRUE(file.ok());
  const std::string method = file.value()->metadata().GetStringOr("septet.quantize.method", "");
  EXPECT_NE(method.find("first pass"), std::string::npos) << method;
  QuantizeOptions bad = two;
  bad.calib_path.clear();
  EXPECT_FALSE(QuantizeModel(bad).ok());
  bad = two;
  bad.calib_passes = 3;
  EXPECT_FALSE(QuantizeModel(bad).ok());
}

TEST_F(QuantizeModelTest, OutputIsSelfContainedWithPolicyAndMetadata) {
  QuantizeOptions o = Opts("q.gguf", "Q3P5");
  auto r = QuantizeModel(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Per layer: q, k, v, o = 192 rows of K = 64 (28 B), gate + up = 344 rows of 64, down = 64 rows of K = 172 (84 B).
  EXPECT_NEAR(r.value().bpw_target(), 8.0 * (192 * 28.0 + 344 * 28.0 + 64 * 84.0) / 45312.0, 1e-9);
  auto file = ModelFile::Open(o.output);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const ModelFile& mf = *file.value();
  EXPECT_EQ(mf.FindTensor("blk.0.attn_q.weight")->dtype, DType::kQ3P5);
  EXPECT_EQ(mf.FindTensor("blk.4.ffn_down.weight")->dtype, DType::kQ3P5);
  EXPECT_EQ(mf.FindTensor("token_embd.weight")->dtype, DType::kQ8_0);
  EXPECT_EQ(mf.FindTensor("blk.0.attn_norm.weight")->dtype, DType::kF32);
  EXPECT_EQ(mf.metadata().GetStringOr("septet.quantize.type", ""), "Q3P5");
  EXPECT_TRUE(mf.metadata().Has("septet.quantize.bpw_all"));
  EXPECT_TRUE(mf.metadata().Has("septet.quantize.bpw_quantized"));
  EXPECT_TRUE(mf.metadata().Has("septet.version"));
  // The embedded tokenizer encodes like the original tok512.bin.
  auto orig_file = ModelFile::Open(model_);
  ASSERT_TRUE(orig_file.ok());
  auto t1 = LoadTokenizer(mf);
  auto t2 = LoadTokenizer(*orig_file.value());
  ASSERT_TRUE(t1.ok()) << t1.status().ToString();
  ASSERT_TRUE(t2.ok());
  const std::string s = "Lily saw a big dog. \"Hello!\" she said.\n\nThe end 42.";
  EXPECT_EQ(t1.value()->Encode(s, true), t2.value()->Encode(s, true));
  // It loads as a model.
  auto m = model::LlamaModel::Load(o.output, {});
  EXPECT_TRUE(m.ok()) << m.status().ToString();
}

TEST_F(QuantizeModelTest, FileTypeNamesTheOutputNotTheSource) {
  // general.file_type is what llama.cpp shows as the model's type: the output's (llama.h
  // ALL_F32 = 0, MOSTLY_Q8_0 = 7), never copied from the source, absent for septet-only types.
  QuantizeOptions q8 = Opts("ft_q8.gguf", "Q8_0");
  ASSERT_TRUE(QuantizeModel(q8).ok());
  QuantizeOptions f32 = Opts("ft_f32.gguf", "F32");
  f32.input = q8.output;
  ASSERT_TRUE(QuantizeModel(f32).ok());
  QuantizeOptions q3 = Opts("ft_q3p5.gguf", "Q3P5");
  q3.input = q8.output;
  ASSERT_TRUE(QuantizeModel(q3).ok());
  auto a = ModelFile::Open(q8.output), b = ModelFile::Open(f32.output), c = ModelFile::Open(q3.output);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a.value()->metadata().GetIntOr("general.file_type", -1), 7);
  EXPECT_EQ(b.value()->metadata().GetIntOr("general.file_type", -1), 0);
  EXPECT_FALSE(c.value()->metadata().Has("general.file_type"));
  EXPECT_EQ(b.value()->FindTensor("blk.0.attn_q.weight")->dtype, DType::kF32);
}

TEST_F(QuantizeModelTest, SaysWhenItRequantizesAQuantizedSource) {
  std::vector<std::string> lines;
  const auto said = [&lines](const std::string& what) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  QuantizeOptions q8 = Opts("rq_q8.gguf", "Q8_0");
  q8.log = [&lines](const std::string& l) { lines.push_back(l); };
  ASSERT_TRUE(QuantizeModel(q8).ok());
  EXPECT_FALSE(said("requantizing")) << "the source is F32";
  QuantizeOptions q3 = Opts("rq_q3p5.gguf", "Q3P5");
  q3.input = q8.output;
  q3.log = q8.log;
  ASSERT_TRUE(QuantizeModel(q3).ok());
  EXPECT_TRUE(said("requantizing from a quantized source")) << "no line said so";
  EXPECT_TRUE(said(" Q8_0 matrices")) << "the line names the stored type";
}

TEST_F(QuantizeModelTest, MixKeepsTheBudgetAndUpgradesTheWorstTensors) {
  QuantizeOptions o = Opts("mix.gguf", "Q3P5");
  o.calib_path = calib_;
  o.calib_ctx = 64;
  auto plain = QuantizeModel(o);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  o.mix_bpw = 4.2;
  auto r = QuantizeModel(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LE(r.value().bpw_target(), 4.2 + 1e-9);
  EXPECT_GT(r.value().bpw_target(), plain.value().bpw_target() + 0.3) << "the budget was mostly used";
  int upgraded = 0;
  double err_plain = 0, err_mix = 0;
  for (size_t i = 0; i < r.value().tensors.size(); ++i) {
    const TensorReport& t = r.value().tensors[i];
    if (t.rel_out_err < 0 || t.name.rfind("blk.", 0) != 0) continue;
    upgraded += t.type != "Q3P5";
    err_mix += t.rel_out_err;
    err_plain += plain.value().tensors[i].rel_out_err;
  }
  EXPECT_GT(upgraded, 0);
  EXPECT_LT(err_mix, 0.8 * err_plain) << "the summed measured error fell";
  auto file = ModelFile::Open(o.output);
  ASSERT_TRUE(file.ok());
  int wider = 0;
  for (const TensorInfo& t : file.value()->tensors()) {
    if (t.name.rfind("blk.", 0) == 0) wider += t.dtype == DType::kQ4_G || t.dtype == DType::kQ8_0;
  }
  EXPECT_EQ(wider, upgraded) << "the file stores the chosen types";
  // Without calibration there is nothing to measure; a budget below the target alone is refused.
  o.calib_path.clear();
  EXPECT_FALSE(QuantizeModel(o).ok());
  o.calib_path = calib_;
  o.mix_bpw = 3.0;
  EXPECT_FALSE(QuantizeModel(o).ok());
}

TEST_F(QuantizeModelTest, MixBelowTheTargetMovesTensorsDownToQ3p5Nl) {
  QuantizeOptions o = Opts("mixdown.gguf", "Q4_G");
  o.calib_path = calib_;
  o.calib_ctx = 64;
  auto q4 = QuantizeModel(o);
  ASSERT_TRUE(q4.ok()) << q4.status().ToString();
  QuantizeOptions o3 = o;
  o3.type = "Q3P5_NL";
  o3.output = dir_ + "/mixdown3.gguf";
  auto q3 = QuantizeModel(o3);
  ASSERT_TRUE(q3.ok()) << q3.status().ToString();
  const double lo = q3.value().bpw_target(), hi = q4.value().bpw_target();
  ASSERT_LT(lo + 0.2, hi);
  o.mix_bpw = (lo + hi) / 2;
  std::vector<std::string> lines;
  o.log = [&lines](const std::string& l) { lines.push_back(l); };
  const auto said = [&lines](const char* what) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  auto r = QuantizeModel(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(said("predicted  out.err")) << "the Q3P5_NL errors are predicted by default";
  EXPECT_LE(r.value().bpw_target(), o.mix_bpw + 1e-9);
  EXPECT_GT(r.value().bpw_target(), o.mix_bpw - 0.15) << "no more bits given up than needed";
  int down = 0, kept = 0;
  std::map<std::string, double> block_weight;  // "blk.L.attn" / "blk.L.ffn" -> the weight of its tensors
  for (const TensorReport& t : r.value().tensors) {
    if (t.rel_out_err < 0 || t.name.rfind("blk.", 0) != 0) continue;
    // Each tensor's error was weighted by its block's share of the residual stream: one
    // positive, finite weight per layer and block.
    EXPECT_GT(t.mix_weight, 0.0) << t.name;
    EXPECT_TRUE(std::isfinite(t.mix_weight)) << t.name;
    const size_t dot = t.name.find('.', 4);
    const std::string block = t.name.substr(0, dot) + (t.name.compare(dot + 1, 4, "attn") == 0 ? ".attn" : ".ffn");
    const auto [it, fresh] = block_weight.emplace(block, t.mix_weight);
    if (!fresh) {
      EXPECT_EQ(it->second, t.mix_weight) << t.name;
    }
    down += t.type == "Q3P5_NL";
    kept += t.type == "Q4_G";
    EXPECT_TRUE(t.type == "Q3P5_NL" || t.type == "Q4_G") << t.name << ": " << t.type << " (no wider candidate)";
  }
  EXPECT_GT(down, 0);
  EXPECT_GT(kept, 0);
  EXPECT_EQ(block_weight.size(), 2u * 5u) << "stories260K: 5 layers, two blocks each";
  auto file = ModelFile::Open(o.output);
  ASSERT_TRUE(file.ok());
  int q3_in_file = 0;
  for (const TensorInfo& t : file.value()->tensors()) q3_in_file += t.dtype == DType::kQ3P5_NL;
  EXPECT_EQ(q3_in_file, down) << "the file stores the chosen types";
  // Measuring both types of every tensor before choosing (the slower path): a tensor
  // stored in the same type by both runs has the same bytes (the Q3P5_NL ones were
  // quantized after the choice above, with their inputs' statistics prepared again).
  QuantizeOptions all = o;
  all.output = dir_ + "/mixdown_all.gguf";
  all.mix_measure_all = true;
  lines.clear();
  auto ra = QuantizeModel(all);
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  auto file_all = ModelFile::Open(all.output);
  ASSERT_TRUE(file_all.ok());
  int same_type = 0, differ = 0;
  for (const TensorInfo& t : file.value()->tensors()) {
    const TensorInfo* u = file_all.value()->FindTensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    if (t.dtype != u->dtype) {
      ++differ;
      continue;
    }
    ++same_type;
    EXPECT_EQ(0, std::memcmp(t.data, u->data, t.nbytes)) << t.name;
  }
  EXPECT_GT(same_type, 0);
  // The prediction's ranking is the target error's; on stories260K's 35 matmul weights
  // it gives the measured choice (SmolLM2-135M: all 210, docs/quantization.md §Mixes).
  EXPECT_LE(differ, 2) << "of 35 tensors, the predicted choice differs from the measured one";
  EXPECT_FALSE(said("predicted")) << "--mix-measure-all measures every candidate";
  o.mix_bpw = lo - 0.05;
  EXPECT_FALSE(QuantizeModel(o).ok()) << "below Q3P5_NL everywhere";
}

TEST_F(QuantizeModelTest, KeepOverridesAndFallback) {
  QuantizeOptions o = Opts("k.gguf", "Q4_G");
  o.keep = {"token_embd.weight=F16", "blk.0.*=Q8_0"};
  auto r = QuantizeModel(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto file = ModelFile::Open(o.output);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file.value()->FindTensor("token_embd.weight")->dtype, DType::kF16);
  EXPECT_EQ(file.value()->FindTensor("blk.0.attn_q.weight")->dtype, DType::kQ8_0);
  // Q8_0 cannot hold 172 columns in a ggml-compatible file: F16.
  EXPECT_EQ(file.value()->FindTensor("blk.0.ffn_down.weight")->dtype, DType::kF16);
  EXPECT_EQ(file.value()->FindTensor("blk.1.ffn_down.weight")->dtype, DType::kQ4_G);
  // A vector cannot be quantized; a pattern that matches nothing is an error.
  o.keep = {"blk.0.attn_norm.weight=Q4_G"};
  EXPECT_FALSE(QuantizeModel(o).ok());
  o.keep = {"blk.0.attn_qq.weight=F16"};
  auto bad = QuantizeModel(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("matches no tensor"), std::string::npos);
}

// --rotate: the file says so, computes the model's function (F32: the logits of the
// unrotated model up to float rounding), quantizes thread-independently, keeps its
// rotation when requantized, and refuses to rotate twice.
TEST_F(QuantizeModelTest, RotateKeepsTheFunctionAndIsRecorded) {
  QuantizeOptions plain = Opts("plain_f32.gguf", "F32");
  QuantizeOptions rot = Opts("rot_f32.gguf", "F32");
  rot.rotate = true;
  ASSERT_TRUE(QuantizeModel(plain).ok());
  auto rr = QuantizeModel(rot);
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  auto mp = model::LlamaModel::Load(plain.output, {});
  auto mr = model::LlamaModel::Load(rot.output, {});
  ASSERT_TRUE(mp.ok() && mr.ok());
  EXPECT_EQ(mp.value()->hparams().rotation, model::InputRotationKind::kNone);
  EXPECT_EQ(mr.value()->hparams().rotation, model::InputRotationKind::kHadamardV1);
  EXPECT_EQ(mr.value()->file().metadata().GetStringOr(model::kRotationKey, ""), model::kRotationHadamardV1);
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 432, 383, 286};
  std::vector<float> lp, lr;
  {
    auto cp = model::LlamaContext::Create(*mp.value(), 16);
    auto cr = model::LlamaContext::Create(*mr.value(), 16);
    ASSERT_TRUE(cp.ok() && cr.ok());
    ASSERT_TRUE(cp.value()->Forward(tokens, model::LogitsMode::kAll, &lp).ok());
    ASSERT_TRUE(cr.value()->Forward(tokens, model::LogitsMode::kAll, &lr).ok());
  }
  ASSERT_EQ(lp.size(), lr.size());
  double err = 0, mag = 0;
  for (size_t i = 0; i < lp.size(); ++i) {
    err = std::max(err, static_cast<double>(std::fabs(lp[i] - lr[i])));
    mag = std::max(mag, static_cast<double>(std::fabs(lp[i])));
  }
  // Float rounding only (a few u per product through 5 layers); a wrong sign, block or
  // missing rotation moves the logits by O(their size).
  EXPECT_LT(err, 1e-4 * mag) << "max |logit| " << mag;
  EXPECT_NE(Slurp(plain.output), Slurp(rot.output));  // the weights are stored rotated

  // Q3P5 with GPTQ on the rotated statistics: the same bytes for 1 and 3 threads.
  QuantizeOptions q1 = Opts("rot_q1.gguf", "Q3P5");
  q1.rotate = true;
  q1.calib_path = calib_;
  q1.calib_ctx = 64;
  QuantizeOptions q3 = q1;
  q3.output = dir_ + "/rot_q3.gguf";
  q3.threads = 3;
  ASSERT_TRUE(QuantizeModel(q1).ok());
  ASSERT_TRUE(QuantizeModel(q3).ok());
  EXPECT_EQ(Slurp(q1.output), Slurp(q3.output));
  // Q4_T the same way: its factors prepared ahead on helper threads (with their float
  // U) and its rows handed out in chunks give the bytes of one thread.
  q1.type = q3.type = "Q4_T";
  ASSERT_TRUE(QuantizeModel(q1).ok());
  ASSERT_TRUE(QuantizeModel(q3).ok());
  EXPECT_EQ(Slurp(q1.output), Slurp(q3.output));

  // Requantizing a rotated file keeps its rotation; rotating it again is refused.
  QuantizeOptions again = Opts("rot_again.gguf", "Q8_0");
  again.input = rot.output;
  ASSERT_TRUE(QuantizeModel(again).ok());
  auto ma = model::LlamaModel::Load(again.output, {});
  ASSERT_TRUE(ma.ok());
  EXPECT_EQ(ma.value()->hparams().rotation, model::InputRotationKind::kHadamardV1);
  again.rotate = true;
  auto twice = QuantizeModel(again);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("already rotated"), std::string::npos) << twice.status().message();
  QuantizeOptions two_pass = q1;
  two_pass.calib_passes = 2;
  auto tp = QuantizeModel(two_pass);
  ASSERT_FALSE(tp.ok());
  EXPECT_NE(tp.status().message().find("--rotate"), std::string::npos) << tp.status().message();
}

TEST_F(QuantizeModelTest, ClearErrors) {
  QuantizeOptions o = Opts("e.gguf", "Q3P5");
  o.type = "Q3";
  auto r = QuantizeModel(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown type 'Q3'"), std::string::npos) << r.status().message();
  o.type = "Q4_K";  // septet reads it, but has no quantizer for it
  r = QuantizeModel(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Q4_K is input-only"), std::string::npos) << r.status().message();

  o = Opts("e.gguf", "Q3P5");
  o.input = dir_ + "/missing.bin";
  r = QuantizeModel(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing.bin"), std::string::npos);

  o = Opts("e.gguf", "Q3P5");
  std::ofstream(dir_ + "/exists.gguf") << "keep me";
  o.output = dir_ + "/exists.gguf";
  o.force = false;
  r = QuantizeModel(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--force"), std::string::npos);
  EXPECT_EQ(Slurp(o.output).size(), 7u);

  o = Opts("e.gguf", "Q3P5");
  std::ofstream(dir_ + "/empty.txt").flush();
  o.calib_path = dir_ + "/empty.txt";
  r = QuantizeModel(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos);
  EXPECT_NE(r.status().message().find("--calib"), std::string::npos);
}

}  // namespace
}  // namespace septet::quantize
