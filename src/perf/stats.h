// Summary statistics for repeated timings: benchmarks report the median (robust
// to a stray slow run) with min/max and the standard deviation as the spread.
#pragma once

#include <cstddef>
#include <vector>

namespace septet::perf {

struct Summary {
  size_t n = 0;
  double median = 0, mean = 0, min = 0, max = 0;
  double stddev = 0;  // sample standard deviation (n - 1); 0 for n < 2
};

// Summary of `samples` (any order); all zero for an empty input.
Summary Summarize(std::vector<double> samples);

}  // namespace septet::perf
