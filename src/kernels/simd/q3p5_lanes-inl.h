// Q3P5 kernels on the slot layout with exact block sums: a block's dot is one
// exact int32 I_b per (row, token) (Dot4: vpdpbusd on AVX3_DL, vpmaddubsw +
// vpmaddwd on AVX2 and AVX3), and a row is
//   s_j = fma(float(I_b), h_b x_d,b, s_j);  s_j = fma(m_b, X_b, s_j)   (j = b mod 4)
//   y   = (s_0 + s_1) + (s_2 + s_3)
// (h = d / 2, X_b = x_d x_sum; the short final block is one more block). The
// same float operations in the same order in every kernel of a target, so
// MatMul is bit-identical to MatVec per token:
// * MatVec (and MatMul of at most 4 tokens, RowsLanes; every x86 target)
//   decodes two rows a block at a time, dots each token with Dot4 (8 lanes)
//   and forms I_b of 4 blocks of both rows with one transposing reduction
//   (ReduceBlocks), so the float work is one vector of 8 (row, block) values
//   per 4 blocks. Each token's activation codes are copied once per call with
//   every block's sub-blocks twice over (ActMeta), so a row's slots are read at
//   fixed offsets from one address; a row's last block alone in its group
//   (576 columns: 4 blocks + 64) updates only s_0 of both rows (RowsLanesLast).
// * MatMul of more tokens puts the tokens in the lanes. AVX3_DL: an 8-token
//   tile, lane 2t row A of a row pair, lane 2t + 1 row B. The pair's codes are
//   interleaved by quad (A's 4 codes, B's 4: one qword broadcast to every lane)
//   against a packed activation quad holding token t's 4 codes twice
//   (PackLanes<2>), so each vpdpbusd adds 4 products to all 16 (row, token)
//   block sums, no reduction at all: per row pair, 8 tokens and block 32
//   vpdpbusd and 4 float operations (the 8-lane tile it replaces issued 24
//   float operations for the same work). Rows are decoded in pairs with both
//   rows in one 512-bit vector; one token tile (batched decoding) decodes 4
//   pairs a block at a time into a ring, two blocks ahead of the tile
//   (LanesFused); more tiles decode a chunk of rows once into an L2-resident
//   buffer (LanesTile). AVX2 and AVX3 (dot_q3p5_slots.cc): lane t token t of
//   one row, each quad once (PackLanes<1>).

#if defined(SEPTET_KERNELS_SIMD_Q3P5_LANES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_Q3P5_LANES_INL_H_
#undef SEPTET_KERNELS_SIMD_Q3P5_LANES_INL_H_
#else
#define SEPTET_KERNELS_SIMD_Q3P5_LANES_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/weight_view.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/q3p5_slots-inl.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

#if SEPTET_SIMD_X86

// ---- MatVec, and MatMul of at most 4 tokens (every x86 target) ----

// [A_0..A_3 | B_0..B_3]: the lane sums of a[j], b[j] (exact integer adds).
HWY_INLINE __m256i ReduceBlocks(const __m256i a[4], const __m256i b[4]) {
  const auto l1 = [](__m256i x, __m256i z) {
    return _mm256_add_epi32(_mm256_unpacklo_epi32(x, z), _mm256_unpackhi_epi32(x, z));
  };
  const auto l2 = [](__m256i x, __m256i z) {
    return _mm256_add_epi32(_mm256_unpacklo_epi64(x, z), _mm256_unpackhi_epi64(x, z));
  };
  const __m256i wa = l2(l1(a[0], a[1]), l1(a[2], a[3]));
  const __m256i wb = l2(l1(b[0], b[1]), l1(b[2], b[3]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(wa, wb, 0x20), _mm256_permute2x128_si256(wa, wb, 0x31));
}

// One token's activation as the kernels read it: per block, x_d and X_b (zero
// padded to whole groups of 4), and the codes of its 4 sub-blocks twice over
// (kX2Block bytes: sub-blocks 0 1 2 3 0 1 2), so the slots of a row whose slot 0
// is sub-block sel are the 4 consecutive sub-blocks from sel: one base address
// and fixed displacements instead of four (sel + k) mod 4 offsets.
constexpr size_t kX2Block = 256;
struct ActMeta {
  std::vector<float> xd, xo;
  std::vector<uint8_t> x2_buf;
  const uint8_t* x2 = nullptr;  // 64-byte aligned, block b at b * kX2Block
};
// What the loops read of an ActMeta, as plain pointers in the caller's frame
// (common-inl.h: no thread_local reached inside a loop).
struct ActView {
  const uint8_t* x2;
  const float* xd;
  const float* xo;
};
HWY_INLINE void FillActMeta(const uint8_t* act, int64_t nbs, ActMeta* am) {
  const size_t n = static_cast<size_t>((nbs + 3) / 4 * 4);
  am->xd.assign(n, 0.0f);
  am->xo.assign(n, 0.0f);
  const size_t bytes = static_cast<size_t>(nbs) * kX2Block + 64;
  if (am->x2_buf.size() < bytes) am->x2_buf.resize(bytes);
  uint8_t* x2 = Align64(am->x2_buf.data());
  am->x2 = x2;
  for (int64_t b = 0; b < nbs; ++b) {
    const uint8_t* xb = act + b * kActBytes;
    am->xd[b] = ActScale(xb);
    am->xo[b] = ActOffset(xb);
    uint8_t* o = x2 + static_cast<size_t>(b) * kX2Block;
    std::memcpy(o, xb + kActQs, kBlock);
    std::memcpy(o + kBlock, xb + kActQs, kX2Block - kBlock);  // sub-blocks 0 1 2 (and 3, unread)
  }
}

template <int T>
HWY_NOINLINE ActMeta* ActMetaOfThread() {  // noinline: see common-inl.h
  thread_local ActMeta meta[T];
  return meta;
}

// The block's dot with the activation block at x2 (ActMeta's layout).
HWY_INLINE __m256i DotDecoded(const Decoded& d, const uint8_t* x2) {
  const int8_t* xq = reinterpret_cast<const int8_t*>(x2) + 32 * d.sel;
  return Dot4(d.c, xq, xq + 32, xq + 64, xq + 96);
}

// Block b of one row (whole, or the short block of ns sub-blocks) decoded once and
// dotted with T tokens: i[t][J].
template <int T, int J>
HWY_INLINE void DecodeDotBlock(const Consts& k, const uint8_t* blk, bool whole, int ns,
                               const ActView* am, int64_t b, __m256i (&i)[T][4]) {
  Decoded d;
  if (whole) {
    Decode(k, blk, &d);
  } else {
    DecodeShort(k, blk, ns, &d);
  }
  for (int t = 0; t < T; ++t) i[t][J] = DotDecoded(d, am[t].x2 + static_cast<size_t>(b) * kX2Block);
}

// Block g + J of rows A and B, decoded once, against T tokens: ia[t][J], ib[t][J],
// and unless kFull (GroupHeadersAt reads a whole group's headers from the rows)
// the two block headers ha[J], hb[J] (0 for no block: h = m = 0). Row A is
// decoded and dotted before row B is decoded: 4 code vectors live, not 8 (with
// both rows decoded first the AVX2 build spilled ~30 vectors a group).
template <int T, int J, bool kFull>
HWY_INLINE void RowsLanesBlock(const Consts& k, const uint8_t* wa, const uint8_t* wb,
                               const ActView* am, int64_t g, int64_t nb, int ns, __m256i (&ia)[T][4],
                               __m256i (&ib)[T][4], uint32_t* ha, uint32_t* hb) {
  const int64_t b = g + J;
  const bool whole = kFull || b < nb;  // else the short block (b == nb, ns > 0) or none
  if (!whole && (b != nb || ns == 0)) {
    for (int t = 0; t < T; ++t) ia[t][J] = ib[t][J] = _mm256_setzero_si256();
    ha[J] = hb[J] = 0;
    return;
  }
  DecodeDotBlock<T, J>(k, wa + b * kBlockBytes, whole, ns, am, b, ia);
  DecodeDotBlock<T, J>(k, wb + b * kBlockBytes, whole, ns, am, b, ib);
  if (!kFull) {
    ha[J] = LoadU32(wa + b * kBlockBytes);  // the short block starts with its header too
    hb[J] = LoadU32(wb + b * kBlockBytes);
  }
}

// [h of blocks 0..3 of A | of B] and the same for m, from the 8 headers
// (DecodeHeader's values: h = d / 2, exact).
HWY_INLINE void HeadersToHm(__m128i va, __m128i vb, __m256* hh, __m256* mm) {
  const __m128i mask = _mm_set1_epi32(static_cast<int>(0xFFFE7FFFu));
  const __m256 xa = _mm256_cvtph_ps(_mm_and_si128(va, mask));
  const __m256 xb = _mm256_cvtph_ps(_mm_and_si128(vb, mask));
  // xa = [d0 m0 d1 m1 | d2 m2 d3 m3] of A; shuffle per 128-bit lane, then order the qwords.
  const auto order = [](__m256 v) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
  };
  *hh = _mm256_mul_ps(order(_mm256_shuffle_ps(xa, xb, _MM_SHUFFLE(2, 0, 2, 0))), _mm256_set1_ps(0.5f));
  *mm = order(_mm256_shuffle_ps(xa, xb, _MM_SHUFFLE(3, 1, 3, 1)));
}
HWY_INLINE void GroupHeaders(const uint32_t* ha, const uint32_t* hb, __m256* hh, __m256* mm) {
  // From registers (a vector load of the 4 scalars just stored would stall on store forwarding).
  const auto v4 = [](const uint32_t* h) {
    return _mm_setr_epi32(static_cast<int>(h[0]), static_cast<int>(h[1]), static_cast<int>(h[2]),
                          static_cast<int>(h[3]));
  };
  HeadersToHm(v4(ha), v4(hb), hh, mm);
}
// The same for 4 whole blocks from g, straight from the rows (4 vmovd loads a row).
HWY_INLINE void GroupHeadersAt(const uint8_t* wa, const uint8_t* wb, int64_t g, __m256* hh, __m256* mm) {
  const auto v4 = [g](const uint8_t* w) {
    const uint8_t* p = w + g * kBlockBytes;
    const __m128i h01 = _mm_unpacklo_epi32(_mm_loadu_si32(p), _mm_loadu_si32(p + kBlockBytes));
    const __m128i h23 = _mm_unpacklo_epi32(_mm_loadu_si32(p + 2 * kBlockBytes), _mm_loadu_si32(p + 3 * kBlockBytes));
    return _mm_unpacklo_epi64(h01, h23);
  };
  HeadersToHm(v4(wa), v4(wb), hh, mm);
}

// Blocks g .. g + 3 of rows A and B into each token's sums
// s[t] = [A: s_0..s_3 | B: s_0..s_3].
template <int T, bool kFull>
HWY_INLINE void RowsLanesGroup(const Consts& k, const uint8_t* wa, const uint8_t* wb,
                               const ActView* am, int64_t g, int64_t nb, int ns,
                               __m256 (&s)[T]) {
  __m256i ia[T][4], ib[T][4];
  uint32_t ha[4] = {0, 0, 0, 0}, hb[4] = {0, 0, 0, 0};
  RowsLanesBlock<T, 0, kFull>(k, wa, wb, am, g, nb, ns, ia, ib, ha, hb);
  RowsLanesBlock<T, 1, kFull>(k, wa, wb, am, g, nb, ns, ia, ib, ha, hb);
  RowsLanesBlock<T, 2, kFull>(k, wa, wb, am, g, nb, ns, ia, ib, ha, hb);
  RowsLanesBlock<T, 3, kFull>(k, wa, wb, am, g, nb, ns, ia, ib, ha, hb);
  __m256 hh, mm;
  if constexpr (kFull) {
    GroupHeadersAt(wa, wb, g, &hh, &mm);
  } else {
    GroupHeaders(ha, hb, &hh, &mm);
  }
  for (int t = 0; t < T; ++t) {
    const __m256i i = ReduceBlocks(ia[t], ib[t]);
    const __m256 xd = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(am[t].xd + g));
    const __m256 xo = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(am[t].xo + g));
    s[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(hh, xd), s[t]);
    s[t] = _mm256_fmadd_ps(mm, xo, s[t]);
  }
}

// s = [A: s_0..s_3 | B: s_0..s_3] as w1 = [A0 B0 A1 B1] and w2 = [A2 B2 A3 B3].
HWY_INLINE void PairHalves(__m256 s, __m128* w1, __m128* w2) {
  const __m128 lo = _mm256_castps256_ps128(s), hi = _mm256_extractf128_ps(s, 1);
  *w1 = _mm_unpacklo_ps(lo, hi);
  *w2 = _mm_unpackhi_ps(lo, hi);
}
// [(s_0 + s_1) + (s_2 + s_3) of A, of B, -, -] from PairHalves' w1, w2.
HWY_INLINE __m128 PairTotals(__m128 w1, __m128 w2) {
  return _mm_add_ps(_mm_add_ps(w1, _mm_movehl_ps(w1, w1)), _mm_add_ps(w2, _mm_movehl_ps(w2, w2)));
}

// [y_A, y_B, -, -] of one token: (s_0 + s_1) + (s_2 + s_3) of both rows' sums
// s = [A: s_0..s_3 | B: s_0..s_3], after block b (the row's last, alone in its
// group: j = 0), with exact sums i_a, i_b, h = [h_A, h_B, ..] and mh = [m_A, m_B, ..],
// is added to s_0 of each row: the group formula on lanes 0 and 4 only.
HWY_INLINE __m128 FinishWithBlock0(__m256 s, __m256i i_a, __m256i i_b, __m128 h, __m128 mh, float xd, float xo) {
  __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi32(i_a, i_b), _mm256_unpackhi_epi32(i_a, i_b));  // [A B A B | ..]
  __m128i v = _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));  // [I_A I_B I_A I_B]
  __m128 w1, w2;
  PairHalves(s, &w1, &w2);
  __m128 s0 = _mm_fmadd_ps(_mm_cvtepi32_ps(v), _mm_mul_ps(h, _mm_set1_ps(xd)), w1);
  s0 = _mm_blend_ps(_mm_fmadd_ps(mh, _mm_set1_ps(xo), s0), w1, 0xC);  // [A0' B0' A1 B1]
  return PairTotals(s0, w2);
}

// Dot4 over the first kNs slots (a short block: the rest are zero), the same
// weights: c[0] . x_0 + 2 sum_{0 < s < kNs} c[s] . x_s.
template <int kNs>
HWY_INLINE __m256i DotFirst(const __m256i c[kSubs], const int8_t* xq) {
  if constexpr (kNs == kSubs) {
    return Dot4(c, xq, xq + 32, xq + 64, xq + 96);
  } else {
#if HWY_TARGET == HWY_AVX3_DL
    __m256i a = _mm256_setzero_si256();
    for (int s = 1; s < kNs; ++s) a = Dpbusd256(a, c[s], LoadX(xq + 32 * s));
    return Dpbusd256(_mm256_add_epi32(a, a), c[0], LoadX(xq));
#else
    __m256i a = _mm256_setzero_si256();
    for (int s = 1; s < kNs; ++s) a = _mm256_add_epi16(a, _mm256_maddubs_epi16(c[s], LoadX(xq + 32 * s)));
    a = _mm256_add_epi16(_mm256_add_epi16(a, a), _mm256_maddubs_epi16(c[0], LoadX(xq)));
    return _mm256_madd_epi16(a, _mm256_set1_epi16(1));
#endif
  }
}

// Rows A and B against T tokens when their last block b (full: kNs = 4, else the
// short block of kNs sub-blocks) is alone in its group: y[t] = [y_A, y_B, -, -].
template <int T, int kNs>
HWY_INLINE void RowsLanesLast(const Consts& k, const uint8_t* wa, const uint8_t* wb, const ActView* am, int64_t b,
                              const __m256 (&s)[T], __m128 (&y)[T]) {
  const uint8_t* ba = wa + b * kBlockBytes;
  const uint8_t* bb = wb + b * kBlockBytes;
  Decoded da, db;
  if constexpr (kNs == kSubs) {
    Decode(k, ba, &da);
    Decode(k, bb, &db);
  } else {
    DecodeShort(k, ba, kNs, &da);
    DecodeShort(k, bb, kNs, &db);
  }
  const __m128i hdr = _mm_unpacklo_epi32(_mm_loadu_si32(ba), _mm_loadu_si32(bb));
  const __m128 dm = _mm_cvtph_ps(_mm_and_si128(hdr, _mm_set1_epi32(static_cast<int>(0xFFFE7FFFu))));  // [dA mA dB mB]
  const __m128 h = _mm_mul_ps(_mm_shuffle_ps(dm, dm, _MM_SHUFFLE(2, 0, 2, 0)), _mm_set1_ps(0.5f));
  const __m128 mh = _mm_shuffle_ps(dm, dm, _MM_SHUFFLE(3, 1, 3, 1));
  for (int t = 0; t < T; ++t) {
    const uint8_t* x2 = am[t].x2 + static_cast<size_t>(b) * kX2Block;
    __m256i i_a, i_b;
    if constexpr (kNs == kSubs) {
      i_a = DotDecoded(da, x2);
      i_b = DotDecoded(db, x2);
    } else {
      const int8_t* xq = reinterpret_cast<const int8_t*>(x2);
      i_a = DotFirst<kNs>(da.c, xq);
      i_b = DotFirst<kNs>(db.c, xq);
    }
    y[t] = FinishWithBlock0(s[t], i_a, i_b, h, mh, am[t].xd[b], am[t].xo[b]);
  }
}

// ---- Token tiles: kLT tokens' activations packed quad by quad ----
constexpr int kLT = 8;              // tokens per tile
constexpr int kQuads = kBlock / 4;  // 32 quads a block
// Bytes of one packed block holding each token's quads `copies` times:
// [quad][token][copy][4 codes], then x_d[token][copy], X_b[token][copy].
constexpr size_t LanePackBlock(int copies) {
  return static_cast<size_t>(kQuads * kLT * 4 * copies + 2 * kLT * 4 * copies);
}

#if SEPTET_SIMD_X86
// The codes of a whole tile (8 tokens) for PackLanes: per block, 8 quads of the 8
// tokens at a time, an 8 x 8 dword transpose (a quad's 8 tokens in one vector),
// stored as is (kCopies 1) or each dword widened to a qword and copied into its
// upper half (kCopies 2, AVX3_DL). The byte-by-byte copy with a memset first took
// 15-20 % of the AVX3_DL GEMM's time in SmolLM2's prefill (perf), where every
// task packs the whole chunk for its 72-384 rows.
template <int kCopies>
HWY_INLINE void PackTileCodes(const uint8_t* act, size_t act_stride, int64_t t0, int64_t nbs, uint8_t* out) {
  static_assert(kCopies == 1 || (kCopies == 2 && HWY_TARGET == HWY_AVX3_DL));
  constexpr size_t kQuadBytes = kLT * 4 * kCopies;
  for (int64_t b = 0; b < nbs; ++b) {
    uint8_t* ob = out + static_cast<size_t>(b) * LanePackBlock(kCopies);
    for (int g = 0; g < kQuads / 8; ++g) {
      __m256i r[kLT];
      for (int t = 0; t < kLT; ++t) {
        const uint8_t* xb = act + static_cast<size_t>(t0 + t) * act_stride + b * kActBytes;
        r[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + kActQs + 32 * g));
      }
      Transpose8x8Epi32(r);  // r[q]: quad 8g + q of tokens 0 .. 7
      for (int q = 0; q < 8; ++q) {
        uint8_t* oq = ob + kQuadBytes * (8 * g + q);
        if constexpr (kCopies == 1) {
          _mm256_store_si256(reinterpret_cast<__m256i*>(oq), r[q]);
        } else {
#if HWY_TARGET == HWY_AVX3_DL
          const __m512i w = _mm512_cvtepu32_epi64(r[q]);
          _mm512_store_si512(oq, _mm512_or_si512(w, _mm512_slli_epi64(w, 32)));
#endif
        }
      }
    }
  }
}
#endif

// Tokens [t0, t0 + nt) packed, each quad `kCopies` times (missing tokens: zero
// codes, scales, offsets).
template <int kCopies>
HWY_INLINE void PackLanes(const uint8_t* act, size_t act_stride, int64_t t0, int nt, int64_t nbs, uint8_t* out) {
  constexpr size_t kQuadBytes = kLT * 4 * kCopies;
  bool whole = false;  // a whole tile's codes by PackTileCodes
#if SEPTET_SIMD_X86
  whole = nt == kLT;
  if (whole) PackTileCodes<kCopies>(act, act_stride, t0, nbs, out);
#endif
  if (!whole) std::memset(out, 0, static_cast<size_t>(nbs) * LanePackBlock(kCopies));
  for (int t = 0; t < nt; ++t) {
    const uint8_t* xr = act + static_cast<size_t>(t0 + t) * act_stride;
    for (int64_t b = 0; b < nbs; ++b) {
      const uint8_t* xb = xr + b * kActBytes;
      uint8_t* ob = out + static_cast<size_t>(b) * LanePackBlock(kCopies);
      for (int q = 0; q < kQuads && !whole; ++q) {
        for (int c = 0; c < kCopies; ++c) {
          std::memcpy(ob + kQuadBytes * q + 4 * (kCopies * t + c), xb + kActQs + 4 * q, 4);
        }
      }
      const float d = ActScale(xb), o = ActOffset(xb);
      float* f = reinterpret_cast<float*>(ob + kQuads * kQuadBytes);
      for (int c = 0; c < kCopies; ++c) {
        f[kCopies * t + c] = d;
        f[kCopies * kLT + kCopies * t + c] = o;
      }
    }
  }
}

// The m tokens of act as ceil(m / kLT) packed tiles (PackLanes<kCopies>) in
// *buf, the first at a 64-byte boundary (returned); tile t at t * nbs *
// LanePackBlock(kCopies) bytes from it.
template <int kCopies>
HWY_INLINE uint8_t* PackTiles(const uint8_t* act, size_t act_stride, int64_t m, int64_t nbs,
                              std::vector<uint8_t>* buf) {
  const int64_t tiles = (m + kLT - 1) / kLT;
  const size_t tile_bytes = static_cast<size_t>(nbs) * LanePackBlock(kCopies);
  const size_t bytes = static_cast<size_t>(tiles) * tile_bytes + 64;  // + 64: aligned start
  if (buf->size() < bytes) buf->resize(bytes);
  uint8_t* base = Align64(buf->data());
  for (int64_t t = 0; t < tiles; ++t) {
    PackLanes<kCopies>(act, act_stride, t * kLT, static_cast<int>(std::min<int64_t>(kLT, m - t * kLT)), nbs,
                       base + static_cast<size_t>(t) * tile_bytes);
  }
  return base;
}

// block(j, b) for b = 0 .. nbs - 1 in order, j = b mod 4 as a compile-time
// constant (the register sums of position j).
template <class Block>
HWY_INLINE void ForEachBlock(int64_t nbs, const Block& block) {
  for (int64_t g = 0; g < nbs; g += 4) {
    block(std::integral_constant<int, 0>(), g);
    if (g + 1 < nbs) block(std::integral_constant<int, 1>(), g + 1);
    if (g + 2 < nbs) block(std::integral_constant<int, 2>(), g + 2);
    if (g + 3 < nbs) block(std::integral_constant<int, 3>(), g + 3);
  }
}

// Rows [r0, r1) against T tokens (act[t]), each pair decoded once: token t's row
// r to y[t * y_stride + r - y_row0].
template <int T>
void RowsLanes(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* const* act, float* y,
               int64_t y_stride, int64_t y_row0) {
  const Consts k = MakeConsts();
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  ActMeta* meta = ActMetaOfThread<T>();
  ActView am[T];
  for (int t = 0; t < T; ++t) {
    FillActMeta(act[t], nbs, &meta[t]);
    am[t] = ActView{meta[t].x2, meta[t].xd.data(), meta[t].xo.data()};
  }
  const RowSpan span = SpanOf(w, r0, r1);
  for (int64_t r = r0; r < r1; r += 2) {
    const uint8_t* wa = w.row(r);
    const uint8_t* wb = w.row(std::min(r + 1, r1 - 1));  // an odd last row pairs with itself
    __m256 s[T];
    for (int t = 0; t < T; ++t) s[t] = _mm256_setzero_ps();
    TileSweep sweep = RowTileSweep(w, r, 2, span, (nbs + 3) / 4);
    int64_t g = 0;
    for (; g + 4 <= nb; g += 4) {
      sweep.Step();
      RowsLanesGroup<T, true>(k, wa, wb, am, g, nb, ns, s);
    }
    if (g < nbs) sweep.Step();
    __m128 yab[T];
    if (g + 1 == nbs) {  // the last block alone in its group (576 columns: 4 blocks + 64)
      switch (g < nb ? kSubs : ns) {
        case 1: RowsLanesLast<T, 1>(k, wa, wb, am, g, s, yab); break;
        case 2: RowsLanesLast<T, 2>(k, wa, wb, am, g, s, yab); break;
        case 3: RowsLanesLast<T, 3>(k, wa, wb, am, g, s, yab); break;
        default: RowsLanesLast<T, kSubs>(k, wa, wb, am, g, s, yab); break;
      }
    } else {
      if (g < nbs) RowsLanesGroup<T, false>(k, wa, wb, am, g, nb, ns, s);
      for (int t = 0; t < T; ++t) {
        __m128 w1, w2;
        PairHalves(s[t], &w1, &w2);
        yab[t] = PairTotals(w1, w2);
      }
    }
    for (int t = 0; t < T; ++t) {
      float* yt = y + t * y_stride + (r - y_row0);
      yt[0] = _mm_cvtss_f32(yab[t]);
      if (r + 1 < r1) yt[1] = _mm_cvtss_f32(_mm_shuffle_ps(yab[t], yab[t], _MM_SHUFFLE(1, 1, 1, 1)));
    }
  }
}

inline void MatVecLanes(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RowsLanes<1>(w, r0, r1, &act, y, 0, r0);
}

// MatMul of a few tokens: each pair decoded once, MatVec's own loop (m <=
// kRowsLanesMaxTokens; a target's MatMul chooses up to where it uses this).
constexpr int64_t kRowsLanesMaxTokens = 8;
inline void RowsLanesMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                            int64_t m, float* y, int64_t y_stride) {
  const uint8_t* a[kRowsLanesMaxTokens] = {};
  for (int64_t t = 0; t < m; ++t) a[t] = act + static_cast<size_t>(t) * act_stride;
  switch (m) {
    case 1: return RowsLanes<1>(w, r0, r1, a, y, y_stride, 0);
    case 2: return RowsLanes<2>(w, r0, r1, a, y, y_stride, 0);
    case 3: return RowsLanes<3>(w, r0, r1, a, y, y_stride, 0);
    case 4: return RowsLanes<4>(w, r0, r1, a, y, y_stride, 0);
    case 5: return RowsLanes<5>(w, r0, r1, a, y, y_stride, 0);
    case 6: return RowsLanes<6>(w, r0, r1, a, y, y_stride, 0);
    case 7: return RowsLanes<7>(w, r0, r1, a, y, y_stride, 0);
    default: return RowsLanes<8>(w, r0, r1, a, y, y_stride, 0);
  }
}

#endif  // SEPTET_SIMD_X86

#if HWY_TARGET == HWY_AVX3_DL

// ---- MatMul with the tokens in the lanes ----
// Decoded codes of a chunk of rows kept in L2 while every token tile runs over them.
inline constexpr size_t kLanesChunkBytes = 256 << 10;

// MatMul with the tokens in the lanes: a tile of 8 tokens, lane 2t row A of a
// pair and lane 2t + 1 row B, token t. The pair's codes are interleaved by quad
// (A's 4 codes, B's 4 codes: one qword broadcast to every lane) and each packed
// activation quad holds token t's 4 codes twice (lanes 2t, 2t + 1), so vpdpbusd
// sums every (row, token) block integer exactly, with no reduction.
constexpr size_t kLanePackBlock = LanePackBlock(2);  // quads, then x_d[16], X_b[16]
constexpr size_t kLaneHm = 4;                   // floats per pair and block: h_A, h_B, m_A, m_B

struct LanesScratch {
  std::vector<uint8_t> codes;  // [pair][block][quad][A 4 | B 4]
  std::vector<float> hm;       // [pair][block][h_A, h_B, m_A, m_B]
  std::vector<uint8_t> x;      // [tile][block] packed activations
};
inline HWY_NOINLINE LanesScratch& LanesScratchOfThread() {  // noinline: see common-inl.h
  thread_local LanesScratch s;
  return s;
}

// Decode's constants doubled to 512 bits (row A in the low half, B in the high).
struct PairConsts {
  __m512i sh_q, sh_r, c15, c7, c6, c1, inter;
  __m128 half;
};
HWY_INLINE PairConsts MakePairConsts(const Consts& k) {
  const auto both = [](__m256i a) { return _mm512_inserti64x4(_mm512_castsi256_si512(a), a, 1); };
  PairConsts c;
  c.sh_q = both(k.sh_q);
  c.sh_r = both(k.sh_r);
  c.c15 = _mm512_set1_epi8(15);
  c.c7 = _mm512_set1_epi8(7);
  c.c6 = _mm512_set1_epi8(6);
  c.c1 = _mm512_set1_epi8(1);
  // Output dword 2i: A's dword i (low half), 2i + 1: B's (high half).
  c.inter = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  c.half = _mm_setr_ps(0.5f, 0.5f, 1.0f, 1.0f);
  return c;
}

// The 4 slots of one full block of rows A and B: Decode's operations on both at
// once, then Weighted's (each slot's codes times its weight).
HWY_INLINE void DecodeBoth(const PairConsts& k, const uint8_t* ba, const uint8_t* bb, __m512i c[kSubs]) {
  const auto both = [](__m256i a, __m256i b) { return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1); };
  const auto bc16 = [](const uint8_t* x) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
  };
  const __m512i p = both(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ba + 4)),
                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bb + 4)));
  const __m512i q = _mm512_srlv_epi32(both(bc16(ba + 36), bc16(bb + 36)), k.sh_q);
  const __m512i r = _mm512_srlv_epi32(both(_mm256_set1_epi32(static_cast<int>(LoadU32(ba + 52))),
                                           _mm256_set1_epi32(static_cast<int>(LoadU32(bb + 52)))), k.sh_r);
  c[0] = _mm512_and_si512(q, k.c15);
  c[1] = _mm512_and_si512(p, k.c7);
  c[2] = _mm512_and_si512(_mm512_srli_epi16(p, 3), k.c7);
  c[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(p, 5), k.c6), _mm512_and_si512(r, k.c1));
  for (int s = 1; s < kSubs; ++s) c[s] = _mm512_add_epi8(c[s], c[s]);
}

// [h_A, h_B, m_A, m_B] of two block headers (DecodeHeader's values).
HWY_INLINE __m128 PairHeaders(const PairConsts& k, uint32_t ha, uint32_t hb) {
  const __m128i hh = _mm_insert_epi32(_mm_cvtsi32_si128(static_cast<int>(ha & 0xFFFE7FFFu)),
                                      static_cast<int>(hb & 0xFFFE7FFFu), 1);
  const __m128 dm = _mm_cvtph_ps(hh);  // d_A, m_A, d_B, m_B
  return _mm_mul_ps(_mm_shuffle_ps(dm, dm, _MM_SHUFFLE(3, 1, 2, 0)), k.half);
}

alignas(64) constexpr uint8_t kZeroBlock[kBlockBytes] = {};  // decodes to zero codes, h = m = 0

// Block ba of row A and bb of row B (full: a 56-byte block; else the short block
// of ns sub-blocks) into the pair's interleaved codes cb (natural sub-block
// order) and hb = [h_A, h_B, m_A, m_B].
HWY_INLINE void DecodePairBlock(const Consts& k, const PairConsts& k2, const uint8_t* ba, const uint8_t* bb, bool full,
                                int ns, uint8_t* cb, float* hb, size_t prefetch) {
  __m512i slot[kSubs];
  int sa = 0, sb = 0;
  if (full) {
    _mm_prefetch(reinterpret_cast<const char*>(ba + prefetch), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bb + prefetch), _MM_HINT_T0);
    DecodeBoth(k2, ba, bb, slot);
    sa = static_cast<int>((LoadU32(ba) >> 15) & 3u);
    sb = static_cast<int>((LoadU32(bb) >> 15) & 3u);
  } else {
    Decoded da, db;
    DecodeShort(k, ba, ns, &da);
    DecodeShort(k, bb, ns, &db);
    Weighted(&da);
    Weighted(&db);
    for (int sl = 0; sl < kSubs; ++sl) slot[sl] = _mm512_inserti64x4(_mm512_castsi256_si512(da.c[sl]), db.c[sl], 1);
  }
  _mm_storeu_ps(hb, PairHeaders(k2, LoadU32(ba), LoadU32(bb)));
  // Slot k interleaved (A's dwords even, B's odd), then A's half stored at its
  // natural sub-block (sa + k) mod 4 and B's at (sb + k) mod 4.
  for (int sl = 0; sl < kSubs; ++sl) {
    const __m512i v = _mm512_permutexvar_epi32(k2.inter, slot[sl]);
    _mm512_mask_storeu_epi32(cb + 64 * ((sa + sl) & 3), 0x5555, v);
    _mm512_mask_storeu_epi32(cb + 64 * ((sb + sl) & 3), 0xAAAA, v);
  }
}

HWY_INLINE const uint8_t* BlockOf(const uint8_t* row, int64_t b) { return row ? row + b * kBlockBytes : kZeroBlock; }

// Rows wa and wb (nullptr: zeros), every block, into a pair's codes and (h, m).
HWY_INLINE void DecodePair(const Consts& k, const PairConsts& k2, const uint8_t* wa, const uint8_t* wb, int64_t nb,
                           int ns, size_t row_bytes, uint8_t* codes, float* hm) {
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  const size_t ahead = TilePrefetchBytes(2, row_bytes);
  for (int64_t b = 0; b < nbs; ++b) {
    DecodePairBlock(k, k2, BlockOf(wa, b), BlockOf(wb, b), b < nb, ns, codes + static_cast<size_t>(b) * kQuads * 8,
                    hm + kLaneHm * b, ahead);
  }
}

HWY_INLINE __m512 BroadcastPair(const float* p) {
  double d;
  std::memcpy(&d, p, 8);
  return _mm512_castpd_ps(_mm512_set1_pd(d));
}

// One block of R pairs (codes[p]: the pair's 256 code bytes of the block, hm[p]
// its [h_A, h_B, m_A, m_B]) against the packed block xb, into position J.
template <int R, int J>
HWY_INLINE void LanesBlock(const uint8_t* const* codes, const float* const* hm, const uint8_t* xb, __m512 (&s)[R][4]) {
  constexpr int kChains = 4;  // independent vpdpbusd chains per pair (4: 2-3 % faster than 2)
  __m512i acc[R][kChains];
  for (int p = 0; p < R; ++p) {
    for (int c = 0; c < kChains; ++c) acc[p][c] = _mm512_setzero_si512();
  }
#pragma GCC unroll 32
  for (int q = 0; q < kQuads; q += kChains) {
    __m512i x[kChains];
    for (int c = 0; c < kChains; ++c) x[c] = _mm512_load_si512(xb + 64 * (q + c));
    for (int p = 0; p < R; ++p) {
      for (int c = 0; c < kChains; ++c) {
        int64_t cw;
        std::memcpy(&cw, codes[p] + 8 * (q + c), 8);
        acc[p][c] = _mm512_dpbusd_epi32(acc[p][c], _mm512_set1_epi64(cw), x[c]);
      }
    }
  }
  const __m512 xd = _mm512_load_ps(reinterpret_cast<const float*>(xb + kQuads * 64));
  const __m512 xo = _mm512_load_ps(reinterpret_cast<const float*>(xb + kQuads * 64 + 64));
  for (int p = 0; p < R; ++p) {
    __m512i sum = acc[p][0];
    for (int c = 1; c < kChains; ++c) sum = _mm512_add_epi32(sum, acc[p][c]);
    s[p][J] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(BroadcastPair(hm[p]), xd), s[p][J]);
    s[p][J] = _mm512_fmadd_ps(BroadcastPair(hm[p] + 2), xo, s[p][J]);
  }
}

// y of rows 0 .. nr - 1 of the R pairs, tokens 0 .. nt - 1: (s_0 + s_1) + (s_2 + s_3).
template <int R>
HWY_INLINE void LanesStore(const __m512 (&s)[R][4], int nr, int nt, float* y, int64_t y_stride) {
  if constexpr (R == 4) {
    if (nr == 2 * R) {  // 8 rows: each token's 8 outputs are contiguous, one 256-bit store
      __m512d o[R];
      for (int p = 0; p < R; ++p) {
        o[p] = _mm512_castps_pd(_mm512_add_ps(_mm512_add_ps(s[p][0], s[p][1]), _mm512_add_ps(s[p][2], s[p][3])));
      }
      // qword t of o[p] is token t's rows 2p, 2p + 1; block i of a (b) holds token 2i's (2i + 1's) for pairs 0,
      // 1, of c (d) for pairs 2, 3.
      const __m512d a = _mm512_unpacklo_pd(o[0], o[1]), b = _mm512_unpackhi_pd(o[0], o[1]);
      const __m512d c = _mm512_unpacklo_pd(o[2], o[3]), d = _mm512_unpackhi_pd(o[2], o[3]);
      const auto tokens = [&](__m512d x, __m512d z, int t) HWY_ATTR {  // tokens t, t + 2, t + 4, t + 6
        const auto order = [](__m512d v) { return _mm512_shuffle_f64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0)); };
        const __m512d lo = order(_mm512_shuffle_f64x2(x, z, _MM_SHUFFLE(1, 0, 1, 0)));  // [x0 z0 | x1 z1]
        const __m512d hi = order(_mm512_shuffle_f64x2(x, z, _MM_SHUFFLE(3, 2, 3, 2)));  // [x2 z2 | x3 z3]
        const __m256d v[4] = {_mm512_castpd512_pd256(lo), _mm512_extractf64x4_pd(lo, 1),
                              _mm512_castpd512_pd256(hi), _mm512_extractf64x4_pd(hi, 1)};
        for (int i = 0; i < 4 && t + 2 * i < nt; ++i) {
          _mm256_storeu_pd(reinterpret_cast<double*>(y + (t + 2 * i) * y_stride), v[i]);
        }
      };
      tokens(a, c, 0);
      tokens(b, d, 1);
      return;
    }
  }
  for (int p = 0; p < R; ++p) {
    alignas(64) float o[16];
    _mm512_store_ps(o, _mm512_add_ps(_mm512_add_ps(s[p][0], s[p][1]), _mm512_add_ps(s[p][2], s[p][3])));
    for (int r = 0; r < 2 && 2 * p + r < nr; ++r) {
      for (int t = 0; t < nt; ++t) y[t * y_stride + 2 * p + r] = o[2 * t + r];
    }
  }
}

template <int R>
HWY_INLINE void ZeroSums(__m512 (&s)[R][4]) {
  for (int p = 0; p < R; ++p) {
    for (int j = 0; j < 4; ++j) s[p][j] = _mm512_setzero_ps();
  }
}

// R decoded pairs (codes[p], hm[p]: block 0) x one packed 8-token tile.
template <int R>
HWY_INLINE void LanesTile(const uint8_t* const* codes, const float* const* hm, const uint8_t* xp, int64_t nbs, int nr,
                          int nt, float* y, int64_t y_stride) {
  __m512 s[R][4];
  ZeroSums<R>(s);
  const auto block = [&](auto j, int64_t b) HWY_ATTR {
    const uint8_t* cb[R];
    const float* hb[R];
    for (int p = 0; p < R; ++p) {
      cb[p] = codes[p] + static_cast<size_t>(b) * kQuads * 8;
      hb[p] = hm[p] + kLaneHm * b;
    }
    LanesBlock<R, decltype(j)::value>(cb, hb, xp + static_cast<size_t>(b) * kLanePackBlock, s);
  };
  ForEachBlock(nbs, block);
  LanesStore<R>(s, nr, nt, y, y_stride);
}

// One token tile (batched decoding): the 2R rows (nullptr: none) decoded block by
// block into a small ring, kAhead blocks ahead of the block being multiplied,
// so decoding, the weight stream and the integer dots overlap.
template <int R>
HWY_INLINE void LanesFused(const Consts& k, const PairConsts& k2, const uint8_t* const* rows, int64_t nb, int ns,
                           size_t prefetch, const uint8_t* xp, int nr, int nt, float* y, int64_t y_stride) {
  constexpr int kRing = 4, kAhead = 2;
  alignas(64) uint8_t ring[kRing][R][kQuads * 8];
  alignas(16) float ring_hm[kRing][R][kLaneHm];
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  const auto decode = [&](int64_t b) HWY_ATTR {
    for (int p = 0; p < R; ++p) {
      DecodePairBlock(k, k2, BlockOf(rows[2 * p], b), BlockOf(rows[2 * p + 1], b), b < nb, ns, ring[b % kRing][p],
                      ring_hm[b % kRing][p], prefetch);
    }
  };
  __m512 s[R][4];
  ZeroSums<R>(s);
  for (int64_t b = 0; b < std::min<int64_t>(kAhead, nbs); ++b) decode(b);
  const auto block = [&](auto j, int64_t b) HWY_ATTR {
    if (b + kAhead < nbs) decode(b + kAhead);
    const uint8_t* cb[R];
    const float* hb[R];
    for (int p = 0; p < R; ++p) {
      cb[p] = ring[b % kRing][p];
      hb[p] = ring_hm[b % kRing][p];
    }
    LanesBlock<R, decltype(j)::value>(cb, hb, xp + static_cast<size_t>(b) * kLanePackBlock, s);
  };
  ForEachBlock(nbs, block);
  LanesStore<R>(s, nr, nt, y, y_stride);
}

// Up to this many tokens AVX3_DL's MatMul runs RowsLanes (the tile below from 5).
constexpr int64_t kLanesMaxTokens = 4;
// With a chunk decoder: decode(ra, npairs, codes, hm) writes the pairs of rows
// ra + 2 p, ra + 2 p + 1 (p < npairs; rows past the matrix read as zero) as
// DecodePair does, pair p at codes + p nbs kQuads 8 and hm + p nbs kLaneHm. Only
// the path of several token tiles (m > kLT) uses it; fewer tokens read the rows
// in the slot layout themselves.
template <class DecodeChunk>
void MatMulLanesWith(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                     int64_t m, float* y, int64_t y_stride, const DecodeChunk& decode) {
  constexpr int kR = 4;  // pairs per tile
  const Consts k = MakeConsts();
  const PairConsts k2 = MakePairConsts(k);
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  if (m <= kLanesMaxTokens) return RowsLanesMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  const int64_t tiles = (m + kLT - 1) / kLT;
  LanesScratch& sc = LanesScratchOfThread();
  const size_t tile_bytes = static_cast<size_t>(nbs) * kLanePackBlock;
  uint8_t* xbase = PackTiles<2>(act, act_stride, m, nbs, &sc.x);
  if (tiles == 1) {
    for (int64_t ra = r0; ra < r1; ra += 2 * kR) {
      const uint8_t* rows[2 * kR];
      for (int i = 0; i < 2 * kR; ++i) rows[i] = ra + i < r1 ? w.row(ra + i) : nullptr;
      LanesFused<kR>(k, k2, rows, nb, ns, TilePrefetchBytes(2 * kR, w.row_bytes), xbase,
                     static_cast<int>(std::min<int64_t>(2 * kR, r1 - ra)),
                     static_cast<int>(m), y + ra, y_stride);
    }
    return;
  }
  // Several token tiles: a chunk of rows decoded once into an L2-resident buffer.
  const size_t pair_stride = static_cast<size_t>(nbs) * kQuads * 8;
  const size_t hm_stride = static_cast<size_t>(nbs) * kLaneHm;
  const int64_t chunk_pairs = std::max<int64_t>(kR, static_cast<int64_t>(kLanesChunkBytes / pair_stride) / kR * kR);
  if (sc.codes.size() < static_cast<size_t>(chunk_pairs) * pair_stride + 64) {
    sc.codes.resize(static_cast<size_t>(chunk_pairs) * pair_stride + 64);
    sc.hm.resize(static_cast<size_t>(chunk_pairs) * hm_stride);
  }
  uint8_t* cbase = Align64(sc.codes.data());
  for (int64_t rc = r0; rc < r1; rc += 2 * chunk_pairs) {
    const int64_t nrc = std::min(2 * chunk_pairs, r1 - rc);
    const int64_t npairs = (nrc + 1) / 2;
    const int64_t padded = std::min<int64_t>((npairs + kR - 1) / kR * kR, chunk_pairs);
    decode(rc, padded, cbase, sc.hm.data());
    for (int64_t t = 0; t < tiles; ++t) {
      const uint8_t* xp = xbase + static_cast<size_t>(t) * tile_bytes;
      const int nt = static_cast<int>(std::min<int64_t>(kLT, m - t * kLT));
      for (int64_t p = 0; p < npairs; p += kR) {
        const uint8_t* codes[kR];
        const float* hm[kR];
        for (int i = 0; i < kR; ++i) {
          codes[i] = cbase + (p + i) * pair_stride;
          hm[i] = sc.hm.data() + (p + i) * hm_stride;
        }
        LanesTile<kR>(codes, hm, xp, nbs, static_cast<int>(std::min<int64_t>(2 * kR, nrc - 2 * p)), nt,
                      y + t * kLT * y_stride + rc + 2 * p, y_stride);
      }
    }
  }
}

inline void MatMulLanes(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                        int64_t m, float* y, int64_t y_stride) {
  const Consts k = MakeConsts();
  const PairConsts k2 = MakePairConsts(k);
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  const size_t pair_stride = static_cast<size_t>(nbs) * kQuads * 8, hm_stride = static_cast<size_t>(nbs) * kLaneHm;
  const auto decode = [&](int64_t ra, int64_t npairs, uint8_t* codes, float* hm) HWY_ATTR {
    for (int64_t p = 0; p < npairs; ++p, ra += 2) {
      DecodePair(k, k2, ra < r1 ? w.row(ra) : nullptr, ra + 1 < r1 ? w.row(ra + 1) : nullptr, nb, ns, w.row_bytes,
                 codes + p * pair_stride, hm + p * hm_stride);
    }
  };
  MatMulLanesWith(w, r0, r1, act, act_stride, m, y, y_stride, decode);
}

#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_Q3P5_LANES_INL_H_ toggle
