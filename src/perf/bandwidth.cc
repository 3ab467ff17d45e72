#include "perf/bandwidth.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace septet::perf {
namespace {

// 16-byte lanes of u64 (GCC/Clang vector extension): 4 independent accumulators
// keep several loads in flight without relying on the auto-vectorizer.
typedef uint64_t V2 __attribute__((vector_size(16)));

uint64_t SumSlice(const V2* p, size_t n) {
  V2 a = {0, 0}, b = a, c = a, d = a;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  const V2 s = a + b + c + d;
  return s[0] + s[1];
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// Runs fn(thread, begin, end) on n_threads threads over [0, n); returns seconds.
template <typename Fn>
double Timed(int32_t n_threads, size_t n, const Fn& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> th;
  for (int32_t t = 1; t < n_threads; ++t) {
    th.emplace_back([&, t] { fn(t, n * t / n_threads, n * (t + 1) / n_threads); });
  }
  fn(0, 0, n / n_threads);
  for (std::thread& x : th) x.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<BandwidthResult> MeasureBandwidth(const BandwidthOptions& o) {
  if (o.bytes < (size_t{1} << 20)) return InvalidArgument("bandwidth probe: %zu bytes; expected at least 1 MiB", o.bytes);
  if (o.n_threads < 1) return InvalidArgument("bandwidth probe: %d threads; expected at least 1", o.n_threads);
  if (o.repetitions < 1) return InvalidArgument("bandwidth probe: %d repetitions; expected at least 1", o.repetitions);
  const size_t n = o.bytes / sizeof(V2);
  const size_t bytes = n * sizeof(V2);
  std::unique_ptr<V2, AlignedFree> src(static_cast<V2*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)));
  std::unique_ptr<V2, AlignedFree> dst(static_cast<V2*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)));
  if (!src || !dst) return InvalidArgument("bandwidth probe: cannot allocate 2 x %zu bytes", bytes);
  // First touch by the owning thread (matters on NUMA machines).
  Timed(o.n_threads, n, [&](int32_t, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) src.get()[i] = V2{i, i ^ 0x5555};
    std::memset(dst.get() + b, 0, (e - b) * sizeof(V2));
  });
  std::vector<uint64_t> sink(static_cast<size_t>(o.n_threads));
  const auto read = [&](int32_t t, size_t b, size_t e) { sink[static_cast<size_t>(t)] += SumSlice(src.get() + b, e - b); };
  const auto copy = [&](int32_t, size_t b, size_t e) { std::memcpy(dst.get() + b, src.get() + b, (e - b) * sizeof(V2)); };
  Timed(o.n_threads, n, read);  // warm-up
  Timed(o.n_threads, n, copy);
  std::vector<double> r, c;
  for (int32_t k = 0; k < o.repetitions; ++k) {
    r.push_back(static_cast<double>(bytes) / Timed(o.n_threads, n, read) / 1e9);
    c.push_back(2.0 * static_cast<double>(bytes) / Timed(o.n_threads, n, copy) / 1e9);
  }
  // Keep the sums observable so the reads cannot be optimised away.
  uint64_t total = 0;
  for (uint64_t s : sink) total += s;
  if (total == 0x1234567) r.push_back(0);
  BandwidthResult res;
  res.bytes = bytes;
  res.n_threads = o.n_threads;
  res.repetitions = o.repetitions;
  res.read_gbs = Summarize(std::move(r));
  res.copy_gbs = Summarize(std::move(c));
  return res;
}

}  // namespace septet::perf
