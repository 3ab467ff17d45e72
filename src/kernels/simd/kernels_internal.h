// Per-family entry points of src/kernels/simd/ (each dispatches once to the
// best compiled Highway target). Internal: callers use simd_ops.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/weight_view.h"

namespace septet::simd::detail {

#define SEPTET_SIMD_DECLARE_FAMILY(Fmt)                                                      \
  void Fmt##MatVec(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act,    \
                   float* y);                                                                \
  void Fmt##MatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act,    \
                   size_t act_stride, int64_t m, float* y, int64_t y_stride);

SEPTET_SIMD_DECLARE_FAMILY(Q3P5)
SEPTET_SIMD_DECLARE_FAMILY(Q4G)
SEPTET_SIMD_DECLARE_FAMILY(Q8_0)
SEPTET_SIMD_DECLARE_FAMILY(Q3P5Seed)
SEPTET_SIMD_DECLARE_FAMILY(Float)  // F32, F16, BF16 weights (w.type says which)
SEPTET_SIMD_DECLARE_FAMILY(Q3P5Slots)  // Q3P5 in WeightLayout::kQ3P5Slots (repack.h)

#undef SEPTET_SIMD_DECLARE_FAMILY

// Whether the dispatched target has the fast kQ3P5Slots kernel (AVX2).
bool Q3P5SlotsIsFast();

}  // namespace septet::simd::detail

namespace septet::simd::detail {

// The scalar reference's final Q3P5_SEED formula, compiled outside any SIMD
// target (no FMA contraction), so the SIMD kernel matches it bit for bit:
// (x_d * scale) * (float(acc) + offset * float(x_sum)). Never inlined: inlined
// into an AVX2 function, the compiler could contract it into an FMA.
__attribute__((noinline)) float SeedCombine(float x_d, int32_t x_sum, float scale, float offset, int32_t acc);

}  // namespace septet::simd::detail
