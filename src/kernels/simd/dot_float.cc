// Float-weight kernels: F32 / F16 / BF16 rows dotted with an F32 activation.
// Portable Highway on every target: weights promoted to f32 (F16 via F16C on
// AVX2), register tiles of independent f32 FMA chains, a remainder loop. The scalar
// reference accumulates in double, so results agree within the f32
// accumulation bound documented in simd_matvec_test.cc.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_float.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

// ---- One code path for MatVec and MatMul: FloatTile (common-inl.h) ----
// Register tiles of R rows x T tokens; MatVec is the tile with T = 1, so MatMul
// is bit-identical to MatVec by construction (tested).

#if HWY_MAX_BYTES >= 64
constexpr int kTileRows = 4, kTileTokens = 6;  // 24 accumulators + 4 weight + 1 activation of 32 registers
#else
constexpr int kTileRows = 2, kTileTokens = 6;  // 12 + 2 + 1 of 16
#endif
// Rows per block: a block's weights (at most this many bytes) stay in L2 while
// every token tile passes over them; a token tile's activations stay in L1.
constexpr size_t kRowBlockBytes = 1024 * 1024;

// Per weight type: the tile's loader over R row pointers. y holds row ra's
// outputs (y[t * y_stride + r] for tile row r and tile token t).
template <int R, int T>
HWY_INLINE void FloatRows(const cpu::WeightView& w, int64_t ra, const float* const* x, float* yr, int64_t y_stride) {
  const uint8_t* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = w.row(ra + r);
  switch (w.type) {
    case DType::kF32:
      return FloatTile<R, T>(
          [&rows](auto df, int r, int64_t i) HWY_ATTR {
            return hn::LoadU(df, reinterpret_cast<const float*>(rows[r]) + i);
          },
          [&rows](int r, int64_t i) { return LoadF32(rows[r] + 4 * i); }, x, w.cols, yr, y_stride);
    case DType::kF16:
      return FloatTile<R, T>(
          [&rows](auto df, int r, int64_t i) HWY_ATTR {
            const hn::Rebind<hwy::float16_t, decltype(df)> dh;
            return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(rows[r]) + i));
          },
          [&rows](int r, int64_t i) { return Fp16ToFloat(LoadU16(rows[r] + 2 * i)); }, x, w.cols, yr, y_stride);
    case DType::kBF16:
      return FloatTile<R, T>(
          [&rows](auto df, int r, int64_t i) HWY_ATTR {
            const hn::RebindToUnsigned<decltype(df)> du32;
            const hn::Rebind<uint16_t, decltype(df)> du16;
            const auto* p = reinterpret_cast<const uint16_t*>(rows[r]) + i;
            return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p))));
          },
          [&rows](int r, int64_t i) { return Bf16ToFloat(LoadU16(rows[r] + 2 * i)); }, x, w.cols, yr, y_stride);
    default:
      SEPTET_CHECK_MSG(false, "simd float MatMul: weight type is not F32/F16/BF16");
  }
}

// Rows [ra, rb) against the T tokens x: whole row tiles, then single rows.
// y[t * y_stride + r] receives row r (absolute) of tile token t.
template <int T>
HWY_INLINE void FloatRowRange(const cpu::WeightView& w, int64_t ra, int64_t rb, const float* const* x, float* y,
                              int64_t y_stride) {
  int64_t r = ra;
  for (; r + kTileRows <= rb; r += kTileRows) FloatRows<kTileRows, T>(w, r, x, y + r, y_stride);
  for (; r < rb; ++r) FloatRows<1, T>(w, r, x, y + r, y_stride);
}

// MatVec = the MatMul of one token: the same tiles with T = 1.
void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const float* x[1] = {reinterpret_cast<const float*>(act)};
  FloatRowRange<1>(w, r0, r1, x, y - r0, 1);
}

// Row blocks outer (weights from L2), token tiles of kTileTokens inner
// (activations from L1), the last m % kTileTokens tokens as tiles of one.
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  constexpr int T = kTileTokens;
  const size_t row_bytes = std::max<size_t>(w.row_bytes, 1);
  const int64_t block =
      std::max<int64_t>(kTileRows, static_cast<int64_t>(kRowBlockBytes / row_bytes) / kTileRows * kTileRows);
  const auto token = [&](int64_t t) { return reinterpret_cast<const float*>(act + static_cast<size_t>(t) * act_stride); };
  for (int64_t ra = r0; ra < r1; ra += block) {
    const int64_t rb = std::min(r1, ra + block);
    int64_t t = 0;
    for (; t + T <= m; t += T) {
      const float* x[T];
      for (int k = 0; k < T; ++k) x[k] = token(t + k);
      FloatRowRange<T>(w, ra, rb, x, y + t * y_stride, y_stride);
    }
    for (; t < m; ++t) {
      const float* x[1] = {token(t)};
      FloatRowRange<1>(w, ra, rb, x, y + t * y_stride, y_stride);
    }
  }
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Float, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Float)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
