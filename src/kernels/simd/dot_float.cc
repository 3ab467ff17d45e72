// Float-weight kernels: F32 / F16 / BF16 rows dotted with an F32 activation.
// Portable Highway on every target: weights promoted to f32 (F16 via F16C on
// AVX2), four independent f32 FMA accumulators, a remainder loop. The scalar
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

float RowDot(DType type, const uint8_t* wrow, const float* x, int64_t n) {
  switch (type) {
    case DType::kF32: {
      const float* w = reinterpret_cast<const float*>(wrow);
      return FloatDotRow(x, n, [w](auto df, int64_t i) { return hn::LoadU(df, w + i); },
                    [wrow](int64_t i) { return LoadF32(wrow + 4 * i); });
    }
    case DType::kF16: {
      const hwy::float16_t* w = reinterpret_cast<const hwy::float16_t*>(wrow);
      return FloatDotRow(
          x, n,
          [w](auto df, int64_t i) {
            const hn::Rebind<hwy::float16_t, decltype(df)> dh;
            return hn::PromoteTo(df, hn::LoadU(dh, w + i));
          },
          [wrow](int64_t i) { return Fp16ToFloat(LoadU16(wrow + 2 * i)); });
    }
    case DType::kBF16: {
      const uint16_t* w = reinterpret_cast<const uint16_t*>(wrow);
      return FloatDotRow(
          x, n,
          [w](auto df, int64_t i) {
            // bf16 -> f32 is a 16-bit left shift of the bit pattern.
            const hn::RebindToUnsigned<decltype(df)> du32;
            const hn::Rebind<uint16_t, decltype(df)> du16;
            return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, w + i))));
          },
          [wrow](int64_t i) { return Bf16ToFloat(LoadU16(wrow + 2 * i)); });
    }
    default:
      SEPTET_CHECK_MSG(false, "simd float MatVec: weight type is not F32/F16/BF16");
      return 0.0f;
  }
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const float* x = reinterpret_cast<const float*>(act);
  for (int64_t r = r0; r < r1; ++r) y[r - r0] = RowDot(w.type, w.row(r), x, w.cols);
}

// ---- GEMM: register tiles of R rows x T tokens, the matvec's own sums ----
// FloatDotRow gives each (row, token) four accumulators: a_j sums the products
// of vectors j, j + 4, j + 8, ... (j < 4) in order, a_0 then also the vectors
// past the last whole group of four; the result is
// SumOfLanes((a_0 + a_1) + (a_2 + a_3)) plus the scalar tail in index order.
// The tile computes each a_j for R x T pairs at once (one FMA chain per pair,
// a weight vector reused by T tokens and an activation vector by R rows), one j
// after another, then combines them in that same order: the same roundings in
// the same order, so MatMul stays bit-identical to MatVec (tested), while
// the loads per FMA drop from 2 to (R + T) / (R T).

#if HWY_MAX_BYTES >= 64
constexpr int kTileRows = 4, kTileTokens = 6;  // 24 accumulators of 32 registers
#else
constexpr int kTileRows = 2, kTileTokens = 6;  // 12 accumulators of 16
#endif
// Tokens per block: the block's activations stay in L2 while every row tile of
// the range passes over them.
constexpr size_t kTokenBlockBytes = 512 * 1024;

// w(df, r, i): f32 weights [i, i + Lanes) of tile row r; scalar(r, i) weight i.
template <int R, int T, class LoadW, class ScalarW>
HWY_INLINE void FloatTile(const LoadW& load, const ScalarW& scalar, const float* const* x, int64_t n, float* y,
                          int64_t y_stride) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t groups_end = n / (4 * N) * (4 * N);
  const int64_t vec_end = groups_end + (n - groups_end) / N * N;
  HWY_ALIGN float part[4][R][T][hn::MaxLanes(df)];
  for (int j = 0; j < 4; ++j) {
    V acc[R][T];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(df);
    }
    const auto step = [&](int64_t i) HWY_ATTR {
      V wv[R];
      for (int r = 0; r < R; ++r) wv[r] = load(df, r, i);
      for (int t = 0; t < T; ++t) {
        const V xv = hn::LoadU(df, x[t] + i);
        for (int r = 0; r < R; ++r) acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
      }
    };
    for (int64_t i = j * N; i < groups_end; i += 4 * N) step(i);
    if (j == 0) {
      for (int64_t i = groups_end; i < vec_end; i += N) step(i);
    }
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) hn::Store(acc[r][t], df, part[j][r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      const V a0 = hn::Load(df, part[0][r][t]), a1 = hn::Load(df, part[1][r][t]);
      const V a2 = hn::Load(df, part[2][r][t]), a3 = hn::Load(df, part[3][r][t]);
      float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
      for (int64_t i = vec_end; i < n; ++i) {
        sum += scalar(r, i) * LoadF32(reinterpret_cast<const uint8_t*>(x[t] + i));  // as FloatDotRow
      }
      y[t * y_stride + r] = sum;
    }
  }
}

// Rows [ra, ra + R) against tokens [t0, t1): whole tiles of T, then the last
// 1..T-1 tokens one at a time (the same sums, a tile of width 1).
template <int R, class LoadW, class ScalarW>
HWY_INLINE void FloatRowTile(const LoadW& load, const ScalarW& scalar, const uint8_t* act, size_t act_stride,
                             int64_t t0, int64_t t1, int64_t n, float* y, int64_t y_stride) {
  constexpr int T = kTileTokens;
  const float* x[T];
  int64_t t = t0;
  for (; t + T <= t1; t += T) {
    for (int k = 0; k < T; ++k) {
      x[k] = reinterpret_cast<const float*>(act + static_cast<size_t>(t + k) * act_stride);
    }
    FloatTile<R, T>(load, scalar, x, n, y + t * y_stride, y_stride);
  }
  for (; t < t1; ++t) {
    x[0] = reinterpret_cast<const float*>(act + static_cast<size_t>(t) * act_stride);
    FloatTile<R, 1>(load, scalar, x, n, y + t * y_stride, y_stride);
  }
}

// Per weight type: the tile's loader over R row pointers.
// y holds row ra's outputs (y[t * y_stride + r] for tile row r).
template <int R>
HWY_INLINE void FloatRows(const cpu::WeightView& w, int64_t ra, const uint8_t* act, size_t act_stride, int64_t t0,
                          int64_t t1, float* yr, int64_t y_stride) {
  const uint8_t* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = w.row(ra + r);
  switch (w.type) {
    case DType::kF32:
      return FloatRowTile<R>(
          [&rows](auto df, int r, int64_t i) HWY_ATTR {
            return hn::LoadU(df, reinterpret_cast<const float*>(rows[r]) + i);
          },
          [&rows](int r, int64_t i) { return LoadF32(rows[r] + 4 * i); }, act, act_stride, t0, t1, w.cols, yr,
          y_stride);
    case DType::kF16:
      return FloatRowTile<R>(
          [&rows](auto df, int r, int64_t i) HWY_ATTR {
            const hn::Rebind<hwy::float16_t, decltype(df)> dh;
            return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(rows[r]) + i));
          },
          [&rows](int r, int64_t i) { return Fp16ToFloat(LoadU16(rows[r] + 2 * i)); }, act, act_stride, t0, t1,
          w.cols, yr, y_stride);
    case DType::kBF16:
      return FloatRowTile<R>(
          [&rows](auto df, int r, int64_t i) HWY_ATTR {
            const hn::RebindToUnsigned<decltype(df)> du32;
            const hn::Rebind<uint16_t, decltype(df)> du16;
            const auto* p = reinterpret_cast<const uint16_t*>(rows[r]) + i;
            return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p))));
          },
          [&rows](int r, int64_t i) { return Bf16ToFloat(LoadU16(rows[r] + 2 * i)); }, act, act_stride, t0, t1,
          w.cols, yr, y_stride);
    default:
      SEPTET_CHECK_MSG(false, "simd float MatMul: weight type is not F32/F16/BF16");
  }
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  const size_t row_floats = static_cast<size_t>(std::max<int64_t>(w.cols, 1)) * sizeof(float);
  const int64_t block = std::max<int64_t>(kTileTokens, static_cast<int64_t>(kTokenBlockBytes / row_floats));
  for (int64_t t0 = 0; t0 < m; t0 += block) {
    const int64_t t1 = std::min(m, t0 + block);
    int64_t r = r0;
    for (; r + kTileRows <= r1; r += kTileRows) FloatRows<kTileRows>(w, r, act, act_stride, t0, t1, y + r, y_stride);
    for (; r < r1; ++r) FloatRows<1>(w, r, act, act_stride, t0, t1, y + r, y_stride);
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
