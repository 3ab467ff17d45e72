// The quantizer's row split: fn(r0, r1) over [0, rows) in `threads` contiguous
// ranges, one thread each (the calling thread waits). Every row's work depends on
// that row only, so the results do not depend on the split.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace septet::quantize {

template <typename Fn>
void ParallelRows(int64_t rows, int threads, const Fn& fn) {
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(threads, rows));
  if (nt == 1) {
    fn(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    pool.emplace_back([&fn, r0, r1] { fn(r0, r1); });
  }
  for (auto& th : pool) th.join();
}

// fn(r0, r1) over [0, rows) in chunks of `chunk` rows (the last shorter), taken in
// turn by `threads` threads as each finishes its previous chunk: a worker that shares
// its core (with InputPrep's helper, or another process) takes fewer chunks instead
// of holding up the rest at the join.
template <typename Fn>
void ParallelChunks(int64_t rows, int threads, int64_t chunk, const Fn& fn) {
  chunk = std::max<int64_t>(1, chunk);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(threads, chunks));
  std::atomic<int64_t> next{0};
  const auto work = [&] {
    for (int64_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) {
      fn(c * chunk, std::min(rows, (c + 1) * chunk));
    }
  };
  if (nt == 1) {
    work();
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < nt; ++t) pool.emplace_back(work);
  for (auto& th : pool) th.join();
}

}  // namespace septet::quantize
