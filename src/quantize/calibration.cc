#include "quantize/calibration.h"

#include <cblas.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

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

// Accumulates InputStats on a worker thread: Add copies the rows (at most kMaxQueued
// copies wait; Add blocks beyond) and returns; Finish waits until every one is done.
class StatsWorker {
 public:
  explicit StatsWorker(bool want_h) : want_h_(want_h), thread_([this] { Loop(); }) {}
  ~StatsWorker() { Finish(); }

  void Add(InputStats* s, const float* x, int64_t m, int64_t cols) {
    Job job{s, std::vector<float>(x, x + m * cols), m, cols};
    std::unique_lock<std::mutex> lock(mu_);
    space_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
    queue_.push_back(std::move(job));
    ready_.notify_one();
  }

  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      done_ = true;
      ready_.notify_one();
    }
    thread_.join();
  }

 private:
  static constexpr size_t kMaxQueued = 8;
  struct Job {
    InputStats* s;
    std::vector<float> x;
    int64_t m, cols;
  };

  void Loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;  // done and drained
        job = std::move(queue_.front());
        queue_.pop_front();
        space_.notify_one();
      }
      Accumulate(job.s, job.x.data(), job.m, job.cols);
    }
  }

  void Accumulate(InputStats* sp, const float* x, int64_t m, int64_t cols) {
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
      scratch_.resize(static_cast<size_t>(cols * cols));
      cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, static_cast<blasint>(cols), static_cast<blasint>(m), 1.0f,
                  x, static_cast<blasint>(cols), 0.0f, scratch_.data(), static_cast<blasint>(cols));
      for (int64_t i = 0; i < cols; ++i) {
        double* hrow = s.xtx.data() + i * cols;
        const float* srow = scratch_.data() + i * cols;
        for (int64_t j = 0; j <= i; ++j) hrow[j] += srow[j];
      }
    }
    s.rows_seen += m;
  }

  const bool want_h_;
  std::vector<float> scratch_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Job> queue_;
  bool done_ = false;
  std::thread thread_;  // last: started once the members it reads exist
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
  // The statistics of each observed input run on a thread of their own, in the order
  // the inputs were seen (so every sum is the same as inline), while the forward pass
  // goes on: inline they were a third of the calibration's wall time, on one core.
  StatsWorker stats(options.hessian);
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
    cal.windows_ += 1;
    cal.tokens_ += len;
    if (options.progress) options.progress(start + len, use);
  }
  stats.Finish();
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
