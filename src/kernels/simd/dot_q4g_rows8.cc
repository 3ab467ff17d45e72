// Q4_G x Q8_A kernels on the repacked layout WeightLayout::kQ4GRows8
// (kernels/simd/repack.h): 8 rows interleaved, an int32 lane per row.
//
// Decode (x86): per sub-block of 8 rows (128 bytes), four 32-byte loads; each
// gives two vectors of codes (& 15: weights 4c..4c+3 of every row, (>> 4) & 15:
// weights 16+4c..), dotted with a broadcast quad of activation codes. On
// AVX3_DL two vpdpbusd chains; elsewhere vpmaddubsw into int16 (8 pair sums of
// |u x| <= 2 * 15 * 127 each: |sum| <= 30480 < 2^15) and one vpmaddwd. Either way
// lane r is row r's exact int32 sub-block dot, the integer the file-layout kernel
// (dot_q4g.cc) gets by its horizontal sum, and the float step per lane is its
// step (CombineAffine: inner = d acc + m x_sum, sum_s += x_d inner, one position
// per sub-block, then (s0 + s1) + (s2 + s3)): MatVec gives the file layout's
// bits. MatMul of up to 32 tokens runs the same kernel with each sub-block
// decoded once per tile of 4 tokens; of more, the Lanes GEMM of
// token_lanes-inl.h on rows decoded from this layout (8 at a time); per token
// both give MatVec's bits, as on the file layout. The file kernel's per-row
// horizontal sum (HSum4x8) per 128 weights is gone, and one activation broadcast
// serves 8 rows: on AMD Zen 4 the file kernel was compute-bound at 16 GB/s a
// core, this one runs at 26-36 (docs/benchmarks.md §0).
// Portable targets: each 8-row group back to the file layout, then the file kernels.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4g_rows8.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/nibble_rows8-inl.h"
#include "kernels/simd/repack.h"
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

constexpr int kRows = kNibbleRows;
static_assert(kQ4GGroupRows == kNibbleRows);
constexpr int kSubs = quant::kQ4GBlockSize / quant::kQ4GSubBlockSize;
constexpr size_t kGroupBlockBytes = kRows * sizeof(quant::BlockQ4G);  // one full block of 8 rows
static_assert(kRows == 8 && kSubs == 4 && quant::kQ4GSubBlockSize == quant::kQ8ABlockSize);
static_assert(Q4GRows8CodeByte(1, 0, 0, 0) - Q4GRows8CodeByte(0, 0, 0, 0) == 128 &&
              Q4GRows8CodeByte(0, 1, 0, 0) - Q4GRows8CodeByte(0, 0, 0, 0) == 32 &&
              Q4GRows8CodeByte(0, 0, 1, 0) - Q4GRows8CodeByte(0, 0, 0, 0) == 4);

#if SEPTET_SIMD_X86

int64_t FullBlocks(const cpu::WeightView& w) { return w.cols / quant::kQ4GBlockSize; }

// The 8 rows of group block gb (ns sub-blocks) into the per-sub-block sums of
// T tokens (activation blocks xblk[t], their meta mt[t]); each sub-block decoded once.
template <int T>
HWY_INLINE void AddGroupBlock(const uint8_t* gb, int ns, const uint8_t* const (&xblk)[T], const float* const (&mt)[T],
                              __m256i c15, __m256 (&sum)[T][kSubs]) {
  const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb)));
  const __m256 m8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + 16)));
  for (int s = 0; s < ns; ++s) {  // a short block's missing sub-blocks add exactly 0 in the file kernel
    NibbleSub sc;
    DecodeNibbleSub(gb + Q4GRows8CodeByte(s, 0, 0, 0), c15, &sc);
    for (int t = 0; t < T; ++t) {
      const __m256i acc = NibbleSubDot(sc, Q8ACodes(Q8ABlock(xblk[t], s)));
      const __m256 inner =
          _mm256_fmadd_ps(d8, _mm256_cvtepi32_ps(acc), _mm256_mul_ps(m8, _mm256_broadcast_ss(mt[t] + 2 * s + 1)));
      sum[t][s] = _mm256_fmadd_ps(_mm256_broadcast_ss(mt[t] + 2 * s), inner, sum[t][s]);
    }
  }
}

// Tokens t0 .. t0 + T - 1 of group g (activations act_stride apart, meta
// meta_stride floats apart); `sweep` (or null) steps once per block.
template <int T>
HWY_INLINE void GroupTokens(const cpu::WeightView& w, int64_t g, const uint8_t* act, size_t act_stride,
                            const float* meta, int64_t meta_stride, int64_t t0, const NibbleOut& out, TileSweep* sweep) {
  const int64_t nb = FullBlocks(w);
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  const __m256i c15 = _mm256_set1_epi8(15);
  const uint8_t* group = NibbleGroup(w, g);
  __m256 sum[T][kSubs];
  for (auto& st : sum) {
    for (auto& v : st) v = _mm256_setzero_ps();
  }
  const uint8_t* xblk[T];
  const float* mt[T];
  for (int64_t b = 0; b <= nb; ++b) {
    const int n = b < nb ? kSubs : ns;
    if (n == 0) break;
    if (sweep != nullptr) sweep->Step();
    for (int t = 0; t < T; ++t) {
      xblk[t] = Q8ABlock(act + static_cast<size_t>(t0 + t) * act_stride, b * kSubs);
      mt[t] = meta + (t0 + t) * meta_stride + 2 * kSubs * b;
    }
    AddGroupBlock<T>(group + b * kGroupBlockBytes, n, xblk, mt, c15, sum);
  }
  for (int t = 0; t < T; ++t) StoreNibbleGroup(out, g, t0 + t, sum[t]);
}

// Rows [r0, r1) for m tokens (ForNibbleGroupTiles).
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const NibbleOut& out) {
  const int64_t nb = FullBlocks(w);
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  const int64_t nact = nb * kSubs + ns;
  const float* meta = FillNibbleMeta(act, act_stride, m, nact);
  ForNibbleGroupTiles(w, r0, r1, m, nb + (ns > 0), [&](int64_t g, auto tokens, int64_t t, TileSweep* sweep) HWY_ATTR {
    GroupTokens<decltype(tokens)::value>(w, g, act, act_stride, meta, 2 * nact, t, out, sweep);
  });
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, NibbleOut{y, 0, r0, r0, r1});
}

// Group g decoded for the Lanes GEMM: lane i's codes (weight order) at codes +
// i nsub 32, its per-sub-block (d, m) at dm + i nsub 2.
void DecodeGroupTo(const cpu::WeightView& w, int64_t g, uint8_t* codes, float* dm) {
  const int64_t nsub = (w.cols + quant::kQ4GSubBlockSize - 1) / quant::kQ4GSubBlockSize;
  const size_t lane_codes = static_cast<size_t>(nsub) * 32;
  const __m256i c15 = _mm256_set1_epi8(15);
  const uint8_t* group = NibbleGroup(w, g);
  for (int64_t sb = 0; sb < nsub; ++sb) {
    const uint8_t* gb = group + (sb / kSubs) * kGroupBlockBytes;
    const int s = static_cast<int>(sb % kSubs);
    for (int lane = 0; lane < kRows; ++lane) {
      _mm_storel_pi(reinterpret_cast<__m64*>(dm + (lane * nsub + sb) * 2),
                    Fp16Pair(LoadU16(gb + 2 * lane), LoadU16(gb + 16 + 2 * lane)));
    }
    NibbleSub sc;
    DecodeNibbleSub(gb + Q4GRows8CodeByte(s, 0, 0, 0), c15, &sc);
    StoreNibbleTransposed(sc.lo, codes + 32 * sb, lane_codes);
    StoreNibbleTransposed(sc.hi, codes + 32 * sb + 16, lane_codes);
  }
}

// Up to kGroupTokensMax tokens run through RunGroups (a group's codes decoded
// once per token tile, the activations broadcast), more through the Lanes GEMM
// (tokens in the lanes), as dot_q4g.cc does on the file layout. Both give the
// MatVec bits. The bound from simd_kernels_bench BM_MatMul_Q4_G_repacked_simd
// (docs/benchmarks.md §0, twentieth session).
constexpr int64_t kGroupTokensMax = 32;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m <= kGroupTokensMax) return RunGroups(w, r0, r1, act, act_stride, m, NibbleOut{y, y_stride, 0, r0, r1});
  const int64_t nsub = (w.cols + quant::kQ4GSubBlockSize - 1) / quant::kQ4GSubBlockSize;
  const auto rows = [&](int64_t c0, int64_t c1, uint8_t* codes, float* dm) HWY_ATTR {
    DecodeNibbleRows(c0, c1, nsub, codes, dm,
                     [&](int64_t g, uint8_t* gc, float* gdm) HWY_ATTR { DecodeGroupTo(w, g, gc, gdm); });
  };
  CodesBitsMatMul<4, Affine>(w, r0, r1, act, act_stride, m, y, y_stride, RowRangeDecode<decltype(rows)>{rows});
}

bool IsFastImpl() { return true; }

#else  // portable: each group back to the file layout, then the file kernels

SEPTET_NIBBLE_ROWS8_IN_FILE_LAYOUT(Q4GRows8Row, detail::Q4GMatVec, detail::Q4GMatMul)

#endif  // SEPTET_SIMD_X86

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q4GRows8, w.type == DType::kQ4_G && w.layout == cpu::WeightLayout::kQ4GRows8)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q4GRows8)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
