// y = x W^T on the fast tier: SIMD kernels (kernels/simd) split over a thread
// pool, with a choice of prefill path.
//
// Decode (m = 1): the activation row is quantized once to the kernels'
// activation type (simd::ActivationType: Q8_B for repacked Q3P5, else the
// weight type's vec_dot_type), then the rows of W are cut into one contiguous range per
// worker and each range is a simd::MatVecRows call.
// Prefill (m > 1): kOwnGemm runs simd::MatMulRows (the tiled int8 GEMM) on the
// same row ranges; kBlas runs one single-threaded OpenBLAS sgemm per task on
// the same row ranges (F32 rows in place, other types dequantized to F32 tiles):
// the float-model path of `septet perplexity` and of `make benchmark-blas`.
//
// Every output element is computed by exactly one task with the same code
// whatever the thread count, so results are bit-identical for any pool size
// (tested for both paths). kOwnGemm and m MatVec calls agree bit for bit; kBlas
// does not (a float GEMM sums in another order) and is tested within a derived
// bound.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/weight_view.h"

namespace septet::kernels {

enum class PrefillPath { kOwnGemm, kBlas };
const char* PrefillPathName(PrefillPath p);

// Below this many multiply-adds per task a job runs on fewer workers. Between
// decode ops the workers spin (core/thread_pool.h), so a task costs ~1 us to hand
// out, and 2^16 MACs are ~5-10 us of a core's kernel time. At 2^18, SmolLM2's
// 576 x 576 attention output ran as one task on one core (half the memory
// stream); 2^16 split it 4 ways: SmolLM2's decode pass ~12 % shorter
// (`septet bench --profile`, docs/benchmarks.md).
inline constexpr int64_t kDefaultMinMacsPerTask = int64_t{1} << 16;

struct MatMulContext {
  ThreadPool* pool = nullptr;  // required
  PrefillPath prefill = PrefillPath::kOwnGemm;
  // Smaller jobs run on fewer workers (never changes a result); tests set 1 to
  // force every split.
  int64_t min_macs_per_task = kDefaultMinMacsPerTask;
  // Profiling: when on, MatMul adds the time spent quantizing activation rows
  // (less pool waits, which the pool counts itself) to quant_ns.
  bool timing = false;
  uint64_t quant_ns = 0;
  std::vector<uint8_t> act;   // quantized activation rows
};

// x: [m][w.cols] row-major, y: [m][w.rows].
void MatMul(const cpu::WeightView& w, const float* x, int64_t m, float* y, MatMulContext* ctx);

// Several matrices applied to the same input (q/k/v, gate/up): y_i = x W_i^T.
// When they share cols and activation type, the input is quantized once and one
// pool job covers the rows of all of them (one wake-up instead of one per
// matrix); otherwise (or on the BLAS prefill path) each is a MatMul. Same bits
// either way: every output element is computed by the same kernel call.
struct MatMulJob {
  const cpu::WeightView* w;
  float* y;  // [m][w->rows]
};
void MatMulGroup(std::span<const MatMulJob> jobs, const float* x, int64_t m, MatMulContext* ctx);

}  // namespace septet::kernels
