// Q3P5 x Q8_B kernels on the repacked layout WeightLayout::kQ3P5Rows16
// (kernels/simd/repack.h): 16 rows interleaved, an int32 lane per row of one
// 512-bit vector (AVX3_DL).
//
// Per block of the 16 rows: the header halves give h = d / 2 and m of every
// lane (two vcvtph2ps) and the lanes whose sel is sub-block s (two mask bits);
// per sub-block three 64-byte plane loads, and per quad of 4 weights one vector
// of doubled codes 2 u (a shift and a mask, three or four operations for the
// quads split over two planes) with the ext bit e or'ed in where sel == s (one
// shift of the ext vector, one masked vpternlogd). Every token then adds that
// vector's products to its lane sums with one vpdpbusd against its activation
// quad broadcast from memory: 8 per 64 weights x 16 rows for 8 tokens, each
// decoded quad serving every token of the tile and every row served by one
// broadcast. Lane r ends the block holding row r's exact I_b (the integer the
// slot kernels form: v in sub-block sel, 2 u elsewhere), with no reduction, and
// the float steps per lane are q3p5_lanes-inl.h's:
//   s_j = fma(float(I_b), h_b x_d,b, s_j);  s_j = fma(m_b, X_b, s_j)   (j = b mod 4)
//   y   = (s_0 + s_1) + (s_2 + s_3)
// so every kernel here gives the slot layout's AVX3_DL bits, for any number of
// tokens (tested on every target). MatMul of up to 16 tokens runs tiles of up to
// 8 over each group of 16 rows (the group's bytes stay in L1/L2 across its
// tiles); more, the slot layout's codes GEMM on row pairs transposed out of the
// decoded quads (DecodePairs16). A task's groups are one stream, swept 16 KiB
// ahead into L2.
// Other targets (the policy gives them kQ3P5Slots): each 16-row group back to
// the file layout, then to slots, then the slot kernels.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q3p5_rows16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes16-inl.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/q3p5_lanes-inl.h"
#include "kernels/simd/q3p5_slots-inl.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/tile_sweep.h"
#include "quant/q3p5.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif

namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int64_t kRows = kQ3P5GroupRows;
constexpr size_t kGroupBlockBytes = kRows * kBlockBytes;  // one full block of 16 rows
static_assert(kRows == 16 && kGroupBlockBytes == 896);
static_assert(Q3P5Rows16ExtByte(0, 0) == Q3P5Rows16PlaneByte(4, 0, 0, 0) && Q3P5Rows16ExtByte(16, 0) == 896);

#if HWY_TARGET == HWY_AVX3_DL

struct Rows16Consts : PlaneConsts {
  __m512i c01;
  __m256i d_bits, m_bits, one16;
};
HWY_INLINE Rows16Consts MakeRows16Consts() {
  Rows16Consts k;
  static_cast<PlaneConsts&>(k) = MakePlaneConsts();
  k.c01 = _mm512_set1_epi8(0x01);
  k.d_bits = _mm256_set1_epi16(0x7FFF);
  k.m_bits = _mm256_set1_epi16(static_cast<int16_t>(0xFFFE));
  k.one16 = _mm256_set1_epi16(1);
  return k;
}

// A group block's header and ext plane, decoded once: h = d / 2 and m of every
// lane, the ext plane, and per sub-block the lanes whose sel it is (none in a
// short block, which has no ext plane).
struct BlockHead {
  __m512 h, m;
  __m512i ext;
  __mmask16 sel[kSubs];
};
HWY_INLINE void DecodeHead(const Rows16Consts& k, const uint8_t* gb, bool full, BlockHead* hd) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb + 32));
  hd->h = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_and_si256(lo, k.d_bits)), _mm512_set1_ps(0.5f));
  hd->m = _mm512_cvtph_ps(_mm256_and_si256(hi, k.m_bits));
  const __mmask16 b0 = full ? _mm256_movepi16_mask(lo) : 0, b1 = full ? _mm256_test_epi16_mask(hi, k.one16) : 0;
  hd->sel[0] = full ? static_cast<__mmask16>(~b0 & ~b1) : 0;
  hd->sel[1] = static_cast<__mmask16>(b0 & ~b1);
  hd->sel[2] = static_cast<__mmask16>(~b0 & b1);
  hd->sel[3] = static_cast<__mmask16>(b0 & b1);
  hd->ext = full ? _mm512_loadu_si512(gb + Q3P5Rows16ExtByte(0, 0)) : _mm512_setzero_si512();
}

// Quad Q of sub-block s: v = 2 u + e in the lanes whose sel is s, 2 u elsewhere.
template <int Q>
HWY_INLINE __m512i ExtCodes(const Rows16Consts& k, const Planes& p, const BlockHead& hd, int s) {
  return _mm512_mask_ternarylogic_epi32(Codes<Q>(k, p.p0, p.p1, p.p2), hd.sel[s], _mm512_srli_epi32(hd.ext, Q), k.c01,
                                        kOrAnd);
}
template <int Q>
HWY_INLINE void QuadCodes(const Rows16Consts& k, const Planes& p, const BlockHead& hd, int s, __m512i (&v)[8]) {
  v[Q] = ExtCodes<Q>(k, p, hd, s);
}

// Independent vpdpbusd chains per token: a matvec's single chain waited on the
// instruction's latency every quad.
template <int T>
inline constexpr int kChains = T <= 2 ? 4 : (T <= 4 ? 2 : 1);

// Quad Q of sub-block s dotted with T tokens' activation quads into chain
// Q mod kChains of acc.
template <int Q, int T>
HWY_INLINE void QuadSums(const Rows16Consts& k, const Planes& p, const BlockHead& hd, int s,
                         const uint8_t* const (&xb)[T], __m512i (&acc)[kChains<T>][T]) {
  const __m512i v = ExtCodes<Q>(k, p, hd, s);
  for (int t = 0; t < T; ++t) {
    const __m512i x = _mm512_set1_epi32(static_cast<int>(LoadU32(xb[t] + kActQs + 32 * s + 4 * Q)));
    acc[Q % kChains<T>][t] = _mm512_dpbusd_epi32(acc[Q % kChains<T>][t], v, x);
  }
}

// Block gb of the group (its first ns sub-blocks, header hd) against T tokens'
// activation blocks xb[t]: the exact sums I_b, a lane per row.
template <int T>
HWY_INLINE void BlockSums(const Rows16Consts& k, const uint8_t* gb, int ns, const BlockHead& hd,
                          const uint8_t* const (&xb)[T], __m512i (&sum)[T]) {
  __m512i acc[kChains<T>][T];
  for (auto& chain : acc) {
    for (auto& v : chain) v = _mm512_setzero_si512();
  }
  for (int s = 0; s < ns; ++s) {
    const Planes p = LoadPlanes(gb, s);
    QuadSums<0, T>(k, p, hd, s, xb, acc);
    QuadSums<1, T>(k, p, hd, s, xb, acc);
    QuadSums<2, T>(k, p, hd, s, xb, acc);
    QuadSums<3, T>(k, p, hd, s, xb, acc);
    QuadSums<4, T>(k, p, hd, s, xb, acc);
    QuadSums<5, T>(k, p, hd, s, xb, acc);
    QuadSums<6, T>(k, p, hd, s, xb, acc);
    QuadSums<7, T>(k, p, hd, s, xb, acc);
  }
  for (int t = 0; t < T; ++t) {
    sum[t] = acc[0][t];
    for (int c = 1; c < kChains<T>; ++c) sum[t] = _mm512_add_epi32(sum[t], acc[c][t]);
  }
}

// Block b (position J = b mod 4) of the group at `group` against T tokens into s.
template <int T, int J>
HWY_INLINE void GroupBlock(const Rows16Consts& k, const uint8_t* group, int64_t b, int64_t nb, int ns,
                           const uint8_t* const (&act)[T], const float* const (&meta)[T], __m512 (&s)[T][4]) {
  const uint8_t* gb = group + static_cast<size_t>(b) * kGroupBlockBytes;
  const uint8_t* xb[T];
  for (int t = 0; t < T; ++t) xb[t] = act[t] + static_cast<size_t>(b) * kActBytes;
  BlockHead hd;
  __m512i acc[T];
  if (b < nb) {
    DecodeHead(k, gb, true, &hd);
    BlockSums<T>(k, gb, kSubs, hd, xb, acc);
  } else {
    DecodeHead(k, gb, false, &hd);
    BlockSums<T>(k, gb, ns, hd, xb, acc);
  }
  for (int t = 0; t < T; ++t) {
    const __m512 hx = _mm512_mul_ps(hd.h, _mm512_set1_ps(meta[t][2 * b]));
    s[t][J] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), hx, s[t][J]);
    s[t][J] = _mm512_fmadd_ps(hd.m, _mm512_set1_ps(meta[t][2 * b + 1]), s[t][J]);
  }
}

// Group g against tokens act[0 .. T - 1] (each a Q8_B row): y16[t] = the 16 rows'
// outputs of token t. `sweep` (or null) steps once per block.
template <int T>
HWY_INLINE void GroupTokens(const Rows16Consts& k, const cpu::WeightView& w, int64_t g, const uint8_t* const (&act)[T],
                            const float* const (&meta)[T],
                            TileSweep* sweep, __m512 (&y16)[T]) {
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
  __m512 s[T][4];
  for (auto& st : s) {
    for (auto& v : st) v = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nbs; b += 4) {
    if (sweep != nullptr) sweep->Step();
    GroupBlock<T, 0>(k, group, b, nb, ns, act, meta, s);
    if (b + 1 >= nbs) break;
    if (sweep != nullptr) sweep->Step();
    GroupBlock<T, 1>(k, group, b + 1, nb, ns, act, meta, s);
    if (b + 2 >= nbs) break;
    if (sweep != nullptr) sweep->Step();
    GroupBlock<T, 2>(k, group, b + 2, nb, ns, act, meta, s);
    if (b + 3 >= nbs) break;
    if (sweep != nullptr) sweep->Step();
    GroupBlock<T, 3>(k, group, b + 3, nb, ns, act, meta, s);
  }
  for (int t = 0; t < T; ++t) y16[t] = _mm512_add_ps(_mm512_add_ps(s[t][0], s[t][1]), _mm512_add_ps(s[t][2], s[t][3]));
}

HWY_NOINLINE std::vector<float>& MetaOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<float> meta;
  return meta;
}

// Rows [r0, r1) against m tokens (token t's activation at act + t act_stride),
// token t's row r to y_of(t, r); tiles of 8 tokens, then one of the rest.
template <class YOf>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const YOf& y_of) {
  const Rows16Consts k = MakeRows16Consts();
  const int64_t nbs = (w.cols + kBlock - 1) / kBlock;
  // Each token's (x_d, X_b) per block, once per call: broadcast from memory in the loop.
  std::vector<float>& meta_buf = MetaOfThread();
  meta_buf.resize(static_cast<size_t>(m * 2 * nbs));
  float* meta = meta_buf.data();
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t b = 0; b < nbs; ++b) {
      const uint8_t* xb = act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * kActBytes;
      meta[(t * nbs + b) * 2] = ActScale(xb);
      meta[(t * nbs + b) * 2 + 1] = ActOffset(xb);
    }
  }
  RunGroupTiles16(w, r0, r1, m, nbs, y_of,
                  [&](int64_t g, auto tokens, int64_t t0, TileSweep* sweep, auto& y16) HWY_ATTR {
                    constexpr int T = decltype(tokens)::value;
                    const uint8_t* a[T];
                    const float* mt[T];
                    for (int t = 0; t < T; ++t) {
                      a[t] = act + static_cast<size_t>(t0 + t) * act_stride;
                      mt[t] = meta + (t0 + t) * 2 * nbs;
                    }
                    GroupTokens<T>(k, w, g, a, mt, sweep, y16);
                  });
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, [&](int64_t, int64_t r) { return y + (r - r0); });
}

// Qword i of v[0 .. 7] into out[i] (an 8 x 8 transpose of qwords, 24 vpermt2q).
HWY_INLINE void TransposeQwords(const __m512i (&v)[8], __m512i (&out)[8]) {
  const __m512i i1lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), i1hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  const __m512i i2lo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), i2hi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  const __m512i i3lo = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11), i3hi = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  __m512i a[8], b[8];
  for (int i = 0; i < 8; i += 2) {  // a[i]: q0..q3 of v[i], v[i + 1] interleaved; a[i + 1]: q4..q7
    a[i] = _mm512_permutex2var_epi64(v[i], i1lo, v[i + 1]);
    a[i + 1] = _mm512_permutex2var_epi64(v[i], i1hi, v[i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // b[4 h + 2 c + e]: qwords 4 c + 2 e, + 1 of v[4 h .. 4 h + 3]
    for (int c = 0; c < 2; ++c) {
      b[4 * h + 2 * c] = _mm512_permutex2var_epi64(a[4 * h + c], i2lo, a[4 * h + 2 + c]);
      b[4 * h + 2 * c + 1] = _mm512_permutex2var_epi64(a[4 * h + c], i2hi, a[4 * h + 2 + c]);
    }
  }
  for (int j = 0; j < 4; ++j) {  // qwords 2 j and 2 j + 1 of all 8
    out[2 * j] = _mm512_permutex2var_epi64(b[j], i3lo, b[4 + j]);
    out[2 * j + 1] = _mm512_permutex2var_epi64(b[j], i3hi, b[4 + j]);
  }
}

// The codes GEMM's decode (q3p5_lanes-inl.h MatMulLanesWith) from the rows of 16:
// the pairs of rows ra + 2 p, ra + 2 p + 1 (ra even) as DecodePair writes them
// from the slot layout. A pair is a qword of each decoded quad vector (lanes 2 i,
// 2 i + 1), so 8 quad vectors transpose into 8 pairs' 64 code bytes.
void DecodePairs16(const Rows16Consts& k, const cpu::WeightView& w, int64_t ra, int64_t npairs, uint8_t* codes,
                   float* hm) {
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  const size_t pair_stride = static_cast<size_t>(nbs) * kQuads * 8, hm_stride = static_cast<size_t>(nbs) * kLaneHm;
  const int64_t groups = (w.rows + kRows - 1) / kRows, end = ra + 2 * npairs;
  for (int64_t g = ra / kRows; g * kRows < end; ++g) {
    const int i0 = static_cast<int>(std::max<int64_t>(0, (ra - g * kRows) / 2));
    const int i1 = static_cast<int>(std::min<int64_t>(kRows / 2, (end - g * kRows) / 2));
    const int64_t p0 = (g * kRows - ra) / 2;  // pair of qword 0 (may be negative)
    if (g >= groups) {  // past the matrix: zero codes, h = m = 0
      for (int i = i0; i < i1; ++i) {
        std::memset(codes + (p0 + i) * pair_stride, 0, pair_stride);
        std::memset(hm + (p0 + i) * hm_stride, 0, hm_stride * sizeof(float));
      }
      continue;
    }
    const uint8_t* group = w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
    for (int64_t b = 0; b < nbs; ++b) {
      const uint8_t* gb = group + static_cast<size_t>(b) * kGroupBlockBytes;
      const bool full = b < nb;
      BlockHead hd;
      DecodeHead(k, gb, full, &hd);
      for (int s = 0; s < kSubs; ++s) {
        __m512i v[8];
        if (s < (full ? kSubs : ns)) {
          const Planes p = LoadPlanes(gb, s);
          QuadCodes<0>(k, p, hd, s, v);
          QuadCodes<1>(k, p, hd, s, v);
          QuadCodes<2>(k, p, hd, s, v);
          QuadCodes<3>(k, p, hd, s, v);
          QuadCodes<4>(k, p, hd, s, v);
          QuadCodes<5>(k, p, hd, s, v);
          QuadCodes<6>(k, p, hd, s, v);
          QuadCodes<7>(k, p, hd, s, v);
        } else {
          for (auto& x : v) x = _mm512_setzero_si512();
        }
        __m512i out[8];
        TransposeQwords(v, out);
        for (int i = i0; i < i1; ++i) {
          _mm512_storeu_si512(codes + (p0 + i) * pair_stride + static_cast<size_t>(b) * kQuads * 8 + 64 * s, out[i]);
        }
      }
      // [h_A, h_B, m_A, m_B] of pair i: qword i of h and of m.
      const __m512d hv = _mm512_castps_pd(hd.h), mv = _mm512_castps_pd(hd.m);
      alignas(64) double even[8], odd[8];  // pairs 0, 2, 4, 6 and 1, 3, 5, 7 as (h, m) qword pairs
      _mm512_store_pd(even, _mm512_unpacklo_pd(hv, mv));
      _mm512_store_pd(odd, _mm512_unpackhi_pd(hv, mv));
      for (int i = i0; i < i1; ++i) {
        const double* src = (i % 2 == 0 ? even : odd) + 2 * (i / 2);
        std::memcpy(hm + (p0 + i) * hm_stride + kLaneHm * b, src, 16);
      }
    }
  }
}

// Up to kGroupTokensMax tokens: RunGroups (each quad decoded once per tile of 8).
// More: the codes GEMM of q3p5_lanes-inl.h (tokens in the lanes) on pairs decoded
// from this layout once per chunk; its 8-token tile beat a RunGroups tile per
// token by 1.1-1.2x (2048 x 2048 x 64, simd_kernels_bench), and at 16 tokens
// RunGroups was the faster. Both give the slot kernels' bits.
constexpr int64_t kGroupTokensMax = 16;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  const auto y_of = [&](int64_t t, int64_t r) { return y + t * y_stride + r; };
  if (m <= kGroupTokensMax) return RunGroups(w, r0, r1, act, act_stride, m, y_of);
  if (r0 % 2 != 0) {  // the pairs start on even rows: an odd first row alone
    RunGroups(w, r0, r0 + 1, act, act_stride, m, y_of);
    if (++r0 == r1) return;
  }
  const Rows16Consts k = MakeRows16Consts();
  const auto decode = [&](int64_t ra, int64_t npairs, uint8_t* codes, float* hm) HWY_ATTR {
    DecodePairs16(k, w, ra, npairs, codes, hm);
  };
  MatMulLanesWith(w, r0, r1, act, act_stride, m, y, y_stride, decode);  // m > kLT: only its chunk path runs
}

bool IsFastImpl() { return true; }

#else  // other targets: each group back to the file layout, then to slots, then the slot kernels

// The rows of group g in [r0, r1) as a kQ3P5Slots view (lanes lo .. hi of the group).
struct GroupSlots {
  std::vector<uint8_t> file, slots;
  cpu::WeightView view;
};
HWY_NOINLINE GroupSlots& GroupSlotsOfThread() {  // noinline: see common-inl.h
  thread_local GroupSlots gs;
  return gs;
}
void ToSlots(const cpu::WeightView& w, int64_t lo, int64_t hi, GroupSlots* gs) {
  gs->file.resize(static_cast<size_t>(hi - lo) * w.row_bytes);
  for (int64_t r = lo; r < hi; ++r) Q3P5Rows16Row(w, r, gs->file.data() + static_cast<size_t>(r - lo) * w.row_bytes);
  const cpu::WeightView file{DType::kQ3P5, hi - lo, w.cols, gs->file.data(), w.row_bytes};
  RepackQ3P5Slots(file, &gs->slots, &gs->view);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  GroupSlots& gs = GroupSlotsOfThread();
  for (int64_t lo = r0; lo < r1;) {
    const int64_t hi = std::min(r1, (lo / kRows + 1) * kRows);
    ToSlots(w, lo, hi, &gs);
    detail::Q3P5SlotsMatVec(gs.view, 0, hi - lo, act, y + (lo - r0));
    lo = hi;
  }
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  GroupSlots& gs = GroupSlotsOfThread();
  for (int64_t lo = r0; lo < r1;) {
    const int64_t hi = std::min(r1, (lo / kRows + 1) * kRows);
    ToSlots(w, lo, hi, &gs);
    detail::Q3P5SlotsMatMul(gs.view, 0, hi - lo, act, act_stride, m, y + lo, y_stride);
    lo = hi;
  }
}

bool IsFastImpl() { return false; }

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q3P5Rows16, w.type == DType::kQ3P5 && w.layout == cpu::WeightLayout::kQ3P5Rows16)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q3P5Rows16)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
