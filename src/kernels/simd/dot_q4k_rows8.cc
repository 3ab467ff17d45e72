// Q4_K x Q8_A kernels on the repacked layout WeightLayout::kQ4KRows8
// (kernels/simd/repack.h): 8 rows interleaved, an int32 lane per row.
//
// Decode (x86), per super-block of 8 rows: twelve 8-byte loads of the packed
// scale bytes, each zero-extended to a lane per row, unpack the 6-bit scales
// and mins lane-wise (quant::KQuantScaleMin's rule), dl = d sc and ml = dmin mn
// as the file kernel forms them (dot_ggml_kquants.cc ScalesMins8); then per
// sub-block 8 code vectors (& 15 or (>> 4) & 15 of 8 loads, 4 weights of the 8
// rows each) dotted with broadcast activation quads: lane r is row r's exact
// int32 sub-block dot, and the float step per lane is the file kernel's,
// s_j = fma(x_d, fmsub(dl, float(acc), ml x_sum), s_j) over 4 positions
// (sub-block mod 4), then (s0 + s1) + (s2 + s3): MatVec gives the file layout's
// bits. The file kernel reduces each row's sums horizontally and unpacks each
// row's scales alone; here one broadcast serves 8 rows. MatMul of up to 8 tokens
// runs the same loop with each super-block decoded once per tile of 4 tokens;
// of more, the codes GEMM of token_lanes-inl.h (KAffine) on rows decoded a group
// at a time. Both give MatVec's bits per token.
// Portable targets: each 8-row group back to the file layout, then the file kernels.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4k_rows8.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/nibble_rows8-inl.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/ggml_kquants.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kRows = kNibbleRows;
constexpr int kSubs = quant::kQK / quant::kQ8ABlockSize;
constexpr size_t kGroupBlockBytes = kRows * sizeof(quant::BlockQ4_K);  // one super-block of 8 rows
constexpr size_t kScaleBytes = 32, kCodeBytes = 128;                  // repack.h's offsets
static_assert(kSubs == 8 && kGroupBlockBytes == 1152);

#if SEPTET_SIMD_X86

// dl[j], ml[j] (sub-block j, lane r = row r) of the group super-block at gb.
HWY_INLINE void GroupScales(const uint8_t* gb, float (&dl)[kSubs][kRows], float (&ml)[kSubs][kRows]) {
  const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb)));
  const __m256 m8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + 16)));
  __m256i s[12];  // byte k of each row's scales[12], zero-extended
  for (int k = 0; k < 12; ++k) {
    s[k] = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(gb + kScaleBytes + 8 * k)));
  }
  const __m256i c63 = _mm256_set1_epi32(63), c15 = _mm256_set1_epi32(15);
  for (int j = 0; j < kSubs; ++j) {
    __m256i sc, mn;
    if (j < 4) {
      sc = _mm256_and_si256(s[j], c63);
      mn = _mm256_and_si256(s[j + 4], c63);
    } else {
      sc = _mm256_or_si256(_mm256_and_si256(s[j + 4], c15), _mm256_slli_epi32(_mm256_srli_epi32(s[j - 4], 6), 4));
      mn = _mm256_or_si256(_mm256_srli_epi32(s[j + 4], 4), _mm256_slli_epi32(_mm256_srli_epi32(s[j], 6), 4));
    }
    _mm256_storeu_ps(dl[j], _mm256_mul_ps(d8, _mm256_cvtepi32_ps(sc)));
    _mm256_storeu_ps(ml[j], _mm256_mul_ps(m8, _mm256_cvtepi32_ps(mn)));
  }
}

// The 8 code vectors of sub-block 2 p + h (v[c], dword r = weights 4c..4c+3 of row r).
HWY_INLINE void SubCodes(const uint8_t* gb, int p, int h, __m256i (&v)[8]) {
  const __m256i c15 = _mm256_set1_epi8(15);
  for (int c = 0; c < 8; ++c) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb + kCodeBytes + 256 * p + 32 * c));
    v[c] = _mm256_and_si256(h == 0 ? q : _mm256_srli_epi16(q, 4), c15);
  }
}

// Lane r: row r's exact int32 dot of the sub-block with the 32 activation codes x.
HWY_INLINE __m256i SubDot(const __m256i (&v)[8], const int8_t* x) {
  const uint8_t* xb = reinterpret_cast<const uint8_t*>(x);
#if HWY_TARGET == HWY_AVX3_DL
  __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
  for (int c = 0; c < 8; c += 2) {
    a = Dpbusd256(a, v[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 4 * c))));
    b = Dpbusd256(b, v[c + 1], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 4 * c + 4))));
  }
  return _mm256_add_epi32(a, b);
#else
  __m256i p = _mm256_setzero_si256();  // int16 pair sums, |.| <= 8 * 2 * 15 * 127 = 30480
  for (int c = 0; c < 8; ++c) {
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(v[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 4 * c)))));
  }
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
}

// Tokens t0 .. t0 + T - 1 of group g (activations act_stride apart, meta 2 nact
// floats apart); `sweep` (or null) steps once per super-block.
template <int T>
HWY_INLINE void GroupTokens(const cpu::WeightView& w, int64_t g, const uint8_t* act, size_t act_stride,
                            const float* meta, int64_t t0, const NibbleOut& out, TileSweep* sweep) {
  const int64_t nsb = w.cols / quant::kQK, nact = nsb * kSubs;
  const uint8_t* gb = NibbleGroup(w, g);
  __m256 sum[T][4];
  for (auto& st : sum) {
    for (auto& v : st) v = _mm256_setzero_ps();
  }
  alignas(32) float dl[kSubs][kRows], ml[kSubs][kRows];
  for (int64_t sb = 0; sb < nsb; ++sb, gb += kGroupBlockBytes) {
    if (sweep != nullptr) sweep->Step();
    GroupScales(gb, dl, ml);
    for (int j = 0; j < kSubs; ++j) {
      __m256i v[8];
      SubCodes(gb, j / 2, j % 2, v);
      const int64_t b = sb * kSubs + j;
      const __m256 dlj = _mm256_load_ps(dl[j]), mlj = _mm256_load_ps(ml[j]);
      for (int t = 0; t < T; ++t) {
        const __m256i acc = SubDot(v, Q8ACodes(Q8ABlock(act + static_cast<size_t>(t0 + t) * act_stride, b)));
        const float* mt = meta + (t0 + t) * 2 * nact + 2 * b;  // x_d, float(x_sum)
        const __m256 inner = _mm256_fmsub_ps(dlj, _mm256_cvtepi32_ps(acc), _mm256_mul_ps(mlj, _mm256_broadcast_ss(mt + 1)));
        sum[t][j % 4] = _mm256_fmadd_ps(_mm256_broadcast_ss(mt), inner, sum[t][j % 4]);
      }
    }
  }
  for (int t = 0; t < T; ++t) StoreNibbleGroup(out, g, t0 + t, sum[t]);
}

// Rows [r0, r1) for m tokens (ForNibbleGroupTiles).
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const NibbleOut& out) {
  const int64_t nsb = w.cols / quant::kQK;
  const float* meta = FillNibbleMeta(act, act_stride, m, nsb * kSubs);
  ForNibbleGroupTiles(w, r0, r1, m, nsb, [&](int64_t g, auto tokens, int64_t t, TileSweep* sweep) HWY_ATTR {
    GroupTokens<decltype(tokens)::value>(w, g, act, act_stride, meta, t, out, sweep);
  });
}

// Group g decoded for the GEMM: lane i's codes (weight order) at codes + i nsub 32,
// its per-sub-block (dl, ml) at dm + i nsub 2 (the file GEMM's KAffine values).
void DecodeGroupTo(const cpu::WeightView& w, int64_t g, uint8_t* codes, float* dm) {
  const int64_t nsb = w.cols / quant::kQK, nsub = nsb * kSubs;
  const size_t lane_codes = static_cast<size_t>(nsub) * 32;
  const uint8_t* gb = NibbleGroup(w, g);
  alignas(32) float dl[kSubs][kRows], ml[kSubs][kRows];
  for (int64_t sb = 0; sb < nsb; ++sb, gb += kGroupBlockBytes) {
    GroupScales(gb, dl, ml);
    for (int j = 0; j < kSubs; ++j) {
      const int64_t s = sb * kSubs + j;
      for (int lane = 0; lane < kRows; ++lane) {
        dm[(lane * nsub + s) * 2] = dl[j][lane];
        dm[(lane * nsub + s) * 2 + 1] = ml[j][lane];
      }
      __m256i v[8];
      SubCodes(gb, j / 2, j % 2, v);
      StoreNibbleTransposed({v[0], v[1], v[2], v[3]}, codes + 32 * s, lane_codes);
      StoreNibbleTransposed({v[4], v[5], v[6], v[7]}, codes + 32 * s + 16, lane_codes);
    }
  }
}

// Up to kGroupTokensMax tokens through RunGroups, more through the codes GEMM.
constexpr int64_t kGroupTokensMax = 8;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m <= kGroupTokensMax) return RunGroups(w, r0, r1, act, act_stride, m, NibbleOut{y, y_stride, 0, r0, r1});
  const int64_t nsub = w.cols / quant::kQ8ABlockSize;
  const auto rows = [&](int64_t c0, int64_t c1, uint8_t* codes, float* dm) HWY_ATTR {
    DecodeNibbleRows(c0, c1, nsub, codes, dm,
                     [&](int64_t g, uint8_t* gc, float* gdm) HWY_ATTR { DecodeGroupTo(w, g, gc, gdm); });
  };
  CodesBitsMatMul<4, KAffine>(w, r0, r1, act, act_stride, m, y, y_stride, RowRangeDecode<decltype(rows)>{rows});
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, NibbleOut{y, 0, r0, r0, r1});
}

bool IsFastImpl() { return true; }

#else  // portable: each group back to the file layout, then the file kernels

SEPTET_NIBBLE_ROWS8_IN_FILE_LAYOUT(Q4KRows8Row, detail::GgmlKQuantsMatVec, detail::GgmlKQuantsMatMul)

#endif  // SEPTET_SIMD_X86

}  // namespace

SEPTET_SIMD_LAYOUT_FAMILY_TARGET(Q4KRows8, w.type == DType::kQ4_K && w.layout == cpu::WeightLayout::kQ4KRows8)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_LAYOUT_FAMILY_DISPATCH(Q4KRows8)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
