#include "kernels/matmul.h"

#include <cblas.h>

#include <algorithm>

#include "core/check.h"
#include "core/clock.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"

namespace septet::kernels {
namespace {

// Row ranges are multiples of this (keeps SIMD kernels on whole row groups and
// threads off each other's cache lines of y).
constexpr int64_t kRowAlign = 16;  // a float panel (kernels/simd/repack.h), two 8-row tiles
// Rows per sgemm call on the BLAS path (and per dequantized tile: 64 x K=4096
// floats = 1 MiB). Calls cover whole units of this many rows from row 0, whatever
// the pool size, so every call is the same call for any -t: OpenBLAS's result for
// an element can depend on the extent of the call it is in (seen on AMD EPYC,
// where rows 77 with m = 19 changed bits when 16-row-aligned task ranges moved).
constexpr int64_t kBlasTileRows = 64;

void RowRange(int64_t rows, int n_workers, int w, int64_t* r0, int64_t* r1, int64_t align = kRowAlign) {
  const int64_t groups = (rows + align - 1) / align;
  int64_t g0 = 0, g1 = 0;
  ThreadPool::Partition(groups, n_workers, w, &g0, &g1);
  *r0 = std::min(rows, g0 * align);
  *r1 = std::min(rows, g1 * align);
}

void QuantizeRows(const cpu::WeightView& w, const float* x, int64_t m, MatMulContext* ctx, size_t* stride) {
  const DType act_type = simd::ActivationType(w);
  *stride = GetTypeTraits(act_type).row_bytes(w.cols);
  ctx->act.resize(*stride * static_cast<size_t>(m));
  uint8_t* act = ctx->act.data();
  const size_t s = *stride;
  const int64_t tasks = m * w.cols < ctx->min_macs_per_task ? 1 : m;  // one task runs every row inline
  ctx->pool->Run(tasks, [&](int64_t task, int) {
    const int64_t i0 = tasks == 1 ? 0 : task, i1 = tasks == 1 ? m : task + 1;
    for (int64_t i = i0; i < i1; ++i) {
      simd::QuantizeActivation(act_type, x + i * w.cols, w.cols, act + static_cast<size_t>(i) * s);
    }
  });
}

// Rows [r0, r1) of y = x W^T through OpenBLAS (r0 a multiple of kBlasTileRows):
// tiles of kBlasTileRows rows (F32 file rows used in place, anything else
// dequantized into a per-thread tile), one single-threaded sgemm each. Every task
// calls sgemm on its own rows with the pool's thread, so the work splits like
// the own path; the calls are the same for every pool size (kBlasTileRows), so
// the output is the same for any -t (checked by matmul_test.cc).
void BlasRows(const cpu::WeightView& w, const float* x, int64_t m, int64_t r0, int64_t r1, float* y) {
  const TypeTraits& wt = GetTypeTraits(w.type);
  const int64_t k = w.cols;
  thread_local std::vector<float> tile_buf;
  for (int64_t t0 = r0; t0 < r1; t0 += kBlasTileRows) {
    const int64_t rows = std::min(kBlasTileRows, r1 - t0);
    const float* tile = nullptr;
    if (w.type == DType::kF32 && w.layout == cpu::WeightLayout::kFile) {
      tile = reinterpret_cast<const float*>(w.row(t0));
    } else {
      tile_buf.resize(static_cast<size_t>(rows * k));
      for (int64_t r = 0; r < rows; ++r) {
        if (w.layout == cpu::WeightLayout::kFile) {
          wt.to_float(w.row(t0 + r), tile_buf.data() + r * k, k);
        } else {
          simd::RowToFloat(w, t0 + r, tile_buf.data() + r * k);  // repacked (load-time) layout
        }
      }
      tile = tile_buf.data();
    }
    // y[:, t0:t0+rows] = x [m][k] * tile^T [k][rows]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m), static_cast<blasint>(rows),
                static_cast<blasint>(k), 1.0f, x, static_cast<blasint>(k), tile, static_cast<blasint>(k), 0.0f,
                y + t0, static_cast<blasint>(w.rows));
  }
}

// Below this many tokens the tiled GEMM loses to the decode matvec run per token
// over row tiles of about kMatVecTileBytes (the weights are still read from memory
// once: a tile stays in L2 across the tokens, and a matvec call's per-call
// activation set-up is spread over many rows). Both give the same bits, so only
// speed depends on it. From `septet bench -b 1,2,4,8` on the TinyLlama shape
// (docs/benchmarks.md §6): the GEMM wins from 4 tokens (Q4_G: from 8 before its
// AVX3_DL GEMM, which at 8 tokens takes half the time of 8 matvecs); on the
// repacked Q3P5 layout, whose GEMM decodes a one-tile batch into an L1-sized
// chunk, from 2 (simd_kernels_bench 2048 x 2048: 2 tokens 262-274 us against
// 2 x 156 us).
// On float panels (kernels/simd/dot_float_panels.cc) a tile of 2 or 3 tokens is
// already the matvec's loop with more chains, so the GEMM runs from 2 as well.
// Q3P5_NL's planes layout only makes the decode cheaper; its GEMM is the file
// layout's (a row tile decoded once per block for up to 32 tokens), so from 4.
// Q4_G's groups of 8 rows run a few tokens per decoded sub-block (dot_q4g_rows8.cc),
// so from 2; so do Q4_0's, Q4_1's and Q4_K's (dot_legacy_rows8.cc, dot_q4k_rows8.cc), and Q3P5's
// groups of 16 on AVX3_DL (dot_q3p5_rows16.cc), and Q3P5_NL's, Q4_NL's, Q6_K's, Q8_0's, Q4_0's /
// Q4_1's and Q4_K's / Q5_K's (dot_q3p5nl_rows16.cc, dot_q4nl_rows16.cc, dot_q6k_rows16.cc,
// dot_q8_rows16.cc, dot_legacy_rows16.cc, dot_q4k_rows16.cc), and Q4_T's (dot_q4t_rows16.cc).
int64_t MinGemmTokens(const cpu::WeightView& w) {
  return w.layout == cpu::WeightLayout::kQ3P5Slots || w.layout == cpu::WeightLayout::kFloatPanels ||
                 w.layout == cpu::WeightLayout::kQ4GRows8 || w.layout == cpu::WeightLayout::kLegacy4Rows8 ||
                 w.layout == cpu::WeightLayout::kQ4KRows8 || w.layout == cpu::WeightLayout::kQ3P5Rows16 ||
                 w.layout == cpu::WeightLayout::kQ3P5NLRows16 || w.layout == cpu::WeightLayout::kQ4NLRows16 ||
                 w.layout == cpu::WeightLayout::kQ6KRows16 || w.layout == cpu::WeightLayout::kQ8_0Rows16 ||
                 w.layout == cpu::WeightLayout::kLegacy4Rows16 || w.layout == cpu::WeightLayout::kQ4KRows16 ||
                 w.layout == cpu::WeightLayout::kQ5KRows16 || w.layout == cpu::WeightLayout::kQ4TRows16
             ? 2
             : 4;
}
constexpr int64_t kMatVecTileBytes = 64 << 10;

}  // namespace

const char* PrefillPathName(PrefillPath p) { return p == PrefillPath::kBlas ? "blas" : "own"; }

namespace {

// Quantizes the m input rows for w's activation type into ctx->act (timed when asked).
size_t QuantizeInput(const cpu::WeightView& w, const float* x, int64_t m, MatMulContext* ctx) {
  size_t stride = 0;
  const uint64_t t0 = ctx->timing ? NowNs() : 0, w0 = ctx->pool->wait_ns();
  QuantizeRows(w, x, m, ctx, &stride);
  if (ctx->timing) ctx->quant_ns += NowNs() - t0 - (ctx->pool->wait_ns() - w0);
  return stride;
}

// Rows [r0, r1) of y = x W^T from the quantized input (one task's share).
void RowsOf(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t stride, int64_t m,
            float* y) {
  if (r0 >= r1) return;
  if (m == 1) {
    simd::MatVecRows(w, r0, r1, act, y + r0);
  } else if (m < MinGemmTokens(w)) {  // a few tokens (batched decoding)
    int64_t tile = std::max<int64_t>(4, kMatVecTileBytes / static_cast<int64_t>(std::max<size_t>(w.row_bytes, 1)));
    if (tile >= kRowAlign) tile -= tile % kRowAlign;  // whole row groups of the repacked layouts
    for (int64_t ra = r0; ra < r1; ra += tile) {
      const int64_t rb = std::min<int64_t>(r1, ra + tile);
      for (int64_t t = 0; t < m; ++t) simd::MatVecRows(w, ra, rb, act + t * stride, y + t * w.rows + ra);
    }
  } else {
    simd::MatMulRows(w, r0, r1, act, stride, m, y, w.rows);
  }
}

// Tasks per pool thread: the pool hands tasks out dynamically, so a few per
// thread let a fast worker take over from a slow or descheduled one. A call of
// one token streams its rows from memory (longer tasks, longer streams); one of
// several tokens is compute-bound, and twice the tasks halve the tail a thread
// waits for the last one (TinyLlama shape -b 8: pool waits 3.5-4.9 % -> 3.0-3.2 %
// of a step; SmolLM2 at one token loses with 8).
constexpr int64_t kTasksPerThread = 4, kTasksPerThreadBatch = 8;

int Tasks(int64_t macs, int64_t m, const MatMulContext& ctx) {
  const int64_t min_macs = std::max<int64_t>(1, ctx.min_macs_per_task);
  const int64_t per_thread = m > 1 ? kTasksPerThreadBatch : kTasksPerThread;
  const int64_t max_tasks = ctx.pool->size() == 1 ? 1 : per_thread * ctx.pool->size();
  int64_t n = std::clamp<int64_t>(macs / min_macs, 1, max_tasks);
  // A whole number of tasks per thread: 3 tasks on 2 threads leave one idle for a third.
  if (n >= ctx.pool->size()) n -= n % ctx.pool->size();
  return static_cast<int>(n);
}

void BlasMatMul(const cpu::WeightView& w, const float* x, int64_t m, float* y, MatMulContext* ctx) {
  openblas_set_num_threads(1);  // the pool's threads each run one single-threaded sgemm
  const int n = Tasks(w.rows * w.cols * m, m, *ctx);
  ctx->pool->Run(n, [&](int64_t task, int) {
    int64_t r0 = 0, r1 = 0;
    RowRange(w.rows, n, static_cast<int>(task), &r0, &r1, kBlasTileRows);  // whole units: see kBlasTileRows
    if (r0 < r1) BlasRows(w, x, m, r0, r1, y);
  });
}

}  // namespace

void MatMul(const cpu::WeightView& w, const float* x, int64_t m, float* y, MatMulContext* ctx) {
  const MatMulJob job{&w, y};
  MatMulGroup(std::span<const MatMulJob>(&job, 1), x, m, ctx);
}

void MatMulGroup(std::span<const MatMulJob> jobs, const float* x, int64_t m, MatMulContext* ctx) {
  SEPTET_CHECK(ctx != nullptr && ctx->pool != nullptr);
  if (m <= 0 || jobs.empty()) return;
  if (m > 1 && ctx->prefill == PrefillPath::kBlas) {
    for (const MatMulJob& j : jobs) BlasMatMul(*j.w, x, m, j.y, ctx);
    return;
  }
  const cpu::WeightView& w0 = *jobs[0].w;
  const bool shared = std::all_of(jobs.begin(), jobs.end(), [&w0](const MatMulJob& j) {
    return j.w->cols == w0.cols && simd::ActivationType(*j.w) == simd::ActivationType(w0);
  });
  if (!shared) {  // one input quantization per matrix
    for (const MatMulJob& j : jobs) MatMulGroup(std::span<const MatMulJob>(&j, 1), x, m, ctx);
    return;
  }
  // F32 activations (float weights) are the input rows themselves: no copy.
  const bool as_is = simd::ActivationType(w0) == DType::kF32;
  const size_t stride = as_is ? static_cast<size_t>(w0.cols) * sizeof(float) : QuantizeInput(w0, x, m, ctx);
  const uint8_t* act = as_is ? reinterpret_cast<const uint8_t*>(x) : ctx->act.data();
  int64_t total_rows = 0;
  for (const MatMulJob& j : jobs) total_rows += j.w->rows;
  const int n = Tasks(total_rows * w0.cols * m, m, *ctx);
  // Float panels in a GEMM: task ranges of whole 3-panel tiles (the AVX-512 tile; any
  // split gives these kernels the same bits), else of whole row groups.
  const int64_t align = w0.layout == cpu::WeightLayout::kFloatPanels && m >= MinGemmTokens(w0) ? 3 * kRowAlign : kRowAlign;
  // Task ranges over the rows of all matrices one after the other.
  ctx->pool->Run(n, [&](int64_t task, int) {
    int64_t g0 = 0, g1 = 0;
    RowRange(total_rows, n, static_cast<int>(task), &g0, &g1, align);
    int64_t base = 0;
    for (const MatMulJob& j : jobs) {
      const int64_t r0 = std::clamp<int64_t>(g0 - base, 0, j.w->rows), r1 = std::clamp<int64_t>(g1 - base, 0, j.w->rows);
      RowsOf(*j.w, r0, r1, act, stride, m, j.y);
      base += j.w->rows;
    }
  });
}

}  // namespace septet::kernels
