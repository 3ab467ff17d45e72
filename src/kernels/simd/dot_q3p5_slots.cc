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
// x86 targets is q3p5_slots-inl.h). AVX2 and AVX3 have no vpdpbusd: the four
// slot dots sum into one int32 vector (Dot4): the vpmaddubsw int16 vectors of
// the three 3-bit slots are added and doubled once (the decode leaves u
// undoubled), slot 0's (v) is added (each lane <= 2 * 3 * 2 * 7 * 127 + 2 * 15
// * 127 = 14478, no saturation) and the sum widened once with vpmaddwd.
// * MatVec, and MatMul of at most kRowsLanesMaxTokens (8) tokens on AVX2 and
//   AVX3 (4 on AVX3_DL): RowsLanes (two rows decoded a block at a time, reduced 4
//   blocks at a time). On AMD Zen 3 RowsLanes<8> beats the 8-token tile below:
//   TinyLlama -b 6 74 -> 105-108 t/s, -b 8 96-98 -> 107-113 (alternated).
// * MatMul of more tokens: AVX3_DL puts 8 tokens x a row pair in the 16 lanes
//   (q3p5_lanes-inl.h). AVX2 and AVX3 decode a chunk of rows once into
//   natural-order codes (an L2-resident buffer, rows in pairs) and run tiles of
//   8 tokens x a row over it (TileRows below), the tokens in the lanes: a code
//   dword broadcast against the 8 tokens' packed quads, so one vector ends each
//   block holding the 8 tokens' I_b with no reduction, and the float work is 4
//   operations per row, block and 8 tokens.
// A row's final short block (repack.h) decodes to ns sub-blocks of u in
// natural order (the rest zero; DecodeShort's weights as Decode's) and runs the
// same formula; the activation's last Q8_B block is zero-padded, so no tail is
// left to the scalar code.
// Portable targets: the slots back to the file layout per block and the
// reference's own block terms (Q3P5VecDotQ8B), in its order.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
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

// ---- MatMul: decoded row chunks x tiles of rows and kLT tokens ----
// The chunk buffer holds rows in pairs, sub-block by sub-block: for pair p,
// block b, sub-block s the 32 codes of the even row, then those of the odd row.
constexpr size_t kPairBlockBytes = 256;  // 4 sub-blocks x 2 rows x 32 codes
// Decoded codes of a chunk of rows (2x the Q3P5 bytes): kept in L2 while every
// token tile runs over them.
constexpr size_t kChunkBytes = 256 << 10;
constexpr size_t kSmallChunkBytes = 12 << 10;
constexpr size_t kTilePackBlock = LanePackBlock(1);  // [quad][token][4], x_d[8], X_b[8]
// Quads whose vpmaddubsw pair sums may be added in int16: 8 * 2 * 15 * 127 = 30480.
constexpr int kQuadsPerWiden = 8;
static_assert(kQuadsPerWiden * 2 * quant::kQ3P5MaxCode4 * quant::kActMaxAbs <= 32767);

struct MatMulScratch {
  std::vector<uint8_t> codes;  // [pair][block][sub-block][row of pair][32]: v / 2 u, natural order
  std::vector<float> hm;       // [row of chunk][block][2]: h, m
  std::vector<uint8_t> x;      // [token tile][block] packed activations (PackLanes<1>)
};

HWY_NOINLINE MatMulScratch& Scratch() {  // noinline: see common-inl.h
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
    Weighted(&d);
    uint8_t* cb = codes + static_cast<size_t>(b) * kPairBlockBytes;
    for (int s = 0; s < kSubs; ++s) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(cb + 64 * ((d.sel + s) & 3)), d.c[s]);
    }
    hm[2 * b] = d.h;
    hm[2 * b + 1] = d.m;
  }
}

// kRows decoded rows of one pair (codes: the pair's block 0; hm: the first
// row's [h, m] of block 0) x a packed tile of kLT tokens, the tokens in the
// lanes: each of the 32 quads of a block is one code dword broadcast to every
// lane (vbroadcasti128 of 4 quads, then vpshufd per quad: 1.15-1.2x the
// vpbroadcastd-from-memory tile on AMD Zen 3) against the 8 tokens' quads
// (vpmaddubsw), the int16 pair sums of 8 quads
// added before one vpmaddwd widens them, so a lane ends the block with its
// token's exact I_b and the float work is MatVecLanes' per (row, token):
// s_j = fma(float(I_b), h_b x_d,b, s_j), s_j = fma(m_b, X_b, s_j) (j = b mod 4),
// y = (s_0 + s_1) + (s_2 + s_3).
template <int kRows>
HWY_INLINE void TileRows(const uint8_t* codes, const float* hm, size_t hm_stride, const uint8_t* xp, int64_t nbs,
                         int nt, float* y, int64_t y_stride) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 s[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < 4; ++j) s[r][j] = _mm256_setzero_ps();
  }
  const auto block = [&](auto j, int64_t b) HWY_ATTR {
    const uint8_t* cb = codes + static_cast<size_t>(b) * kPairBlockBytes;
    const uint8_t* xb = xp + static_cast<size_t>(b) * kTilePackBlock;
    __m256i acc[kRows];
    for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_si256();
    for (int sb = 0; sb < kSubs; ++sb) {  // a sub-block: 8 quads
      __m256i p[kRows];
      for (int r = 0; r < kRows; ++r) p[r] = _mm256_setzero_si256();
      for (int half = 0; half < 2; ++half) {  // quads 4 half .. 4 half + 3
        __m256i c4[kRows];
        for (int r = 0; r < kRows; ++r) {
          const uint8_t* cr = cb + 32 * r + 64 * sb + 16 * half;
          c4[r] = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(cr)));
        }
        const auto quad = [&](auto q) HWY_ATTR {
          constexpr int kQ = decltype(q)::value;
          const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(xb + 32 * (8 * sb + 4 * half + kQ)));
          for (int r = 0; r < kRows; ++r) {
            // vpshufd from a register: a vpbroadcastd from memory per quad ran the tile at
            // 0.8-0.85x this rate on AMD Zen 3 (scripts/x86-issue-rates.sh, "tile:" lines)
            const __m256i c = _mm256_shuffle_epi32(c4[r], kQ * 0x55);
            p[r] = _mm256_add_epi16(p[r], _mm256_maddubs_epi16(c, x));
          }
        };
        quad(std::integral_constant<int, 0>());
        quad(std::integral_constant<int, 1>());
        quad(std::integral_constant<int, 2>());
        quad(std::integral_constant<int, 3>());
      }
      for (int r = 0; r < kRows; ++r) acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p[r], ones));
    }
    const float* f = reinterpret_cast<const float*>(xb + kQuads * 32);
    constexpr int kJ = decltype(j)::value;
    const __m256 xd = _mm256_load_ps(f), xo = _mm256_load_ps(f + kLT);
    for (int r = 0; r < kRows; ++r) {
      const float* h = hm + r * hm_stride + 2 * b;
      s[r][kJ] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r]), _mm256_mul_ps(_mm256_set1_ps(h[0]), xd), s[r][kJ]);
      s[r][kJ] = _mm256_fmadd_ps(_mm256_set1_ps(h[1]), xo, s[r][kJ]);
    }
  };
  ForEachBlock(nbs, block);
  for (int r = 0; r < kRows; ++r) {
    alignas(32) float o[kLT];
    _mm256_store_ps(o, _mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), _mm256_add_ps(s[r][2], s[r][3])));
    for (int t = 0; t < nt; ++t) y[t * y_stride + r] = o[t];
  }
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m <= kRowsLanesMaxTokens) return RowsLanesMatMul(w, r0, r1, act, act_stride, m, y, y_stride);
  const Consts k = MakeConsts();
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const int64_t nbs = nb + (ns > 0 ? 1 : 0);
  const int64_t tiles = (m + kLT - 1) / kLT;
  MatMulScratch& sc = Scratch();
  const size_t tile_bytes = static_cast<size_t>(nbs) * kTilePackBlock;
  uint8_t* xbase = PackTiles<1>(act, act_stride, m, nbs, &sc.x);
  const size_t pair_stride = static_cast<size_t>(nbs) * kPairBlockBytes;
  const size_t hm_stride = static_cast<size_t>(2 * nbs);
  // One token tile (batched decoding): nothing to reuse across tiles, so a chunk
  // small enough to stay in L1 between its decode and its tile.
  const size_t chunk_bytes = tiles == 1 ? kSmallChunkBytes : kChunkBytes;
  const int64_t chunk = std::max<int64_t>(2, static_cast<int64_t>(2 * chunk_bytes / pair_stride) / 2 * 2);
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
    for (int64_t t = 0; t < tiles; ++t) {
      const uint8_t* xp = xbase + static_cast<size_t>(t) * tile_bytes;
      const int nt = static_cast<int>(std::min<int64_t>(kLT, m - t * kLT));
      float* yt = y + t * kLT * y_stride + rc;
      int64_t r = 0;
      for (; r + 2 <= nrc; r += 2) {
        TileRows<2>(sc.codes.data() + (r / 2) * pair_stride, sc.hm.data() + r * hm_stride, hm_stride, xp, nbs, nt,
                    yt + r, y_stride);
      }
      if (r < nrc) {  // an odd last row: the even half of its pair
        TileRows<1>(sc.codes.data() + (r / 2) * pair_stride, sc.hm.data() + r * hm_stride, hm_stride, xp, nbs, nt,
                    yt + r, y_stride);
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

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q3P5Slots, w.type == DType::kQ3P5 && w.layout == cpu::WeightLayout::kQ3P5Slots)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q3P5Slots)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
