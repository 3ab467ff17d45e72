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
SEPTET_SIMD_DECLARE_FAMILY(Q3P5NL)  // Q3P5_NL
SEPTET_SIMD_DECLARE_FAMILY(Q4G)
SEPTET_SIMD_DECLARE_FAMILY(Q4NL)  // Q4_NL
SEPTET_SIMD_DECLARE_FAMILY(Q4T)  // Q4_T
SEPTET_SIMD_DECLARE_FAMILY(Q8_0)
SEPTET_SIMD_DECLARE_FAMILY(Q3P5Seed)
SEPTET_SIMD_DECLARE_FAMILY(Float)  // F32, F16, BF16 weights (w.type says which)
SEPTET_SIMD_DECLARE_FAMILY(Q3P5Slots)  // Q3P5 in WeightLayout::kQ3P5Slots (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(FloatPanels)  // F32, F16, BF16 in WeightLayout::kFloatPanels (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q4GRows8)  // Q4_G in WeightLayout::kQ4GRows8 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Legacy4Rows8)  // Q4_0, Q4_1 in WeightLayout::kLegacy4Rows8 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q4KRows8)  // Q4_K in WeightLayout::kQ4KRows8 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q3P5Rows16)  // Q3P5 in WeightLayout::kQ3P5Rows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q3P5NLRows16)  // Q3P5_NL in WeightLayout::kQ3P5NLRows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q4NLRows16)  // Q4_NL in WeightLayout::kQ4NLRows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q6KRows16)  // Q6_K in WeightLayout::kQ6KRows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q8_0Rows16)  // Q8_0 in WeightLayout::kQ8_0Rows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Legacy4Rows16)  // Q4_0, Q4_1 in WeightLayout::kLegacy4Rows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q4KRows16)  // Q4_K in WeightLayout::kQ4KRows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q5KRows16)  // Q5_K in WeightLayout::kQ5KRows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(Q4TRows16)  // Q4_T in WeightLayout::kQ4TRows16 (repack.h)
SEPTET_SIMD_DECLARE_FAMILY(GgmlLegacy)   // Q4_0, Q4_1, Q5_0, Q5_1 (w.type says which)
SEPTET_SIMD_DECLARE_FAMILY(GgmlKQuants)  // Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (w.type says which)
SEPTET_SIMD_DECLARE_FAMILY(GgmlIq4)      // IQ4_NL, IQ4_XS (w.type says which)

#undef SEPTET_SIMD_DECLARE_FAMILY

// A family's two entry points in each file that implements one:
//   SEPTET_SIMD_FAMILY_TARGET(Fmt, matvec, matmul) inside HWY_NAMESPACE defines this
//   target's Fmt##MatVecT / Fmt##MatMulT from the file's own implementations;
//   SEPTET_SIMD_FAMILY_DISPATCH(Fmt) inside `#if HWY_ONCE`, in namespace
//   septet::simd::detail, exports them and defines detail::Fmt##MatVec / MatMul,
//   which dispatch to the best target the CPU supports.
#define SEPTET_SIMD_FAMILY_TARGET(Fmt, matvec, matmul)                                                     \
  void Fmt##MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {   \
    matvec(w, r0, r1, act, y);                                                                           \
  }                                                                                                      \
  void Fmt##MatMulT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, \
                    int64_t m, float* y, int64_t y_stride) {                                             \
    matmul(w, r0, r1, act, act_stride, m, y, y_stride);                                                  \
  }

#define SEPTET_SIMD_FAMILY_DISPATCH(Fmt)                                                                   \
  HWY_EXPORT(Fmt##MatVecT);                                                                              \
  HWY_EXPORT(Fmt##MatMulT);                                                                              \
  void Fmt##MatVec(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {    \
    HWY_DYNAMIC_DISPATCH(Fmt##MatVecT)(w, r0, r1, act, y);                                               \
  }                                                                                                      \
  void Fmt##MatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,  \
                   int64_t m, float* y, int64_t y_stride) {                                              \
    HWY_DYNAMIC_DISPATCH(Fmt##MatMulT)(w, r0, r1, act, act_stride, m, y, y_stride);                       \
  }

// A repacked layout's family also says whether the dispatched target has its
// fast kernel: each target's Fmt##IsFastT() (in HWY_NAMESPACE), exported and
// dispatched by this, next to SEPTET_SIMD_FAMILY_DISPATCH.
#define SEPTET_SIMD_FAMILY_IS_FAST_DISPATCH(Fmt) \
  HWY_EXPORT(Fmt##IsFastT);                      \
  bool Fmt##IsFast() { return HWY_DYNAMIC_DISPATCH(Fmt##IsFastT)(); }

// A repacked layout's family, whose file defines (in HWY_NAMESPACE) MatVecImpl,
// MatMulImpl and IsFastImpl: Fmt##MatVecT / Fmt##MatMulT check first that the view
// is the family's (`view_ok`, an expression of the WeightView `w`: a view of
// another type or layout is a caller bug), and Fmt##IsFastT says IsFastImpl().
// SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Fmt) then dispatches all three.
#define SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Fmt, view_ok)                                                 \
  void Fmt##MatVecT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {   \
    SEPTET_CHECK(view_ok);                                                                               \
    MatVecImpl(w, r0, r1, act, y);                                                                       \
  }                                                                                                      \
  void Fmt##MatMulT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, \
                    int64_t m, float* y, int64_t y_stride) {                                             \
    SEPTET_CHECK(view_ok);                                                                               \
    MatMulImpl(w, r0, r1, act, act_stride, m, y, y_stride);                                              \
  }                                                                                                      \
  bool Fmt##IsFastT() { return IsFastImpl(); }
#define SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Fmt) \
  SEPTET_SIMD_FAMILY_DISPATCH(Fmt)              \
  SEPTET_SIMD_FAMILY_IS_FAST_DISPATCH(Fmt)

// Whether the dispatched target has the fast kQ3P5Slots kernel (AVX2).
bool Q3P5SlotsIsFast();
// Whether the dispatched target has the fast kFloatPanels kernel (AVX2 and up).
bool FloatPanelsIsFast();
// Whether the dispatched target has the fast kQ4GRows8 kernel (AVX2 and up).
bool Q4GRows8IsFast();
// Whether the dispatched target has the fast kLegacy4Rows8 kernel (AVX2 and up).
bool Legacy4Rows8IsFast();
// Whether the dispatched target has the fast kQ4KRows8 kernel (AVX2 and up).
bool Q4KRows8IsFast();
// Whether the dispatched target has the fast kQ3P5Rows16 kernel (AVX3_DL).
bool Q3P5Rows16IsFast();
// Whether the dispatched target has the fast kQ3P5NLRows16 kernel (AVX3_DL).
bool Q3P5NLRows16IsFast();
// Whether the dispatched target has the fast kQ4NLRows16 kernel (AVX3_DL).
bool Q4NLRows16IsFast();
// Whether the dispatched target has the fast kQ6KRows16 kernel (AVX3_DL).
bool Q6KRows16IsFast();
// Whether the dispatched target has the fast kQ8_0Rows16 kernel (AVX3_DL).
bool Q8_0Rows16IsFast();
// Whether the dispatched target has the fast kLegacy4Rows16 kernel (AVX3_DL).
bool Legacy4Rows16IsFast();
// Whether the dispatched target has the fast kQ4KRows16 / kQ5KRows16 kernels (AVX3_DL).
bool Q4KRows16IsFast();
bool Q5KRows16IsFast();
// Whether the dispatched target has the fast kQ4TRows16 kernel (AVX3_DL).
bool Q4TRows16IsFast();

}  // namespace septet::simd::detail

namespace septet::simd::detail {

// The scalar reference's final Q3P5_SEED formula, compiled outside any SIMD
// target (no FMA contraction), so the SIMD kernel matches it bit for bit:
// (x_d * scale) * (float(acc) + offset * float(x_sum)). Never inlined: inlined
// into an AVX2 function, the compiler could contract it into an FMA.
__attribute__((noinline)) float SeedCombine(float x_d, int32_t x_sum, float scale, float offset, int32_t acc);

}  // namespace septet::simd::detail
