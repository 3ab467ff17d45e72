// Per-target helpers of the kernels on 4-bit codes in rows interleaved by 8
// (WeightLayout::kQ4GRows8: dot_q4g_rows8.cc; kLegacy4Rows8: dot_legacy_rows8.cc;
// layouts in repack.h). Both store a 32-weight sub-block of the 8 rows as 128
// bytes: byte 32 c + 4 r + i holds weight 4 c + i of row r (low nibble) and
// weight 16 + 4 c + i (high nibble), so one 32-byte load is the same 4 + 4
// weights of the 8 rows (an int32 lane per row) and one broadcast quad of
// activation codes serves all 8. Included once per Highway target.

#if defined(SEPTET_KERNELS_SIMD_NIBBLE_ROWS8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_NIBBLE_ROWS8_INL_H_
#undef SEPTET_KERNELS_SIMD_NIBBLE_ROWS8_INL_H_
#else
#define SEPTET_KERNELS_SIMD_NIBBLE_ROWS8_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "hwy/highway.h"
#include "kernels/cpu/weight_view.h"
#include "kernels/simd/common-inl.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

inline constexpr int kNibbleRows = 8;

// The first byte of group g (rows 8 g .. 8 g + 7) of a rows-of-8 view.
HWY_INLINE const uint8_t* NibbleGroup(const cpu::WeightView& w, int64_t g) {
  return w.data + static_cast<size_t>(g * kNibbleRows) * w.row_bytes;
}

#if SEPTET_SIMD_X86

// A sub-block of the 8 rows (128 bytes at q) as codes: lo[c] holds weights
// 4c..4c+3 of every row (a dword per row), hi[c] weights 16+4c..16+4c+3.
struct NibbleSub {
  __m256i lo[4], hi[4];
};
HWY_INLINE void DecodeNibbleSub(const uint8_t* q, __m256i c15, NibbleSub* sc) {
  for (int c = 0; c < 4; ++c) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * c));
    sc->lo[c] = _mm256_and_si256(v, c15);
    sc->hi[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), c15);
  }
}

// Lane r: row r's exact int32 dot of the sub-block with the 32 activation codes
// x. On AVX3_DL two vpdpbusd chains; elsewhere vpmaddubsw into int16 (8 pair
// sums of |u x| <= 2 * 15 * 127 each: |sum| <= 30480 < 2^15) and one vpmaddwd.
HWY_INLINE __m256i NibbleSubDot(const NibbleSub& sc, const int8_t* x) {
  const uint8_t* xb = reinterpret_cast<const uint8_t*>(x);
#if HWY_TARGET == HWY_AVX3_DL
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    lo = Dpbusd256(lo, sc.lo[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 4 * c))));
    hi = Dpbusd256(hi, sc.hi[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 16 + 4 * c))));
  }
  return _mm256_add_epi32(lo, hi);
#else
  __m256i p = _mm256_setzero_si256();  // int16 pair sums, |.| <= 8 * 3810
  for (int c = 0; c < 4; ++c) {
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(sc.lo[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 4 * c)))));
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(sc.hi[c],
                                                 _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 16 + 4 * c)))));
  }
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
}

// Per token and activation block: x_d and float(x_sum), the broadcast operands
// of the float steps ([token][block][2], nact blocks a token).
inline HWY_NOINLINE std::vector<float>& NibbleMetaOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<float> meta;
  return meta;
}
HWY_INLINE const float* FillNibbleMeta(const uint8_t* act, size_t act_stride, int64_t m, int64_t nact) {
  std::vector<float>& meta = NibbleMetaOfThread();
  meta.resize(static_cast<size_t>(2 * nact * m));
  for (int64_t t = 0; t < m; ++t) {
    const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
    float* mt = meta.data() + 2 * nact * t;
    for (int64_t i = 0; i < nact; ++i) {
      mt[2 * i] = Q8AScale(Q8ABlock(a, i));
      mt[2 * i + 1] = static_cast<float>(Q8ASum(Q8ABlock(a, i)));
    }
  }
  return meta.data();
}

// Where a call's outputs go: token t, row r at y[t * y_stride + r - y_off]
// (MatVec: y_off = r0, MatMul: 0), for r in [r0, r1) only.
struct NibbleOut {
  float* y;
  int64_t y_stride, y_off, r0, r1;
};

// Token t's 8 lanes of group g, (s0 + s1) + (s2 + s3) of its 4 positions, to `out`.
HWY_INLINE void StoreNibbleGroup(const NibbleOut& out, int64_t g, int64_t t, const __m256 (&s)[4]) {
  const int64_t lo = std::max(out.r0, g * kNibbleRows), hi = std::min(out.r1, (g + 1) * kNibbleRows);
  const __m256 y8 = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
  float* ylo = out.y + t * out.y_stride + (lo - out.y_off);  // row lo's output
  if (lo == g * kNibbleRows && hi == lo + kNibbleRows) {
    _mm256_storeu_ps(ylo, y8);
  } else {
    alignas(32) float lanes[kNibbleRows];
    _mm256_store_ps(lanes, y8);
    for (int64_t r = lo; r < hi; ++r) ylo[r - lo] = lanes[r - g * kNibbleRows];
  }
}

// Rows [r0, r1) for m tokens, group after group, each group's tokens in tiles of
// 4 (then 2, 1) while its bytes are in L1: tile(g, T (a std::integral_constant),
// first token, sweep), the sweep (null after a group's first tile) stepped
// `steps` times a group. The weight stream is prefetched once, into L2,
// GroupStreamPrefetchBytes() ahead: a group's bytes are contiguous and follow the
// previous group's, so any distance sweeps every line once (a whole group ahead,
// 9-25 KiB into L1, as row-major tiles need, left one core at 10-11 GB/s from
// DRAM: MatVec_Q4_0_repacked 14336 x 4096 2836-3057 -> 1900-2046 us at 4 KiB, Q4_G
// 2489-3085 -> 1766-2175, alternated).
template <class Tile>
HWY_INLINE void ForNibbleGroupTiles(const cpu::WeightView& w, int64_t r0, int64_t r1, int64_t m, int64_t steps,
                                    const Tile& tile) {
  const int64_t g0 = r0 / kNibbleRows, g1 = (r1 + kNibbleRows - 1) / kNibbleRows;
  const RowSpan span{NibbleGroup(w, g0), NibbleGroup(w, g1)};
  for (int64_t g = g0; g < g1; ++g) {
    TileSweep sweep = SweepAhead(NibbleGroup(w, g), kNibbleRows * w.row_bytes,
                                 GroupStreamPrefetchBytes(), span, steps, PrefetchLine{true});
    int64_t t = 0;
    for (; t + 4 <= m; t += 4) tile(g, std::integral_constant<int, 4>(), t, t == 0 ? &sweep : nullptr);
    if (t + 2 <= m) {
      tile(g, std::integral_constant<int, 2>(), t, t == 0 ? &sweep : nullptr);
      t += 2;
    }
    if (t < m) tile(g, std::integral_constant<int, 1>(), t, t == 0 ? &sweep : nullptr);
  }
}

// A sub-block's 4 code vectors (dword i of each, 4 bytes: c = 0..3) -> 16 bytes
// for each lane row i (lane0 + i * lane_stride): the row's codes in weight order.
HWY_INLINE void StoreNibbleTransposed(const __m256i (&v)[4], uint8_t* lane0, size_t lane_stride) {
  const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
  const __m256i a[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3),
                        _mm256_unpackhi_epi64(t1, t3)};  // lanes (0 | 4), (1 | 5), (2 | 6), (3 | 7)
  for (int i = 0; i < 4; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + i * lane_stride), _mm256_castsi256_si128(a[i]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + (i + 4) * lane_stride), _mm256_extracti128_si256(a[i], 1));
  }
}

// The codes GEMM's rows (natural-order codes, per sub-block (d, m): a
// RowRangeDecode of token_lanes-inl.h) decoded a group of kGroup (8, or 16 for
// the rows of 16) at a time: one row alone would read each of its 4-byte quads
// from another chunk. group_to(g, codes, dm) writes lane i of group g at codes +
// i nsub 32 and dm + i nsub 2; whole groups of [c0, c1) go straight to their
// rows, the lanes of a cut group through a scratch copy.
inline HWY_NOINLINE std::vector<uint8_t>& NibbleGroupScratchOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<uint8_t> scratch;
  return scratch;
}
template <int64_t kGroup = kNibbleRows, class GroupTo>
HWY_INLINE void DecodeNibbleRows(int64_t c0, int64_t c1, int64_t nsub, uint8_t* codes, float* dm,
                                 const GroupTo& group_to) {
  const size_t lane_codes = static_cast<size_t>(nsub) * 32, lane_dm = static_cast<size_t>(nsub) * 2;
  for (int64_t g = c0 / kGroup; g * kGroup < c1; ++g) {
    const int64_t first = g * kGroup, lo = std::max(c0, first), hi = std::min(c1, first + kGroup);
    if (lo == first && hi == first + kGroup) {
      group_to(g, codes + static_cast<size_t>(lo - c0) * lane_codes, dm + static_cast<size_t>(lo - c0) * lane_dm);
      continue;
    }
    std::vector<uint8_t>& scratch = NibbleGroupScratchOfThread();
    scratch.resize(kGroup * (lane_codes + lane_dm * sizeof(float)));
    float* sdm = reinterpret_cast<float*>(scratch.data() + kGroup * lane_codes);  // lane_codes: a multiple of 32
    group_to(g, scratch.data(), sdm);
    for (int64_t r = lo; r < hi; ++r) {
      std::memcpy(codes + static_cast<size_t>(r - c0) * lane_codes, scratch.data() + (r - first) * lane_codes, lane_codes);
      std::memcpy(dm + static_cast<size_t>(r - c0) * lane_dm, sdm + (r - first) * lane_dm, lane_dm * sizeof(float));
    }
  }
}

#else  // portable targets: each group back to the file layout, then the file kernels

inline HWY_NOINLINE std::vector<uint8_t>& NibbleGroupBufferOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<uint8_t> buf;
  return buf;
}

// f(file view of the group's rows, first row of it) for each group that [r0, r1)
// touches; row_of(w, r, dst) writes row r's file-layout bytes.
template <class RowOf, class F>
void ForNibbleGroupsInFileLayout(const cpu::WeightView& w, int64_t r0, int64_t r1, const RowOf& row_of, const F& f) {
  std::vector<uint8_t>& buf = NibbleGroupBufferOfThread();
  buf.resize(kNibbleRows * w.row_bytes);
  for (int64_t g = r0 / kNibbleRows; g * kNibbleRows < r1; ++g) {
    const int64_t first = g * kNibbleRows, rows = std::min<int64_t>(kNibbleRows, w.rows - first);
    for (int64_t r = 0; r < rows; ++r) row_of(w, first + r, buf.data() + static_cast<size_t>(r) * w.row_bytes);
    f(cpu::WeightView{w.type, rows, w.cols, buf.data(), w.row_bytes}, first);
  }
}

// MatVec / MatMul of rows [r0, r1) through the file layout's kernels (matvec,
// matmul: the type's detail:: entry points), a group at a time.
template <class RowOf, class MatVec>
void NibbleMatVecInFileLayout(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y,
                              const RowOf& row_of, const MatVec& matvec) {
  ForNibbleGroupsInFileLayout(w, r0, r1, row_of, [&](const cpu::WeightView& file, int64_t first) {
    const int64_t lo = std::max(r0, first), hi = std::min(r1, first + file.rows);
    matvec(file, lo - first, hi - first, act, y + (lo - r0));
  });
}
template <class RowOf, class MatMul>
void NibbleMatMulInFileLayout(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act,
                              size_t act_stride, int64_t m, float* y, int64_t y_stride, const RowOf& row_of,
                              const MatMul& matmul) {
  ForNibbleGroupsInFileLayout(w, r0, r1, row_of, [&](const cpu::WeightView& file, int64_t first) {
    const int64_t lo = std::max(r0, first), hi = std::min(r1, first + file.rows);
    matmul(file, lo - first, hi - first, act, act_stride, m, y + first, y_stride);
  });
}

// A rows-of-8 family's kernels on the portable targets (MatVecImpl, MatMulImpl,
// IsFastImpl = false): each group back to the file layout by row_of, then the file
// kernels file_matvec / file_matmul.
#define SEPTET_NIBBLE_ROWS8_IN_FILE_LAYOUT(row_of, file_matvec, file_matmul)                               \
  void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {          \
    NibbleMatVecInFileLayout(w, r0, r1, act, y, row_of, file_matvec);                                        \
  }                                                                                                          \
  void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,   \
                  int64_t m, float* y, int64_t y_stride) {                                                   \
    NibbleMatMulInFileLayout(w, r0, r1, act, act_stride, m, y, y_stride, row_of, file_matmul);               \
  }                                                                                                          \
  bool IsFastImpl() { return false; }

#endif  // SEPTET_SIMD_X86

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_NIBBLE_ROWS8_INL_H_
