// SIMD kernels (src/kernels/simd/) vs the scalar reference, single thread, on
// real model shapes (rows x cols): TinyLlama-1.1B 2048x2048 (q/o), 5632x2048
// (gate/up), 2048x5632 (down); Llama-3-8B 4096x4096 (q/o), 14336x4096
// (gate/up). bytes_per_second counts the weight bytes streamed (matvec) or the
// float bytes read (vector ops). BM_ReadBandwidth / BM_Memcpy on a 256 MiB
// buffer give the single-core memory bandwidth to compare with, BM_FmaPeak the
// single-core f32 multiply-add peak.
// Each benchmark: 5 repetitions, aggregates (median) only. Rates are per CPU
// second (google-benchmark's default), so a loaded machine still compares fairly.
// Q3P5_repacked and Q4_G_repacked are the paths the model runs (load-time
// simd::RepackRows; it falls back to the file layout where the target has no
// repacked kernel).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/swiglu.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"
#include "quant/ggml_test_util.h"
#include "quant/nl_codebook.h"
#include "quant/q3p5_nl.h"
#include "quant/q4_t.h"
#include "quant/registry.h"

namespace {

using septet::DType;

std::vector<float> Gaussian(int64_t n, float stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = nd(rng);
  return v;
}

// A rows x cols matrix: 16 distinct quantized rows tiled (quantizing the full
// matrix with the reference quantizers would take minutes; the kernels' speed
// does not depend on the values, only on the bytes streamed).
// An unconditional repack (repack.h), to run a layout the policy gives another target.
using RepackFn = void (*)(const septet::cpu::WeightView&, std::vector<uint8_t>*, septet::cpu::WeightView*);

struct Matrix {
  DType type;
  int64_t rows = 0, cols = 0;
  bool repacked = false;
  RepackFn forced = nullptr;
  std::vector<uint8_t> bytes;
  septet::cpu::WeightView view;
};

// repack: as the model (simd::RepackRows), or by `force` where given.
const Matrix& GetMatrix(DType type, int64_t rows, int64_t cols, bool repack = false, RepackFn force = nullptr) {
  static std::unique_ptr<Matrix> cached;  // one slot: the benchmarks run shape by shape
  if (cached && cached->type == type && cached->rows == rows && cached->cols == cols && cached->repacked == repack &&
      cached->forced == force) {
    return *cached;
  }
  cached.reset();
  auto m = std::make_unique<Matrix>();
  const auto& t = septet::GetTypeTraits(type);
  const size_t rb = t.row_bytes(cols);
  m->type = type;
  m->rows = rows;
  m->cols = cols;
  m->bytes.resize(rb * static_cast<size_t>(rows));
  constexpr int64_t kDistinct = 16;
  const auto w = Gaussian(kDistinct * cols, 0.02f, 7);
  if (t.from_float == nullptr) {  // input-only ggml types: random well-formed blocks
    std::mt19937_64 rng(7);
    septet::quant::testing::FillRandomGgmlRows(type, std::min(kDistinct, rows), cols, rng, m->bytes.data());
  } else {
    for (int64_t r = 0; r < kDistinct && r < rows; ++r) {
      t.from_float(w.data() + r * cols, m->bytes.data() + r * rb, cols, nullptr);
    }
  }
  for (int64_t r = kDistinct; r < rows; ++r) {
    std::memcpy(m->bytes.data() + r * rb, m->bytes.data() + (r % kDistinct) * rb, rb);
  }
  m->view = septet::cpu::WeightView{type, rows, cols, m->bytes.data(), rb};
  m->repacked = repack;
  m->forced = force;
  if (repack) {
    std::vector<uint8_t> packed;
    septet::cpu::WeightView v;
    if (force != nullptr) {
      force(m->view, &packed, &v);
    } else if (!septet::simd::RepackRows(m->view, &packed, &v)) {
      v = m->view;  // no repacked layout here: the file layout
    }
    if (v.layout != septet::cpu::WeightLayout::kFile) {
      m->bytes = std::move(packed);
      m->view = v;
      m->view.data = m->bytes.data();
    }
  }
  cached = std::move(m);
  return *cached;
}

// One activation row in the kernels' activation type for w (simd::ActivationType).
std::vector<uint8_t> Activation(const septet::cpu::WeightView& w) {
  const DType at = septet::simd::ActivationType(w);
  std::vector<uint8_t> act(septet::GetTypeTraits(at).row_bytes(w.cols));
  const auto x = Gaussian(w.cols, 1.0f, 11);
  septet::simd::QuantizeActivation(at, x.data(), w.cols, act.data());
  return act;
}

void MatVec(benchmark::State& state, DType type, bool simd, bool repack = false, RepackFn force = nullptr) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const Matrix& m = GetMatrix(type, rows, cols, repack, force);
  const auto act = Activation(m.view);
  std::vector<float> y(static_cast<size_t>(rows));
  const auto& t = septet::GetTypeTraits(type);
  for (auto _ : state) {
    if (simd) {
      septet::simd::MatVecRows(m.view, 0, rows, act.data(), y.data());
    } else {
      for (int64_t r = 0; r < rows; ++r) y[r] = t.vec_dot(cols, m.view.row(r), act.data());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(m.bytes.size()));
  state.counters["bpw"] = 8.0 * static_cast<double>(m.bytes.size()) / static_cast<double>(rows * cols);
  state.SetLabel(simd ? std::string(septet::simd::TargetName()) +
                           (m.view.layout != septet::cpu::WeightLayout::kFile ? " repacked" : "")
                     : std::string("scalar"));
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->Args({2048, 2048})->Args({5632, 2048})->Args({2048, 5632})->Args({4096, 4096})->Args({14336, 4096});
  b->Args({3072, 576})->Args({576, 1536});  // SmolLM2-135M: gate/up (rows of 576 = 4.5 blocks of 128), down
}
void Common(benchmark::internal::Benchmark* b) {
  b->Repetitions(5)->ReportAggregatesOnly(true)->MinTime(0.05)->Unit(benchmark::kMicrosecond);
}

#define SEPTET_MATVEC_BENCH(Name, Type)                                                        \
  void BM_MatVec_##Name##_simd(benchmark::State& s) { MatVec(s, Type, true); }                 \
  void BM_MatVec_##Name##_scalar(benchmark::State& s) { MatVec(s, Type, false); }              \
  BENCHMARK(BM_MatVec_##Name##_simd)->Apply(Shapes)->Apply(Common);                            \
  BENCHMARK(BM_MatVec_##Name##_scalar)->Args({2048, 2048})->Args({4096, 4096})->Apply(Common);

SEPTET_MATVEC_BENCH(Q3P5, DType::kQ3P5)
void BM_MatVec_Q3P5_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ3P5, true, true); }
BENCHMARK(BM_MatVec_Q3P5_repacked_simd)->Apply(Shapes)->Apply(Common);
// Q3P5_NL: the same 56-byte blocks as Q3P5 (file layout), non-uniform levels and a scale per 16;
// _repacked: the load-time layout the model runs (rows of 16 on AVX3_DL, planes on AVX2 / AVX3).
SEPTET_MATVEC_BENCH(Q3P5_NL, DType::kQ3P5_NL)
void BM_MatVec_Q3P5_NL_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ3P5_NL, true, true); }
BENCHMARK(BM_MatVec_Q3P5_NL_repacked_simd)->Apply(Shapes)->Apply(Common);
SEPTET_MATVEC_BENCH(Q3P5_SEED, DType::kQ3P5_SEED)
SEPTET_MATVEC_BENCH(Q4_G, DType::kQ4_G)
void BM_MatVec_Q4_G_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ4_G, true, true); }
BENCHMARK(BM_MatVec_Q4_G_repacked_simd)->Apply(Shapes)->Apply(Common);
// Q4_NL: Q4_G's 68-byte blocks, 16 non-uniform levels and a signed 4-bit scale per 32;
// _repacked: rows of 16 on AVX3_DL (the file layout elsewhere).
SEPTET_MATVEC_BENCH(Q4_NL, DType::kQ4_NL)
void BM_MatVec_Q4_NL_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ4_NL, true, true); }
BENCHMARK(BM_MatVec_Q4_NL_repacked_simd)->Apply(Shapes)->Apply(Common);
// Q4_T: Q4_NL's container, the codes trellis-coded over each row; _repacked: rows of 16
// on AVX3_DL (kQ4NLRows16's bytes; the file layout elsewhere).
SEPTET_MATVEC_BENCH(Q4_T, DType::kQ4_T)
void BM_MatVec_Q4_T_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ4_T, true, true); }
BENCHMARK(BM_MatVec_Q4_T_repacked_simd)->Apply(Shapes)->Apply(Common);
SEPTET_MATVEC_BENCH(Q8_0, DType::kQ8_0)
SEPTET_MATVEC_BENCH(F16, DType::kF16)
// SmolLM2-135M's tied output head (Q8_0 in every septet file of it): 49152 short rows, 29 MiB;
// and the same bytes in rows four times as long (12288 x 2304), to see what short rows cost.
void BM_MatVec_Q8_0_head_simd(benchmark::State& s) { MatVec(s, DType::kQ8_0, true); }
BENCHMARK(BM_MatVec_Q8_0_head_simd)->Args({49152, 576})->Args({12288, 2304})->Args({32000, 2048})->Apply(Common);
// _repacked: rows of 16 on AVX3_DL (the file layout elsewhere), the layout the model runs.
void BM_MatVec_Q8_0_head_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ8_0, true, true); }
BENCHMARK(BM_MatVec_Q8_0_head_repacked_simd)->Args({49152, 576})->Args({12288, 2304})->Args({32000, 2048})->Apply(Common);
// Q6_K: TinyLlama's untied output head (32000 x 2048) as septet writes it beside a Q3P5 model
// (where the rows are a multiple of 256, as llama.cpp does; Q8_0 above is how it wrote it
// before), and the ffn_down of half the layers of a llama.cpp Q4_K_M file (2048 x 5632, in L3).
void BM_MatVec_Q6_K_simd(benchmark::State& s) { MatVec(s, DType::kQ6_K, true); }
BENCHMARK(BM_MatVec_Q6_K_simd)->Args({32000, 2048})->Args({2048, 5632})->Args({4096, 14336})->Apply(Common);
// _repacked: rows of 16 on AVX3_DL (the file layout elsewhere), the layout the model runs.
void BM_MatVec_Q6_K_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ6_K, true, true); }
BENCHMARK(BM_MatVec_Q6_K_repacked_simd)->Args({32000, 2048})->Args({2048, 5632})->Args({4096, 14336})->Apply(Common);
// Q4_K / Q5_K: the bulk of llama.cpp's Q4_K_M / Q5_K_M files (TinyLlama's ffn_gate shape;
// 2048 x 2048 and 2048 x 5632 in L2 / L3). _repacked: rows of 16 on AVX3_DL, rows of 8 (Q4_K) on
// AVX2 / AVX3; _rows8: Q4_K's rows of 8 on any target (AVX3_DL's layout before the rows of 16).
void BM_MatVec_Q4_K_simd(benchmark::State& s) { MatVec(s, DType::kQ4_K, true); }
BENCHMARK(BM_MatVec_Q4_K_simd)->Args({5632, 2048})->Args({14336, 4096})->Args({4096, 14336})->Apply(Common);
void BM_MatVec_Q4_K_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ4_K, true, true); }
BENCHMARK(BM_MatVec_Q4_K_repacked_simd)->Args({2048, 2048})->Args({2048, 5632})->Args({5632, 2048})->Args({14336, 4096})->Args({4096, 14336})->Apply(Common);
void BM_MatVec_Q4_K_rows8_simd(benchmark::State& s) { MatVec(s, DType::kQ4_K, true, true, septet::simd::RepackQ4KRows8); }
BENCHMARK(BM_MatVec_Q4_K_rows8_simd)->Args({2048, 2048})->Args({2048, 5632})->Args({5632, 2048})->Args({14336, 4096})->Args({4096, 14336})->Apply(Common);
void BM_MatVec_Q5_K_simd(benchmark::State& s) { MatVec(s, DType::kQ5_K, true); }
BENCHMARK(BM_MatVec_Q5_K_simd)->Args({2048, 2048})->Args({2048, 5632})->Args({5632, 2048})->Args({14336, 4096})->Apply(Common);
void BM_MatVec_Q5_K_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ5_K, true, true); }
BENCHMARK(BM_MatVec_Q5_K_repacked_simd)->Args({2048, 2048})->Args({2048, 5632})->Args({5632, 2048})->Args({14336, 4096})->Apply(Common);
// Q4_0: llama.cpp's Q4_0 files (18-byte blocks of 32, symmetric), in the file layout and
// repacked at load (kLegacy4Rows8: rows interleaved by 8).
void BM_MatVec_Q4_0_simd(benchmark::State& s) { MatVec(s, DType::kQ4_0, true); }
BENCHMARK(BM_MatVec_Q4_0_simd)->Args({5632, 2048})->Args({14336, 4096})->Apply(Common);
void BM_MatVec_Q4_0_repacked_simd(benchmark::State& s) { MatVec(s, DType::kQ4_0, true, true); }
BENCHMARK(BM_MatVec_Q4_0_repacked_simd)->Args({5632, 2048})->Args({14336, 4096})->Apply(Common);
// Q2_K, Q3_K, IQ4_NL / IQ4_XS: the bulk of llama.cpp's Q2_K, Q3_K_S / Q3_K_M and IQ4 files.
void BM_MatVec_Q2_K_simd(benchmark::State& s) { MatVec(s, DType::kQ2_K, true); }
BENCHMARK(BM_MatVec_Q2_K_simd)->Args({5632, 2048})->Args({14336, 4096})->Apply(Common);
void BM_MatVec_Q3_K_simd(benchmark::State& s) { MatVec(s, DType::kQ3_K, true); }
BENCHMARK(BM_MatVec_Q3_K_simd)->Args({5632, 2048})->Args({14336, 4096})->Apply(Common);
void BM_MatVec_IQ4_NL_simd(benchmark::State& s) { MatVec(s, DType::kIQ4_NL, true); }
BENCHMARK(BM_MatVec_IQ4_NL_simd)->Args({5632, 2048})->Apply(Common);
void BM_MatVec_IQ4_XS_simd(benchmark::State& s) { MatVec(s, DType::kIQ4_XS, true); }
BENCHMARK(BM_MatVec_IQ4_XS_simd)->Args({5632, 2048})->Args({14336, 4096})->Apply(Common);
void BM_MatVec_F32_repacked_simd(benchmark::State& s) { MatVec(s, DType::kF32, true, true); }
BENCHMARK(BM_MatVec_F32_repacked_simd)->Args({2048, 2048})->Args({576, 1536})->Apply(Common);
void BM_MatVec_F32_simd(benchmark::State& s) { MatVec(s, DType::kF32, true); }
BENCHMARK(BM_MatVec_F32_simd)->Args({2048, 2048})->Args({576, 1536})->Apply(Common);

// Prefill: m tokens through one rows x cols matrix (2048 x 2048: TinyLlama's
// attention; 1536 x 576: SmolLM2's ffn gate).
void MatMul(benchmark::State& state, DType type, bool repack, RepackFn force = nullptr) {
  const int64_t rows = state.range(0), cols = state.range(1), m = state.range(2);
  const Matrix& w = GetMatrix(type, rows, cols, repack, force);
  const auto one = Activation(w.view);
  std::vector<uint8_t> act(one.size() * static_cast<size_t>(m));
  for (int64_t t = 0; t < m; ++t) std::memcpy(act.data() + t * one.size(), one.data(), one.size());
  std::vector<float> y(static_cast<size_t>(rows * m));
  for (auto _ : state) {
    septet::simd::MatMulRows(w.view, 0, rows, act.data(), one.size(), m, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * m), benchmark::Counter::kIsRate);
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(state.iterations() * m * rows * cols) * 1e-9,
                                                benchmark::Counter::kIsRate);
}
void BM_MatMul_Q3P5_simd(benchmark::State& s) { MatMul(s, DType::kQ3P5, false); }
void BM_MatMul_Q3P5_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ3P5, true); }
void BM_MatMul_Q3P5_NL_simd(benchmark::State& s) { MatMul(s, DType::kQ3P5_NL, false); }
void BM_MatMul_Q8_0_simd(benchmark::State& s) { MatMul(s, DType::kQ8_0, false); }
void BM_MatMul_Q8_0_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ8_0, true); }
void BM_MatMul_F32_simd(benchmark::State& s) { MatMul(s, DType::kF32, false); }
void BM_MatMul_F32_repacked_simd(benchmark::State& s) { MatMul(s, DType::kF32, true); }
void BM_MatMul_Q4_G_simd(benchmark::State& s) { MatMul(s, DType::kQ4_G, false); }
void BM_MatMul_Q4_G_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ4_G, true); }
void BM_MatMul_Q4_NL_simd(benchmark::State& s) { MatMul(s, DType::kQ4_NL, false); }
void BM_MatMul_Q4_T_simd(benchmark::State& s) { MatMul(s, DType::kQ4_T, false); }
void BM_MatMul_Q3P5_NL_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ3P5_NL, true); }
void BM_MatMul_Q4_NL_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ4_NL, true); }
void BM_MatMul_Q4_T_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ4_T, true); }
void BM_MatMul_Q4_0_simd(benchmark::State& s) { MatMul(s, DType::kQ4_0, false); }
void BM_MatMul_Q4_0_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ4_0, true); }
void BM_MatMul_Q4_K_simd(benchmark::State& s) { MatMul(s, DType::kQ4_K, false); }
void BM_MatMul_Q4_K_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ4_K, true); }
void BM_MatMul_Q4_K_rows8_simd(benchmark::State& s) { MatMul(s, DType::kQ4_K, true, septet::simd::RepackQ4KRows8); }
void BM_MatMul_Q5_K_simd(benchmark::State& s) { MatMul(s, DType::kQ5_K, false); }
void BM_MatMul_Q5_K_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ5_K, true); }
void BM_MatMul_Q6_K_simd(benchmark::State& s) { MatMul(s, DType::kQ6_K, false); }
void BM_MatMul_Q6_K_repacked_simd(benchmark::State& s) { MatMul(s, DType::kQ6_K, true); }
void BM_MatMul_Q2_K_simd(benchmark::State& s) { MatMul(s, DType::kQ2_K, false); }
void BM_MatMul_Q3_K_simd(benchmark::State& s) { MatMul(s, DType::kQ3_K, false); }
void BM_MatMul_IQ4_XS_simd(benchmark::State& s) { MatMul(s, DType::kIQ4_XS, false); }
BENCHMARK(BM_MatMul_Q3P5_simd)->Args({2048, 2048, 64})->Apply(Common);
BENCHMARK(BM_MatMul_Q3P5_NL_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_NL_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Args({1536, 576, 64})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_T_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 2})->Args({1536, 576, 64})->Apply(Common);
BENCHMARK(BM_MatMul_Q3P5_NL_repacked_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_NL_repacked_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_T_repacked_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q3P5_repacked_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 32})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 6})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q8_0_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Args({49152, 576, 8})->Args({1536, 576, 256})->Apply(Common);
BENCHMARK(BM_MatMul_Q8_0_repacked_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Args({49152, 576, 8})->Args({1536, 576, 256})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_G_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({1536, 576, 64})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_G_repacked_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 32})->Args({2048, 2048, 33})->Args({2048, 2048, 24})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Args({1536, 576, 64})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_0_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_0_repacked_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_K_simd)->Args({5632, 2048, 256})->Args({2048, 5632, 256})->Args({2048, 5632, 8})->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_K_repacked_simd)->Args({5632, 2048, 256})->Args({2048, 5632, 256})->Args({2048, 5632, 8})->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q4_K_rows8_simd)->Args({5632, 2048, 256})->Args({2048, 5632, 256})->Args({2048, 5632, 8})->Args({2048, 2048, 64})->Args({2048, 2048, 16})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q5_K_simd)->Args({2048, 5632, 256})->Args({2048, 5632, 8})->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q5_K_repacked_simd)->Args({2048, 5632, 256})->Args({2048, 5632, 8})->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Apply(Common);
BENCHMARK(BM_MatMul_Q6_K_simd)->Args({2048, 5632, 256})->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 5})->Args({32000, 2048, 8})->Apply(Common);
BENCHMARK(BM_MatMul_Q6_K_repacked_simd)->Args({2048, 5632, 256})->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Args({2048, 2048, 4})->Args({2048, 2048, 2})->Args({32000, 2048, 8})->Apply(Common);
BENCHMARK(BM_MatMul_Q2_K_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Apply(Common);
BENCHMARK(BM_MatMul_Q3_K_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Apply(Common);
BENCHMARK(BM_MatMul_IQ4_XS_simd)->Args({2048, 2048, 64})->Args({2048, 2048, 8})->Apply(Common);
BENCHMARK(BM_MatMul_F32_simd)->Args({2048, 2048, 64})->Args({1536, 576, 512})->Args({576, 1536, 512})->Args({576, 576, 512})->Apply(Common);
BENCHMARK(BM_MatMul_F32_repacked_simd)->Args({2048, 2048, 64})->Args({1536, 576, 512})->Args({576, 1536, 512})->Args({576, 576, 512})->Apply(Common);

// ---- memory bandwidth reference (single thread, 256 MiB) ----
std::vector<float>& BigBuffer() {
  static std::vector<float> buf(64 << 20, 1.0f);
  return buf;
}
void BM_ReadBandwidth(benchmark::State& state) {
  auto& buf = BigBuffer();
  const int64_t n = static_cast<int64_t>(buf.size());
  for (auto _ : state) benchmark::DoNotOptimize(septet::simd::Dot(buf.data(), buf.data(), n));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 4);
  state.SetLabel("simd::Dot(a, a): one read stream");
}
BENCHMARK(BM_ReadBandwidth)->Apply(Common);
void BM_Memcpy(benchmark::State& state) {
  auto& buf = BigBuffer();
  static std::vector<float> dst(buf.size() / 2);
  for (auto _ : state) {
    std::memcpy(dst.data(), buf.data(), dst.size() * 4);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(dst.size()) * 4);
  state.SetLabel("bytes copied (read + write each)");
}
BENCHMARK(BM_Memcpy)->Apply(Common);

// ---- load-time repack (what loading a model spends per matrix) ----
// Q3P5 file blocks -> slots, Q4_G and Q4_0 rows -> groups of 8 and F32 rows -> panels for a rows x cols matrix; one
// call = the whole matrix, on every hardware thread (simd::ParallelRanges).
void Repack(benchmark::State& state, DType type) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const Matrix& m = GetMatrix(type, rows, cols);
  std::vector<uint8_t> out;
  septet::cpu::WeightView v;
  for (auto _ : state) {
    if (type == DType::kQ3P5) {
      septet::simd::RepackQ3P5Slots(m.view, &out, &v);
    } else if (type == DType::kQ4_G) {
      septet::simd::RepackQ4GRows8(m.view, &out, &v);
    } else if (type == DType::kQ4_0) {
      septet::simd::RepackLegacy4Rows8(m.view, &out, &v);
    } else {
      septet::simd::RepackFloatPanels(m.view, &out, &v);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(m.bytes.size()));
  if (type == DType::kQ3P5) {
    // Seconds per 128-weight block (the counter prints it with its SI prefix, e.g. 85n).
    state.counters["s/block"] = benchmark::Counter(static_cast<double>(state.iterations() * rows * cols / 128),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  }
}
void BM_Repack_Q3P5(benchmark::State& s) { Repack(s, DType::kQ3P5); }
void BM_Repack_F32(benchmark::State& s) { Repack(s, DType::kF32); }
void BM_Repack_Q4_G(benchmark::State& s) { Repack(s, DType::kQ4_G); }
void BM_Repack_Q4_0(benchmark::State& s) { Repack(s, DType::kQ4_0); }
BENCHMARK(BM_Repack_Q3P5)->Args({4096, 4096})->Args({14336, 4096})->Apply(Common);
BENCHMARK(BM_Repack_Q4_G)->Args({4096, 4096})->Apply(Common);
BENCHMARK(BM_Repack_Q4_0)->Args({4096, 4096})->Apply(Common);
BENCHMARK(BM_Repack_F32)->Args({4096, 4096})->Apply(Common);

// ---- arithmetic peak reference (single thread) ----
// 16 independent f32 FMA chains in the widest registers the CPU has, so that
// a kernel's GMAC/s can be read as a fraction of what one core can issue.
// GMAC/s counts multiply-adds (lanes x FMAs) per second.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) float FmaChains512(int64_t iters) {
  __m512 a[16];
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t k = 0; k < iters; ++k) {
    for (auto& v : a) v = _mm512_fmadd_ps(v, x, y);
  }
  alignas(64) float out[16];
  float sum = 0;
  for (auto& v : a) {
    _mm512_store_ps(out, v);
    for (float f : out) sum += f;
  }
  return sum;
}
__attribute__((target("avx2,fma"))) float FmaChains256(int64_t iters) {
  __m256 a[16];
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 16; ++i) a[i] = _mm256_set1_ps(static_cast<float>(i));
  for (int64_t k = 0; k < iters; ++k) {
    for (auto& v : a) v = _mm256_fmadd_ps(v, x, y);
  }
  alignas(32) float out[8];
  float sum = 0;
  for (auto& v : a) {
    _mm256_store_ps(out, v);
    for (float f : out) sum += f;
  }
  return sum;
}
void BM_FmaPeak(benchmark::State& state) {
  const bool wide = state.range(0) == 512;
  const bool have = wide ? __builtin_cpu_supports("avx512f") : __builtin_cpu_supports("avx2");
  if (!have || !__builtin_cpu_supports("fma")) {
    state.SkipWithError("the CPU lacks this vector width");
    return;
  }
  constexpr int64_t kIters = 1 << 20;
  for (auto _ : state) {
    int64_t iters = kIters;
    benchmark::DoNotOptimize(iters);  // one real call per iteration, not one hoisted result
    benchmark::DoNotOptimize(wide ? FmaChains512(iters) : FmaChains256(iters));
  }
  const double macs = static_cast<double>(state.iterations()) * kIters * 16 * (wide ? 16 : 8);
  state.counters["GMAC/s"] = benchmark::Counter(macs / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(wide ? "16 chains of _mm512_fmadd_ps" : "16 chains of _mm256_fmadd_ps");
}
BENCHMARK(BM_FmaPeak)->Arg(512)->Arg(256)->Apply(Common);

// The same for the int8 dot of the quantized GEMMs: 16 chains of vpdpbusd (4
// u8 x s8 products per 32-bit lane), 512 or 256 bits. How many issue per cycle at
// each width (one port or two) decides which tile layout is faster.
__attribute__((target("avx512f,avx512vnni"))) int32_t VnniChains512(int64_t iters) {
  __m512i a[16];
  const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-5);
  for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_epi32(i);
  for (int64_t k = 0; k < iters; ++k) {
    for (auto& v : a) v = _mm512_dpbusd_epi32(v, x, y);
  }
  alignas(64) int32_t out[16];
  int32_t sum = 0;
  for (auto& v : a) {
    _mm512_store_si512(out, v);
    for (int32_t o : out) sum += o;
  }
  return sum;
}
__attribute__((target("avx512f,avx512vl,avx512vnni"))) int32_t VnniChains256(int64_t iters) {
  __m256i a[16];
  const __m256i x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-5);
  for (int i = 0; i < 16; ++i) a[i] = _mm256_set1_epi32(i);
  for (int64_t k = 0; k < iters; ++k) {
    for (auto& v : a) v = _mm256_dpbusd_epi32(v, x, y);
  }
  alignas(32) int32_t out[8];
  int32_t sum = 0;
  for (auto& v : a) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), v);
    for (int32_t o : out) sum += o;
  }
  return sum;
}
void BM_VnniPeak(benchmark::State& state) {
  const bool wide = state.range(0) == 512;
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512vl")) {
    state.SkipWithError("the CPU lacks AVX512-VNNI");
    return;
  }
  constexpr int64_t kIters = 1 << 20;
  for (auto _ : state) {
    int64_t iters = kIters;
    benchmark::DoNotOptimize(iters);
    benchmark::DoNotOptimize(wide ? VnniChains512(iters) : VnniChains256(iters));
  }
  const double macs = static_cast<double>(state.iterations()) * kIters * 16 * (wide ? 64 : 32);
  state.counters["GMAC/s"] = benchmark::Counter(macs / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(wide ? "16 chains of _mm512_dpbusd_epi32" : "16 chains of _mm256_dpbusd_epi32");
}
BENCHMARK(BM_VnniPeak)->Arg(512)->Arg(256)->Apply(Common);
#endif

// ---- activation quantization and float ops ----
void QuantAct(benchmark::State& state, DType act_type, bool simd) {
  const int64_t n = state.range(0);
  const auto x = Gaussian(n, 1.0f, 3);
  const auto& at = septet::GetTypeTraits(act_type);
  std::vector<uint8_t> out(at.row_bytes(n));
  for (auto _ : state) {
    if (simd) {
      septet::simd::QuantizeActivation(act_type, x.data(), n, out.data());
    } else {
      at.from_float(x.data(), out.data(), n, nullptr);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 4);
}
void BM_QuantizeQ8A_simd(benchmark::State& s) { QuantAct(s, DType::kQ8_A, true); }
void BM_QuantizeQ8A_scalar(benchmark::State& s) { QuantAct(s, DType::kQ8_A, false); }
void BM_QuantizeQ8R_simd(benchmark::State& s) { QuantAct(s, DType::kQ8_R, true); }
void BM_QuantizeQ8R_scalar(benchmark::State& s) { QuantAct(s, DType::kQ8_R, false); }
BENCHMARK(BM_QuantizeQ8A_simd)->Arg(4096)->Arg(14336)->Apply(Common);
BENCHMARK(BM_QuantizeQ8A_scalar)->Arg(4096)->Arg(14336)->Apply(Common);
BENCHMARK(BM_QuantizeQ8R_simd)->Arg(4096)->Apply(Common);
BENCHMARK(BM_QuantizeQ8R_scalar)->Arg(4096)->Apply(Common);

template <bool kSimd>
void BM_RmsNorm(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto x = Gaussian(n, 1.0f, 4), w = Gaussian(n, 1.0f, 5);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    if (kSimd) {
      septet::simd::RmsNorm(out.data(), x.data(), w.data(), n, 1e-5f);
    } else {
      septet::cpu::RmsNorm(out.data(), x.data(), w.data(), n, 1e-5f);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 4);
}
BENCHMARK(BM_RmsNorm<true>)->Arg(4096)->Apply(Common);
BENCHMARK(BM_RmsNorm<false>)->Arg(4096)->Apply(Common);

template <bool kSimd>
void BM_Softmax(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto x0 = Gaussian(n, 3.0f, 6);
  std::vector<float> x = x0;
  for (auto _ : state) {
    state.PauseTiming();
    x = x0;
    state.ResumeTiming();
    if (kSimd) {
      septet::simd::Softmax(x.data(), n);
    } else {
      septet::cpu::Softmax(x.data(), n);
    }
    benchmark::DoNotOptimize(x.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 4);
}
BENCHMARK(BM_Softmax<true>)->Arg(4096)->Apply(Common);
BENCHMARK(BM_Softmax<false>)->Arg(4096)->Apply(Common);

template <bool kSimd>
void BM_SiluMul(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto g = Gaussian(n, 2.0f, 8), u = Gaussian(n, 1.0f, 9);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    if (kSimd) {
      septet::simd::SiluMul(out.data(), g.data(), u.data(), n);
    } else {
      septet::cpu::SiluMul(out.data(), g.data(), u.data(), n);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 4);
}
BENCHMARK(BM_SiluMul<true>)->Arg(14336)->Apply(Common);
BENCHMARK(BM_SiluMul<false>)->Arg(14336)->Apply(Common);

// One query head against n_pos cached keys / values (head_dim 64, rows of
// SmolLM2's 3 KV heads): scores, softmax, weighted sum.
void BM_AttendHead(benchmark::State& state) {
  const int64_t n_pos = state.range(0), hd = 64, stride = 3 * hd;
  const auto q = Gaussian(hd, 1.0f, 10), k = Gaussian(n_pos * stride, 1.0f, 11), v = Gaussian(n_pos * stride, 1.0f, 12);
  std::vector<float> scores(static_cast<size_t>(n_pos)), out(static_cast<size_t>(hd));
  for (auto _ : state) {
    septet::simd::AttendHead(q.data(), k.data(), v.data(), n_pos, hd, stride, 0.125f, scores.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["keys/s"] = benchmark::Counter(static_cast<double>(state.iterations() * n_pos), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttendHead)->Arg(256)->Arg(2048)->Apply(Common);

// Q4_T's quantizer searches (trellis_search.cc): one column of the GPTQ trellis
// search over the 32 survivors (steps/s = weights/s of `septet quantize --type
// Q4_T` with GPTQ), and the block fit's free-start searches in batches of 44
// scale candidates of 32 weights (one block's first batch).
void BM_Q4TSurvivorStep(benchmark::State& state) {
  septet::quant::Q4TSurvivors sv{};
  const auto e = Gaussian(septet::quant::kQ4TWindow * septet::quant::kQ4TStates, 0.01f, 1);
  const auto band = Gaussian(septet::quant::kQ4TWindow, 0.3f, 2);
  std::memcpy(sv.e, e.data(), sizeof(sv.e));
  const auto targets = Gaussian(1024, 0.05f, 3);
  int j = 0;
  for (auto _ : state) {
    septet::simd::Q4TSurvivorStep(&sv, band.data(), targets[static_cast<size_t>(j & 1023)], 0.002f, 1.3f,
                                  j % septet::quant::kQ4TWindow);
    for (float& c : sv.cost) c *= 0.5f;  // keep the costs finite
    ++j;
    benchmark::DoNotOptimize(sv.cost);
  }
  state.counters["steps/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Q4TSurvivorStep)->Apply(Common);

// Two rows' steps interleaved (steps/s counts both rows' columns).
void BM_Q4TSurvivorSteps2(benchmark::State& state) {
  septet::quant::Q4TSurvivors sv[2] = {};
  const auto e = Gaussian(septet::quant::kQ4TWindow * septet::quant::kQ4TStates, 0.01f, 1);
  const auto band = Gaussian(septet::quant::kQ4TWindow, 0.3f, 2);
  for (auto& s : sv) std::memcpy(s.e, e.data(), sizeof(s.e));
  const auto targets = Gaussian(1024, 0.05f, 3);
  int j = 0;
  for (auto _ : state) {
    const int slot = j % septet::quant::kQ4TWindow;
    const septet::simd::Q4TStepRow rows[2] = {
        {&sv[0], band.data(), targets[static_cast<size_t>(j & 1023)], 0.002f, 1.3f, slot},
        {&sv[1], band.data(), targets[static_cast<size_t>((j + 7) & 1023)], 0.002f, 1.3f, slot}};
    septet::simd::Q4TSurvivorSteps(rows, 2);
    for (auto& s : sv) {
      for (float& c : s.cost) c *= 0.5f;  // keep the costs finite
    }
    ++j;
    benchmark::DoNotOptimize(sv[0].cost);
    benchmark::DoNotOptimize(sv[1].cost);
  }
  state.counters["steps/s"] = benchmark::Counter(static_cast<double>(2 * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Q4TSurvivorSteps2)->Apply(Common);


// The NL scale search's first batch (quant::NlSearchScale): 34 candidate scales of a
// group of 32 weights, Q3P5_NL's 8 levels (candidates/s).
void BM_NlScaleErrors(benchmark::State& state) {
  constexpr int kCands = 34;
  const auto w = Gaussian(32, 1.0f, 6), imp = Gaussian(32, 1.0f, 7);
  std::vector<float> mids(7), imp_pos(32), t(kCands), lsq(kCands);
  for (int m = 0; m < 7; ++m) {
    mids[static_cast<size_t>(m)] = 0.5f * static_cast<float>(septet::quant::kQ3P5NLLevels[m] + septet::quant::kQ3P5NLLevels[m + 1]);
  }
  for (int k = 0; k < 32; ++k) imp_pos[static_cast<size_t>(k)] = std::fabs(imp[static_cast<size_t>(k)]);
  for (int i = 0; i < kCands; ++i) t[static_cast<size_t>(i)] = (i % 2 ? -1.0f : 1.0f) * (0.02f + 0.001f * static_cast<float>(i));
  const septet::quant::NlCodebook cb{septet::quant::kQ3P5NLLevels, mids.data(), 8, 0, 127};
  std::vector<double> err(kCands);
  for (auto _ : state) {
    septet::simd::NlScaleErrors(cb, w.data(), imp_pos.data(), 32, t.data(), kCands, err.data(), lsq.data());
    benchmark::DoNotOptimize(err.data());
  }
  state.counters["candidates/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kCands), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NlScaleErrors)->Apply(Common);

// The NL scale search of one Q3P5_NL group of 16 weights (quant::NlSearchScale with
// simd::NlScaleErrors: 34 candidates, then their least-squares refits; groups/s).
void BM_NlSearchScale(benchmark::State& state) {
  constexpr int kGroups = 64;
  const auto w = Gaussian(16 * kGroups, 1.0f, 12), imp = Gaussian(16 * kGroups, 1.0f, 13);
  std::vector<float> a(imp.size()), mids(7);
  for (size_t i = 0; i < a.size(); ++i) a[i] = imp[i] * imp[i] + 0.1f;
  for (int m = 0; m < 7; ++m) {
    mids[static_cast<size_t>(m)] = 0.5f * static_cast<float>(septet::quant::kQ3P5NLLevels[m] + septet::quant::kQ3P5NLLevels[m + 1]);
  }
  const septet::quant::NlCodebook cb{septet::quant::kQ3P5NLLevels, mids.data(), 8, 0, 127};
  int g = 0;
  for (auto _ : state) {
    const size_t k0 = static_cast<size_t>(16 * (g++ % kGroups));
    benchmark::DoNotOptimize(
        septet::quant::NlSearchScale(cb, w.data() + k0, a.data() + k0, 16, &septet::simd::NlScaleErrors));
  }
  state.counters["groups/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NlSearchScale)->Apply(Common);

// The refit's segment dots (simd::SegmentDots): a 1536-weight row of Q3P5_NL groups of
// 16 against one column of its Gram products, 96 sums in weight order (MAC/s).
void BM_SegmentDots(benchmark::State& state) {
  constexpr int64_t kSeg = 16, kNseg = 96;
  const auto fa = Gaussian(kSeg * kNseg, 1.0f, 10), fb = Gaussian(kSeg * kNseg, 1.0f, 11);
  const std::vector<double> a(fa.begin(), fa.end()), b(fb.begin(), fb.end());
  std::vector<double> out(kNseg);
  for (auto _ : state) {
    septet::simd::SegmentDots(a.data(), b.data(), kSeg, kNseg, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kSeg * kNseg),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SegmentDots)->Apply(Common);

// The refit's block scales (quant/nl_codebook.h NlBlockScales): 12 candidate steps of a
// Q3P5_NL block of 8 groups (one ProjectNL block); Arg 0: the scalar reference, 1: SIMD.
void BM_NlBlockScales(benchmark::State& state) {
  constexpr int kGroups = 8, kCands = 12;
  const auto a = Gaussian(kGroups * kGroups, 1.0f, 8), r = Gaussian(2 * kGroups, 1.0f, 9);
  std::vector<double> g(kGroups * kGroups), e(kGroups), start(kGroups), deff(kCands), q(kCands);
  std::vector<double> sc(kCands * septet::quant::kNlMaxBlockGroups);
  for (int i = 0; i < kGroups; ++i)
    for (int j = 0; j < kGroups; ++j) {
      double v = i == j ? 0.5 : 0.0;
      for (int k = 0; k < kGroups; ++k) v += static_cast<double>(a[i * kGroups + k]) * a[j * kGroups + k];
      g[static_cast<size_t>(i * kGroups + j)] = v;
    }
  for (int i = 0; i < kGroups; ++i) {
    start[static_cast<size_t>(i)] = 0.2 * r[static_cast<size_t>(i)];
    e[static_cast<size_t>(i)] = 0.0;
    for (int j = 0; j < kGroups; ++j) e[static_cast<size_t>(i)] += g[static_cast<size_t>(i * kGroups + j)] * 0.15 * r[static_cast<size_t>(kGroups + j)];
  }
  for (int c = 0; c < kCands; ++c) deff[static_cast<size_t>(c)] = 0.01 * (0.8 + 0.04 * c);
  const septet::quant::NlBlockQuadratic p{g.data(), e.data(), start.data(), kGroups, -32, 31};
  const bool simd = state.range(0) != 0;
  for (auto _ : state) {
    if (simd) {
      septet::simd::NlBlockScales(p, deff.data(), kCands, q.data(), sc.data());
    } else {
      septet::quant::NlBlockScales(p, deff.data(), kCands, q.data(), sc.data());
    }
    benchmark::DoNotOptimize(q.data());
  }
  state.counters["candidates/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kCands), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NlBlockScales)->Arg(0)->Arg(1)->Apply(Common);

void BM_Q4TFreeStartCosts(benchmark::State& state) {
  constexpr int kLanes = 44;
  const auto w = Gaussian(32, 1.0f, 4), imp = Gaussian(32, 1.0f, 5);
  std::vector<float> a(imp.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = imp[i] * imp[i] + 0.1f;
  std::vector<septet::quant::Q4TSearchLane> lanes(kLanes);
  for (int i = 0; i < kLanes; ++i) lanes[static_cast<size_t>(i)] = {w.data(), a.data(), 32, -(0.7f + 0.01f * i) / 40.5f};
  std::vector<float> cost(kLanes);
  for (auto _ : state) {
    septet::simd::Q4TFreeStartCosts(lanes.data(), kLanes, cost.data());
    benchmark::DoNotOptimize(cost.data());
  }
  state.counters["lane-weights/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kLanes * 32), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Q4TFreeStartCosts)->Apply(Common);

}  // namespace

BENCHMARK_MAIN();

// Attention of one token's GQA group over n_pos cached positions, F32 cache
// (simd::AttendGroup, what the CPU context runs per token and KV head): n_q
// query heads of head_dim 64 (SmolLM2-135M: 3 heads a group; TinyLlama: 8).
// GMAC/s counts 2 n_q n_pos head_dim multiply-adds (scores and values).
void BM_AttendGroup(benchmark::State& state) {
  const int64_t n_q = state.range(0), n_pos = state.range(1), hd = 64, stride = 3 * hd;
  const auto q = Gaussian(n_q * hd, 1.0f, 1);
  const auto k = Gaussian(n_pos * stride, 1.0f, 2), v = Gaussian(n_pos * stride, 1.0f, 3);
  std::vector<float> scores(static_cast<size_t>(n_q * n_pos)), out(static_cast<size_t>(n_q * hd));
  for (auto _ : state) {
    septet::simd::AttendGroup(q.data(), hd, n_q, k.data(), v.data(), n_pos, hd, stride, 0.125f, scores.data(),
                              out.data(), hd);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(state.iterations() * 2 * n_q * n_pos * hd) * 1e-9,
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttendGroup)->Args({3, 32})->Args({3, 256})->Args({3, 512})->Args({8, 256})->Args({1, 256})->Apply(Common);
