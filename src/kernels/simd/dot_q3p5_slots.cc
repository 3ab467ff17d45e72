// Q3P5 x Q8_B kernels on the repacked layout WeightLayout::kQ3P5Slots
// (kernels/simd/repack.h has the byte layout and the decode). The activation
// is Q8_B (quant/q8_act.h): one scale and one code sum per 128 values, the
// Q3P5 block size, so a block of one row against one token is
//   acc = sum_k x_q,k c_k   (int32, exact: c = v in sub-block sel, 2 u elsewhere)
//   y  += (h x_d) acc + m (x_d x_sum)                      (h = d / 2)
// with ONE int-to-float conversion and ONE FMA per 128 weights (Q8_A needed four
// of each: one scale per 32).
// Every x86 target forms one exact int32 sum per (row, token, block) and runs
// the same float operations on it (q3p5_lanes-inl.h; the decode shared by all
// x86 targets is q3p5_slots-inl.h). AVX2 and AVX3 have no vpdpbusd: the decode
// doubles the 3-bit codes (2 u <= 14 fits the unsigned operand), so the four
// slot dots sum into one int32 vector: the four vpmaddubsw int16 vectors are
// added (each lane <= 4 * 2 * 15 * 127 = 15240, no saturation) and widened once
// with vpmaddwd (Dot4).
// * MatVec, and MatMul of at most kLanesMaxTokens tokens: RowsLanes (two rows
//   decoded a block at a time, reduced 4 blocks at a time).
// * MatMul of more tokens: AVX3_DL puts 8 tokens x a row pair in the 16 lanes
//   (q3p5_lanes-inl.h). AVX2 and AVX3 decode a chunk of rows once into
//   natural-order codes (an L2-resident buffer, rows in pairs) and run a tile of
//   one row x 8 tokens over it (Tile below): each token's Dot4 reduced to its
//   block sum by hadd, so one vector holds the 8 tokens' I_b and the float work
//   is 4 operations per row, block and 8 tokens.
// A row's final short block (repack.h) decodes to ns sub-blocks of 2 u in
// natural order (the rest zero) and runs the same formula; the activation's last
// Q8_B block is zero-padded, so no tail is left to the scalar code.
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

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  MatVecLanes(w, r0, r1, act, y);
}

// ---- MatMul: decoded row chunks x tiles of one row and kTT tokens ----
// The chunk buffer holds rows in pairs, sub-block by sub-block: for pair p,
// block b, sub-block s the 32 codes of the even row, then those of the odd row.
constexpr int kTT = 8;                   // tokens per tile: one vector of block sums
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
  const uint8_t* codes;      // the tile's first row half, block 0
  size_t pair_stride;        // bytes from one pair to the next
  const float* hm;           // the tile's first row, block 0
  size_t hm_stride;          // floats from one row to the next
  const float* xd;           // [block][kTT] of the token tile
  const float* xo;
  const uint8_t* const* xp;  // the kTT token rows (a partial tile repeats its last)
  int64_t nbs;
  int nt;                    // tokens to write
  int nr;                    // rows to write
  float* y;                  // token t, row r at y[t * y_stride + r]
  int64_t y_stride;
};

// One row x kTT tokens with MatVecLanes' float operations per (row, token):
// each token's exact block sum I_b (Dot4's 8 lanes reduced by three rounds of
// hadd), then s_j = fma(float(I_b), h_b x_d,b, s_j), s_j = fma(m_b, X_b, s_j)
// (j = b mod 4; lane t: token t) and y = (s_0 + s_1) + (s_2 + s_3).
HWY_INLINE void Tile(const TileArgs& a) {
  for (int r = 0; r < a.nr; ++r) {
    const uint8_t* codes = a.codes + (r / 2) * a.pair_stride + 32 * (r % 2);
    const float* hm = a.hm + r * a.hm_stride;
    __m256 s[4];
    for (int j = 0; j < 4; ++j) s[j] = _mm256_setzero_ps();
    const auto block = [&](auto j, int64_t b) HWY_ATTR {
      const uint8_t* cb = codes + static_cast<size_t>(b) * kPairBlockBytes;
      __m256i c[kSubs];
      for (int sb = 0; sb < kSubs; ++sb) c[sb] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cb + 64 * sb));
      const size_t xoff = static_cast<size_t>(b) * kActBytes + kActQs;
      const auto dot = [&](int t) HWY_ATTR {
        const int8_t* xq = reinterpret_cast<const int8_t*>(a.xp[t] + xoff);
        return Dot4(c, xq, xq + 32, xq + 64, xq + 96);
      };
      const __m256i g0 = _mm256_hadd_epi32(_mm256_hadd_epi32(dot(0), dot(1)), _mm256_hadd_epi32(dot(2), dot(3)));
      const __m256i g1 = _mm256_hadd_epi32(_mm256_hadd_epi32(dot(4), dot(5)), _mm256_hadd_epi32(dot(6), dot(7)));
      // g0 = [I_0..I_3 of lanes 0-3 | of lanes 4-7], g1 the same for tokens 4..7.
      const __m256i sum = _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20),
                                           _mm256_permute2x128_si256(g0, g1, 0x31));
      constexpr int kJ = decltype(j)::value;
      const __m256 hx = _mm256_mul_ps(_mm256_set1_ps(hm[2 * b]), _mm256_loadu_ps(a.xd + b * kTT));
      s[kJ] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), hx, s[kJ]);
      s[kJ] = _mm256_fmadd_ps(_mm256_set1_ps(hm[2 * b + 1]), _mm256_loadu_ps(a.xo + b * kTT), s[kJ]);
    };
    ForEachBlock(a.nbs, block);
    alignas(32) float o[kTT];
    _mm256_store_ps(o, _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
    for (int t = 0; t < a.nt; ++t) a.y[t * a.y_stride + r] = o[t];
  }
}

constexpr int kTileRows = 8;  // rows per tile call (Tile loops over them one at a time)

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m <= kLanesMaxTokens) return RowsLanesMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
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
        Tile(a);
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
