// Q8_0 x Q8_A kernels (format: quant/q8_0.h).
//
// AVX2: per 32-weight block, vpsignb moves the weight's sign onto the
// activation so vpmaddubsw can take |w| as its unsigned operand (|w|, |x| <=
// 127: pair sums <= 32258, no saturation), then vpmaddwd. Four blocks are
// reduced together; the per-block term (d_w * d_x) * acc follows the scalar
// formula (vectorised over 4 blocks, FMA accumulation). The 1-3 blocks past the
// last multiple of 4 (a final partial block is zero-padded in both formats) run
// the same code with the missing blocks' terms set to exactly 0.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q8.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/half.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/q8_0.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kGroup = 4 * quant::kQ8_0BlockSize;  // 4 blocks per step
constexpr size_t kBlockBytes = sizeof(quant::BlockQ8_0);
static_assert(quant::kQ8_0BlockSize == quant::kQ8ABlockSize);

#if SEPTET_SIMD_X86

HWY_INLINE __m256i BlockDot(const uint8_t* wblk, __m256i x) {
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wblk + 2));
  return DotU8I8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
}

// Blocks [0, nb) (nb <= 4) of a group of the activation: codes and scales, 0 past
// nb (a row's last group may be short; never read past its last block).
HWY_INLINE void LoadGroupX(const uint8_t* xblk, int nb, __m256i x[4], __m128* xd4) {
  for (int j = 0; j < 4; ++j) {
    x[j] = j < nb ? LoadQ8ACodes(xblk, j) : _mm256_setzero_si256();
  }
  __m128 xs4;
  if (nb == 4) return LoadQ8AMeta4(xblk, xd4, &xs4);
  alignas(16) float xd[4] = {0, 0, 0, 0};
  for (int j = 0; j < nb; ++j) xd[j] = Q8AScale(xblk + j * kQ8ABytes);
  *xd4 = _mm_load_ps(xd);
}

// d_w of a row's blocks [0, nb) of a group (nb <= 4), 0 past nb.
HWY_INLINE __m128 GroupScalesW(const uint8_t* wb, int nb) {
  int16_t dw[4];
  for (int j = 0; j < 4; ++j) dw[j] = j < nb ? static_cast<int16_t>(LoadU16(wb + j * kBlockBytes)) : int16_t{0};
  return _mm_cvtph_ps(_mm_setr_epi16(dw[0], dw[1], dw[2], dw[3], 0, 0, 0, 0));
}

// A row's group into its partial sums from the 4 block integers a[j]: lane j +=
// (d_w d_x) acc_j. The one float step of every Q8_0 path (MatVec == MatMul bits).
HWY_INLINE __m128 AddScaledGroup(__m128 dw4, __m128 xd4, const __m256i a[4], __m128 sum) {
  return _mm_fmadd_ps(_mm_mul_ps(dw4, xd4), _mm_cvtepi32_ps(HSum4x8(a[0], a[1], a[2], a[3])), sum);
}

// nb blocks of one row's group into its partial sums.
HWY_INLINE __m128 AddGroup(const uint8_t* wb, const __m256i x[4], __m128 xd4, int nb, __m128 sum) {
  __m256i a[4];
  for (int j = 0; j < 4; ++j) a[j] = j < nb ? BlockDot(wb + j * kBlockBytes, x[j]) : _mm256_setzero_si256();
  return AddScaledGroup(GroupScalesW(wb, nb), xd4, a, sum);
}

template <int R>
HWY_INLINE void RowsAvx2(const cpu::WeightView& w, int64_t row, const uint8_t* act, float* y, RowSpan span) {
  const int64_t ng = w.cols / kGroup;
  __m128 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm_setzero_ps();
  __m256i x[4];
  __m128 xd4;
  const int nb = static_cast<int>((w.cols + quant::kQ8_0BlockSize - 1) / quant::kQ8_0BlockSize - 4 * ng);
  TileSweep sweep = RowTileSweep(w, row, R, span, ng + (nb > 0));
  for (int64_t g = 0; g < ng; ++g) {
    LoadGroupX(Q8ABlock(act, 4 * g), 4, x, &xd4);
    sweep.Step();
    for (int r = 0; r < R; ++r) sum[r] = AddGroup(w.row(row + r) + 4 * g * kBlockBytes, x, xd4, 4, sum[r]);
  }
  if (nb > 0) {  // the last 1..3 blocks
    sweep.Step();
    LoadGroupX(Q8ABlock(act, 4 * ng), nb, x, &xd4);
    for (int r = 0; r < R; ++r) sum[r] = AddGroup(w.row(row + r) + 4 * ng * kBlockBytes, x, xd4, nb, sum[r]);
  }
  for (int r = 0; r < R; ++r) y[r] = HSum4f(sum[r]);
}

// R rows x T tokens: each weight block is loaded and made unsigned (|w|) once for
// all T tokens. Per token and row the integers and float steps are AddGroup's, so
// the results are RowsAvx2's bit for bit.
template <int R, int T>
HWY_INLINE void RowsTokensAvx2(const cpu::WeightView& w, int64_t row, const uint8_t* const* act, float* const* y,
                               RowSpan span) {
  const int64_t ng = w.cols / kGroup;
  __m128 sum[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) sum[r][t] = _mm_setzero_ps();
  }
  const int nb = static_cast<int>((w.cols + quant::kQ8_0BlockSize - 1) / quant::kQ8_0BlockSize - 4 * ng);
  TileSweep sweep = RowTileSweep(w, row, R, span, ng + (nb > 0));
  for (int64_t g = 0; g < ng; ++g) {
    __m128 xd4[T], xs4;
    const uint8_t* xg[T];
    for (int t = 0; t < T; ++t) {
      xg[t] = Q8ABlock(act[t], 4 * g);
      LoadQ8AMeta4(xg[t], &xd4[t], &xs4);
    }
    sweep.Step();
    for (int r = 0; r < R; ++r) {
      const uint8_t* wb = w.row(row + r) + 4 * g * kBlockBytes;
      __m256i a[T][4];
      for (int j = 0; j < 4; ++j) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + j * kBlockBytes + 2));
        const __m256i u = _mm256_sign_epi8(q, q);
        for (int t = 0; t < T; ++t) {
          const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(Q8ACodes(xg[t] + j * kQ8ABytes)));
          a[t][j] = DotU8I8(u, _mm256_sign_epi8(x, q));
        }
      }
      const __m128 dw4 = GroupScalesW(wb, 4);
      for (int t = 0; t < T; ++t) sum[r][t] = AddScaledGroup(dw4, xd4[t], a[t], sum[r][t]);
    }
  }
  if (nb > 0) sweep.Step();
  for (int t = 0; t < T; ++t) {
    if (nb > 0) {  // the last 1..3 blocks, as RowsAvx2
      __m256i x[4];
      __m128 xd4;
      LoadGroupX(Q8ABlock(act[t], 4 * ng), nb, x, &xd4);
      for (int r = 0; r < R; ++r) {
        sum[r][t] = AddGroup(w.row(row + r) + 4 * ng * kBlockBytes, x, xd4, nb, sum[r][t]);
      }
    }
    for (int r = 0; r < R; ++r) y[t][r] = HSum4f(sum[r][t]);
  }
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const RowSpan span = SpanOf(w, r0, r1);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsAvx2<4>(w, r, act, y + (r - r0), span);
  for (; r < r1; ++r) RowsAvx2<1>(w, r, act, y + (r - r0), span);
}

// Prefill without VNNI: nothing to decode, so a tile of 4 rows (L1/L2-resident
// after the first token) is re-run per kTokens tokens (on AMD Zen 3, 3 or 4
// tokens were within the noise of 2: 2048 x 2048 x 64, best of five rounds).
constexpr int kTokens = 2;
void MatMulPerToken(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                    int64_t m, float* y, int64_t y_stride) {
  const RowSpan span = SpanOf(w, r0, r1);
  RowTilesByTokens<kTokens>(
      r0, r1, act, act_stride, m, y, y_stride,
      [&](auto rows, int64_t r, const uint8_t* const* a, float* const* yt)
          HWY_ATTR { RowsTokensAvx2<decltype(rows)::value, kTokens>(w, r, a, yt, span); },
      [&](auto rows, int64_t r, const uint8_t* a, float* yt) HWY_ATTR {
        RowsAvx2<decltype(rows)::value>(w, r, a, yt, span);
      });
}

#if HWY_TARGET == HWY_AVX3_DL
// ---- VNNI GEMM: tokens in the lanes (token_lanes-inl.h) ----
// The activations packed as codes + 128 (the unsigned operand) against the
// row's broadcast int8 quads: acc = -128 sum(w) + sum (x + 128) w = sum w x,
// exact in int32 (|terms| <= 32 * 255 * 128); the row's block code sums are
// taken once per row chunk. The float part is MatVec's, lane by lane: per
// block position j = b mod 4 of its group, s_j = fma(d_w * x_d, float(acc), s_j),
// then (s_0 + s_1) + (s_2 + s_3): bit-identical to MatVec (tested).
constexpr int kVR = 4;                         // rows per register tile: 4 x 4 float sums + 4 int sums
constexpr size_t kRowChunkBytes = 192 << 10;  // weight rows kept in L2 across the token tiles

struct VnniScratch {
  std::vector<uint8_t> x;   // packed token tiles
  std::vector<float> dw;    // [row of chunk][block]: d_w
  std::vector<int32_t> wc;  // [row of chunk][block]: -128 * sum of the codes
};
HWY_NOINLINE VnniScratch& Scratch() {  // noinline: see common-inl.h
  thread_local VnniScratch s;  // grown on demand, reused across calls
  return s;
}

// d_w (F16C, as MatVec) and -128 sum(w) of rows [c0, c1), every block.
void PrepareRows(const cpu::WeightView& w, int64_t c0, int64_t c1, int64_t nblocks, VnniScratch* sc) {
  for (int64_t r = c0; r < c1; ++r) {
    float* dw = sc->dw.data() + static_cast<size_t>((r - c0) * nblocks);
    int32_t* wc = sc->wc.data() + static_cast<size_t>((r - c0) * nblocks);
    int64_t b = 0;
    for (; b + 4 <= nblocks; b += 4) {  // four scales at a time
      const uint8_t* wb = w.row(r) + b * kBlockBytes;
      _mm_storeu_ps(dw + b, _mm_cvtph_ps(_mm_setr_epi16(
                                static_cast<int16_t>(LoadU16(wb)), static_cast<int16_t>(LoadU16(wb + kBlockBytes)),
                                static_cast<int16_t>(LoadU16(wb + 2 * kBlockBytes)),
                                static_cast<int16_t>(LoadU16(wb + 3 * kBlockBytes)), 0, 0, 0, 0)));
    }
    for (; b < nblocks; ++b) dw[b] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(LoadU16(w.row(r) + b * kBlockBytes))));
    for (b = 0; b < nblocks; ++b) {
      const uint8_t* wb = w.row(r) + b * kBlockBytes;
      wc[b] = -128 * SumI8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2)));
    }
  }
}

// R rows (ra..) x one packed token tile: y[t * y_stride + ra + r] for t < nt.
template <class L, int R>
HWY_INLINE void VnniTile(const cpu::WeightView& w, int64_t ra, const float* dw, const int32_t* wc, int64_t nblocks,
                         const uint8_t* xp, int nt, float* y, int64_t y_stride) {
  using P = LanePack<L, false>;
  typename L::VF s[R][4];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < 4; ++j) s[r][j] = L::ZeroF();
  }
  const uint8_t* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = w.row(ra + r);
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* xb = xp + static_cast<size_t>(b) * P::kBlockBytes;
    typename L::VI acc[R];
    for (int r = 0; r < R; ++r) acc[r] = L::Set1(wc[r * nblocks + b]);
    for (int q = 0; q < kLaneQuads; ++q) {
      const typename L::VI xq = L::Load(xb + P::kQuadBytes * q);
      for (int r = 0; r < R; ++r) {
        acc[r] = L::Dot(acc[r], xq, L::Set1(static_cast<int32_t>(LoadU32(wr[r] + b * kBlockBytes + 2 + 4 * q))));
      }
    }
    const typename L::VF xd = L::LoadF(xb + P::kScaleAt);
    const int j = static_cast<int>(b & 3);
    for (int r = 0; r < R; ++r) {
      s[r][j] = L::Fma(L::Mul(L::Set1F(dw[r * nblocks + b]), xd), L::ToF(acc[r]), s[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) StoreRow<L>(s[r], nt, y, y_stride, ra + r);
}

template <class L>
void VnniMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  const int64_t nblocks = (w.cols + quant::kQ8_0BlockSize - 1) / quant::kQ8_0BlockSize;
  const int64_t chunk = ChunkRows<kVR>(kRowChunkBytes, w.row_bytes);
  VnniScratch& sc = Scratch();
  sc.dw.resize(static_cast<size_t>(chunk * nblocks));
  sc.wc.resize(static_cast<size_t>(chunk * nblocks));
  TokenLanesMatMul<L, false, kVR>(
      act, act_stride, m, nblocks, r0, r1, chunk, 0x80808080u, &sc.x, y, y_stride,
      [&](int64_t c0, int64_t c1) { PrepareRows(w, c0, c1, nblocks, &sc); },
      [&](auto rows, int64_t r, int64_t c0, const uint8_t* xp, int nt, float* yt) HWY_ATTR {
        const size_t at = static_cast<size_t>((r - c0) * nblocks);
        VnniTile<L, decltype(rows)::value>(w, r, sc.dw.data() + at, sc.wc.data() + at, nblocks, xp, nt, yt, y_stride);
      });
}

// ---- One token tile (batched decoding, short prompts): no row preparation ----
// With one tile every weight byte is read once, and VnniMatMul's preparation pass
// (scales and code sums of a row chunk) streams the rows from memory before the
// tile computes on them: the two do not overlap (40 % of a 2048 x 2048 x 8
// GEMM). Here the tile reads the rows itself: the 16-lane tile holds the m <= 15
// tokens and, in lane 15, activation codes + 128 = 1, so that lane's block sum is
// sum(w) and acc - 128 sum(w) is VnniTile's integer; d_w is converted by the same
// F16C instruction. The float part is VnniTile's: bit-identical to MatVec.
constexpr int kOnesLane = Lanes16::kT - 1;
constexpr int kFusedMaxTokens = kOnesLane;

template <int R>
HWY_INLINE void FusedTile(const cpu::WeightView& w, int64_t ra, int64_t nblocks, const uint8_t* xp, int nt, float* y,
                          int64_t y_stride) {
  using L = Lanes16;
  using P = LanePack<L, false>;
  const __m512i ones_lane = _mm512_set1_epi32(kOnesLane);
  L::VF s[R][4];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < 4; ++j) s[r][j] = L::ZeroF();
  }
  const uint8_t* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = w.row(ra + r);
  TileSweep sweep(wr[0], R * w.row_bytes, TilePrefetchBytes(R, w.row_bytes), nblocks);
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* xb = xp + static_cast<size_t>(b) * P::kBlockBytes;
    sweep.Step();
    L::VI acc[R];
    for (int r = 0; r < R; ++r) acc[r] = L::Zero();
    for (int q = 0; q < kLaneQuads; ++q) {
      const L::VI xq = L::Load(xb + P::kQuadBytes * q);
      for (int r = 0; r < R; ++r) {
        acc[r] = L::Dot(acc[r], xq, L::Set1(static_cast<int32_t>(LoadU32(wr[r] + b * kBlockBytes + 2 + 4 * q))));
      }
    }
    const L::VF xd = L::LoadF(xb + P::kScaleAt);
    const int j = static_cast<int>(b & 3);
    for (int r = 0; r < R; ++r) {
      const __m512i sum_w = _mm512_permutexvar_epi32(ones_lane, acc[r]);
      const L::VI a = _mm512_sub_epi32(acc[r], _mm512_slli_epi32(sum_w, 7));  // exact
      const float dw = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(LoadU16(wr[r] + b * kBlockBytes))));
      s[r][j] = L::Fma(L::Mul(L::Set1F(dw), xd), L::ToF(a), s[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) StoreRow<L>(s[r], nt, y, y_stride, ra + r);
}

void FusedMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                 float* y, int64_t y_stride) {
  using P = LanePack<Lanes16, false>;
  const int64_t nblocks = (w.cols + quant::kQ8_0BlockSize - 1) / quant::kQ8_0BlockSize;
  std::vector<uint8_t>& buf = Scratch().x;
  const size_t bytes = static_cast<size_t>(nblocks) * P::kBlockBytes + 63;  // + 63: Align64
  if (buf.size() < bytes) buf.resize(bytes);
  uint8_t* const x = Align64(buf.data());
  PackQ8ATokens<Lanes16, false>(act, act_stride, 0, static_cast<int>(m), nblocks, 0x80808080u, x);
  constexpr uint32_t kOnes = 0x01010101u;
  for (int64_t b = 0; b < nblocks; ++b) {
    for (int q = 0; q < kLaneQuads; ++q) {
      std::memcpy(x + static_cast<size_t>(b) * P::kBlockBytes + P::kQuadBytes * q + 4 * kOnesLane, &kOnes, 4);
    }
  }
  const int nt = static_cast<int>(m);
  int64_t r = r0;
  for (; r + kVR <= r1; r += kVR) FusedTile<kVR>(w, r, nblocks, x, nt, y, y_stride);
  for (; r < r1; ++r) FusedTile<1>(w, r, nblocks, x, nt, y, y_stride);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m <= kFusedMaxTokens) return FusedMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  VnniMatMul<Lanes16>(w, r0, r1, act, act_stride, m, y, y_stride);
}
#else
// ---- AVX2 / AVX3 GEMM: 8 tokens in the lanes (Lanes8), sign transfer per quad ----
// A row chunk's |w| codes and d_w are prepared once (kept in L2 with the rows);
// per quad of a row, its 4 codes w and |w| are broadcast, vpsignb moves w's sign
// onto the 8 tokens' activation quads and vpmaddubsw (|w| unsigned, |pair sums|
// <= 2 * 127 * 127 = 32258) then vpmaddwd give each token's exact int32 block sum,
// MatVec's integer. The float part is VnniTile's (MatVec's formula, lane by lane).
constexpr int kSR = 2;                            // rows per register tile: 2 x 4 float sums + 2 int sums
constexpr size_t kSignChunkBytes = 96 << 10;     // rows + |w| codes kept in L2 across the token tiles
// From this many tokens (below: the per-token tiles). simd_kernels_bench 2048 x
// 2048 on AMD Zen 3, one core: 4 tokens 954 us here, 587 per token; 8 tokens 952
// against 1124; 64 tokens 6.1 against 9.1 ms.
constexpr int64_t kSignMinTokens = 8;

struct SignScratch {
  std::vector<uint8_t> x;     // packed token tiles
  std::vector<float> dw;      // [row of chunk][block]: d_w
  std::vector<uint8_t> absw;  // [row of chunk][block][32]: |w|
};
HWY_NOINLINE SignScratch& SignScratchOfThread() {  // noinline: see common-inl.h
  thread_local SignScratch s;  // grown on demand, reused across calls
  return s;
}

template <int R>
HWY_INLINE void SignTile(const cpu::WeightView& w, int64_t ra, const float* dw, const uint8_t* absw, int64_t nblocks,
                         const uint8_t* xp, int nt, float* y, int64_t y_stride) {
  using L = Lanes8;
  using P = LanePack<L, false>;
  const __m256i ones = _mm256_set1_epi16(1);
  L::VF s[R][4];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < 4; ++j) s[r][j] = L::ZeroF();
  }
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* xb = xp + static_cast<size_t>(b) * P::kBlockBytes;
    L::VI acc[R];
    for (int r = 0; r < R; ++r) acc[r] = L::Zero();
    for (int q = 0; q < kLaneQuads; ++q) {
      const L::VI xq = L::Load(xb + P::kQuadBytes * q);
      for (int r = 0; r < R; ++r) {
        const L::VI wq = L::Set1(static_cast<int32_t>(LoadU32(w.row(ra + r) + b * kBlockBytes + 2 + 4 * q)));
        const L::VI uq = L::Set1(static_cast<int32_t>(LoadU32(absw + (r * nblocks + b) * 32 + 4 * q)));
        acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_maddubs_epi16(uq, _mm256_sign_epi8(xq, wq)), ones));
      }
    }
    const L::VF xd = L::LoadF(xb + P::kScaleAt);
    const int j = static_cast<int>(b & 3);
    for (int r = 0; r < R; ++r) {
      s[r][j] = L::Fma(L::Mul(L::Set1F(dw[r * nblocks + b]), xd), L::ToF(acc[r]), s[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) StoreRow<L>(s[r], nt, y, y_stride, ra + r);
}

void SignMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                float* y, int64_t y_stride) {
  const int64_t nblocks = (w.cols + quant::kQ8_0BlockSize - 1) / quant::kQ8_0BlockSize;
  const int64_t chunk = ChunkRows<kSR>(kSignChunkBytes, w.row_bytes);
  SignScratch& sc = SignScratchOfThread();
  sc.dw.resize(static_cast<size_t>(chunk * nblocks));
  sc.absw.resize(static_cast<size_t>(chunk * nblocks) * 32);
  TokenLanesMatMul<Lanes8, false, kSR>(
      act, act_stride, m, nblocks, r0, r1, chunk, 0u, &sc.x, y, y_stride,
      [&](int64_t c0, int64_t c1) {
        for (int64_t r = c0; r < c1; ++r) {
          for (int64_t b = 0; b < nblocks; ++b) {
            const uint8_t* wb = w.row(r) + b * kBlockBytes;
            const size_t at = static_cast<size_t>((r - c0) * nblocks + b);
            sc.dw[at] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(LoadU16(wb))));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(sc.absw.data() + at * 32),
                                _mm256_abs_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2))));
          }
        }
      },
      [&](auto rows, int64_t r, int64_t c0, const uint8_t* xp, int nt, float* yt) HWY_ATTR {
        const size_t at = static_cast<size_t>((r - c0) * nblocks);
        SignTile<decltype(rows)::value>(w, r, sc.dw.data() + at, sc.absw.data() + at * 32, nblocks, xp, nt, yt,
                                        y_stride);
      });
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m < kSignMinTokens) return MatMulPerToken(w, r0, r1, act, act_stride, m, y, y_stride);
  SignMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

#else  // portable fallback

float Q8_0TailDot(const uint8_t* wrow, const uint8_t* act, int64_t n) {
  const int64_t ng = n / kGroup;
  const int64_t r = n - ng * kGroup;
  if (r == 0) return 0.0f;
  return quant::Q8_0VecDot(r, wrow + ng * 4 * kBlockBytes, Q8ABlock(act, ng * 4));
}


float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  const int64_t ng = n / kGroup;
  float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t g = 0; g < ng; ++g) {
    for (int j = 0; j < 4; ++j) {
      const uint8_t* wb = wrow + (4 * g + j) * kBlockBytes;
      const uint8_t* xb = Q8ABlock(act, 4 * g + j);
      const int32_t acc = DotCodesI32(reinterpret_cast<const int8_t*>(wb + 2), Q8ACodes(xb), 32);
      sum[j] += (Fp16ToFloat(LoadU16(wb)) * Q8AScale(xb)) * static_cast<float>(acc);
    }
  }
  return ((sum[0] + sum[1]) + (sum[2] + sum[3])) + Q8_0TailDot(wrow, act, n);
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

SEPTET_SIMD_FAMILY_TARGET(Q8_0, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q8_0)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
