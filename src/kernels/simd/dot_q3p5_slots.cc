// Q3P5 x Q8_B kernels on the repacked layout WeightLayout::kQ3P5Slots
// (kernels/simd/repack.h has the byte layout and the decode). The activation
// is Q8_B (quant/q8_act.h): one scale and one code sum per 128 values, the
// Q3P5 block size, so a block of one row against one token is
//   acc = sum_k x_q,k c_k   (int32, exact: c = v in sub-block sel, 2 u elsewhere)
//   y  += (h x_d) acc + m (x_d x_sum)                      (h = d / 2)
// with ONE int-to-float conversion and ONE FMA per 128 weights (Q8_A needed four
// of each: one scale per 32).
// AVX3_DL (VNNI): exact per-block sums, tokens in the lanes for MatMul; see
// q3p5_lanes-inl.h. The decode shared by all x86 targets is q3p5_slots-inl.h.
// AVX2, AVX3: the decode doubles the 3-bit codes (2 u <= 14 fits the unsigned
// operand), so the four slot dots sum into one int32 vector: the four vpmaddubsw
// int16 vectors are added (each lane <= 4 * 2 * 15 * 127 = 15240, no
// saturation) and widened once with vpmaddwd. Per row and token the float work
// is fixed and shared by MatVec and MatMul (bit-identical per token):
//   acc8 = fma(float(i8), h * x_d, acc8)  per block (8 int32 lanes of the sum)
//   off  = fma(m, x_d * float(x_sum), off) per block (scalar)
//   y    = hsum(acc8) + off.
// A row's final short block (repack.h) decodes to ns sub-blocks of 2 u in
// natural order (the rest zero) and runs the same formula; the activation's last
// Q8_B block is zero-padded, so no tail is left to the scalar code.
// MatVec decodes two rows at a time, slot k against sub-block (sel + k) mod 4
// of the activation. MatMul (prefill, batched decode) decodes a chunk of rows
// once into natural-order codes (an L2-resident buffer, rows in pairs) and runs
// register tiles over it: AVX3, 2 row pairs x 8 tokens, a pair's codes in one
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
#include "kernels/simd/q3p5_lanes-inl.h"
#include "kernels/simd/q3p5_slots-inl.h"
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

#if SEPTET_SIMD_X86 && HWY_TARGET == HWY_AVX3_DL

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecLanes(w, r0, r1, act, y);
}
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  MatMulLanes(w, r0, r1, act, act_stride, m, y, y_stride);
}
bool IsFastImpl() { return true; }

#elif SEPTET_SIMD_X86

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
  const size_t ahead = TilePrefetchBytes(2, w.row_bytes);
  int64_t r = r0;
  for (; r + 2 <= r1; r += 2) {  // two rows interleaved (independent chains)
    const uint8_t* wa = w.row(r);
    const uint8_t* wb = w.row(r + 1);
    __m256 acc_a = _mm256_setzero_ps(), acc_b = _mm256_setzero_ps();
    float off_a = 0.0f, off_b = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      // Software prefetch: without it the decode and the memory stream do not
      // overlap (measured: ~2x slower than the cached rate on a 26 MB matrix).
      PrefetchAhead(wa + b * kBlockBytes, ahead);
      PrefetchAhead(wb + b * kBlockBytes, ahead);
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
  __m512i s = _mm512_add_epi16(_mm512_maddubs_epi16(c[0], x0), _mm512_maddubs_epi16(c[1], x1));
  s = _mm512_add_epi16(s, _mm512_maddubs_epi16(c[2], x2));
  s = _mm512_add_epi16(s, _mm512_maddubs_epi16(c[3], x3));
  return _mm512_madd_epi16(s, _mm512_set1_epi16(1));
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

#endif  // SEPTET_SIMD_X86 (AVX3_DL, other x86, portable)

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
