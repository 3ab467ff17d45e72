#include "kernels/simd/tile_sweep.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace septet::simd {
namespace {

// Records each touched line and the step it was touched in.
struct Recorder {
  std::vector<std::pair<const uint8_t*, int>>* log = nullptr;
  const int* step = nullptr;
  void operator()(const uint8_t* p) const { log->emplace_back(p, *step); }
};

// Every line of [tile + ahead, tile + ahead + bytes) touched exactly once, at a
// line boundary, nothing outside it, no more than ceil(lines / steps) a step,
// and all of them within the `steps` calls (extra calls touch nothing).
void CheckSweep(size_t offset, size_t bytes, size_t ahead, int64_t steps) {
  SCOPED_TRACE(testing::Message() << "offset " << offset << " bytes " << bytes << " ahead " << ahead << " steps "
                                  << steps);
  std::vector<uint8_t> buf(offset + ahead + bytes + 2 * kCacheLine);
  const uintptr_t base = reinterpret_cast<uintptr_t>(buf.data());
  uint8_t* aligned = buf.data() + ((kCacheLine - base % kCacheLine) % kCacheLine);
  const uint8_t* tile = aligned + offset % kCacheLine;  // offset's position within a line
  std::vector<std::pair<const uint8_t*, int>> log;
  int step = 0;
  BasicTileSweep<Recorder> sweep(tile, bytes, ahead, steps, Recorder{&log, &step});
  for (step = 0; step < steps + 3; ++step) sweep.Step();

  const uintptr_t lo = reinterpret_cast<uintptr_t>(tile + ahead), hi = lo + bytes;
  const uintptr_t first = lo / kCacheLine, last = bytes == 0 ? first : (hi - 1) / kCacheLine;
  const size_t lines = bytes == 0 ? 0 : last - first + 1;
  ASSERT_EQ(log.size(), lines);
  std::map<int, size_t> per_step;
  for (size_t i = 0; i < log.size(); ++i) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(log[i].first);
    EXPECT_EQ(a % kCacheLine, 0u);
    EXPECT_EQ(a / kCacheLine, first + i);  // in order, each once
    EXPECT_LT(log[i].second, steps);
    ++per_step[log[i].second];
  }
  const size_t cap = (lines + static_cast<size_t>(steps) - 1) / static_cast<size_t>(steps);
  for (const auto& [s, n] : per_step) EXPECT_LE(n, cap) << "step " << s;
}

TEST(TileSweep, TouchesEveryLineOnceWithinTheSteps) {
  // The kernels' cases: Q8_0 tiles of 4 rows of 612 bytes in 5 steps, Q4_G rows of
  // 308 bytes, Q3P5 row pairs of 2 x 252 bytes, long rows; every offset in a line.
  const size_t kBytes[] = {1, 63, 64, 65, 2448, 1232, 504, 4 * 2176, 17408};
  const size_t kAhead[] = {0, 4096, 4896};
  const int64_t kSteps[] = {1, 2, 5, 7, 64, 1000};
  for (size_t offset = 0; offset < kCacheLine; offset += 7) {
    for (size_t bytes : kBytes) {
      for (size_t ahead : kAhead) {
        for (int64_t steps : kSteps) CheckSweep(offset, bytes, ahead, steps);
      }
    }
  }
}

TEST(TileSweep, EmptyTileTouchesNothing) { CheckSweep(5, 0, 4096, 3); }

// A task walking its span tile by tile (ahead a whole number of tiles, as
// TilePrefetchBytes makes it): every line of the span swept, none outside it,
// none more often than the number of tiles' ranges it meets, and each tile's
// lines within its own steps.
void CheckSpan(size_t offset, size_t tile_bytes, int tiles, int ahead_tiles, int64_t steps) {
  SCOPED_TRACE(testing::Message() << "offset " << offset << " tile " << tile_bytes << " tiles " << tiles
                                  << " ahead " << ahead_tiles << " steps " << steps);
  const size_t bytes = tile_bytes * static_cast<size_t>(tiles);
  std::vector<uint8_t> buf(offset + bytes + 4 * kCacheLine);
  const uint8_t* begin = buf.data() + offset;
  const RowSpan span{begin, begin + bytes};
  std::map<uintptr_t, int> touched;
  std::vector<std::pair<const uint8_t*, int>> log;
  int step = 0;
  for (int t = 0; t < tiles; ++t) {
    log.clear();
    auto sweep = SweepAhead(begin + t * tile_bytes, tile_bytes, tile_bytes * static_cast<size_t>(ahead_tiles), span,
                            steps, Recorder{&log, &step});
    for (step = 0; step < steps + 2; ++step) sweep.Step();
    for (const auto& [p, s] : log) {
      EXPECT_LT(s, steps);
      ++touched[reinterpret_cast<uintptr_t>(p) / kCacheLine];
    }
  }
  const uintptr_t first = reinterpret_cast<uintptr_t>(span.begin) / kCacheLine;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(span.end) - 1) / kCacheLine;
  EXPECT_EQ(touched.size(), last - first + 1);
  // A line meets at most this many consecutive tiles' ranges (2 when tiles are >= a line).
  const int most = 1 + static_cast<int>((kCacheLine + tile_bytes - 2) / tile_bytes);
  for (const auto& [line, n] : touched) {
    EXPECT_GE(line, first);
    EXPECT_LE(line, last);
    EXPECT_LE(n, most) << "line " << line - first;
  }
}

TEST(TileSweep, SweepAheadCoversATaskSpanAndStaysInside) {
  const size_t kTiles[] = {56, 252 * 2, 612 * 4, 308 * 4, 2176 * 4};
  for (size_t offset = 0; offset < kCacheLine; offset += 13) {
    for (size_t tile : kTiles) {
      for (int tiles : {1, 2, 3, 17}) {
        for (int ahead : {1, 2, 5}) {
          for (int64_t steps : {1, 4, 9}) CheckSpan(offset, tile, tiles, ahead, steps);
        }
      }
    }
  }
}

}  // namespace
}  // namespace septet::simd
