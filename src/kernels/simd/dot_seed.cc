// Q3P5_SEED x Q8_R kernels (format: quant/q3p5_seed.h): one int32 accumulator
// over the whole row, one float combination per row.
//
// AVX2, per 32 weights (16 pairs = 14 bytes): one 16-byte broadcast load;
// vpshufb puts the two bytes holding pair j into 16-bit lane j; vpmullw by
// 2^(8 - 7j mod 8) is the per-lane variable shift (AVX2 has no vpsrlvw), after
// which the 7-bit code sits in the high byte; two shifts and masks split it
// into the unsigned fields (q4 + 8 | (q3 + 4) << 8), in weight order, for
// vpmaddubsw against the activation codes. The unsigned offsets are removed
// once per row: acc = sum - 8 * sum(x_even) - 4 * sum(x_odd), with the
// activation's even/odd code sums computed once per call. int32 lanes wrap
// (two's complement) but the true acc fits (row length <= K_max), so the
// result is exact; the float formula is the scalar one, bit for bit.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_seed.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "quant/q3p5_seed.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr size_t kHdr = sizeof(quant::Q3P5SeedHeader);
constexpr size_t kActHdr = sizeof(quant::Q8RHeader);

HWY_INLINE float FinishRow(const uint8_t* wrow, const uint8_t* act, int32_t acc) {
  const float xd = LoadF32(act);
  int32_t xsum;
  std::memcpy(&xsum, act + 4, 4);
  return detail::SeedCombine(xd, xsum, LoadF32(wrow), LoadF32(wrow + 4), acc);
}

// Signed codes of weights [i0, n) dotted with x (the scalar reference's loop).
HWY_INLINE int32_t TailAcc(const uint8_t* stream, const int8_t* x, int64_t i0, int64_t n) {
  uint32_t acc = 0;
  for (int64_t i = i0; i < n; ++i) {
    const uint8_t c = quant::Q3P5SeedGetPair(stream, i / 2);
    const int q = i % 2 == 0 ? quant::Q3P5SeedQ4(c) : quant::Q3P5SeedQ3(c);
    acc += static_cast<uint32_t>(int32_t{x[i]} * q);
  }
  return static_cast<int32_t>(acc);
}

#if SEPTET_SIMD_X86

struct Tables {
  __m256i shuf, mul, c0f, c700, ones16;
};

Tables MakeTables() {
  alignas(32) int8_t shuf[32];
  alignas(32) int16_t mul[16];
  for (int l = 0; l < 16; ++l) {  // 16-bit lane l = pair l of the 16
    const int bit = 7 * l;
    shuf[2 * l] = static_cast<int8_t>(bit / 8);
    shuf[2 * l + 1] = static_cast<int8_t>(bit / 8 + 1);
    mul[l] = static_cast<int16_t>(1 << (8 - bit % 8));
  }
  // vpshufb indexes within each 128-bit lane; the source is the same 16 bytes
  // in both lanes, so the upper lane's indices are the absolute byte offsets.
  Tables t;
  t.shuf = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(shuf));
  t.mul = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mul));
  t.c0f = _mm256_set1_epi16(0x000F);
  t.c700 = _mm256_set1_epi16(0x0700);
  t.ones16 = _mm256_set1_epi16(1);
  return t;
}

// 16 pairs from the 14 bytes at p (16 bytes readable).
HWY_INLINE __m256i DecodeChunk(const Tables& t, const uint8_t* p) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i s = _mm256_mullo_epi16(_mm256_shuffle_epi8(v, t.shuf), t.mul);
  return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(s, 8), t.c0f),
                         _mm256_and_si256(_mm256_srli_epi16(s, 4), t.c700));
}

// 8 * sum(x_even) + 4 * sum(x_odd) over the first 32 * nc codes.
int32_t OffsetCorrection(const int8_t* x, int64_t nc) {
  const __m256i w = _mm256_set1_epi16(static_cast<int16_t>(8 | (4 << 8)));
  __m256i acc = _mm256_setzero_si256();
  for (int64_t c = 0; c < nc; ++c) {
    acc = _mm256_add_epi32(acc, MulAddU8I8(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * c)),
                                           _mm256_set1_epi16(1)));
  }
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_hadd_epi32(s, s);
  s = _mm_hadd_epi32(s, s);
  return _mm_cvtsi128_si32(s);
}

template <int R>
HWY_INLINE void RowsAvx2(const Tables& t, const cpu::WeightView& w, int64_t row, const uint8_t* act,
                         int32_t corr, float* y) {
  const int64_t n = w.cols;
  const int64_t nc = n / 32;
  const size_t stream_bytes = quant::Q3P5SeedStreamBytes(n);
  // Chunks whose 16-byte load stays inside the row; the rest via a copy.
  const int64_t nc_safe = stream_bytes >= 16 ? std::min<int64_t>(nc, static_cast<int64_t>((stream_bytes - 16) / 14) + 1) : 0;
  const int8_t* x = reinterpret_cast<const int8_t*>(act + kActHdr);
  __m256i acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_si256();
  for (int64_t c = 0; c < nc; ++c) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * c));
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = w.row(row + r) + kHdr + 14 * c;
      alignas(16) uint8_t buf[16] = {};
      if (c >= nc_safe) {
        std::memcpy(buf, p, 14);
        p = buf;
      }
      acc[r] = _mm256_add_epi32(acc[r], DotU8I8(DecodeChunk(t, p), xv));
    }
  }
  for (int r = 0; r < R; ++r) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc[r]), _mm256_extracti128_si256(acc[r], 1));
    s = _mm_hadd_epi32(s, s);
    s = _mm_hadd_epi32(s, s);
    const uint8_t* wrow = w.row(row + r);
    const uint32_t total = static_cast<uint32_t>(_mm_cvtsi128_si32(s)) - static_cast<uint32_t>(corr) +
                           static_cast<uint32_t>(TailAcc(wrow + kHdr, x, 32 * nc, n));
    y[r] = FinishRow(wrow, act, static_cast<int32_t>(total));
  }
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  SEPTET_CHECK_MSG(w.cols <= quant::kQ3P5SeedMaxRowLength, "Q3P5_SEED: row longer than K_max");
  if (w.cols == 0) {
    for (int64_t r = r0; r < r1; ++r) y[r - r0] = 0.0f;
    return;
  }
  const Tables t = MakeTables();
  const int32_t corr = OffsetCorrection(reinterpret_cast<const int8_t*>(act + kActHdr), w.cols / 32);
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsAvx2<4>(t, w, r, act, corr, y + (r - r0));
  for (; r < r1; ++r) RowsAvx2<1>(t, w, r, act, corr, y + (r - r0));
}

#else  // portable fallback: the scalar integer core

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  SEPTET_CHECK_MSG(w.cols <= quant::kQ3P5SeedMaxRowLength, "Q3P5_SEED: row longer than K_max");
  const int8_t* x = reinterpret_cast<const int8_t*>(act + kActHdr);
  for (int64_t r = r0; r < r1; ++r) {
    y[r - r0] = w.cols == 0 ? 0.0f : FinishRow(w.row(r), act, TailAcc(w.row(r) + kHdr, x, 0, w.cols));
  }
}

#endif  // SEPTET_SIMD_X86

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  MatMulByRowTiles(MatVecImpl, w, r0, r1, act, act_stride, m, y, y_stride);
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Q3P5Seed, MatVecImpl, MatMulImpl)

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

__attribute__((noinline)) float SeedCombine(float x_d, int32_t x_sum, float scale, float offset, int32_t acc) {
  return (x_d * scale) * (static_cast<float>(acc) + offset * static_cast<float>(x_sum));
}

SEPTET_SIMD_FAMILY_DISPATCH(Q3P5Seed)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
