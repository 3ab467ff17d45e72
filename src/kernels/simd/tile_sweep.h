// Software prefetch of a weight tile, line by line, spread over a kernel's loop.
#pragma once

#include <cstddef>
#include <cstdint>

namespace septet::simd {

inline constexpr size_t kCacheLine = 64;

// Prefetches every cache line of [tile + ahead, tile + ahead + bytes) over
// `steps` calls of Step(), at most ceil(lines / steps) lines a call, each line
// once. A kernel that walks a tile of rows block by block calls Step() once per
// step of its loop, so the tile `ahead` bytes further on is in cache when it gets
// there. (Prefetching `ahead` past each block the kernel reads, as the kernels
// did before, leaves out every line that no block starts in: a Q8_0 group of 136
// bytes spans three lines and had two prefetches; the 612-byte rows of a 576-column
// Q8_0 matrix left a row's last line or two to the hardware prefetcher. On the
// AMD EPYC of docs/benchmarks.md §0 those lines came from memory one at a time:
// SmolLM2's 49152 x 576 Q8_0 head ran at 6-9 GB/s on one core, 17-20 GB/s swept.)
// `touch` is the prefetch, a parameter so the tests can record the lines.
template <class Touch>
class BasicTileSweep {
 public:
  BasicTileSweep(const uint8_t* tile, size_t bytes, size_t ahead, int64_t steps, Touch touch = Touch())
      : BasicTileSweep(tile + ahead, tile + ahead + bytes, steps, touch) {}
  // The lines of [from, to) (none if to <= from).
  BasicTileSweep(const uint8_t* from, const uint8_t* to, int64_t steps, Touch touch = Touch())
      : next_(LineOf(from)), end_(to), touch_(touch) {
    const size_t lines = to <= from ? 0 : (static_cast<size_t>(end_ - next_) + kCacheLine - 1) / kCacheLine;
    const size_t n = steps > 0 ? static_cast<size_t>(steps) : 1;
    per_step_ = kCacheLine * ((lines + n - 1) / n);
  }
  inline void Step() {
    if (next_ >= end_) return;
    const uint8_t* stop = static_cast<size_t>(end_ - next_) > per_step_ ? next_ + per_step_ : end_;
    for (; next_ < stop; next_ += kCacheLine) touch_(next_);
  }

 private:
  static const uint8_t* LineOf(const uint8_t* p) {
    return p - (reinterpret_cast<uintptr_t>(p) & (kCacheLine - 1));
  }
  const uint8_t* next_;
  const uint8_t* end_;
  size_t per_step_ = 0;
  Touch touch_;
};

// Into every cache level (prefetcht0), or with `far` into L2 and beyond only
// (prefetcht1): a sweep a whole tile of long rows ahead (e.g. 4 rows of a
// 14336-column Q6_K matrix: 47 KiB) would otherwise evict its own lines, and
// the lines being read, from L1 before they are used (RowTileSweep).
struct PrefetchLine {
  bool far = false;
  void operator()(const uint8_t* p) const {
    if (far) {
      __builtin_prefetch(p, 0, 2);
    } else {
      __builtin_prefetch(p, 0, 3);
    }
  }
};
using TileSweep = BasicTileSweep<PrefetchLine>;

// The weight bytes [begin, end) of the rows one matvec task walks.
struct RowSpan {
  const uint8_t* begin;
  const uint8_t* end;
};

// The sweep of the tile at `tile` (`bytes` long, inside `span`): the bytes `ahead`
// further on, but not past the span's end (the rows after it are another task's,
// most often run by the other thread, whose core then had to fetch them from this
// one's cache), and for the span's first tile also the bytes from the tile up to
// there, which no earlier tile prefetched. Walking a span tile after tile with
// `ahead` a whole number of tiles, every line of the span is swept, none outside it.
template <class Touch = PrefetchLine>
BasicTileSweep<Touch> SweepAhead(const uint8_t* tile, size_t bytes, size_t ahead, RowSpan span, int64_t steps,
                                 Touch touch = Touch()) {
  const uint8_t* from = tile == span.begin ? tile : tile + ahead;
  const uint8_t* to = static_cast<size_t>(span.end - tile) > ahead + bytes ? tile + ahead + bytes : span.end;
  return BasicTileSweep<Touch>(from, to, steps, touch);
}

}  // namespace septet::simd
