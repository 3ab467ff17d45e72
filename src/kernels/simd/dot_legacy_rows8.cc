// Q4_0 / Q4_1 x Q8_A kernels on the repacked layout WeightLayout::kLegacy4Rows8
// (kernels/simd/repack.h): 8 rows interleaved, an int32 lane per row.
//
// Decode (x86): per block of 8 rows, the 16 (Q4_1: 32) bytes of d (and m)
// converted by one vcvtph2ps each, then four 32-byte loads of codes, each two
// vectors (& 15 and (>> 4) & 15) dotted with a broadcast quad of activation codes
// (NibbleSubDot, nibble_rows8-inl.h): lane r is row r's exact int32 block dot, the
// integer the file-layout kernel (dot_ggml_legacy.cc) gets by its horizontal sum.
// The float step per lane is that kernel's, in its 4 positions (block mod 4),
// then (s0 + s1) + (s2 + s3):
//   Q4_0: sum += (d x_d) (float(acc) - 8 x_sum)
//   Q4_1: sum += x_d (d float(acc) + m x_sum)
// so MatVec gives the file layout's bits. The file kernel reduces every block of
// every row horizontally (HSum4x8 per 4 blocks) and loads its activation quads
// once per 4 rows; here one broadcast serves 8 rows and no reduction is left.
// MatMul of up to 8 tokens runs the same loop with each block decoded once per
// tile of 4 tokens; of more, the GEMM of token_lanes-inl.h on rows decoded from
// this layout a group at a time (the file layout's GEMM on the same codes and
// scales). Both give MatVec's bits per token.
// Portable targets: each 8-row group back to the file layout, then the file kernels.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_legacy_rows8.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/nibble_rows8-inl.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/ggml_legacy.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kRows = kNibbleRows;
static_assert(quant::kGgmlLegacyBlockSize == quant::kQ8ABlockSize);

// Q4_0 (kMin false: d, offset 8) or Q4_1 (d and m).
template <bool kMinT>
struct Layout {
  static constexpr bool kMin = kMinT;
  static constexpr DType kType = kMin ? DType::kQ4_1 : DType::kQ4_0;
  static constexpr size_t kGroupBlockBytes = kRows * (kMin ? sizeof(quant::BlockQ4_1) : sizeof(quant::BlockQ4_0));
  static constexpr size_t kCodes = Legacy4Rows8CodeByte(kType, 0, 0, 0);
};
static_assert(Legacy4Rows8CodeByte(DType::kQ4_0, 1, 0, 0) - Legacy4Rows8CodeByte(DType::kQ4_0, 0, 0, 0) == 32 &&
              Legacy4Rows8CodeByte(DType::kQ4_0, 0, 1, 0) - Legacy4Rows8CodeByte(DType::kQ4_0, 0, 0, 0) == 4 &&
              Layout<false>::kCodes == 16 && Layout<true>::kCodes == 32);

#if SEPTET_SIMD_X86

// Tokens t0 .. t0 + T - 1 of group g (activations act_stride apart, meta
// 2 nb floats apart); `sweep` (or null) steps once per block.
template <class L, int T>
HWY_INLINE void GroupTokens(const cpu::WeightView& w, int64_t g, const uint8_t* act, size_t act_stride,
                            const float* meta, int64_t t0, const NibbleOut& out, TileSweep* sweep) {
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  const __m256i c15 = _mm256_set1_epi8(15);
  const uint8_t* gb = NibbleGroup(w, g);
  __m256 sum[T][4];
  for (auto& st : sum) {
    for (auto& v : st) v = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b, gb += L::kGroupBlockBytes) {
    if (sweep != nullptr) sweep->Step();
    const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb)));
    NibbleSub sc;
    DecodeNibbleSub(gb + L::kCodes, c15, &sc);
    const int p = static_cast<int>(b % 4);
    for (int t = 0; t < T; ++t) {
      const __m256i acc = NibbleSubDot(sc, Q8ACodes(Q8ABlock(act + static_cast<size_t>(t0 + t) * act_stride, b)));
      const float* mt = meta + (t0 + t) * 2 * nb + 2 * b;  // x_d, float(x_sum)
      if constexpr (L::kMin) {
        const __m256 m8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + 16)));
        const __m256 inner = _mm256_fmadd_ps(d8, _mm256_cvtepi32_ps(acc), _mm256_mul_ps(m8, _mm256_broadcast_ss(mt + 1)));
        sum[t][p] = _mm256_fmadd_ps(_mm256_broadcast_ss(mt), inner, sum[t][p]);
      } else {  // 8 x_sum is exact (|x_sum| <= 32 * 127)
        const __m256 centred = _mm256_sub_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(8.0f * mt[1]));
        sum[t][p] = _mm256_fmadd_ps(_mm256_mul_ps(d8, _mm256_broadcast_ss(mt)), centred, sum[t][p]);
      }
    }
  }
  for (int t = 0; t < T; ++t) StoreNibbleGroup(out, g, t0 + t, sum[t]);
}

// Rows [r0, r1) for m tokens (ForNibbleGroupTiles).
template <class L>
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const NibbleOut& out) {
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  const float* meta = FillNibbleMeta(act, act_stride, m, nb);
  ForNibbleGroupTiles(w, r0, r1, m, nb, [&](int64_t g, auto tokens, int64_t t, TileSweep* sweep) HWY_ATTR {
    GroupTokens<L, decltype(tokens)::value>(w, g, act, act_stride, meta, t, out, sweep);
  });
}

// Group g decoded for the GEMM: lane i's codes (weight order) at codes + i nb 32,
// its per-block (d, m) (m = 0 for Q4_0, as the file layout's GEMM reads them) at
// dm + i nb 2.
template <class L>
void DecodeGroupTo(const cpu::WeightView& w, int64_t g, uint8_t* codes, float* dm) {
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  const size_t lane_codes = static_cast<size_t>(nb) * 32;
  const __m256i c15 = _mm256_set1_epi8(15);
  const uint8_t* gb = NibbleGroup(w, g);
  for (int64_t b = 0; b < nb; ++b, gb += L::kGroupBlockBytes) {
    for (int lane = 0; lane < kRows; ++lane) {
      _mm_storel_pi(reinterpret_cast<__m64*>(dm + (lane * nb + b) * 2),
                    Fp16Pair(LoadU16(gb + 2 * lane), L::kMin ? LoadU16(gb + 16 + 2 * lane) : uint16_t{0}));
    }
    NibbleSub sc;
    DecodeNibbleSub(gb + L::kCodes, c15, &sc);
    StoreNibbleTransposed(sc.lo, codes + 32 * b, lane_codes);
    StoreNibbleTransposed(sc.hi, codes + 32 * b + 16, lane_codes);
  }
}

// Up to kGroupTokensMax tokens through RunGroups, more through the codes GEMM.
// One core, simd_kernels_bench BM_MatMul_Q4_0_{repacked_,}simd 2048 x 2048 on
// AVX3_DL (the file layout runs the GEMM from 1 token): 2 tokens 142 us here
// against 524 by the GEMM, 4: 250 / 513, 8: 421 / 436, 16: 871 / 627.
constexpr int64_t kGroupTokensMax = 8;
template <class L>
void MatMulT(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
             float* y, int64_t y_stride) {
  if (m <= kGroupTokensMax) return RunGroups<L>(w, r0, r1, act, act_stride, m, NibbleOut{y, y_stride, 0, r0, r1});
  const int64_t nb = w.cols / quant::kGgmlLegacyBlockSize;
  const auto rows = [&](int64_t c0, int64_t c1, uint8_t* codes, float* dm) HWY_ATTR {
    DecodeNibbleRows(c0, c1, nb, codes, dm,
                     [&](int64_t g, uint8_t* gc, float* gdm) HWY_ATTR { DecodeGroupTo<L>(w, g, gc, gdm); });
  };
  CodesBitsMatMul<4, std::conditional_t<L::kMin, Affine, Symmetric<8>>>(w, r0, r1, act, act_stride, m, y, y_stride,
                                                                        RowRangeDecode<decltype(rows)>{rows});
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const NibbleOut out{y, 0, r0, r0, r1};
  if (w.type == DType::kQ4_1) return RunGroups<Layout<true>>(w, r0, r1, act, 0, 1, out);
  RunGroups<Layout<false>>(w, r0, r1, act, 0, 1, out);
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (w.type == DType::kQ4_1) return MatMulT<Layout<true>>(w, r0, r1, act, act_stride, m, y, y_stride);
  MatMulT<Layout<false>>(w, r0, r1, act, act_stride, m, y, y_stride);
}

bool IsFastImpl() { return true; }

#else  // portable: each group back to the file layout, then the file kernels

SEPTET_NIBBLE_ROWS8_IN_FILE_LAYOUT(Legacy4Rows8Row, detail::GgmlLegacyMatVec, detail::GgmlLegacyMatMul)

#endif  // SEPTET_SIMD_X86

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Legacy4Rows8, (w.type == DType::kQ4_0 || w.type == DType::kQ4_1) &&
                                                    w.layout == cpu::WeightLayout::kLegacy4Rows8)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Legacy4Rows8)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
