// Per-target helpers of the x86 kernels on Q4_NL's container (quant/q4_nl.h:
// 68 bytes per 128 weights, 4-bit codes at byte k % 64, the fp16 D and four
// signed 4-bit scales), shared by Q4_NL's kernels (dot_q4nl.cc) and Q4_T's
// (dot_q4t.cc), which read the same bytes and differ only in how a sub-block's
// codes become its levels: the codes of a sub-block in weight order, a tile of
// up to 4 rows' D and scales in float and int32 lanes, the activation blocks
// prepared once per tile, and AddTile, the exact integer steps and the scalar
// reference's float steps per sub-block (see dot_q4nl.cc's header). On AVX3_DL
// also the header of a group block in rows of 16 (kQ4NLRows16 / kQ4TRows16:
// dot_q4nl_rows16.cc, dot_q4t_rows16.cc). Included once per Highway target.

#if defined(SEPTET_KERNELS_SIMD_Q4_BLOCKS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_Q4_BLOCKS_INL_H_
#undef SEPTET_KERNELS_SIMD_Q4_BLOCKS_INL_H_
#else
#define SEPTET_KERNELS_SIMD_Q4_BLOCKS_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/cpu/weight_view.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/repack.h"
#include "quant/q4_nl.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

#if SEPTET_SIMD_X86

inline constexpr int kQ4Block = quant::kQ4NLBlockSize;
inline constexpr size_t kQ4BlockBytes = sizeof(quant::BlockQ4NL);
inline constexpr int kQ4Subs = quant::kQ4NLSubBlocks;
inline constexpr int kQ4Sub = quant::kQ4NLSubBlockSize;
static_assert(kQ4Block == kQ4Subs * kQ4Sub && kQ4Sub == quant::kQ8ABlockSize && kQ4Subs == 4);
static_assert(offsetof(quant::BlockQ4NL, d) == 64 && offsetof(quant::BlockQ4NL, sc) == 66);

struct Q4BlockTables {
  __m256i c15;
  __m128i d_pick;  // the low 16 bits of each int32 lane to the low 64 bits (vpshufb)
  __m128 d_unit;
};

HWY_INLINE Q4BlockTables MakeQ4BlockTables() {
  Q4BlockTables t;
  t.c15 = _mm256_set1_epi8(15);
  t.d_pick = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  t.d_unit = _mm_set1_ps(quant::kQ4NLDUnit);
  return t;
}

// The row's short final block: its sub-block count (0: none), its bytes, and
// where each half sub-block's codes lie (the 16 bytes at off[s][h], shifted
// right by the int32 lanes of shift[s]: 128-bit lane h for half h).
struct TailLayout {
  int ns = 0;
  int bytes = 0;
  int off[kQ4Subs][2] = {};
  __m256i shift[kQ4Subs];
};

HWY_INLINE TailLayout MakeTailLayout(int64_t cols) {
  TailLayout tl;
  const int r = static_cast<int>(cols % kQ4Block);
  tl.ns = static_cast<int>(quant::CeilDiv(r, kQ4Sub));
  tl.bytes = r > 0 ? static_cast<int>(quant::Q4NLShortBlockBytes(r)) : 0;
  const int run = 16 * std::max(tl.ns, 1);  // code bytes of the block
  for (int s = 0; s < kQ4Subs; ++s) {
    int sh[2];
    for (int h = 0; h < 2; ++h) {
      const int k = kQ4Sub * s + 16 * h;
      tl.off[s][h] = k % run;
      sh[h] = 4 * std::min(k / run, 1);  // s >= ns: never read
    }
    tl.shift[s] = _mm256_setr_epi32(sh[0], sh[0], sh[0], sh[0], sh[1], sh[1], sh[1], sh[1]);
  }
  return tl;
}

// The codes u (0..15, weight order) of sub-block s of a full block: the low
// (s < 2) or high nibbles of the 32 bytes at 32 (s % 2).
HWY_INLINE __m256i FullSubCodes(const Q4BlockTables& t, const uint8_t* blk, int s) {
  __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 * (s % 2)));
  if (s >= 2) q = _mm256_srli_epi16(q, 4);
  return _mm256_and_si256(q, t.c15);
}

// The codes of sub-block s < ns of the short block: its halves from their 16-byte runs.
HWY_INLINE __m256i ShortSubCodes(const Q4BlockTables& t, const TailLayout& tl, const uint8_t* blk, int s) {
  const __m256i v = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + tl.off[s][0]))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + tl.off[s][1])), 1);
  return _mm256_and_si256(_mm256_srlv_epi32(v, tl.shift[s]), t.c15);
}

// A tile of R <= 4 rows' block fields: per sub-block s the rows' scales sc_s in
// int32 lanes, and d_eff, both in lane r for row r (0 in the lanes of absent rows).
struct TileFields {
  __m128i sc[kQ4Subs];
  __m128 d4;
};

// q[r]: row r's D in bits [0, 16) and its scale field in bits [16, 32) (the
// absent sub-blocks' nibbles of a short block are 0 or never used).
template <int R>
HWY_INLINE TileFields DecodeFields(const Q4BlockTables& t, const uint32_t q[R]) {
  const auto lane = [&](int r) { return r < R ? static_cast<int>(q[r]) : 0; };
  const __m128i v = _mm_setr_epi32(lane(0), lane(1), lane(2), lane(3));
  TileFields f;
  f.d4 = _mm_mul_ps(_mm_cvtph_ps(_mm_shuffle_epi8(v, t.d_pick)), t.d_unit);  // exact: a power of 2
  // Nibble s to bits [28, 32), then sign-extended.
  f.sc[0] = _mm_srai_epi32(_mm_slli_epi32(v, 12), 28);
  f.sc[1] = _mm_srai_epi32(_mm_slli_epi32(v, 8), 28);
  f.sc[2] = _mm_srai_epi32(_mm_slli_epi32(v, 4), 28);
  f.sc[3] = _mm_srai_epi32(v, 28);
  return f;
}

template <int R>
HWY_INLINE TileFields FullFields(const Q4BlockTables& t, const cpu::WeightView& w, int64_t row, int64_t b) {
  uint32_t q[R];
  for (int r = 0; r < R; ++r) q[r] = LoadU32(w.row(row + r) + b * kQ4BlockBytes + offsetof(quant::BlockQ4NL, d));
  return DecodeFields<R>(t, q);
}

// D and the ceil(ns / 2) scale bytes are a short block's last 2 + ceil(ns / 2)
// <= 4 bytes: one 4-byte load ending at its end (it starts at >= 15: inside),
// shifted down to them.
template <int R>
HWY_INLINE TileFields ShortFields(const Q4BlockTables& t, const TailLayout& tl, const cpu::WeightView& w, int64_t row,
                                  int64_t nb) {
  const int len = 2 + (tl.ns + 1) / 2;
  uint32_t q[R];
  for (int r = 0; r < R; ++r) q[r] = LoadU32(w.row(row + r) + nb * kQ4BlockBytes + tl.bytes - 4) >> (8 * (4 - len));
  return DecodeFields<R>(t, q);
}

// The activation blocks of ns <= 4 sub-blocks: codes as stored and their
// absolute values (shared by the rows of a tile), and each x_d in every lane.
struct PreparedX {
  __m256i x[kQ4Subs], ax[kQ4Subs];
  __m128 xd[kQ4Subs];
};

HWY_INLINE void PrepareX(const uint8_t* xblk, int ns, PreparedX* px) {
  for (int s = 0; s < kQ4Subs; ++s) {  // never read past the row's last activation block
    const bool in = s < ns;
    px->x[s] = in ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(Q8ACodes(xblk + s * kQ8ABytes)))
                  : _mm256_setzero_si256();
    px->ax[s] = _mm256_abs_epi8(px->x[s]);
    px->xd[s] = _mm_set1_ps(in ? Q8AScale(xblk + s * kQ8ABytes) : 0.0f);
  }
}

// One token's terms of a tile's block (its first ns sub-blocks) added to the
// rows' running sums (lane r: row r): the integer and float steps of MatVec and
// MatMul, per lane the scalar reference's sum += (d_eff * x_d) * float(isum_s)
// for s = 0 .. ns - 1. lv(r, s): L[u] of row r, sub-block s (decoded on the
// spot by MatVec, stored by MatMul).
template <int R, class LevelsOf>
HWY_INLINE __m128 AddTile(const TileFields& f, const LevelsOf& lv, const PreparedX& px, int ns, __m128 sum) {
  for (int s = 0; s < ns; ++s) {
    __m256i a[4];
    for (int r = 0; r < 4; ++r) {
      if (r >= R) {
        a[r] = _mm256_setzero_si256();
        continue;
      }
      a[r] = DotU8I8(px.ax[s], _mm256_sign_epi8(lv(r, s), px.x[s]));  // |x| * (L sign x) = x L
    }
    const __m128i isum = _mm_mullo_epi32(HSum4x8(a[0], a[1], a[2], a[3]), f.sc[s]);
    const __m128 term = _mm_mul_ps(_mm_mul_ps(f.d4, px.xd[s]), _mm_cvtepi32_ps(isum));
    sum = _mm_add_ps(sum, NoContract(term));
  }
  return sum;
}

// Lanes 0 .. R - 1 of v to y[0 .. R - 1].
template <int R>
HWY_INLINE void StoreRows(__m128 v, float* y) {
  if constexpr (R == 4) {
    _mm_storeu_ps(y, v);
  } else {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, v);
    for (int r = 0; r < R; ++r) y[r] = lanes[r];
  }
}

#endif  // SEPTET_SIMD_X86

#if HWY_TARGET == HWY_AVX3_DL
// A group block's header in rows of 16 (repack.h), decoded once: d_eff and the 4
// signed sub-block scales of every lane (a shift pair each), and where the code
// planes start.
struct Q4Rows16Head {
  __m512 d;
  __m512i sc[quant::kQ4NLSubBlocks];
  const uint8_t* codes;  // Q4NLRows16CodeByte(ns, 0, 0, 0, 0) on
};
HWY_INLINE void DecodeQ4Rows16Head(const uint8_t* gb, int ns, Q4Rows16Head* hd) {
  static_assert(quant::kQ4NLSubBlocks == 4);
  hd->d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb))),
                        _mm512_set1_ps(quant::kQ4NLDUnit));  // exact: a power of 2
  const __m512i f = ns > 2 ? _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb + 32)))
                           : _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + 32)));
  hd->sc[0] = _mm512_srai_epi32(_mm512_slli_epi32(f, 28), 28);
  hd->sc[1] = _mm512_srai_epi32(_mm512_slli_epi32(f, 24), 28);
  hd->sc[2] = _mm512_srai_epi32(_mm512_slli_epi32(f, 20), 28);
  hd->sc[3] = _mm512_srai_epi32(_mm512_slli_epi32(f, 16), 28);
  hd->codes = gb + Q4NLRows16CodeByte(ns, 0, 0, 0, 0);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_Q4_BLOCKS_INL_H_
