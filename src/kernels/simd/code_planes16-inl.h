// Per-target helpers of the kernels on 3-bit codes in rows interleaved by 16
// (WeightLayout::kQ3P5Rows16: dot_q3p5_rows16.cc; kQ3P5NLRows16:
// dot_q3p5nl_rows16.cc; layouts in repack.h). Both formats store a 32-weight
// sub-block of the 16 rows as the same three 64-byte code planes (byte 4 r + j of
// a plane: weight 4 q + j of row r, q by plane and bit position), so one plane
// load is the same weights of 16 rows, an int32 lane per row, and every quad of
// 4 weights decodes with shifts and masks. Included once per Highway target.

#if defined(SEPTET_KERNELS_SIMD_CODE_PLANES16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_CODE_PLANES16_INL_H_
#undef SEPTET_KERNELS_SIMD_CODE_PLANES16_INL_H_
#else
#define SEPTET_KERNELS_SIMD_CODE_PLANES16_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "hwy/highway.h"
#include "kernels/cpu/weight_view.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

inline constexpr int64_t kPlaneRows = 16;
static_assert(kPlaneRows == kQ3P5GroupRows);
static_assert(Q3P5Rows16PlaneByte(1, 0, 0, 0) - Q3P5Rows16PlaneByte(0, 0, 0, 0) == 192 &&
              Q3P5Rows16PlaneByte(0, 1, 0, 0) - Q3P5Rows16PlaneByte(0, 0, 0, 0) == 64 &&
              Q3P5Rows16PlaneByte(0, 0, 1, 0) - Q3P5Rows16PlaneByte(0, 0, 0, 0) == 4);

// Rows [r0, r1) of a rows-of-16 view back in the file layout, in a per-thread
// buffer (the calls too long for the tiles; the targets without the kernels).
HWY_NOINLINE inline std::vector<uint8_t>& FileRowsOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<uint8_t> rows;
  return rows;
}
inline cpu::WeightView FileRows(const cpu::WeightView& w, int64_t r0, int64_t r1) {
  cpu::WeightView v;
  UnpackRowRange(w, r0, r1, &FileRowsOfThread(), &v);
  return v;
}

// A rows-of-16 family's kernels on the targets without them (MatVecImpl,
// MatMulImpl, IsFastImpl = false): the task's rows back to the file layout
// (FileRows), then the file kernels file_matvec / file_matmul.
#define SEPTET_ROWS16_IN_FILE_LAYOUT(file_matvec, file_matmul)                                                  \
  void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {          \
    file_matvec(FileRows(w, r0, r1), 0, r1 - r0, act, y);                                                    \
  }                                                                                                          \
  void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,   \
                  int64_t m, float* y, int64_t y_stride) {                                                   \
    file_matmul(FileRows(w, r0, r1), 0, r1 - r0, act, act_stride, m, y + r0, y_stride);                     \
  }                                                                                                          \
  bool IsFastImpl() { return false; }

// Writes the group's 16 lanes of v (rows g0 .. g0 + 15) for the rows in [r0, r1)
// to y_row(r) for row r.
template <class YRow>
HWY_INLINE void StoreLanes(const float* v16, int64_t g0, int64_t r0, int64_t r1, const YRow& y_row) {
  for (int64_t r = std::max(r0, g0); r < std::min(r1, g0 + kPlaneRows); ++r) *y_row(r) = v16[r - g0];
}

#if HWY_TARGET == HWY_AVX3_DL

// Per token and 32-weight activation block: x_d and the starting sums
// -offset sum(x) of its two 16-weight halves (a kernel's offset on its unsigned
// codes taken back out), made once per call for the tiles (Q3P5_NL, Q6_K).
struct HalfSums {
  float xd;
  int32_t lo, hi;
};
HWY_NOINLINE inline std::vector<HalfSums>& HalfSumsOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<HalfSums> sums;
  return sums;
}
// m tokens' Q8_A rows (act_stride apart) of nblk blocks each: token t's block j at [t nblk + j].
inline const HalfSums* FillHalfSums(const uint8_t* act, size_t act_stride, int64_t m, int64_t nblk, int32_t offset) {
  static_assert(quant::kQ8ABlockSize == 32, "two halves of 16");
  std::vector<HalfSums>& sums = HalfSumsOfThread();
  sums.resize(static_cast<size_t>(m * nblk));
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t j = 0; j < nblk; ++j) {
      const uint8_t* xb = Q8ABlock(act + static_cast<size_t>(t) * act_stride, j);
      const int8_t* x = Q8ACodes(xb);
      int32_t lo = 0, hi = 0;
      for (int i = 0; i < 16; ++i) {
        lo += x[i];
        hi += x[16 + i];
      }
      sums[static_cast<size_t>(t * nblk + j)] = HalfSums{Q8AScale(xb), -offset * lo, -offset * hi};
    }
  }
  return sums.data();
}

struct PlaneConsts {
  __m512i c0e, c06;
};
HWY_INLINE PlaneConsts MakePlaneConsts() { return PlaneConsts{_mm512_set1_epi8(0x0E), _mm512_set1_epi8(0x06)}; }

// vpternlogd immediates: A | (B & C), and C ? A : B.
inline constexpr int kOrAnd = 0xF8, kSelect = 0xE4;

// Quad q of a sub-block's planes p0, p1, p2: the doubled codes 2 u of the 16 rows
// (bits 1-3 of each byte, the others 0).
template <int Q>
HWY_INLINE __m512i Codes(const PlaneConsts& k, __m512i p0, __m512i p1, __m512i p2) {
  if constexpr (Q == 0) return _mm512_and_si512(_mm512_add_epi8(p0, p0), k.c0e);
  if constexpr (Q == 1) return _mm512_and_si512(_mm512_srli_epi16(p0, 2), k.c0e);
  if constexpr (Q == 2) return _mm512_and_si512(_mm512_add_epi8(p1, p1), k.c0e);
  if constexpr (Q == 3) return _mm512_and_si512(_mm512_srli_epi16(p1, 2), k.c0e);
  if constexpr (Q == 4) return _mm512_and_si512(_mm512_add_epi8(p2, p2), k.c0e);
  if constexpr (Q == 5) return _mm512_and_si512(_mm512_srli_epi16(p2, 4), k.c0e);
  if constexpr (Q == 6) {  // bits 1, 2 from P0's bits 6, 7; bit 3 is P2's bit 3
    return _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_srli_epi16(p0, 5), p2, k.c06, kSelect), k.c0e);
  }
  if constexpr (Q == 7) {  // bits 1, 2 from P1's bits 6, 7; bit 3 from P2's bit 4
    return _mm512_and_si512(
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(p1, 5), _mm512_srli_epi16(p2, 1), k.c06, kSelect), k.c0e);
  }
}

// The three code planes of sub-block s of the group block at gb.
struct Planes {
  __m512i p0, p1, p2;
};
HWY_INLINE Planes LoadPlanes(const uint8_t* gb, int s) {
  const uint8_t* planes = gb + Q3P5Rows16PlaneByte(s, 0, 0, 0);
  return Planes{_mm512_loadu_si512(planes), _mm512_loadu_si512(planes + 64), _mm512_loadu_si512(planes + 128)};
}

// Rows [r0, r1) of a rows-of-16 view against m tokens, group after group, each
// group's tokens in tiles of 8 (then one of the rest) while its bytes stay in
// L1/L2: group_tile(g, T (a std::integral_constant), first token, sweep, y16)
// fills y16[t] with the 16 rows' outputs of token t0 + t, stepping the sweep
// (null after a group's first tile) `steps` times; token t's row r goes to
// y_of(t, r). A task's groups are one contiguous stream, swept
// GroupStreamPrefetchBytes() ahead into L2.
template <class GroupTile, class YOf>
HWY_INLINE void RunGroupTiles16(const cpu::WeightView& w, int64_t r0, int64_t r1, int64_t m, int64_t steps,
                                const YOf& y_of, const GroupTile& group_tile) {
  const int64_t g0 = r0 / kPlaneRows, g1 = (r1 + kPlaneRows - 1) / kPlaneRows;
  const size_t group_bytes = static_cast<size_t>(kPlaneRows) * w.row_bytes;
  const RowSpan span{w.data + static_cast<size_t>(g0) * group_bytes, w.data + static_cast<size_t>(g1) * group_bytes};
  for (int64_t g = g0; g < g1; ++g) {
    TileSweep sweep = SweepAhead(w.data + static_cast<size_t>(g) * group_bytes, group_bytes, GroupStreamPrefetchBytes(),
                                 span, steps, PrefetchLine{true});
    const auto tile = [&](auto tokens, int64_t t0) HWY_ATTR {
      constexpr int T = decltype(tokens)::value;
      __m512 y16[T];
      group_tile(g, tokens, t0, t0 == 0 ? &sweep : nullptr, y16);
      for (int t = 0; t < T; ++t) {
        alignas(64) float v[kPlaneRows];
        _mm512_store_ps(v, y16[t]);
        StoreLanes(v, g * kPlaneRows, r0, r1, [&](int64_t r) { return y_of(t0 + t, r); });
      }
    };
    int64_t t = 0;
    for (; t + 8 <= m; t += 8) tile(std::integral_constant<int, 8>(), t);
    switch (m - t) {
      case 1: tile(std::integral_constant<int, 1>(), t); break;
      case 2: tile(std::integral_constant<int, 2>(), t); break;
      case 3: tile(std::integral_constant<int, 3>(), t); break;
      case 4: tile(std::integral_constant<int, 4>(), t); break;
      case 5: tile(std::integral_constant<int, 5>(), t); break;
      case 6: tile(std::integral_constant<int, 6>(), t); break;
      case 7: tile(std::integral_constant<int, 7>(), t); break;
      default: break;
    }
  }
}

// RunGroupTiles16 with each tile's activation rows: group_tokens(g, a, sweep, y16)
// with a[t] the Q8_A row of token t0 + t (act + (t0 + t) act_stride).
template <class GroupTokens, class YOf>
HWY_INLINE void RunTokenTiles16(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act,
                                size_t act_stride, int64_t m, int64_t steps, const YOf& y_of,
                                const GroupTokens& group_tokens) {
  RunGroupTiles16(w, r0, r1, m, steps, y_of,
                  [&](int64_t g, auto tokens, int64_t t0, TileSweep* sweep, auto& y16) HWY_ATTR {
                    constexpr int T = decltype(tokens)::value;
                    const uint8_t* a[T];
                    for (int t = 0; t < T; ++t) a[t] = act + static_cast<size_t>(t0 + t) * act_stride;
                    group_tokens(g, a, sweep, y16);
                  });
}

// Four code quads of the 16 rows (v[c] dword i: bytes 4 c .. 4 c + 3 of row i)
// -> 16 bytes for each row i at lane0 + i lane_stride, in weight order (the
// codes GEMM's rows, token_lanes-inl.h).
HWY_INLINE void StoreTransposed16(const __m512i (&v)[4], uint8_t* lane0, size_t lane_stride) {
  const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
  const __m512i a[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
                        _mm512_unpackhi_epi64(t1, t3)};  // 128-bit lane k of a[i]: row 4 k + i
  for (int i = 0; i < 4; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + i * lane_stride), _mm512_castsi512_si128(a[i]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + (4 + i) * lane_stride), _mm512_extracti32x4_epi32(a[i], 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + (8 + i) * lane_stride), _mm512_extracti32x4_epi32(a[i], 2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + (12 + i) * lane_stride), _mm512_extracti32x4_epi32(a[i], 3));
  }
}

// start + the 16 lanes' dots of the 8 code quads u (unsigned, a quad of weights
// 4 c .. 4 c + 3 per int32 lane) with the 32 activation codes x: one vpdpbusd a
// quad against the quad broadcast from memory, in two chains (exact int32).
HWY_INLINE __m512i DotQuads16(__m512i start, const __m512i (&u)[8], const int8_t* x) {
  const uint8_t* xq = reinterpret_cast<const uint8_t*>(x);
  __m512i acc = start, acc2 = _mm512_setzero_si512();
  for (int q = 0; q < 8; q += 2) {
    acc = _mm512_dpbusd_epi32(acc, u[q], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q))));
    acc2 = _mm512_dpbusd_epi32(acc2, u[q + 1], _mm512_set1_epi32(static_cast<int>(LoadU32(xq + 4 * q + 4))));
  }
  return _mm512_add_epi32(acc, acc2);
}

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_CODE_PLANES16_INL_H_
