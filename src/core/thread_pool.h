// A persistent pool of worker threads for data-parallel loops (no thread is
// created per operation). The calling thread takes part as worker 0, so a pool
// of n threads starts n - 1 OS threads; n = 1 runs everything inline.
//
//   pool.Run(n_tasks, [&](int64_t task, int worker) { ... });
//
// Tasks [0, n_tasks) are handed out one at a time from a shared counter
// (dynamic schedule: a worker that is descheduled or slow -- a shared, noisy
// machine -- does not hold the others back; callers cut their work into a few
// tasks per thread). Which worker runs a task never changes the numbers a task
// computes, so results are bit-identical for every thread count as long as each
// task writes its own outputs (the kernels' contract).
//
// Workers spin briefly on an atomic epoch after each job (decode issues a few
// hundred small jobs per token, ~10 us each) and then sleep on a condition
// variable, so an idle pool costs no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace septet {

class ThreadPool {
 public:
  using Task = std::function<void(int64_t task, int worker)>;

  explicit ThreadPool(int n_threads);  // n_threads >= 1 (clamped)
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(task, worker) for every task in [0, n_tasks); returns when all are done.
  // Not reentrant: fn must not call Run on the same pool.
  void Run(int64_t n_tasks, const Task& fn);

  // Range w of n_tasks cut into n_workers near-equal contiguous ranges (callers
  // use it to cut their work into tasks).
  static void Partition(int64_t n_tasks, int n_workers, int w, int64_t* begin, int64_t* end);

  // Profiling (`septet bench --profile`): when on, Run adds the time the calling
  // thread waits for the other workers after finishing its own range to wait_ns().
  void EnableWaitTiming(bool on) { time_waits_ = on; }
  uint64_t wait_ns() const { return wait_ns_; }

 private:
  void WorkerLoop(int worker);
  void RunTasks(int worker);

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const Task* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  bool time_waits_ = false;
  uint64_t wait_ns_ = 0;
};

}  // namespace septet
