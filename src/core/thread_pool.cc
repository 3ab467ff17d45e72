#include "core/thread_pool.h"

#include <algorithm>

#include "core/clock.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEPTET_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SEPTET_CPU_RELAX() asm volatile("yield")
#else
#define SEPTET_CPU_RELAX() ((void)0)
#endif

namespace septet {
namespace {
// About 50-100 us of spinning before sleeping (pause is ~40-140 cycles).
constexpr int kSpinIterations = 1 << 12;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  threads_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int w = 1; w < n_threads_; ++w) threads_.emplace_back([this, w] { WorkerLoop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
    epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::Partition(int64_t n_tasks, int n_workers, int w, int64_t* begin, int64_t* end) {
  const int64_t per = n_tasks / n_workers, extra = n_tasks % n_workers;
  *begin = w * per + std::min<int64_t>(w, extra);
  *end = *begin + per + (w < extra ? 1 : 0);
}

void ThreadPool::RunTasks(int worker) {
  for (;;) {
    const int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (t >= n_tasks_) return;
    (*fn_)(t, worker);
  }
}

void ThreadPool::Run(int64_t n_tasks, const Task& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  fn_ = &fn;
  n_tasks_ = n_tasks;
  next_task_.store(0, std::memory_order_relaxed);  // published by the epoch bump below
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    // The lock orders the epoch bump against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(mu_);
    epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  RunTasks(0);
  const uint64_t t0 = time_waits_ ? NowNs() : 0;
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins < kSpinIterations) {
      SEPTET_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  if (time_waits_) wait_ns_ += NowNs() - t0;
  fn_ = nullptr;
}

void ThreadPool::WorkerLoop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t e = epoch_.load(std::memory_order_acquire);
    while (e == seen && spins < kSpinIterations) {
      SEPTET_CPU_RELAX();
      ++spins;
      e = epoch_.load(std::memory_order_acquire);
    }
    if (e == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return epoch_.load(std::memory_order_acquire) != seen; });
      e = epoch_.load(std::memory_order_acquire);
    }
    seen = e;
    if (stop_.load(std::memory_order_acquire)) return;
    RunTasks(worker);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace septet
