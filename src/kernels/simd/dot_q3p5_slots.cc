// Q3P5 x Q8_B kernels on the repacked layout WeightLayout::kQ3P5Slots
// (kernels/simd/repack.h has the byte layout and the decode). The activation
// is Q8_B (quant/q8_act.h): one scale and one code sum per 128 values, the
// Q3P5 block size, so a block of one row against one token is
//   acc = sum_k x_q,k c_k   (int32, exact: c = v in sub-block sel, 2 u elsewhere)
//   y  += (h x_d) acc + m (x_d x_sum)                      (h = d / 2)
// with ONE int-to-float conversion and ONE FMA per 128 weights (Q8_A needed four
// of each: one scale per 32).
// x86 (AVX2, AVX3, AVX3_DL): the decode doubles the 3-bit codes (2 u <= 14 fits
// the unsigned operand), so the four slot dots sum into one int32 vector: AVX3_DL
// chains four vpdpbusd; AVX2/AVX3 add the four vpmaddubsw int16 vectors (each
// lane <= 4 * 2 * 15 * 127 = 15240, no saturation) and widen once with
// vpmaddwd. Per row and token the float work is fixed and shared by MatVec and
// MatMul (bit-identical per token):
//   acc8 = fma(float(i8), h * x_d, acc8)  per block (8 int32 lanes of the sum)
//   off  = fma(m, x_d * float(x_sum), off) per block (scalar)
//   y    = hsum(acc8) + off.
// A row's final short block (repack.h) decodes to ns sub-blocks of 2 u in
// natural order (the rest zero) and runs the same formula; the activation's last
// Q8_B block is zero-padded, so no tail is left to the scalar code.
// MatVec decodes two rows at a time, slot k against sub-block (sel + k) mod 4
// of the activation. MatMul (prefill, batched decode) decodes a chunk of rows
// once into natural-order codes (an L2-resident buffer, rows in pairs) and runs
// register tiles over it: AVX-512, 2 row pairs x 8 tokens, a pair's codes in one
// 512-bit vector against the token's sub-block broadcast to both halves (4
// integer dots, one convert, one multiply by [h_even x_d | h_odd x_d], one FMA per
// pair, token and block); AVX2, 1 row x 8 tokens. The offsets m * X_b are done 8
// tokens at a time. Tiles of at most 4 tokens (small batches) use a 4-token loop.
// Portable targets: the slots back to the file layout per block and the
// reference's own block terms (Q3P5VecDotQ8B), in its order.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q3p5_slots.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"
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
constexpr size_t kActBytes = sizeof(quant::BlockQ8B);
constexpr size_t kActQs = offsetof(quant::BlockQ8B, qs);
static_assert(kBlock == quant::kQ8BBlockSize && kSubs == 4 && kBlockBytes == 56);
static_assert(kActBytes == 136 && kActQs == 8 && offsetof(quant::BlockQ8B, sum) == 4);

// Sub-blocks of a row's final short block (0: none).
int TailSubs(int64_t n) { return static_cast<int>((n % kBlock + quant::kQ3P5SubBlockSize - 1) / quant::kQ3P5SubBlockSize); }

// The activation block's scale x_d and offset product X_b = x_d * x_sum (one
// rounding; MatVec and MatMul take it from here).
HWY_INLINE float ActScale(const uint8_t* xb) { return LoadF32(xb); }
HWY_INLINE float ActOffset(const uint8_t* xb) {
  int16_t s;
  std::memcpy(&s, xb + 4, 2);
  return LoadF32(xb) * static_cast<float>(s);
}

#if SEPTET_SIMD_X86

// vpmaddubsw pair sums of the four slots added in int16: 4 * 2 * 15 * 127.
static_assert(4 * 2 * quant::kQ3P5MaxCode4 * quant::kActMaxAbs <= 32767);

struct Consts {
  __m256i sh_q, sh_r, sh_l, c15, c14, c4, c3, c2, c1;
};

Consts MakeConsts() {
  Consts k;
  k.sh_q = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  k.sh_r = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  k.sh_l = _mm256_setr_epi64x(0, 2, 4, 6);
  k.c15 = _mm256_set1_epi8(15);
  k.c14 = _mm256_set1_epi8(14);
  k.c4 = _mm256_set1_epi8(4);
  k.c3 = _mm256_set1_epi8(3);
  k.c2 = _mm256_set1_epi8(2);
  k.c1 = _mm256_set1_epi8(1);
  return k;
}

struct Decoded {
  __m256i c[kSubs];  // slot codes times their weight, in weight order: v (slot 0), 2 u (slots 1..3)
  float h, m;        // half step d / 2 (exact) and offset
  int sel;           // slot k holds sub-block (sel + k) mod 4
};

// d: header bits 0..14 (fp16, sign 0); m: bits 17..31 = fp16 bits 1..15 (bit 0 is 0).
HWY_INLINE void DecodeHeader(uint32_t hdr, Decoded* db) {
  const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(hdr & 0xFFFE7FFFu)));
  db->h = 0.5f * _mm_cvtss_f32(dm);
  db->m = _mm_cvtss_f32(_mm_movehdup_ps(dm));
}

HWY_INLINE void Decode(const Consts& k, const uint8_t* blk, Decoded* db) {
  const uint32_t hdr = LoadU32(blk);
  db->sel = static_cast<int>((hdr >> 15) & 3u);
  DecodeHeader(hdr, db);
  const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 4));
  const __m256i q = _mm256_srlv_epi32(
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 36))), k.sh_q);
  const __m256i r = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(LoadU32(blk + 52))), k.sh_r);
  db->c[0] = _mm256_and_si256(p, k.c15);                           // v
  db->c[1] = _mm256_and_si256(_mm256_srli_epi16(p, 3), k.c14);     // 2 u1: bits 4..6 to 1..3
  db->c[2] = _mm256_and_si256(_mm256_slli_epi16(q, 1), k.c14);     // 2 u2: bits 0..2 to 1..3
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 5), k.c4);
  const __m256i mid = _mm256_and_si256(_mm256_srli_epi16(q, 2), k.c2);
  const __m256i u3 = _mm256_or_si256(_mm256_or_si256(hi, mid), _mm256_and_si256(r, k.c1));
  db->c[3] = _mm256_add_epi8(u3, u3);
}

// The short block: header as for a full block (sel ignored), ns sub-blocks of
// 2 u in natural order, the other slots zero.
HWY_INLINE void DecodeShort(const Consts& k, const uint8_t* blk, int ns, Decoded* db) {
  db->sel = 0;
  DecodeHeader(LoadU32(blk), db);
  for (int s = 0; s < kSubs; ++s) db->c[s] = _mm256_setzero_si256();
  for (int s = 0; s < ns; ++s) {
    const uint8_t* sb = blk + 4 + 12 * s;
    int64_t l;
    std::memcpy(&l, sb, 8);
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(l), k.sh_l), k.c3);
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(LoadU32(sb + 8))), k.sh_r), k.c1);
    const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
    db->c[s] = _mm256_add_epi8(u, u);
  }
}

HWY_INLINE __m256i LoadX(const int8_t* x) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)); }

// sum over the four slots of c[s] . x_s, 8 int32 lanes (lane i: bytes 4i..4i+3
// of every slot), the same exact integers on every x86 target.
HWY_INLINE __m256i Dot4(const __m256i c[kSubs], const int8_t* x0, const int8_t* x1, const int8_t* x2,
                        const int8_t* x3) {
#if HWY_TARGET == HWY_AVX3_DL
  __m256i a = _mm256_dpbusd_epi32(_mm256_setzero_si256(), c[0], LoadX(x0));
  a = _mm256_dpbusd_epi32(a, c[1], LoadX(x1));
  a = _mm256_dpbusd_epi32(a, c[2], LoadX(x2));
  return _mm256_dpbusd_epi32(a, c[3], LoadX(x3));
#else
  __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(c[0], LoadX(x0)), _mm256_maddubs_epi16(c[1], LoadX(x1)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[2], LoadX(x2)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[3], LoadX(x3)));
  return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
#endif
}

HWY_INLINE float FmaF(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// One block of one row against one token (MatVec; MatMul's Tile runs the same
// float operations, 8 tokens at a time for the scale and offset products).
HWY_INLINE void Contribute(const Decoded& d, const uint8_t* xb, __m256* acc, float* off) {
  const int8_t* xq = reinterpret_cast<const int8_t*>(xb + kActQs);
  const int s = d.sel;
  const __m256i i = Dot4(d.c, xq + 32 * (s & 3), xq + 32 * ((s + 1) & 3), xq + 32 * ((s + 2) & 3),
                         xq + 32 * ((s + 3) & 3));
  *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(d.h * ActScale(xb)), *acc);
  *off = FmaF(d.m, ActOffset(xb), *off);
}

// y = hsum(acc) + off: fixed order.
HWY_INLINE float Finish(__m256 acc, float off) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));   // [s0 + s2, s1 + s3]
  s = _mm_add_ss(s, _mm_movehdup_ps(s));    // (s0 + s2) + (s1 + s3)
  return _mm_cvtss_f32(s) + off;
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Consts k = MakeConsts();
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const uint8_t* xs = act + static_cast<size_t>(nb) * kActBytes;  // the short block's activation
  int64_t r = r0;
  for (; r + 2 <= r1; r += 2) {  // two rows interleaved (independent chains)
    const uint8_t* wa = w.row(r);
    const uint8_t* wb = w.row(r + 1);
    __m256 acc_a = _mm256_setzero_ps(), acc_b = _mm256_setzero_ps();
    float off_a = 0.0f, off_b = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      // Software prefetch: without it the decode and the memory stream do not
      // overlap (measured: ~2x slower than the cached rate on a 26 MB matrix).
      PrefetchWeights(wa + b * kBlockBytes);
      PrefetchWeights(wb + b * kBlockBytes);
      Decoded da, db;
      Decode(k, wa + b * kBlockBytes, &da);
      Decode(k, wb + b * kBlockBytes, &db);
      const uint8_t* xb = act + static_cast<size_t>(b) * kActBytes;
      Contribute(da, xb, &acc_a, &off_a);
      Contribute(db, xb, &acc_b, &off_b);
    }
    if (ns > 0) {
      Decoded da, db;
      DecodeShort(k, wa + nb * kBlockBytes, ns, &da);
      DecodeShort(k, wb + nb * kBlockBytes, ns, &db);
      Contribute(da, xs, &acc_a, &off_a);
      Contribute(db, xs, &acc_b, &off_b);
    }
    y[r - r0] = Finish(acc_a, off_a);
    y[r + 1 - r0] = Finish(acc_b, off_b);
  }
  for (; r < r1; ++r) {
    const uint8_t* wr = w.row(r);
    __m256 acc = _mm256_setzero_ps();
    float off = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      Decoded d;
      Decode(k, wr + b * kBlockBytes, &d);
      Contribute(d, act + static_cast<size_t>(b) * kActBytes, &acc, &off);
    }
    if (ns > 0) {
      Decoded d;
      DecodeShort(k, wr + nb * kBlockBytes, ns, &d);
      Contribute(d, xs, &acc, &off);
    }
    y[r - r0] = Finish(acc, off);
  }
}

// ---- MatMul: decoded row chunks x register tiles of rows and kTT tokens ----
// The chunk buffer holds rows in pairs, sub-block by sub-block: for pair p,
// block b, sub-block s the 32 codes of the even row, then those of the odd row
// (one 64-byte vector for the AVX-512 tiles, two 32-byte halves for AVX2).
constexpr int kTT = 8;                  // tokens per tile: one float vector of scale / offset products
constexpr size_t kPairBlockBytes = 256;  // 4 sub-blocks x 2 rows x 32 codes
// Decoded codes of a chunk of rows (2x the Q3P5 bytes): kept in L2 while every
// token tile runs over them.
constexpr size_t kChunkBytes = 256 << 10;
constexpr size_t kSmallChunkBytes = 12 << 10;

struct MatMulScratch {
  std::vector<uint8_t> codes;  // [pair][block][sub-block][row of pair][32]: v / 2 u, natural order
  std::vector<float> hm;       // [row of chunk][block][2]: h, m
  std::vector<float> xd, xo;   // [token tile][block][kTT]: x_d, X_b
};

MatMulScratch& Scratch() {
  thread_local MatMulScratch s;  // grown on demand, reused across calls
  return s;
}

// Row r's blocks decoded into natural sub-block order (slot k to sub-block
// (sel + k) mod 4), the short block last; `codes` points at the row's half of
// its pair's first block.
HWY_INLINE void DecodeRow(const Consts& k, const uint8_t* wr, int64_t nb, int ns, uint8_t* codes, float* hm) {
  Decoded d;
  for (int64_t b = 0; b <= nb; ++b) {
    if (b < nb) {
      PrefetchWeights(wr + b * kBlockBytes);
      Decode(k, wr + b * kBlockBytes, &d);
    } else if (ns > 0) {
      DecodeShort(k, wr + nb * kBlockBytes, ns, &d);
    } else {
      break;
    }
    uint8_t* cb = codes + static_cast<size_t>(b) * kPairBlockBytes;
    for (int s = 0; s < kSubs; ++s) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(cb + 64 * ((d.sel + s) & 3)), d.c[s]);
    }
    hm[2 * b] = d.h;
    hm[2 * b + 1] = d.m;
  }
}

// Where a tile's rows and tokens are and where its outputs go.
struct TileArgs {
  const uint8_t* codes;   // the tile's first pair (AVX-512) or row half (AVX2), block 0
  size_t pair_stride;     // bytes from one pair to the next
  const float* hm;        // the tile's first row, block 0
  size_t hm_stride;       // floats from one row to the next
  const float* xd;        // [block][kTT] of the token tile
  const float* xo;
  const uint8_t* const* xp;  // the kTT token rows (a partial tile repeats its last)
  int64_t nbs;
  int nt;                 // tokens to write (<= TT)
  int nr;                 // rows to write
  float* y;               // token t, row r at y[t * y_stride + r]
  int64_t y_stride;
};

// Offsets m * X_b for one row, TT tokens at once (the same fma per token as MatVec).
HWY_INLINE __m256 AddOffsets(const float* hm_b, __m256 vxo, __m256 off) {
  return _mm256_fmadd_ps(_mm256_set1_ps(hm_b[1]), vxo, off);
}

#if HWY_TARGET == HWY_AVX2
// AVX2 (16 registers): one row x TT tokens.
template <int TT>
HWY_INLINE void Tile(const TileArgs& a) {
  for (int r = 0; r < a.nr; ++r) {
    const uint8_t* codes = a.codes + (r / 2) * a.pair_stride + 32 * (r % 2);
    const float* hm = a.hm + r * a.hm_stride;
    __m256 acc[TT];
    for (int t = 0; t < TT; ++t) acc[t] = _mm256_setzero_ps();
    __m256 off = _mm256_setzero_ps();
    for (int64_t b = 0; b < a.nbs; ++b) {
      const uint8_t* cb = codes + static_cast<size_t>(b) * kPairBlockBytes;
      __m256i c[kSubs];
      for (int s = 0; s < kSubs; ++s) c[s] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cb + 64 * s));
      alignas(32) float sc[kTT];  // h * x_d,t
      _mm256_store_ps(sc, _mm256_mul_ps(_mm256_set1_ps(hm[2 * b]), _mm256_loadu_ps(a.xd + b * kTT)));
      off = AddOffsets(hm + 2 * b, _mm256_loadu_ps(a.xo + b * kTT), off);
      const size_t xoff = static_cast<size_t>(b) * kActBytes + kActQs;
      for (int t = 0; t < TT; ++t) {
        const int8_t* xq = reinterpret_cast<const int8_t*>(a.xp[t] + xoff);
        const __m256i i = Dot4(c, xq, xq + 32, xq + 64, xq + 96);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_broadcast_ss(&sc[t]), acc[t]);
      }
    }
    alignas(32) float o[kTT];
    _mm256_store_ps(o, off);
    for (int t = 0; t < a.nt; ++t) a.y[t * a.y_stride + r] = Finish(acc[t], o[t]);
  }
}
#else
// AVX-512 (32 registers): two row pairs x TT tokens. A pair's codes fill one
// 512-bit vector (even row low, odd row high) against the token's sub-block
// broadcast to both halves, so every 32-bit lane holds exactly the integer the
// 256-bit MatVec forms for that row and lane, and the float lanes of each half
// run MatVec's operations for that row: the same bits.
HWY_INLINE __m512i Dot4Pair(const __m512i c[kSubs], const int8_t* x) {
  const __m512i x0 = _mm512_broadcast_i64x4(LoadX(x));
  const __m512i x1 = _mm512_broadcast_i64x4(LoadX(x + 32));
  const __m512i x2 = _mm512_broadcast_i64x4(LoadX(x + 64));
  const __m512i x3 = _mm512_broadcast_i64x4(LoadX(x + 96));
#if HWY_TARGET == HWY_AVX3_DL
  __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[0], x0);
  acc = _mm512_dpbusd_epi32(acc, c[1], x1);
  acc = _mm512_dpbusd_epi32(acc, c[2], x2);
  return _mm512_dpbusd_epi32(acc, c[3], x3);
#else
  __m512i s = _mm512_add_epi16(_mm512_maddubs_epi16(c[0], x0), _mm512_maddubs_epi16(c[1], x1));
  s = _mm512_add_epi16(s, _mm512_maddubs_epi16(c[2], x2));
  s = _mm512_add_epi16(s, _mm512_maddubs_epi16(c[3], x3));
  return _mm512_madd_epi16(s, _mm512_set1_epi16(1));
#endif
}

template <int TT>
HWY_INLINE void Tile(const TileArgs& a) {
  constexpr int kPairs = 2;
  __m512 acc[kPairs][TT];
  __m256 off[2 * kPairs];
  for (int p = 0; p < kPairs; ++p) {
    for (int t = 0; t < TT; ++t) acc[p][t] = _mm512_setzero_ps();
  }
  for (int r = 0; r < 2 * kPairs; ++r) off[r] = _mm256_setzero_ps();
  const int pairs = (a.nr + 1) / 2;  // rows past nr (a partial tile) compute on the buffer's zero codes
  for (int64_t b = 0; b < a.nbs; ++b) {
    __m512i c[kPairs][kSubs];
    __m512 h[kPairs];
    const __m256 vxo = _mm256_loadu_ps(a.xo + b * kTT);
    for (int p = 0; p < kPairs; ++p) {
      const uint8_t* cb = a.codes + p * a.pair_stride + static_cast<size_t>(b) * kPairBlockBytes;
      for (int s = 0; s < kSubs; ++s) c[p][s] = _mm512_loadu_si512(cb + 64 * s);
      const float* h0 = a.hm + (2 * p) * a.hm_stride + 2 * b;
      const float* h1 = a.hm + (2 * p + 1) * a.hm_stride + 2 * b;
      h[p] = _mm512_insertf32x8(_mm512_set1_ps(h0[0]), _mm256_set1_ps(h1[0]), 1);
      off[2 * p] = AddOffsets(h0, vxo, off[2 * p]);
      off[2 * p + 1] = AddOffsets(h1, vxo, off[2 * p + 1]);
    }
    const size_t xoff = static_cast<size_t>(b) * kActBytes + kActQs;
    for (int t = 0; t < TT; ++t) {
      const int8_t* xq = reinterpret_cast<const int8_t*>(a.xp[t] + xoff);
      const __m512 xd = _mm512_set1_ps(a.xd[b * kTT + t]);
      for (int p = 0; p < kPairs; ++p) {
        if (p >= pairs) break;
        const __m512i i = Dot4Pair(c[p], xq);
        acc[p][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(h[p], xd), acc[p][t]);
      }
    }
  }
  alignas(32) float o[2 * kPairs][kTT];
  for (int r = 0; r < 2 * kPairs; ++r) _mm256_store_ps(o[r], off[r]);
  for (int t = 0; t < a.nt; ++t) {
    for (int r = 0; r < a.nr; ++r) {
      const __m512 v = acc[r / 2][t];
      const __m256 half = (r % 2) ? _mm512_extractf32x8_ps(v, 1) : _mm512_castps512_ps256(v);
      a.y[t * a.y_stride + r] = Finish(half, o[r][t]);
    }
  }
}
#endif

// Rows per tile.
#if HWY_TARGET == HWY_AVX2
constexpr int kTileRows = 8;  // Tile loops over them one at a time
#else
constexpr int kTileRows = 4;  // two pairs
#endif

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  const Consts k = MakeConsts();
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  const int64_t tiles = (m + kTT - 1) / kTT;
  MatMulScratch& sc = Scratch();
  // Scale and offset products of every token, kTT tokens per vector (a partial
  // last tile repeats its last token; its outputs are not written).
  const size_t meta = static_cast<size_t>(tiles * nbs * kTT);
  if (sc.xd.size() < meta) {
    sc.xd.resize(meta);
    sc.xo.resize(meta);
  }
  for (int64_t tile = 0; tile < tiles; ++tile) {
    for (int t = 0; t < kTT; ++t) {
      const uint8_t* a = act + static_cast<size_t>(std::min(tile * kTT + t, m - 1)) * act_stride;
      for (int64_t b = 0; b < nbs; ++b) {
        const size_t i = static_cast<size_t>((tile * nbs + b) * kTT + t);
        sc.xd[i] = ActScale(a + b * kActBytes);
        sc.xo[i] = ActOffset(a + b * kActBytes);
      }
    }
  }
  const size_t pair_stride = static_cast<size_t>(nbs) * kPairBlockBytes;
  const size_t hm_stride = static_cast<size_t>(2 * nbs);
  // One token tile (batched decoding): nothing to reuse across tiles, so a chunk
  // small enough to stay in L1 between its decode and its tile.
  const size_t chunk_bytes = tiles == 1 ? kSmallChunkBytes : kChunkBytes;
  const int64_t chunk = std::max<int64_t>(kTileRows, static_cast<int64_t>(2 * chunk_bytes / pair_stride) /
                                                         kTileRows * kTileRows);
  const size_t code_bytes = static_cast<size_t>(chunk / 2) * pair_stride;
  if (sc.codes.size() < code_bytes) {
    sc.codes.resize(code_bytes);
    sc.hm.resize(static_cast<size_t>(chunk) * hm_stride);
  }
  for (int64_t rc = r0; rc < r1; rc += chunk) {
    const int64_t nrc = std::min(chunk, r1 - rc);
    for (int64_t r = 0; r < nrc; ++r) {
      DecodeRow(k, w.row(rc + r), nb, ns, sc.codes.data() + (r / 2) * pair_stride + 32 * (r % 2),
                sc.hm.data() + r * hm_stride);
    }
    // A chunk's odd last row leaves its pair's other half: zero codes and scales
    // (computed by the AVX-512 tile, never written out).
    const int64_t padded = (nrc + kTileRows - 1) / kTileRows * kTileRows;
    for (int64_t r = nrc; r < std::min(padded, chunk); ++r) {
      for (int64_t b = 0; b < nbs; ++b) {
        uint8_t* cb = sc.codes.data() + (r / 2) * pair_stride + static_cast<size_t>(b) * kPairBlockBytes + 32 * (r % 2);
        for (int s = 0; s < kSubs; ++s) std::memset(cb + 64 * s, 0, 32);
      }
      std::fill_n(sc.hm.data() + r * hm_stride, hm_stride, 0.0f);
    }
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t ta = tile * kTT;
      const uint8_t* xp[kTT];
      for (int t = 0; t < kTT; ++t) xp[t] = act + static_cast<size_t>(std::min<int64_t>(ta + t, m - 1)) * act_stride;
      TileArgs a;
      a.pair_stride = pair_stride;
      a.hm_stride = hm_stride;
      a.xd = sc.xd.data() + tile * nbs * kTT;
      a.xo = sc.xo.data() + tile * nbs * kTT;
      a.xp = xp;
      a.nbs = nbs;
      a.nt = static_cast<int>(std::min<int64_t>(kTT, m - ta));
      a.y_stride = y_stride;
      for (int64_t r = 0; r < nrc; r += kTileRows) {
        a.codes = sc.codes.data() + (r / 2) * pair_stride;
        a.hm = sc.hm.data() + r * hm_stride;
        a.nr = static_cast<int>(std::min<int64_t>(kTileRows, nrc - r));
        a.y = y + ta * y_stride + rc + r;
        if (a.nt > 4) {
          Tile<kTT>(a);
        } else {
          Tile<4>(a);
        }
      }
    }
  }
}

bool IsFastImpl() { return true; }

#else  // portable Highway fallback: each block back in the file layout, the reference's formula

float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  const int64_t nb = n / kBlock;
  float sum = 0.0f;
  uint8_t file[kBlockBytes];
  for (int64_t b = 0; b < nb; ++b) {  // the reference's block terms, summed in its order
    Q3P5SlotsToBlock(wrow + b * kBlockBytes, file);
    sum += quant::Q3P5VecDotQ8B(kBlock, file, act + static_cast<size_t>(b) * kActBytes);
  }
  const int ns = TailSubs(n);
  if (ns == 0) return sum;
  Q3P5SlotsToShort(wrow + nb * kBlockBytes, ns, file);
  return sum + quant::Q3P5VecDotQ8B(n - nb * kBlock, file, act + static_cast<size_t>(nb) * kActBytes);
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecByRows(RowGeneric, w, r0, r1, act, y);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

bool IsFastImpl() { return false; }

#endif  // SEPTET_SIMD_X86

}  // namespace

// The kernels read the slot layout: a view in any other layout is a caller bug.
void CheckedMatVec(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  SEPTET_CHECK(w.type == DType::kQ3P5 && w.layout == cpu::WeightLayout::kQ3P5Slots);
  MatVecImpl(w, r0, r1, act, y);
}
void CheckedMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                   int64_t m, float* y, int64_t y_stride) {
  SEPTET_CHECK(w.type == DType::kQ3P5 && w.layout == cpu::WeightLayout::kQ3P5Slots);
  MatMulImpl(w, r0, r1, act, act_stride, m, y, y_stride);
}
SEPTET_SIMD_FAMILY_TARGET(Q3P5Slots, CheckedMatVec, CheckedMatMul)
bool Q3P5SlotsIsFastT() { return IsFastImpl(); }

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q3P5Slots)
HWY_EXPORT(Q3P5SlotsIsFastT);

bool Q3P5SlotsIsFast() { return HWY_DYNAMIC_DISPATCH(Q3P5SlotsIsFastT)(); }

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
