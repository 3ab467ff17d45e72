// The weight prefetch distance of the AVX-512 targets, chosen once per process by
// CPU vendor (common-inl.h PrefetchWeights says why it differs). Outside the
// per-target passes: the choice runs at start-up on any CPU, so its code must
// not be compiled for AVX-512.
#pragma once

#include <cstdint>

namespace septet::simd::detail {

// 16384 on Intel, 4096 elsewhere (AMD Zen 4).
extern const int64_t kAvx512WeightPrefetchBytes;

}  // namespace septet::simd::detail
