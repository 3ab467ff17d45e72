// Float-weight kernels on the repacked layout WeightLayout::kFloatPanels
// (kernels/simd/repack.h): F32 / F16 / BF16 rows in panels of 16, k-major, so one
// vector load brings weight k of N rows (N = f32 lanes) and the activation is a
// broadcast scalar. Every (row, token) output is one FMA chain over k in index
// order, acc = fma(w[k], x[k], acc) from acc = 0, with no horizontal sum and no
// tail: the tile shape (panels x tokens) only decides how many chains run side by
// side, so MatVec and MatMul give every output the same bits (tested), and a row
// range that cuts a panel computes the whole panel and keeps its own rows. One
// chain of n products: |simd - exact| <= gamma_{n+1} sum |w x| (the float bound
// of simd_matvec_test.cc).
//
// Why: rows in lanes need no reduction and read each activation once per k as a
// broadcast, so a 3-panel x 8-token tile issues 24 FMAs for 3 vector loads and
// 8 broadcasts, against the file layout's 4 x 6 tile (24 FMAs, 10 vector loads
// and 24 horizontal sums per tile): the GEMM runs near the FMA peak and the
// matvec streams 8 panels at once.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_float_panels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kP = kFloatPanelRows;
// Panels per block: a block's weights (at most this many bytes) stay in L2 while
// every token tile passes over them.
constexpr size_t kPanelBlockBytes = 1024 * 1024;

#if HWY_HAVE_SCALABLE
using DF = hn::ScalableTag<float>;  // lane count known at run time: one chain per lane in scalar code
constexpr bool kVectorPanels = false;
constexpr int kLanes = 1;
#else
using DF = hn::CappedTag<float, kP>;
constexpr bool kVectorPanels = true;
constexpr int kLanes = static_cast<int>(hn::MaxLanes(DF()));
static_assert(kP % kLanes == 0);
#endif
constexpr int kVecs = kP / kLanes;  // vectors per panel row of 16 weights
// Accumulator vectors a tile keeps in registers: 24 of AVX-512's 32, 12 of 16 elsewhere.
constexpr int kAccVecs = HWY_MAX_BYTES >= 64 ? 24 : 12;
// MatMul tiles: 3 panels x 8 tokens on AVX-512 (3 weight loads and 8 broadcasts per
// 24 FMAs: 7-21 % faster than 2 x 12 on SmolLM2's shapes, Emerald Rapids,
// BM_MatMul_F32_repacked_simd), elsewhere 2 vectors of rows (1 panel on AVX2) x tokens.
constexpr int kMatMulPanels = HWY_MAX_BYTES >= 64 ? 3 : std::max(1, 2 / kVecs);
constexpr int kMatMulTokens = HWY_MAX_BYTES >= 64 ? 8 : std::max(1, kAccVecs / (kMatMulPanels * kVecs));
// MatVec: 8 independent chains (8 panels on AVX-512) hide the FMA latency.
constexpr int kMatVecPanels = std::max(1, 8 / kVecs);

// Weights [16 j, 16 j + kLanes) of the panel row at p (the 16 weights of one k).
template <DType kType>
HWY_INLINE hn::Vec<DF> LoadLanes(const uint8_t* p, int j) {
  const DF df;
  if constexpr (kType == DType::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(p) + j * kLanes);
  } else if constexpr (kType == DType::kF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p) + j * kLanes));
  } else {
    const hn::RebindToUnsigned<DF> du32;
    const hn::Rebind<uint16_t, DF> du16;
    const auto* q = reinterpret_cast<const uint16_t*>(p) + j * kLanes;
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, q))));
  }
}

#ifndef SEPTET_PANEL_PREFETCH
#define SEPTET_PANEL_PREFETCH 1024
#endif
constexpr size_t kPrefetchBytes = SEPTET_PANEL_PREFETCH;

// Element bytes of the panel types.
constexpr size_t ElemBytes(DType t) { return t == DType::kF32 ? 4 : 2; }

// The tile: RP panels (first at `panel`, panels `panel_bytes` apart) x T tokens
// (x[t]: the f32 activations of token t, any alignment) over all K weights; out[t * RP * 16 + row in tile] receives every row.
template <DType kType, int RP, int T>
HWY_INLINE void PanelTile(const uint8_t* panel, size_t panel_bytes, int64_t K, const uint8_t* const* x, float* out) {
  constexpr size_t kStep = kP * ElemBytes(kType);  // bytes of one k in a panel
#if HWY_HAVE_SCALABLE
  for (int t = 0; t < T; ++t) {
    for (int p = 0; p < RP; ++p) {
      for (int r = 0; r < kP; ++r) {
        float acc = 0.0f;
        float w = 0.0f;
        for (int64_t k = 0; k < K; ++k) {
          const uint8_t* e = panel + p * panel_bytes + static_cast<size_t>(k) * kStep + r * ElemBytes(kType);
          if constexpr (kType == DType::kF32) {
            w = LoadF32(e);
          } else if constexpr (kType == DType::kF16) {
            w = Fp16ToFloat(LoadU16(e));
          } else {
            w = Bf16ToFloat(LoadU16(e));
          }
          acc = std::fma(w, LoadF32(x[t] + 4 * k), acc);
        }
        out[t * RP * kP + p * kP + r] = acc;
      }
    }
  }
#else
  const DF df;
  using V = hn::Vec<DF>;
  constexpr int kRows = RP * kVecs;
  V acc[kRows][T];
  for (int i = 0; i < kRows; ++i) {
    for (int t = 0; t < T; ++t) acc[i][t] = hn::Zero(df);
  }
  const uint8_t* src[RP];
  for (int p = 0; p < RP; ++p) src[p] = panel + p * panel_bytes;
  for (int64_t k = 0; k < K; ++k) {
    V wv[kRows];
    for (int p = 0; p < RP; ++p) {
      __builtin_prefetch(src[p] + kPrefetchBytes);
      for (int j = 0; j < kVecs; ++j) wv[p * kVecs + j] = LoadLanes<kType>(src[p], j);
      src[p] += kStep;
    }
    for (int t = 0; t < T; ++t) {
      const V xb = hn::Set(df, LoadF32(x[t] + 4 * k));  // activation rows may be misaligned
      for (int i = 0; i < kRows; ++i) acc[i][t] = hn::MulAdd(wv[i], xb, acc[i][t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < kRows; ++i) hn::StoreU(acc[i][t], df, out + t * RP * kP + i * kLanes);
  }
#endif
}

struct Job {
  const cpu::WeightView* w;
  int64_t r0, r1;    // rows wanted
  float* y;          // row r of token t at y[t * y_stride + r - y_row0]
  int64_t y_stride;
  int64_t y_row0;
  size_t panel_bytes;
};

// Panels [pa, pb) x the T tokens x (token t's output row at job.y + (t0 + t) * stride).
template <DType kType, int RP, int T>
HWY_INLINE void PanelRun(const Job& job, int64_t pa, int64_t pb, const uint8_t* const* x, int64_t t0) {
  HWY_ALIGN float out[RP * kP * T];
  const auto keep = [&](int64_t p, int np) {  // copy the tile's rows that lie in [r0, r1)
    const int64_t lo = std::max(job.r0, p * kP), hi = std::min(job.r1, (p + np) * kP);
    if (lo >= hi) return;
    for (int t = 0; t < T; ++t) {
      const float* o = out + t * np * kP;
      std::copy(o + (lo - p * kP), o + (hi - p * kP), job.y + (t0 + t) * job.y_stride + (lo - job.y_row0));
    }
  };
  const uint8_t* base = job.w->data;
  int64_t p = pa;
  for (; p + RP <= pb; p += RP) {
    PanelTile<kType, RP, T>(base + p * job.panel_bytes, job.panel_bytes, job.w->cols, x, out);
    keep(p, RP);
  }
  if constexpr (RP > 2) {  // two panels left: one tile of 2 rather than two of 1
    if (p + 2 <= pb) {
      PanelTile<kType, 2, T>(base + p * job.panel_bytes, job.panel_bytes, job.w->cols, x, out);
      keep(p, 2);
      p += 2;
    }
  }
  for (; p < pb; ++p) {
    PanelTile<kType, 1, T>(base + p * job.panel_bytes, job.panel_bytes, job.w->cols, x, out);
    keep(p, 1);
  }
}

// Tokens [t, m) in tiles of T, then T / 2, ... 1 (8, 4, 2, 1 on AVX-512).
template <DType kType, int RP, int T>
HWY_INLINE void TokenTiles(const Job& job, int64_t pa, int64_t pb, const uint8_t* act, size_t act_stride,
                           int64_t m, int64_t t) {
  for (; t + T <= m; t += T) {
    const uint8_t* x[T];
    for (int i = 0; i < T; ++i) x[i] = act + static_cast<size_t>(t + i) * act_stride;
    PanelRun<kType, RP, T>(job, pa, pb, x, t);
  }
  if constexpr (T > 1) TokenTiles<kType, RP, T / 2>(job, pa, pb, act, act_stride, m, t);
}

template <DType kType>
void Run(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
         float* y, int64_t y_stride, int64_t y_row0) {
  const Job job{&w, r0, r1, y, y_stride, y_row0, FloatPanelBytes(w)};
  const int64_t p0 = r0 / kP, p1 = (r1 + kP - 1) / kP;
  if (m == 1) {
    const uint8_t* x[1] = {act};
    return PanelRun<kType, kMatVecPanels, 1>(job, p0, p1, x, 0);
  }
  const int64_t block = std::max<int64_t>(
      kMatMulPanels,
      static_cast<int64_t>(kPanelBlockBytes / std::max<size_t>(job.panel_bytes, 1)) / kMatMulPanels * kMatMulPanels);
  for (int64_t pa = p0; pa < p1; pa += block) {
    TokenTiles<kType, kMatMulPanels, kMatMulTokens>(job, pa, std::min(p1, pa + block), act, act_stride, m, 0);
  }
}

void Dispatch(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
              float* y, int64_t y_stride, int64_t y_row0) {
  SEPTET_CHECK(w.layout == cpu::WeightLayout::kFloatPanels);
  switch (w.type) {
    case DType::kF32: return Run<DType::kF32>(w, r0, r1, act, act_stride, m, y, y_stride, y_row0);
    case DType::kF16: return Run<DType::kF16>(w, r0, r1, act, act_stride, m, y, y_stride, y_row0);
    case DType::kBF16: return Run<DType::kBF16>(w, r0, r1, act, act_stride, m, y, y_stride, y_row0);
    default: SEPTET_CHECK_MSG(false, "simd float-panel MatMul: weight type is not F32/F16/BF16");
  }
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  Dispatch(w, r0, r1, act, act_stride, m, y, y_stride, 0);
}

// MatVec = the MatMul of one token (outputs y[r - r0]).
void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  Dispatch(w, r0, r1, act, 0, 1, y, 0, r0);
}

bool IsFastImpl() { return kVectorPanels && HWY_MAX_BYTES >= 32 && HWY_TARGET != HWY_EMU128; }

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(FloatPanels, w.layout == cpu::WeightLayout::kFloatPanels)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(FloatPanels)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
