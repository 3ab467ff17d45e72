#include "quantize/calibration.h"

#include <cblas.h>

#include <algorithm>

#include "core/thread_pool.h"

namespace septet::quantize {

std::vector<float> InputStats::Importance() const {
  std::vector<float> a(static_cast<size_t>(cols), 0.0f);
  if (rows_seen == 0) return a;
  for (int64_t i = 0; i < cols; ++i) a[i] = static_cast<float>(sum_sq[i] / static_cast<double>(rows_seen));
  return a;
}

std::vector<double> InputStats::Hessian() const {
  if (xtx.empty() || rows_seen == 0) return {};
  std::vector<double> h(xtx.size());
  const double inv = 1.0 / static_cast<double>(rows_seen);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      const double v = xtx[i * cols + j] * inv;
      h[i * cols + j] = v;
      h[j * cols + i] = v;
    }
  }
  return h;
}

const InputStats* Calibration::Find(int64_t layer, model::MatMulInput input) const {
  auto it = stats_.find({layer, static_cast<int>(input)});
  return it == stats_.end() ? nullptr : &it->second;
}

void Calibration::ReleaseHessian(const InputStats* s) {
  for (auto& [key, stats] : stats_) {
    if (&stats == s) std::vector<double>().swap(stats.xtx);
  }
}

double Calibration::UpdateShare(int64_t layer, model::ResidualBlock block) const {
  auto it = shares_.find({layer, static_cast<int>(block)});
  if (it == shares_.end() || it->second.second == 0) return -1.0;
  return it->second.first / static_cast<double>(it->second.second);
}

namespace {

// Accumulates InputStats in batches: Add copies the rows of one observed input;
// Flush (at the end of each window, or when the copies pass kMaxBytes) runs every
// batched input's statistics on the thread pool, one task per input (the largest
// first), so the forward pass and the statistics each have every core in turn
// instead of competing for them. Each input's sums still come one window after
// the other, in the same operations, so they are the same as inline.
class StatsBatch {
 public:
  StatsBatch(bool want_h, int threads) : want_h_(want_h), pool_(threads), scratch_(static_cast<size_t>(threads)) {}

  void Add(InputStats* s, const float* x, int64_t m, int64_t cols) {
    for (size_t i = 0; i < n_; ++i) {
      if (jobs_[i].s == s) Flush();  // one batch holds at most one window of an input
    }
    if (n_ == jobs_.size()) jobs_.emplace_back();
    Job& job = jobs_[n_++];
    job.s = s;
    job.x.assign(x, x + m * cols);  // the same size every window: the buffer is reused
    job.m = m;
    job.cols = cols;
    bytes_ += job.x.size() * sizeof(float);
    if (bytes_ > kMaxBytes) Flush();
  }

  void Flush() {
    std::vector<size_t> order(n_);
    for (size_t i = 0; i < n_; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return jobs_[a].cols > jobs_[b].cols; });
    pool_.Run(static_cast<int64_t>(n_), [&](int64_t t, int worker) {
      const Job& job = jobs_[order[static_cast<size_t>(t)]];
      Accumulate(job.s, job.x.data(), job.m, job.cols, &scratch_[static_cast<size_t>(worker)]);
    });
    n_ = 0;
    bytes_ = 0;
  }

 private:
  static constexpr size_t kMaxBytes = size_t{256} << 20;
  struct Job {
    InputStats* s = nullptr;
    std::vector<float> x;
    int64_t m = 0, cols = 0;
  };

  void Accumulate(InputStats* sp, const float* x, int64_t m, int64_t cols, std::vector<float>* scratch) const {
    InputStats& s = *sp;
    if (s.cols == 0) {
      s.cols = cols;
      s.sum_sq.assign(static_cast<size_t>(cols), 0.0);
      if (want_h_) s.xtx.assign(static_cast<size_t>(cols * cols), 0.0);
    }
    for (int64_t r = 0; r < m; ++r) {
      const float* row = x + r * cols;
      for (int64_t i = 0; i < cols; ++i) s.sum_sq[i] += static_cast<double>(row[i]) * row[i];
    }
    if (want_h_ && m > 0) {
      // XᵀX of this call's rows (at most one window) with BLAS in float, then added in
      // double: float sums over <= n_ctx rows, double across windows.
      scratch->resize(static_cast<size_t>(cols * cols));
      cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, static_cast<blasint>(cols), static_cast<blasint>(m), 1.0f,
                  x, static_cast<blasint>(cols), 0.0f, scratch->data(), static_cast<blasint>(cols));
      for (int64_t i = 0; i < cols; ++i) {
        double* hrow = s.xtx.data() + i * cols;
        const float* srow = scratch->data() + i * cols;
        for (int64_t j = 0; j <= i; ++j) hrow[j] += srow[j];
      }
    }
    s.rows_seen += m;
  }

  const bool want_h_;
  ThreadPool pool_;
  std::vector<std::vector<float>> scratch_;  // per worker
  std::vector<Job> jobs_;
  size_t n_ = 0, bytes_ = 0;
};

}  // namespace

Result<Calibration> Calibration::Collect(const model::LlamaModel& model, const std::vector<int32_t>& tokens,
                                         int32_t bos, const CalibrationOptions& options) {
  if (options.n_ctx < 2)
    return InvalidArgument("calibration context %lld; expected >= 2", static_cast<long long>(options.n_ctx));
  const int64_t use = options.max_tokens > 0 ? std::min<int64_t>(options.max_tokens, tokens.size())
                                             : static_cast<int64_t>(tokens.size());
  if (use == 0) return InvalidArgument("the calibration text has no tokens");
  model::CpuOptions cpu;
  cpu.n_threads = std::max<int32_t>(1, options.threads);
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<model::LlamaContext> ctx, model::LlamaContext::Create(model, options.n_ctx, cpu));
  Calibration cal;
  // The statistics of the observed inputs, batched per window and run on every core
  // (inline, on one core, they were a third of the calibration's wall time).
  StatsBatch stats(options.hessian, cpu.n_threads);
  ctx->SetMatMulObserver([&cal, &stats](int64_t layer, model::MatMulInput input, const float* x, int64_t m,
                                        int64_t cols) {
    InputStats& s = cal.stats_[{layer, static_cast<int>(input)}];
    stats.Add(&s, x, m, cols);
  });
  ctx->SetResidualObserver(
      [&cal](int64_t layer, model::ResidualBlock block, const float* h, const float* u, int64_t m, int64_t dim) {
        auto& [sum, n] = cal.shares_[{layer, static_cast<int>(block)}];
        for (int64_t r = 0; r < m; ++r) {
          double hh = 0, uu = 0;
          for (int64_t i = 0; i < dim; ++i) {
            hh += static_cast<double>(h[r * dim + i]) * h[r * dim + i];
            uu += static_cast<double>(u[r * dim + i]) * u[r * dim + i];
          }
          if (hh > 0) {
            sum += uu / hh;
            n += 1;
          }
        }
      });
  ctx->SetSkipClassifier(true);
  const int64_t per_window = bos >= 0 ? options.n_ctx - 1 : options.n_ctx;
  std::vector<int32_t> window;
  std::vector<float> logits;
  for (int64_t start = 0; start < use; start += per_window) {
    const int64_t len = std::min(per_window, use - start);
    window.clear();
    if (bos >= 0) window.push_back(bos);
    window.insert(window.end(), tokens.begin() + start, tokens.begin() + start + len);
    ctx->Truncate(0);
    // kAll: the classifier's input is observed at every position, not only the last
    // (and the classifier itself is skipped).
    SEPTET_RETURN_IF_ERROR(ctx->Forward(window, model::LogitsMode::kAll, &logits));
    stats.Flush();
    cal.windows_ += 1;
    cal.tokens_ += len;
    if (options.progress) options.progress(start + len, use);
  }
  return cal;
}

uint64_t Fnv1a64(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace septet::quantize
