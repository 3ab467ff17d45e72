// `make benchmark-blas`: prompt-processing matmuls, septet's own tiled int8
// GEMM (kernels::PrefillPath::kOwnGemm) against the OpenBLAS path (dequantize a
// tile of W to F32, then cblas_sgemm), same thread count, same shapes.
//
// Shapes are TinyLlama-1.1B's (dim 2048, ffn 5632) and Llama-3-8B's q/o
// projection (4096 x 4096); m = tokens per call (the forward pass uses chunks
// of up to 64). Counter "tok/s" = m / time; "GFLOP/s" = 2 m rows cols / time.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "quant/registry.h"

namespace septet {
namespace {

struct Weights {
  DType type;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
};

Weights Make(DType type, int64_t rows, int64_t cols) {
  std::mt19937_64 rng(42);
  std::normal_distribution<float> g(0.0f, 0.02f);
  const TypeTraits& t = GetTypeTraits(type);
  Weights w{type, rows, cols, std::vector<uint8_t>(t.row_bytes(cols) * static_cast<size_t>(rows))};
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = g(rng);
    t.from_float(row.data(), w.bytes.data() + r * t.row_bytes(cols), cols, nullptr);
  }
  return w;
}

int Threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

void BM_PrefillMatMul(benchmark::State& state, DType type, int64_t rows, int64_t cols, kernels::PrefillPath path) {
  const int64_t m = state.range(0);
  static std::vector<std::unique_ptr<Weights>> cache;  // one quantization per (type, shape)
  const Weights* w = nullptr;
  for (const auto& c : cache) {
    if (c->type == type && c->rows == rows && c->cols == cols) w = c.get();
  }
  if (w == nullptr) {
    cache.push_back(std::make_unique<Weights>(Make(type, rows, cols)));
    w = cache.back().get();
  }
  const cpu::WeightView view{type, rows, cols, w->bytes.data(), GetTypeTraits(type).row_bytes(cols)};
  std::vector<float> x(static_cast<size_t>(m * cols)), y(static_cast<size_t>(m * rows));
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (float& v : x) v = g(rng);
  ThreadPool pool(Threads());
  kernels::MatMulContext ctx;
  ctx.pool = &pool;
  ctx.prefill = path;
  for (auto _ : state) {
    kernels::MatMul(view, x.data(), m, y.data(), &ctx);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(m), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * rows * cols * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = pool.size();
}

void Register() {
  struct Shape {
    const char* name;
    int64_t rows, cols;
  };
  const Shape shapes[] = {{"tinyllama_ffn_up_5632x2048", 5632, 2048}, {"llama3_q_4096x4096", 4096, 4096}};
  const DType types[] = {DType::kQ3P5, DType::kQ4_G, DType::kQ8_0, DType::kF16, DType::kF32};
  for (const Shape& s : shapes) {
    for (DType t : types) {
      for (auto [path, pname] : {std::pair{kernels::PrefillPath::kOwnGemm, "own"},
                                 std::pair{kernels::PrefillPath::kBlas, "blas"}}) {
        const std::string name = std::string("Prefill/") + s.name + "/" + std::string(DTypeName(t)) + "/" + pname;
        benchmark::RegisterBenchmark(name.c_str(), BM_PrefillMatMul, t, s.rows, s.cols, path)
            ->Arg(64)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.3)
            ->Repetitions(5)
            ->ReportAggregatesOnly(true);
      }
    }
  }
}

}  // namespace
}  // namespace septet

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  septet::Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
