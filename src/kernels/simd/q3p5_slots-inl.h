// Q3P5 on the slot layout (kernels/simd/repack.h), per Highway target: the
// block constants, the Q8_B activation's scale and offset product, and on x86
// the decode of a block's four slots and their integer dot (Dot4), shared by
// dot_q3p5_slots.cc and q3p5_lanes-inl.h. Included once per target after
// common-inl.h, hence the toggle guard.

#if defined(SEPTET_KERNELS_SIMD_Q3P5_SLOTS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SEPTET_KERNELS_SIMD_Q3P5_SLOTS_INL_H_
#undef SEPTET_KERNELS_SIMD_Q3P5_SLOTS_INL_H_
#else
#define SEPTET_KERNELS_SIMD_Q3P5_SLOTS_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/simd/common-inl.h"
#include "quant/q3p5.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

constexpr int kBlock = quant::kQ3P5BlockSize;
constexpr size_t kBlockBytes = sizeof(quant::BlockQ3P5);
constexpr int kSubs = quant::kQ3P5SubBlocks;
constexpr size_t kActBytes = sizeof(quant::BlockQ8B);
constexpr size_t kActQs = offsetof(quant::BlockQ8B, qs);
static_assert(kBlock == quant::kQ8BBlockSize && kSubs == 4 && kBlockBytes == 56);
static_assert(kActBytes == 136 && kActQs == 8 && offsetof(quant::BlockQ8B, sum) == 4);

// Sub-blocks of a row's final short block (0: none).
HWY_INLINE int TailSubs(int64_t n) {
  return static_cast<int>((n % kBlock + quant::kQ3P5SubBlockSize - 1) / quant::kQ3P5SubBlockSize);
}

// The activation block's scale x_d and offset product X_b = x_d * x_sum (one
// rounding; MatVec and MatMul take it from here).
HWY_INLINE float ActScale(const uint8_t* xb) { return LoadF32(xb); }
HWY_INLINE float ActOffset(const uint8_t* xb) {
  int16_t s;
  std::memcpy(&s, xb + 4, 2);
  return LoadF32(xb) * static_cast<float>(s);
}

#if SEPTET_SIMD_X86

// vpmaddubsw pair sums of the four slots added in int16 (Dot4): slots 1..3
// (u <= 7) summed and doubled, then slot 0 (v <= 15): 2 * (3 * 2 * 7 * 127) + 2 * 15 * 127.
static_assert(2 * (3 * 2 * 7 * quant::kActMaxAbs) + 2 * quant::kQ3P5MaxCode4 * quant::kActMaxAbs <= 32767);

struct Consts {
  __m256i sh_q, sh_r, sh_l, c15, c7, c6, c3, c1;
};

HWY_INLINE Consts MakeConsts() {
  Consts k;
  k.sh_q = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  k.sh_r = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  k.sh_l = _mm256_setr_epi64x(0, 2, 4, 6);
  k.c15 = _mm256_set1_epi8(15);
  k.c7 = _mm256_set1_epi8(7);
  k.c6 = _mm256_set1_epi8(6);
  k.c3 = _mm256_set1_epi8(3);
  k.c1 = _mm256_set1_epi8(1);
  return k;
}

// A block's codes in weight order: c[0] = v (slot 0, weight 1), c[1..3] = u
// (slots 1..3, weight 2: Dot4 doubles their sum, Weighted doubles the codes).
struct Decoded {
  __m256i c[kSubs];
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
  db->c[0] = _mm256_and_si256(q, k.c15);                        // v: the nibble
  db->c[1] = _mm256_and_si256(p, k.c7);                         // u1: bits 0..2
  db->c[2] = _mm256_and_si256(_mm256_srli_epi16(p, 3), k.c7);   // u2: bits 3..5
  db->c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(p, 5), k.c6),  // u3: bits 6, 7 to 1, 2
                             _mm256_and_si256(r, k.c1));                       // and R's bit 0
}

// c[1..3] doubled: every slot's code times its weight (for kernels that dot
// each slot on its own).
HWY_INLINE void Weighted(Decoded* db) {
  for (int s = 1; s < kSubs; ++s) db->c[s] = _mm256_add_epi8(db->c[s], db->c[s]);
}

// The short block: header as for a full block (sel ignored), ns sub-blocks of
// u in natural order in Decoded's convention (c[0] = 2 u: weight 1; c[1..] = u),
// the other slots zero.
HWY_INLINE void DecodeShort(const Consts& k, const uint8_t* blk, int ns, Decoded* db) {
  db->sel = 0;
  DecodeHeader(LoadU32(blk), db);
  for (int s = 0; s < kSubs; ++s) db->c[s] = _mm256_setzero_si256();
  for (int s = 0; s < ns; ++s) {
    const uint8_t* sb = blk + 4 + 12 * s;
    int64_t l;
    std::memcpy(&l, sb, 8);
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(l), k.sh_l), k.c3);
    const __m256i hi =
        _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(LoadU32(sb + 8))), k.sh_r), k.c1);
    const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
    db->c[s] = s == 0 ? _mm256_add_epi8(u, u) : u;
  }
}

HWY_INLINE __m256i LoadX(const int8_t* x) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)); }

// c[0] . x_0 + 2 (c[1] . x_1 + c[2] . x_2 + c[3] . x_3) (Decoded's weights), 8
// int32 lanes (lane i: bytes 4i..4i+3 of every slot), the same exact integers on
// every x86 target.
HWY_INLINE __m256i Dot4(const __m256i c[kSubs], const int8_t* x0, const int8_t* x1, const int8_t* x2,
                        const int8_t* x3) {
#if HWY_TARGET == HWY_AVX3_DL
  __m256i a = Dpbusd256(_mm256_setzero_si256(), c[1], LoadX(x1));
  a = Dpbusd256(a, c[2], LoadX(x2));
  a = Dpbusd256(a, c[3], LoadX(x3));
  return Dpbusd256(_mm256_add_epi32(a, a), c[0], LoadX(x0));
#else
  __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(c[1], LoadX(x1)), _mm256_maddubs_epi16(c[2], LoadX(x2)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[3], LoadX(x3)));
  s = _mm256_add_epi16(_mm256_add_epi16(s, s), _mm256_maddubs_epi16(c[0], LoadX(x0)));
  return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
#endif
}
#endif  // SEPTET_SIMD_X86

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#endif  // SEPTET_KERNELS_SIMD_Q3P5_SLOTS_INL_H_ toggle
