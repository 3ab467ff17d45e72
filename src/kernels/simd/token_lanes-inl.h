// Tokens in the lanes: the GEMM scheme shared by the Q8_A-paired block formats
// (dot_q8.cc, dot_q4g.cc, dot_ggml_*.cc). Included once per Highway target after
// common-inl.h, hence the toggle guard; the x86 passes define it: VNNI lanes
// (Lanes16, Lanes8) on AVX3_DL, and on AVX2 / AVX3 Lanes8U<bits>, for unsigned
// codes of 4 or 5 bits.
//
// The activations of a tile of 16 tokens (8 when a call has at most 8: batched
// decoding) are transposed once per call to [32-block][quad of 4 codes][token],
// 4 bytes a token, followed by each token's scale x_d and (when a format needs
// it) its code sum, as floats. A weight row's 4 codes of a quad are broadcast to
// every lane, so one vpdpbusd adds 4 products to each token's block sum: exact
// int32 block sums of all the tile's tokens, no horizontal reduction. Each
// format then applies its MatVec's per-block float formula lane by lane, so
// MatMul stays bit-identical to MatVec.

#if defined(SEPTET_KERNELS_SIMD_TOKEN_LANES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_TOKEN_LANES_INL_H_
#undef SEPTET_KERNELS_SIMD_TOKEN_LANES_INL_H_
#else
#define SEPTET_KERNELS_SIMD_TOKEN_LANES_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cpu/weight_view.h"
#include "kernels/simd/common-inl.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

#if SEPTET_SIMD_X86

inline constexpr int kLaneQuads = quant::kQ8ABlockSize / 4;  // quads of codes per 32-block

#if HWY_TARGET == HWY_AVX3_DL
struct Lanes16 {
  static constexpr int kT = 16;
  using VI = __m512i;
  using VF = __m512;
  static VI Set1(int32_t v) { return _mm512_set1_epi32(v); }
  static VI Zero() { return _mm512_setzero_si512(); }
  static VI Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static VI Dot(VI acc, VI u, VI s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static VI AddI(VI a, VI b) { return _mm512_add_epi32(a, b); }
  static VI MulLo(VI a, VI b) { return _mm512_mullo_epi32(a, b); }
  static VF LoadF(const uint8_t* p) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p)); }
  static VF ZeroF() { return _mm512_setzero_ps(); }
  static VF Set1F(float v) { return _mm512_set1_ps(v); }
  static VF Mul(VF a, VF b) { return _mm512_mul_ps(a, b); }
  static VF Add(VF a, VF b) { return _mm512_add_ps(a, b); }
  static VF Sub(VF a, VF b) { return _mm512_sub_ps(a, b); }
  static VF Fma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
  static VF Fmsub(VF a, VF b, VF c) { return _mm512_fmsub_ps(a, b, c); }
  static VF ToF(VI a) { return _mm512_cvtepi32_ps(a); }
  static void StoreF(float* p, VF v) { _mm512_storeu_ps(p, v); }
};
#endif  // HWY_TARGET == HWY_AVX3_DL
// 8 tokens in AVX2 registers. The VNNI Dot (vpdpbusd) exists only on AVX3_DL;
// every target has SubDots, a 32-weight sub-block's exact int32 sums.
struct Lanes8 {
  static constexpr int kT = 8;
  using VI = __m256i;
  using VF = __m256;
  static VI Set1(int32_t v) { return _mm256_set1_epi32(v); }
  static VI Zero() { return _mm256_setzero_si256(); }
  static VI Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
#if HWY_TARGET == HWY_AVX3_DL
  static VI Dot(VI acc, VI u, VI s) { return Dpbusd256(acc, u, s); }
#endif
  static VI AddI(VI a, VI b) { return _mm256_add_epi32(a, b); }
  static VI MulLo(VI a, VI b) { return _mm256_mullo_epi32(a, b); }
  static VF LoadF(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static VF ZeroF() { return _mm256_setzero_ps(); }
  static VF Set1F(float v) { return _mm256_set1_ps(v); }
  static VF Mul(VF a, VF b) { return _mm256_mul_ps(a, b); }
  static VF Add(VF a, VF b) { return _mm256_add_ps(a, b); }
  static VF Sub(VF a, VF b) { return _mm256_sub_ps(a, b); }
  static VF Fma(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
  static VF Fmsub(VF a, VF b, VF c) { return _mm256_fmsub_ps(a, b, c); }
  static VF ToF(VI a) { return _mm256_cvtepi32_ps(a); }
  static void StoreF(float* p, VF v) { _mm256_storeu_ps(p, v); }
};

// Without VNNI, for unsigned codes of kBits bits against signed activation codes
// |x| <= 127: per quad one vpmaddubsw into int16 pair sums (<= 2 u_max 127), the
// pair sums of kQuadsPerWiden quads added in int16 (4 bits: all 8 quads of a
// sub-block, <= 30480; 5 bits: 4 quads, <= 31496; exact), then one vpmaddwd per
// kQuadsPerWiden quads: the same exact int32 sums as VNNI or MatVec.
template <int kBits>
struct Lanes8U : Lanes8 {
  static constexpr int kMaxCode = (1 << kBits) - 1;
  static constexpr int kQuadsPerWiden = kBits == 4 ? 8 : 4;
  static_assert(kBits == 4 || kBits == 5);
  static_assert(kQuadsPerWiden * 2 * kMaxCode * quant::kActMaxAbs <= 32767);
  static_assert(kLaneQuads % kQuadsPerWiden == 0);
};
template <class L>
inline constexpr bool kIsLanes8U = std::is_same_v<L, Lanes8U<4>> || std::is_same_v<L, Lanes8U<5>>;

// One packed 32-block of a token tile: the quads, x_d[kT], then (kSums) float(x_sum)[kT].
template <class L, bool kSums>
struct LanePack {
  static constexpr size_t kQuadBytes = 4 * L::kT;
  static constexpr size_t kScaleAt = kQuadBytes * kLaneQuads;
  static constexpr size_t kSumAt = kScaleAt + 4 * L::kT;
  static constexpr size_t kBlockBytes = kSumAt + (kSums ? 4 * L::kT : 0);
};

// Tokens [t0, t0 + nt) of the Q8_A rows (nt <= kT; missing lanes are zero bytes,
// scale and sum 0, and their outputs are never written). xor_mask 0x80808080
// stores codes + 128 (the unsigned operand), 0 the codes themselves. A whole
// tile goes 8 tokens at a time through a dword transpose (no memset, 16 vector
// stores a block where the byte copy made 128 or 64 scalar ones).
template <class L, bool kSums>
void PackQ8ATokens(const uint8_t* act, size_t act_stride, int64_t t0, int nt, int64_t nblocks, uint32_t xor_mask,
                   uint8_t* out) {
  using P = LanePack<L, kSums>;
  bool whole = false;  // a whole tile's codes: 8 tokens' quads at a time through an 8 x 8 dword transpose
#if SEPTET_SIMD_X86
  whole = nt == L::kT;
  if (whole) {
    static_assert(kLaneQuads == 8 && L::kT % 8 == 0);
    const __m256i mask = _mm256_set1_epi32(static_cast<int>(xor_mask));
    for (int64_t b = 0; b < nblocks; ++b) {
      uint8_t* ob = out + static_cast<size_t>(b) * P::kBlockBytes;
      for (int h = 0; h < L::kT / 8; ++h) {
        __m256i r[8];
        for (int t = 0; t < 8; ++t) {
          const uint8_t* xb = Q8ABlock(act + static_cast<size_t>(t0 + 8 * h + t) * act_stride, b);
          r[t] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + kQ8AQsOffset)), mask);
        }
        Transpose8x8Epi32(r);  // r[q]: quad q of tokens 8h .. 8h + 7
        for (int q = 0; q < kLaneQuads; ++q) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(ob + P::kQuadBytes * q + 32 * h), r[q]);
        }
      }
    }
  }
#endif
  if (!whole) std::memset(out, 0, static_cast<size_t>(nblocks) * P::kBlockBytes);
  for (int t = 0; t < nt; ++t) {
    const uint8_t* xr = act + static_cast<size_t>(t0 + t) * act_stride;
    for (int64_t b = 0; b < nblocks; ++b) {
      const uint8_t* xb = Q8ABlock(xr, b);
      uint8_t* ob = out + static_cast<size_t>(b) * P::kBlockBytes;
      for (int q = 0; q < kLaneQuads && !whole; ++q) {
        const uint32_t v = LoadU32(xb + kQ8AQsOffset + 4 * q) ^ xor_mask;
        std::memcpy(ob + P::kQuadBytes * q + 4 * t, &v, 4);
      }
      const float d = Q8AScale(xb);
      std::memcpy(ob + P::kScaleAt + 4 * t, &d, 4);
      if constexpr (kSums) {
        const float s = static_cast<float>(Q8ASum(xb));
        std::memcpy(ob + P::kSumAt + 4 * t, &s, 4);
      }
    }
  }
}

// The driver: tokens [0, m) packed into tiles, rows [r0, r1) in chunks of
// chunk_rows (a multiple of kRows): prepare(c0, c1) readies a chunk (decoded
// codes, scales), then tile(kRows or 1 rows from r, packed tile, nt, y of the
// tile's first token) runs for every tile. `pack` is the thread's buffer.
template <class L, bool kSums, int kRows, class Prepare, class Tile>
void TokenLanesMatMul(const uint8_t* act, size_t act_stride, int64_t m, int64_t nblocks, int64_t r0, int64_t r1,
                      int64_t chunk_rows, uint32_t xor_mask, std::vector<uint8_t>* pack, float* y, int64_t y_stride,
                      const Prepare& prepare, const Tile& tile) {
  constexpr int kT = L::kT;
  const size_t tile_bytes = static_cast<size_t>(nblocks) * LanePack<L, kSums>::kBlockBytes;
  const int64_t ntiles = (m + kT - 1) / kT;
  // The tiles start on a cache line (Align64): a 16-token tile's quad is one 64-byte load.
  if (pack->size() < static_cast<size_t>(ntiles) * tile_bytes + 63) {
    pack->resize(static_cast<size_t>(ntiles) * tile_bytes + 63);
  }
  uint8_t* const base = Align64(pack->data());
  for (int64_t tt = 0; tt < ntiles; ++tt) {
    PackQ8ATokens<L, kSums>(act, act_stride, tt * kT, static_cast<int>(std::min<int64_t>(kT, m - tt * kT)), nblocks,
                            xor_mask, base + static_cast<size_t>(tt) * tile_bytes);
  }
  for (int64_t c0 = r0; c0 < r1; c0 += chunk_rows) {
    const int64_t c1 = std::min(r1, c0 + chunk_rows);
    prepare(c0, c1);
    for (int64_t tt = 0; tt < ntiles; ++tt) {
      const uint8_t* xp = base + static_cast<size_t>(tt) * tile_bytes;
      const int nt = static_cast<int>(std::min<int64_t>(kT, m - tt * kT));
      float* yt = y + tt * kT * y_stride;
      int64_t r = c0;
      for (; r + kRows <= c1; r += kRows) tile(std::integral_constant<int, kRows>(), r, c0, xp, nt, yt);
      for (; r < c1; ++r) tile(std::integral_constant<int, 1>(), r, c0, xp, nt, yt);
    }
  }
}

// Rows of about `bytes` per chunk, a multiple of kRows.
template <int kRows>
int64_t ChunkRows(size_t bytes, size_t row_bytes) {
  return std::max<int64_t>(kRows, static_cast<int64_t>(bytes / std::max<size_t>(row_bytes, 1)) / kRows * kRows);
}

// The final store of a row's per-position sums, per lane: (s0 + s1) + (s2 + s3)
// for 4 positions (HSum4f's order), ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 +
// s7)) for 8 (HSum8f's), s0 for 1; token t to y[t * y_stride + row].
template <class L, int kPos = 4>
HWY_INLINE void StoreRow(const typename L::VF* s, int nt, float* y, int64_t y_stride, int64_t row) {
  static_assert(kPos == 1 || kPos == 4 || kPos == 8);
  float out[L::kT];
  typename L::VF v = s[0];
  if constexpr (kPos >= 4) v = L::Add(L::Add(s[0], s[1]), L::Add(s[2], s[3]));
  if constexpr (kPos == 8) v = L::Add(v, L::Add(L::Add(s[4], s[5]), L::Add(s[6], s[7])));
  L::StoreF(out, v);
  for (int t = 0; t < nt; ++t) y[t * y_stride + row] = out[t];
}

// f(std::integral_constant<int, j>()) for j = 0 .. kPos - 1 of the positions
// of sub-blocks [sb, sb + kPos) that are < nsub: the position index a compile-
// time constant, so the per-position sums stay in registers.
template <int kPos, class F>
HWY_INLINE void ForPositions(int64_t sb, int64_t nsub, const F& f) {
  [&]<int... j>(std::integer_sequence<int, j...>) {
    ((sb + j < nsub ? f(std::integral_constant<int, j>()) : void()), ...);
  }(std::make_integer_sequence<int, kPos>());
}

// R rows x one token tile: the per-position float sums s[r][j] (j = sub-block mod
// kPos) zeroed, step(sb, jc, s) run for every sub-block sb in order with its
// position a compile-time constant jc (ForPositions; indexed by sb % kPos at run
// time the sums lived on the stack, a load and a store per term), then each row's
// sums stored (StoreRow).
template <class L, int R, int kPos, class Step>
HWY_INLINE void PositionTile(int64_t nsub, int nt, float* y, int64_t y_stride, int64_t ra, const Step& step) {
  typename L::VF s[R][kPos];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < kPos; ++j) s[r][j] = L::ZeroF();
  }
  for (int64_t sb0 = 0; sb0 < nsub; sb0 += kPos) {
    ForPositions<kPos>(sb0, nsub, [&](auto jc) HWY_ATTR { step(static_cast<size_t>(sb0 + jc()), jc, s); });
  }
  for (int r = 0; r < R; ++r) StoreRow<L, kPos>(s[r], nt, y, y_stride, ra + r);
}

// ---- formats decoded to u8 codes (Q4_G, the ggml legacy blocks, Q4_K, Q5_K) ----
// A row chunk decoded once: [row][sub-block][32] unsigned codes (the unsigned
// operand, against the signed packed activations with their code sums) and
// [row][sub-block] two floats (p0, p1). Per sub-block sb (lane position
// j = sb mod kPos) the MatVec float term, lane by lane (the formula policies):
//   Affine:       s_j = fma(x_d, fma(step, float(acc), min * x_sum), s_j)  (CombineAffine; p = step, min)
//   Symmetric<c>: s_j = fma(step * x_d, float(acc) - x_sum * c, s_j)        (p0 = step)
//   KAffine:      s_j = fma(x_d, fmsub(dl, float(acc), ml * x_sum), s_j)   (p = d sc, dmin mn)
// then the positions summed as StoreRow. A short final group runs only its
// sub-blocks (MatVec adds exact zeros for the others).
struct Affine {
  static constexpr int kPos = 4;
  template <class L>
  static HWY_INLINE typename L::VF Term(typename L::VF acc, typename L::VF xd, typename L::VF xs, const float* p,
                                        typename L::VF s) {
    return L::Fma(xd, L::Fma(L::Set1F(p[0]), acc, L::Mul(L::Set1F(p[1]), xs)), s);
  }
};
template <int kC>
struct Symmetric {
  static constexpr int kPos = 4;
  template <class L>
  static HWY_INLINE typename L::VF Term(typename L::VF acc, typename L::VF xd, typename L::VF xs, const float* p,
                                        typename L::VF s) {
    return L::Fma(L::Mul(L::Set1F(p[0]), xd), L::Sub(acc, L::Mul(xs, L::Set1F(static_cast<float>(kC)))), s);
  }
};
struct KAffine {
  static constexpr int kPos = 4;
  template <class L>
  static HWY_INLINE typename L::VF Term(typename L::VF acc, typename L::VF xd, typename L::VF xs, const float* p,
                                        typename L::VF s) {
    return L::Fma(xd, L::Fmsub(L::Set1F(p[0]), acc, L::Mul(L::Set1F(p[1]), xs)), s);
  }
};
struct CodesScratch {
  std::vector<uint8_t> x;      // packed token tiles
  std::vector<uint8_t> codes;  // [row of chunk][sub-block][32]
  std::vector<float> dm;       // [row of chunk][sub-block][2]: step, min
};
inline HWY_NOINLINE CodesScratch& CodesScratchOfThread() {  // noinline: see common-inl.h
  thread_local CodesScratch s;  // grown on demand, reused across calls
  return s;
}

// acc[r] = the exact int32 sums, per token lane, of a 32-weight sub-block: R rows
// of codes (32 bytes each, row_stride apart) against a packed activation block.
template <class L, int R>
HWY_INLINE void SubDots(const uint8_t* codes, size_t row_stride, const uint8_t* xb, typename L::VI (&acc)[R]) {
  using P = LanePack<L, true>;
  if constexpr (kIsLanes8U<L>) {
    for (int r = 0; r < R; ++r) acc[r] = L::Zero();
    for (int q0 = 0; q0 < kLaneQuads; q0 += L::kQuadsPerWiden) {
      __m256i a16[R];
      for (int r = 0; r < R; ++r) a16[r] = _mm256_setzero_si256();
      for (int q = q0; q < q0 + L::kQuadsPerWiden; ++q) {
        const __m256i xq = L::Load(xb + P::kQuadBytes * q);
        for (int r = 0; r < R; ++r) {
          const __m256i u = L::Set1(static_cast<int32_t>(LoadU32(codes + r * row_stride + 4 * q)));
          a16[r] = _mm256_add_epi16(a16[r], _mm256_maddubs_epi16(u, xq));
        }
      }
      for (int r = 0; r < R; ++r) acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(a16[r], _mm256_set1_epi16(1)));
    }
  } else {
#if HWY_TARGET == HWY_AVX3_DL
    // kC chains a row, quad q in chain q mod kC (exact integers, added at the end),
    // as LevelsSubSums: R chains of 8 dependent vpdpbusd left the unit idle, and so
    // did 2 chains a row in the 2-row tiles (Q4_K, Q5_K). 2 chains a row for 4-row
    // tiles, 4 for 1- and 2-row tiles.
    constexpr int kC = R >= 4 ? 2 : 4;
    static_assert(kLaneQuads % kC == 0);
    typename L::VI a2[kC][R];
    for (auto& chain : a2) {
      for (auto& a : chain) a = L::Zero();
    }
#pragma GCC unroll 8
    for (int q = 0; q < kLaneQuads; ++q) {
      const typename L::VI xq = L::Load(xb + P::kQuadBytes * q);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const typename L::VI u = L::Set1(static_cast<int32_t>(LoadU32(codes + r * row_stride + 4 * q)));
        a2[q % kC][r] = L::Dot(a2[q % kC][r], u, xq);
      }
    }
    for (int r = 0; r < R; ++r) {
      acc[r] = L::AddI(a2[0][r], a2[1][r]);
      if constexpr (kC == 4) acc[r] = L::AddI(acc[r], L::AddI(a2[2][r], a2[3][r]));
    }
#else
    static_assert(kIsLanes8U<L>, "VNNI lanes only on AVX3_DL");
#endif
  }
}

// R rows x one token tile (PositionTile; Q4_K's GEMM ran at 0.55x Q4_0's on AMD
// Zen 4 while its sums lived on the stack, and its 8 positions in 2-row tiles
// spilled 16 float sums: 72 GMAC/s a core, 108 with 4 positions in 4-row tiles).
template <class L, int R, class F>
HWY_INLINE void CodesTile(const uint8_t* codes, const float* dm, int64_t nsub, const uint8_t* xp, int nt, float* y,
                          int64_t y_stride, int64_t ra) {
  using P = LanePack<L, true>;
  PositionTile<L, R, F::kPos>(nsub, nt, y, y_stride, ra, [&](size_t sb, auto jc, auto& s) HWY_ATTR {
    constexpr int j = decltype(jc)::value;
    const uint8_t* xb = xp + sb * P::kBlockBytes;
    typename L::VI acc[R];
    SubDots<L, R>(codes + sb * 32, static_cast<size_t>(nsub) * 32, xb, acc);
    const typename L::VF xd = L::LoadF(xb + P::kScaleAt), xs = L::LoadF(xb + P::kSumAt);
    for (int r = 0; r < R; ++r) {
      s[r][j] = F::template Term<L>(L::ToF(acc[r]), xd, xs, dm + (static_cast<size_t>(r) * nsub + sb) * 2, s[r][j]);
    }
  });
}

// A decoder of row ranges for the codes GEMM: rows(c0, c1, codes, dm) writes rows
// c0 .. c1 - 1 as decode(r, codes + (r - c0) nsub 32, dm + (r - c0) nsub 2)
// would (layouts that interleave rows decode a group of them at once).
template <class Rows>
struct RowRangeDecode {
  Rows rows;
};
template <class D>
struct IsRowRangeDecode : std::false_type {};
template <class Rows>
struct IsRowRangeDecode<RowRangeDecode<Rows>> : std::true_type {};

// The whole GEMM of a codes format: decode(r, codes, dm) writes row r's nsub x 32
// codes and nsub (p0, p1) pairs (or a RowRangeDecode a chunk of rows).
template <class L, class F, class Decode>
void CodesMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
                 float* y, int64_t y_stride, const Decode& decode) {
  constexpr int kRows = F::kPos == 4 ? 4 : 2;   // kRows x kPos float sums + kRows int sums
  constexpr size_t kChunkCodeBytes = 128 << 10;  // decoded codes kept in L2 across the token tiles
  const int64_t nsub = (w.cols + quant::kQ8ABlockSize - 1) / quant::kQ8ABlockSize;  // = Q8_A blocks
  const int64_t chunk = ChunkRows<kRows>(kChunkCodeBytes, static_cast<size_t>(nsub) * 32);
  CodesScratch& sc = CodesScratchOfThread();
  sc.codes.resize(static_cast<size_t>(chunk * nsub) * 32);
  sc.dm.resize(static_cast<size_t>(chunk * nsub) * 2);
  TokenLanesMatMul<L, true, kRows>(
      act, act_stride, m, nsub, r0, r1, chunk, 0u, &sc.x, y, y_stride,
      [&](int64_t c0, int64_t c1) {
        if constexpr (IsRowRangeDecode<Decode>::value) {
          decode.rows(c0, c1, sc.codes.data(), sc.dm.data());
        } else {
          for (int64_t r = c0; r < c1; ++r) {
            decode(r, sc.codes.data() + static_cast<size_t>((r - c0) * nsub) * 32,
                   sc.dm.data() + static_cast<size_t>((r - c0) * nsub) * 2);
          }
        }
      },
      [&](auto rows, int64_t r, int64_t c0, const uint8_t* xp, int nt, float* yt) HWY_ATTR {
        CodesTile<L, decltype(rows)::value, F>(sc.codes.data() + static_cast<size_t>((r - c0) * nsub) * 32,
                                               sc.dm.data() + static_cast<size_t>((r - c0) * nsub) * 2, nsub, xp,
                                               nt, yt, y_stride, r);
      });
}

#if HWY_TARGET == HWY_AVX3_DL
// 16 tokens a tile, or 8 when the call has at most 8.
template <class F, class Decode>
void CodesMatMulAnyM(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                     int64_t m, float* y, int64_t y_stride, const Decode& decode) {
  if (m <= Lanes8::kT) return CodesMatMul<Lanes8, F>(w, r0, r1, act, act_stride, m, y, y_stride, decode);
  CodesMatMul<Lanes16, F>(w, r0, r1, act, act_stride, m, y, y_stride, decode);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

// The GEMM of a format with unsigned codes of kBits <= 5 bits (Q4_G, Q4_0, Q4_1,
// Q4_K; Q5_0, Q5_1, Q5_K): the VNNI lanes on AVX3_DL, Lanes8U<kBits> elsewhere.
// Callers take it from kCodesMinTokens tokens; below that their per-token tiles
// are faster on AVX2 (simd_kernels_bench MatMul_Q4_G 2048 x 2048, AMD Zen 3, one
// core: the lanes 674 us at 4 tokens and 734 at 8, a tile of 8 costing about the
// same however full; the per-token tiles 593 us at 4, about 148 a token, 1562 at 8).
#if HWY_TARGET == HWY_AVX3_DL
inline constexpr int64_t kCodesMinTokens = 1;
#else
inline constexpr int64_t kCodesMinTokens = 5;
#endif
template <int kBits, class F, class Decode>
void CodesBitsMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                     int64_t m, float* y, int64_t y_stride, const Decode& decode) {
#if HWY_TARGET == HWY_AVX3_DL
  CodesMatMulAnyM<F>(w, r0, r1, act, act_stride, m, y, y_stride, decode);
#else
  CodesMatMul<Lanes8U<kBits>, F>(w, r0, r1, act, act_stride, m, y, y_stride, decode);
#endif
}

#if HWY_TARGET == HWY_AVX3_DL
// ---- formats decoded to signed int8 levels (Q4_NL, Q3P5_NL; VNNI lanes only) ----
// A row chunk decoded once: [row][sub-block][32] levels L in weight order (the
// signed operand; the activations are packed as codes + 128, the unsigned one),
// per [row][sub-block] kG + 1 int32: the scales sc_g of its groups of 32 / kG
// weights and c = sum_g sc_g 128 (sum of L over group g), and per [row][sub-block]
// d_eff. Then per group acc_g = sum (x + 128) L (|.| <= 32 * 255 * 127), and
//   isum = sum_g sc_g acc_g - c = sum_g sc_g (x . L)_g,
// MatVec's exact int32 (|sc_g acc_g| <= 32 * 32 * 255 * 127 < 2^31 / 16), then
// F::Term, the format's float step, lane by lane. Padding weights of a row's
// last sub-block meet activation codes 0 (stored 128), and their levels are in
// both acc and c: they add exactly 0.
struct LevelsScratch {
  std::vector<uint8_t> x;       // packed token tiles
  std::vector<int8_t> levels;   // [row of chunk][sub-block][32]
  std::vector<int32_t> ints;    // [row of chunk][sub-block][kG + 1]: sc_g, then c
  std::vector<float> d;         // [row of chunk][sub-block]: d_eff
};
inline HWY_NOINLINE LevelsScratch& LevelsScratchOfThread() {  // noinline: see common-inl.h
  thread_local LevelsScratch s;  // grown on demand, reused across calls
  return s;
}

// The float steps: SeqTerm, one running sum, s += (d_eff * x_d) * float(isum)
// rounded twice (Q4_NL); FmaTerm, 4 positions (sub-block mod 4), one FMA each
// (Q3P5_NL).
struct SeqTerm {
  static constexpr int kPos = 1;
  template <class L>
  static HWY_INLINE typename L::VF Term(typename L::VF isum, typename L::VF xd, float d, typename L::VF s) {
    return L::Add(s, NoContract(L::Mul(L::Mul(L::Set1F(d), xd), isum)));
  }
};
struct FmaTerm {
  static constexpr int kPos = 4;
  template <class L>
  static HWY_INLINE typename L::VF Term(typename L::VF isum, typename L::VF xd, float d, typename L::VF s) {
    return L::Fma(L::Mul(L::Set1F(d), xd), isum, s);
  }
};

// isum[r] of one sub-block for R rows (levels at lv, row_levels apart; their
// kG + 1 ints at gi, row_ints apart) against a packed activation block.
template <class L, int R, int kG>
HWY_INLINE void LevelsSubSums(const int8_t* lv, size_t row_levels, const int32_t* gi, size_t row_ints,
                              const uint8_t* xb, typename L::VI (&isum)[R]) {
  // kG x kH x R independent vpdpbusd chains, quads interleaved across them (kH
  // chains a group when there is one group): the sums are exact integers, so
  // their order changes nothing, and 8 chains rather than 4 hide the latency (the
  // group-by-group loop left 4 chains of 4-8 dependent vpdpbusd and a branch per
  // quad: Q3P5_NL's prefill ran at 0.64x Q3P5's on AMD Zen 4).
  constexpr int kQuadsPerGroup = kLaneQuads / kG;
  constexpr int kH = kG == 1 ? 2 : 1;
  static_assert(kQuadsPerGroup % kH == 0);
  typename L::VI acc[kG][kH][R];
  for (auto& group : acc) {
    for (auto& chain : group) {
      for (auto& a : chain) a = L::Zero();
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < kQuadsPerGroup; i += kH) {
#pragma GCC unroll 2
    for (int g = 0; g < kG; ++g) {
#pragma GCC unroll 2
      for (int h = 0; h < kH; ++h) {
        const int q = kQuadsPerGroup * g + i + h;
        const typename L::VI xq = L::Load(xb + LanePack<L, false>::kQuadBytes * q);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const uint8_t* quad = reinterpret_cast<const uint8_t*>(lv + r * row_levels + 4 * q);
          acc[g][h][r] = L::Dot(acc[g][h][r], xq, L::Set1(static_cast<int32_t>(LoadU32(quad))));
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    isum[r] = L::Set1(-gi[r * row_ints + kG]);
    for (int g = 0; g < kG; ++g) {
      typename L::VI a = acc[g][0][r];
      for (int h = 1; h < kH; ++h) a = L::AddI(a, acc[g][h][r]);
      isum[r] = L::AddI(isum[r], L::MulLo(a, L::Set1(gi[r * row_ints + g])));
    }
  }
}

// R rows x one token tile (PositionTile).
template <class L, int R, int kG, class F>
HWY_INLINE void LevelsTile(const int8_t* levels, const int32_t* ints, const float* d, int64_t nsub,
                           const uint8_t* xp, int nt, float* y, int64_t y_stride, int64_t ra) {
  using P = LanePack<L, false>;
  PositionTile<L, R, F::kPos>(nsub, nt, y, y_stride, ra, [&](size_t sb, auto jc, auto& s) HWY_ATTR {
    constexpr int j = decltype(jc)::value;
    const uint8_t* xb = xp + sb * P::kBlockBytes;
    typename L::VI isum[R];
    LevelsSubSums<L, R, kG>(levels + 32 * sb, static_cast<size_t>(nsub) * 32, ints + (kG + 1) * sb,
                            static_cast<size_t>(nsub) * (kG + 1), xb, isum);
    const typename L::VF xd = L::LoadF(xb + P::kScaleAt);
    for (int r = 0; r < R; ++r) {
      s[r][j] = F::template Term<L>(L::ToF(isum[r]), xd, d[static_cast<size_t>(r) * nsub + sb], s[r][j]);
    }
  });
}

// The whole GEMM of a levels format: decode(r, levels, ints, d) writes row r's
// nsub x 32 levels, nsub x (kG + 1) ints (sc_g, c) and nsub d_eff.
template <class L, int kG, class F, class Decode>
void LevelsMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                  int64_t m, float* y, int64_t y_stride, const Decode& decode) {
  constexpr int kRows = 4;
  constexpr size_t kChunkLevelBytes = 128 << 10;  // decoded levels kept in L2 across the token tiles
  const int64_t nsub = (w.cols + quant::kQ8ABlockSize - 1) / quant::kQ8ABlockSize;  // = Q8_A blocks
  const int64_t chunk = ChunkRows<kRows>(kChunkLevelBytes, static_cast<size_t>(nsub) * 32);
  LevelsScratch& sc = LevelsScratchOfThread();
  sc.levels.resize(static_cast<size_t>(chunk * nsub) * 32);
  sc.ints.resize(static_cast<size_t>(chunk * nsub) * (kG + 1));
  sc.d.resize(static_cast<size_t>(chunk * nsub));
  const auto at = [&](int64_t r, int64_t c0) { return static_cast<size_t>((r - c0) * nsub); };
  TokenLanesMatMul<L, false, kRows>(
      act, act_stride, m, nsub, r0, r1, chunk, 0x80808080u, &sc.x, y, y_stride,
      [&](int64_t c0, int64_t c1) {
        for (int64_t r = c0; r < c1; ++r) {
          decode(r, sc.levels.data() + at(r, c0) * 32, sc.ints.data() + at(r, c0) * (kG + 1), sc.d.data() + at(r, c0));
        }
      },
      [&](auto rows, int64_t r, int64_t c0, const uint8_t* xp, int nt, float* yt) HWY_ATTR {
        LevelsTile<L, decltype(rows)::value, kG, F>(sc.levels.data() + at(r, c0) * 32,
                                                    sc.ints.data() + at(r, c0) * (kG + 1), sc.d.data() + at(r, c0),
                                                    nsub, xp, nt, yt, y_stride, r);
      });
}

// Callers take it from kLevelsMinTokens tokens; below that their own tiles
// (a row tile decoded once per block, then MatVec's steps per token) are faster:
// simd_kernels_bench MatMul 2048 x 2048, Xeon AVX3_DL, one core, Q4_NL: the
// lanes 659 / 632 / 643 us at 2 / 4 / 8 tokens, the row tiles 267 / 459 / 818;
// Q3P5_NL: 880 / 837 / 840 against 499 / 697 / 1099.
inline constexpr int64_t kLevelsMinTokens = 6;

// 16 tokens a tile, or 8 when the call has at most 8.
template <int kG, class F, class Decode>
void LevelsMatMulAnyM(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                      int64_t m, float* y, int64_t y_stride, const Decode& decode) {
  if (m <= Lanes8::kT) return LevelsMatMul<Lanes8, kG, F>(w, r0, r1, act, act_stride, m, y, y_stride, decode);
  LevelsMatMul<Lanes16, kG, F>(w, r0, r1, act, act_stride, m, y, y_stride, decode);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

#endif  // SEPTET_SIMD_X86

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_TOKEN_LANES_INL_H_ toggle
