// Q3P5 x Q8_A matrix-vector and matrix-matrix kernels (format: quant/q3p5.h).
//
// AVX2 path, per 32-weight sub-block (12 bytes: lo[8] 2-bit plane, hi[4] bit
// plane), without any repack of the file layout:
//   * one 16-byte broadcast load of the sub-block;
//   * lo: vpshufb puts lo byte b' of 16-weight half c into dword j of lane c,
//     vpsrlvd shifts dword j right by 2j, & 3;
//   * hi: vpshufb puts the hi byte holding each weight's bit in place, then
//     (& bit) == bit, & 4;
//   * u = lo | hi, then vpmaddubsw / vpmaddwd (x 2: v = 2u) against the
//     activation codes.
// The decode leaves weights in the order "lane c, dword j, byte b' = weight
// 16c + 4b' + j", so the activation block is permuted the same way (one
// vpshufb, shared by every row of a row group). The extra LSB plane of sub-block
// sel is decoded the same way and dotted once per block. Sub-block integer sums
// are exact; the float combination per block follows the scalar formula
// x_d * (h * acc + m * x_sum), vectorised over the 4 sub-blocks (4 lanes of
// partial sums, FMA), and the final partial block goes to the scalar vec_dot.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q3p5.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/code_planes-inl.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "quant/q3p5.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kBlock = quant::kQ3P5BlockSize;
constexpr size_t kBlockBytes = sizeof(quant::BlockQ3P5);
constexpr int kSubs = quant::kQ3P5SubBlocks;
static_assert(kBlock == 4 * quant::kQ8ABlockSize && kSubs == 4);

// The final partial block of a row is a valid Q3P5 row of its own (a short
// block, no ext): the scalar reference handles it.
float Q3P5TailDot(const uint8_t* wrow, const uint8_t* act, int64_t n) {
  const int64_t nb = n / kBlock;
  const int64_t r = n - nb * kBlock;
  if (r == 0) return 0.0f;
  return quant::Q3P5VecDot(r, wrow + nb * kBlockBytes, Q8ABlock(act, nb * kSubs));
}

#if SEPTET_SIMD_X86

// The code-plane tables (code_planes-inl.h) and the ext plane's.
struct Tables : PlaneTables {
  __m256i t_ext, c1, ones16, twos16;
  __m128i iota4;
};

__m256i Load32(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

Tables MakeTables() {
  alignas(32) int8_t t_ext[32];
  for (int p = 0; p < 32; ++p) {
    const int c = p / 16, b = p % 4;
    t_ext[p] = static_cast<int8_t>(2 * c + b / 2);  // the ext byte of weight 16c + 4b + j (as t_hi's)
  }
  Tables t;
  static_cast<PlaneTables&>(t) = MakePlaneTables();
  t.t_ext = Load32(t_ext);
  t.c1 = _mm256_set1_epi8(1);
  t.ones16 = _mm256_set1_epi16(1);
  t.twos16 = _mm256_set1_epi16(2);
  t.iota4 = _mm_setr_epi32(0, 1, 2, 3);
  return t;
}

// u in [0, 7] of the 32 weights of sub-block `sub` (reads 16 bytes, which stay
// inside the 56-byte block for every sub-block of a full block).
HWY_INLINE __m256i DecodeSub(const Tables& t, const uint8_t* sub) { return DecodeCodePlanes(t, sub); }

// e in [0, 1] of the ext plane (block bytes 52..55).
HWY_INLINE __m256i DecodeExt(const Tables& t, const uint8_t* blk) {
  const __m256i v = _mm256_set1_epi32(static_cast<int>(LoadU32(blk + 52)));
  const __m256i eb = _mm256_and_si256(_mm256_shuffle_epi8(v, t.t_ext), t.m_hi);
  return _mm256_and_si256(_mm256_cmpeq_epi8(eb, t.m_hi), t.c1);
}

struct DecodedBlock {
  __m256i u[kSubs];
  __m256i e;
  int sel;
  __m128 h4, m4;
};

HWY_INLINE void DecodeHeader(const uint8_t* blk, int* sel, __m128* h4, __m128* m4) {
  const uint32_t hdr = LoadU32(blk);
  *sel = static_cast<int>((hdr >> 15) & 3u);
  const __m128 dm = Fp16Pair(static_cast<uint16_t>(hdr & 0x7FFFu), static_cast<uint16_t>((hdr >> 17) << 1));
  *h4 = _mm_mul_ps(_mm_shuffle_ps(dm, dm, 0x00), _mm_set1_ps(0.5f));  // h = d / 2, exact
  *m4 = _mm_shuffle_ps(dm, dm, 0x55);
}

// Activation block group (4 Q8_A blocks) in decode order + meta.
struct PreparedX {
  alignas(32) int8_t xp[kSubs][32];
  __m128 xd4, xs4;
};

HWY_INLINE void PrepareX(const Tables& t, const uint8_t* xblk, PreparedX* px) {
  for (int s = 0; s < kSubs; ++s) {
    const __m256i x = Load32(Q8ACodes(xblk + s * kQ8ABytes));
    _mm256_store_si256(reinterpret_cast<__m256i*>(px->xp[s]), _mm256_shuffle_epi8(x, t.px));
  }
  LoadQ8AMeta4(xblk, &px->xd4, &px->xs4);
}

// Exact acc[s] = sum_k x_q[k] * v[k] for the 4 sub-blocks.
HWY_INLINE __m128i BlockAcc(const Tables& t, const __m256i u[kSubs], __m256i e, int sel,
                            const PreparedX& px) {
  const __m256i* xp = reinterpret_cast<const __m256i*>(px.xp);
  const __m128i acc = HSum4x8(MulAddU8I8(u[0], _mm256_load_si256(xp + 0), t.twos16),
                              MulAddU8I8(u[1], _mm256_load_si256(xp + 1), t.twos16),
                              MulAddU8I8(u[2], _mm256_load_si256(xp + 2), t.twos16),
                              MulAddU8I8(u[3], _mm256_load_si256(xp + 3), t.twos16));
  const __m256i pe = MulAddU8I8(e, _mm256_load_si256(xp + sel), t.ones16);
  const __m128i es = HSumBroadcast8(pe);
  const __m128i selm = _mm_cmpeq_epi32(_mm_set1_epi32(sel), t.iota4);
  return _mm_add_epi32(acc, _mm_and_si128(es, selm));
}

HWY_INLINE void DecodeBlock(const Tables& t, const uint8_t* blk, DecodedBlock* db) {
  DecodeHeader(blk, &db->sel, &db->h4, &db->m4);
  for (int s = 0; s < kSubs; ++s) db->u[s] = DecodeSub(t, blk + 4 + 12 * s);
  db->e = DecodeExt(t, blk);
}

// R rows at once: the activation block is prepared once per block for all R.
template <int R>
HWY_INLINE void RowsAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act,
                         float* y) {
  const int64_t nb = w.cols / kBlock;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  PreparedX px;
  for (int64_t b = 0; b < nb; ++b) {
    PrepareX(t, Q8ABlock(act, b * kSubs), &px);
    for (int r = 0; r < R; ++r) {
      DecodedBlock db;
      DecodeBlock(t, w.row(row + r) + b * kBlockBytes, &db);
      sum[r] = CombineAffine(BlockAcc(t, db.u, db.e, db.sel, px), px.xd4, px.xs4, db.h4, db.m4, sum[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]) + Q3P5TailDot(w.row(row + r), act, w.cols);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Tables t = MakeTables();
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsAvx2<4>(t, w, r, act, y + (r - r0));
  for (; r < r1; ++r) RowsAvx2<1>(t, w, r, act, y + (r - r0));
}

// Prefill: a tile of kRT rows is decoded once per block and reused for a tile
// of up to kTT tokens; the per-(row, token) partial sums stay on the stack.
constexpr int kRT = 4;
constexpr int kTT = 32;

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act,
                size_t act_stride, int64_t m, float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  const int64_t nb = w.cols / kBlock;
  __m128 sum[kRT][kTT];
  struct Stored {
    alignas(32) uint8_t u[kSubs][32];
    alignas(32) uint8_t e[32];
    int sel;
    __m128 h4, m4;
  } dec[kRT];
  PreparedX px;
  for (int64_t ra = r0; ra < r1; ra += kRT) {
    const int nr = static_cast<int>(std::min<int64_t>(kRT, r1 - ra));
    for (int64_t ta = 0; ta < m; ta += kTT) {
      const int nt = static_cast<int>(std::min<int64_t>(kTT, m - ta));
      for (int r = 0; r < nr; ++r) {
        for (int tt = 0; tt < nt; ++tt) sum[r][tt] = _mm_setzero_ps();
      }
      for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < nr; ++r) {
          DecodedBlock db;
          DecodeBlock(t, w.row(ra + r) + b * kBlockBytes, &db);
          for (int s = 0; s < kSubs; ++s) _mm256_store_si256(reinterpret_cast<__m256i*>(dec[r].u[s]), db.u[s]);
          _mm256_store_si256(reinterpret_cast<__m256i*>(dec[r].e), db.e);
          dec[r].sel = db.sel;
          dec[r].h4 = db.h4;
          dec[r].m4 = db.m4;
        }
        for (int tt = 0; tt < nt; ++tt) {
          PrepareX(t, Q8ABlock(act + static_cast<size_t>(ta + tt) * act_stride, b * kSubs), &px);
          for (int r = 0; r < nr; ++r) {
            __m256i u[kSubs];
            for (int s = 0; s < kSubs; ++s) u[s] = _mm256_load_si256(reinterpret_cast<const __m256i*>(dec[r].u[s]));
            const __m256i e = _mm256_load_si256(reinterpret_cast<const __m256i*>(dec[r].e));
            sum[r][tt] = CombineAffine(BlockAcc(t, u, e, dec[r].sel, px), px.xd4, px.xs4, dec[r].h4,
                                       dec[r].m4, sum[r][tt]);
          }
        }
      }
      for (int r = 0; r < nr; ++r) {
        for (int tt = 0; tt < nt; ++tt) {
          const uint8_t* a = act + static_cast<size_t>(ta + tt) * act_stride;
          y[(ta + tt) * y_stride + (ra + r)] = HSum4f(sum[r][tt]) + Q3P5TailDot(w.row(ra + r), a, w.cols);
        }
      }
    }
  }
}

#else  // portable Highway fallback: scalar code unpack, SIMD integer dot

float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  const int64_t nb = n / kBlock;
  float sum[kSubs] = {0.0f, 0.0f, 0.0f, 0.0f};
  alignas(64) uint8_t codes[kBlock];
  for (int64_t b = 0; b < nb; ++b) {
    quant::BlockQ3P5 blk;
    std::memcpy(&blk, wrow + b * kBlockBytes, kBlockBytes);
    const quant::Q3P5Params p = quant::Q3P5UnpackHeader(blk.hdr);
    const float h = p.d * 0.5f;
    quant::Q3P5UnpackCodes(blk, kSubs, codes);  // u, or v = 2u + e in sub-block sel
    for (int s = 0; s < kSubs; ++s) {
      const uint8_t* xb = Q8ABlock(act, b * kSubs + s);
      const int32_t dot = DotCodesI32(codes + 32 * s, Q8ACodes(xb), 32);
      const int32_t acc = s == p.sel ? dot : 2 * dot;
      sum[s] += Q8AScale(xb) * (h * static_cast<float>(acc) + p.m * static_cast<float>(Q8ASum(xb)));
    }
  }
  return ((sum[0] + sum[1]) + (sum[2] + sum[3])) + Q3P5TailDot(wrow, act, n);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecByRows(RowGeneric, w, r0, r1, act, y);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

#endif  // SEPTET_SIMD_X86

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Q3P5, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q3P5)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
