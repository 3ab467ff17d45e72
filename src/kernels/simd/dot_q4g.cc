// Q4_G x Q8_A kernels (format: quant/q4_g.h).
//
// AVX2, per 32-weight sub-block (16 bytes of nibbles): one 16-byte broadcast
// load, vpsrlvd by (0 | 4) per 128-bit lane and & 0x0F leaves the even weights
// (low nibbles) in lane 0 and the odd weights in lane 1; the activation block is
// permuted to match (vpshufb + vpermq, shared by a group of rows). Then
// vpmaddubsw / vpmaddwd; exact int32 per sub-block, the scalar per-block float
// formula vectorised over the 4 sub-blocks. The final short group (ns < 4
// sub-blocks, the full layout truncated) runs the same code with the missing
// sub-blocks' codes and activation scales set to 0 (their terms are exactly 0).
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4g.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/q4_g.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kBlock = quant::kQ4GBlockSize;
constexpr size_t kBlockBytes = sizeof(quant::BlockQ4G);
constexpr int kSubs = kBlock / quant::kQ4GSubBlockSize;
static_assert(kSubs == 4 && quant::kQ4GSubBlockSize == quant::kQ8ABlockSize);

#if SEPTET_SIMD_X86

struct Tables {
  __m256i sh, c15, ones16, px;
};

Tables MakeTables() {
  Tables t;
  t.sh = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  t.c15 = _mm256_set1_epi8(15);
  t.ones16 = _mm256_set1_epi16(1);
  // Per 128-bit lane: even codes first, then odd.
  t.px = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                          0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  return t;
}

struct PreparedX {
  __m256i xp[kSubs];  // [x_0, x_2, ..., x_30 | x_1, x_3, ..., x_31]
  __m128 xd4, xs4;
};

// The activation blocks of a group of ns sub-blocks (4 for a full group); the
// missing ones of a short group read as 0 (codes and scales), so their terms are 0.
HWY_INLINE void PrepareX(const Tables& t, const uint8_t* xblk, int ns, PreparedX* px) {
  for (int s = 0; s < kSubs; ++s) {
    px->xp[s] = _mm256_setzero_si256();
    if (s >= ns) continue;
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(Q8ACodes(xblk + s * kQ8ABytes)));
    px->xp[s] = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(x, t.px), 0xD8);
  }
  if (ns == kSubs) return LoadQ8AMeta4(xblk, &px->xd4, &px->xs4);
  alignas(16) float xd[4] = {0, 0, 0, 0}, xs[4] = {0, 0, 0, 0};
  for (int s = 0; s < ns; ++s) {  // never read past the row's last activation block
    xd[s] = Q8AScale(xblk + s * kQ8ABytes);
    xs[s] = static_cast<float>(Q8ASum(xblk + s * kQ8ABytes));
  }
  px->xd4 = _mm_load_ps(xd);
  px->xs4 = _mm_load_ps(xs);
}

HWY_INLINE __m256i DecodeSub(const Tables& t, const uint8_t* qs) {
  const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_srlv_epi32(q, t.sh), t.c15);
}

// A row's group into its partial sums from the sub-block integers a[s] and the
// block's [d, m]: the one float step of every Q4_G path (MatVec == MatMul bits).
HWY_INLINE __m128 AddAffineGroup(__m128 dm, const __m256i a[kSubs], const PreparedX& px, __m128 sum) {
  return CombineAffine(HSum4x8(a[0], a[1], a[2], a[3]), px.xd4, px.xs4, _mm_shuffle_ps(dm, dm, 0x00),
                       _mm_shuffle_ps(dm, dm, 0x55), sum);
}

// One group of one row (4 + 16 ns bytes) into the row's partial sums.
HWY_INLINE __m128 AddGroup(const Tables& t, const uint8_t* blk, const PreparedX& px, int ns, __m128 sum) {
  __m256i a[kSubs];
  for (int s = 0; s < kSubs; ++s) {
    a[s] = s < ns ? DotU8I8(DecodeSub(t, blk + 4 + 16 * s), px.xp[s]) : _mm256_setzero_si256();
  }
  return AddAffineGroup(Fp16Pair(LoadU16(blk), LoadU16(blk + 2)), a, px, sum);
}

template <int R>
HWY_INLINE void RowsAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act,
                         float* y, RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  PreparedX px;
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (ns > 0));
  for (int64_t b = 0; b < nb; ++b) {
    PrepareX(t, Q8ABlock(act, b * kSubs), kSubs, &px);
    sweep.Step();
    for (int r = 0; r < R; ++r) sum[r] = AddGroup(t, w.row(row + r) + b * kBlockBytes, px, kSubs, sum[r]);
  }
  if (ns > 0) {  // the short final group
    sweep.Step();
    PrepareX(t, Q8ABlock(act, nb * kSubs), ns, &px);
    for (int r = 0; r < R; ++r) sum[r] = AddGroup(t, w.row(row + r) + nb * kBlockBytes, px, ns, sum[r]);
  }
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Tables t = MakeTables();
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsAvx2<4>(t, w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) RowsAvx2<1>(t, w, r, act, y + (r - r0), span);
}

// R rows x T tokens: each sub-block decoded once for all T tokens; per token and
// row the integers and float steps are AddGroup's (RowsAvx2's bits).
template <int R, int T>
HWY_INLINE void RowsTokensAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* const* act,
                               float* const* y, RowSpan span) {
  const int64_t nb = w.cols / kBlock;
  __m128 sum[R][T];
  for (int r = 0; r < R; ++r) {
    for (int k = 0; k < T; ++k) sum[r][k] = _mm_setzero_ps();
  }
  PreparedX px[T];
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  TileSweep sweep = RowTileSweep(w, row, R, span, nb + (ns > 0));
  for (int64_t b = 0; b < nb; ++b) {
    for (int k = 0; k < T; ++k) PrepareX(t, Q8ABlock(act[k], b * kSubs), kSubs, &px[k]);
    sweep.Step();
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w.row(row + r) + b * kBlockBytes;
      __m256i a[T][kSubs];
      for (int s = 0; s < kSubs; ++s) {
        const __m256i c = DecodeSub(t, blk + 4 + 16 * s);
        for (int k = 0; k < T; ++k) a[k][s] = DotU8I8(c, px[k].xp[s]);
      }
      const __m128 dm = Fp16Pair(LoadU16(blk), LoadU16(blk + 2));
      for (int k = 0; k < T; ++k) sum[r][k] = AddAffineGroup(dm, a[k], px[k], sum[r][k]);
    }
  }
  if (ns > 0) sweep.Step();
  for (int k = 0; k < T; ++k) {
    if (ns > 0) {  // the short final group, as RowsAvx2
      PrepareX(t, Q8ABlock(act[k], nb * kSubs), ns, &px[0]);
      for (int r = 0; r < R; ++r) sum[r][k] = AddGroup(t, w.row(row + r) + nb * kBlockBytes, px[0], ns, sum[r][k]);
    }
    for (int r = 0; r < R; ++r) y[k][r] = HSum4f(sum[r][k]);
  }
}

// Prefill without VNNI: a tile of 4 rows (a few KB, L1-resident after the first
// token) is re-run per kTokens tokens, each sub-block decoded once for them (on
// AMD Zen 3, 3 tokens were within the noise of 2: 2048 x 2048 x 64).
constexpr int kTokens = 2;
void MatMulPerToken(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                    int64_t m, float* y, int64_t y_stride) {
  const Tables t = MakeTables();
  const RowSpan span = SpanOf(w, r0, r1);
  RowTilesByTokens<kTokens>(
      r0, r1, act, act_stride, m, y, y_stride,
      [&](auto rows, int64_t r, const uint8_t* const* a, float* const* yt)
          HWY_ATTR { RowsTokensAvx2<decltype(rows)::value, kTokens>(t, w, r, a, yt, span); },
      [&](auto rows, int64_t r, const uint8_t* a, float* yt) HWY_ATTR {
        RowsAvx2<decltype(rows)::value>(t, w, r, a, yt, span);
      });
}

// The GEMM of token_lanes-inl.h (affine): a row decoded to natural-order codes
// (weight 2k: low nibble of byte k, 2k + 1: high), each sub-block with its
// group's (step, min) converted by F16C as MatVec does.
void DecodeRow(const cpu::WeightView& w, int64_t r, uint8_t* codes, float* dm) {
  const __m128i c15 = _mm_set1_epi8(15);
  const int64_t nsub = (w.cols + quant::kQ4GSubBlockSize - 1) / quant::kQ4GSubBlockSize;
  for (int64_t sb = 0; sb < nsub; ++sb) {
    const uint8_t* blk = w.row(r) + (sb / kSubs) * kBlockBytes;
    const __m128 p = Fp16Pair(LoadU16(blk), LoadU16(blk + 2));
    _mm_storel_pi(reinterpret_cast<__m64*>(dm + 2 * sb), p);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 4 + 16 * (sb % kSubs)));
    const __m128i lo = _mm_and_si128(q, c15), hi = _mm_and_si128(_mm_srli_epi16(q, 4), c15);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + 32 * sb), _mm_unpacklo_epi8(lo, hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + 32 * sb + 16), _mm_unpackhi_epi8(lo, hi));
  }
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m < kCodesMinTokens) return MatMulPerToken(w, r0, r1, act, act_stride, m, y, y_stride);
  CodesBitsMatMul<4, Affine>(w, r0, r1, act, act_stride, m, y, y_stride,
                             [&w](int64_t r, uint8_t* codes, float* dm) { DecodeRow(w, r, codes, dm); });
}

#else  // portable fallback

float Q4GTailDot(const uint8_t* wrow, const uint8_t* act, int64_t n) {
  const int64_t nb = n / kBlock;
  const int64_t r = n - nb * kBlock;
  if (r == 0) return 0.0f;
  return quant::Q4GVecDot(r, wrow + nb * kBlockBytes, Q8ABlock(act, nb * kSubs));
}


float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  const int64_t nb = n / kBlock;
  float sum[kSubs] = {0.0f, 0.0f, 0.0f, 0.0f};
  alignas(64) uint8_t codes[kBlock];
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wrow + b * kBlockBytes;
    const float d = Fp16ToFloat(LoadU16(blk));
    const float mn = Fp16ToFloat(LoadU16(blk + 2));
    for (int k = 0; k < kBlock / 2; ++k) {
      codes[2 * k] = blk[4 + k] & 0x0F;
      codes[2 * k + 1] = blk[4 + k] >> 4;
    }
    for (int s = 0; s < kSubs; ++s) {
      const uint8_t* xb = Q8ABlock(act, b * kSubs + s);
      const int32_t acc = DotCodesI32(codes + 32 * s, Q8ACodes(xb), 32);
      sum[s] += Q8AScale(xb) * (d * static_cast<float>(acc) + mn * static_cast<float>(Q8ASum(xb)));
    }
  }
  return ((sum[0] + sum[1]) + (sum[2] + sum[3])) + Q4GTailDot(wrow, act, n);
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

SEPTET_SIMD_FAMILY_TARGET(Q4G, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q4G)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
