#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace septet {
namespace {

TEST(ThreadPoolTest, PartitionCoversEveryTaskOnce) {
  for (int64_t n = 0; n < 40; ++n) {
    for (int w = 1; w <= 7; ++w) {
      int64_t next = 0;
      for (int i = 0; i < w; ++i) {
        int64_t b = 0, e = 0;
        ThreadPool::Partition(n, w, i, &b, &e);
        EXPECT_EQ(b, next);
        EXPECT_GE(e, b);
        EXPECT_LE(e - b, n / w + 1);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(ThreadPoolTest, RunsEveryTaskExactlyOnceForAnySize) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 5, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad_worker{0};
      pool.Run(n, [&](int64_t t, int worker) {
        hits[static_cast<size_t>(t)].fetch_add(1);
        if (worker < 0 || worker >= threads) bad_worker.fetch_add(1);
      });
      for (int64_t t = 0; t < n; ++t) EXPECT_EQ(hits[static_cast<size_t>(t)].load(), 1) << threads << " " << n;
      EXPECT_EQ(bad_worker.load(), 0);
    }
  }
}

TEST(ThreadPoolTest, ManySmallJobsBackToBack) {
  // Decode issues hundreds of small jobs per token; the epoch/pending handshake
  // must never lose or double a job.
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 5000; ++job) {
    pool.Run(7, [&](int64_t t, int) { sum.fetch_add(t + 1); });
  }
  EXPECT_EQ(sum.load(), 5000 * 28);
}

TEST(ThreadPoolTest, ClampsNonPositiveSize) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1);
  int ran = 0;
  pool.Run(3, [&](int64_t, int) { ++ran; });
  EXPECT_EQ(ran, 3);
}

}  // namespace
}  // namespace septet
