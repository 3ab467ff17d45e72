// Q3P5 x Q8_A kernels on the repacked layout WeightLayout::kQ3P5Slots
// (kernels/simd/repack.h has the byte layout and the decode).
//
// AVX2, per 128-weight block and row: 13 integer ops decode the 4 slots (codes
// in weight order, no activation shuffle), then per slot vpmaddubsw +
// vpmaddwd against the activation block of sub-block (sel + k) mod 4, and the
// int32 lanes go to float at once: T = sum_k float(acc_k) * c_k x_d(k) with
// c_0 = 1 (half-step codes v), c_k = 2 (codes u, step d = 2 h), one FMA
// acc += d * T into 8 float lanes per row, and one FMA of [d, m] x [0, X_b]
// for the offset term, X_b = sum_s x_d[s] x_sum[s] (per activation block,
// shared by all rows). One horizontal sum per row at the end:
//   y = 0.5 * sum(acc) + sum_b m_b X_b.
// A row's final short block (repack.h) is one more block whose ns sub-blocks
// all hold 3-bit codes u (c = 2), in natural order: no scalar tail.
// The activation is prepared once per call (PreparedBlock per block: codes of
// sub-blocks 0,1,2,3,0,1,2 so the 4 slots are contiguous from sub-block sel,
// scales x_d and 2 x_d likewise, X_b; the short block's PreparedBlock holds its
// ns sub-blocks in order), in a per-thread buffer that is reused across calls.
// Prefill decodes a tile of rows once per block and runs the same per-(row,
// token) op sequence as MatVec: bit-identical per token.
// Portable targets: scalar decode of the slots, SIMD integer dot, the scalar
// per-sub-block formula.
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
static_assert(kBlock == 4 * quant::kQ8ABlockSize && kSubs == 4 && kBlockBytes == 56);

// Sub-blocks of a row's final short block (0: none).
int TailSubs(int64_t n) { return static_cast<int>((n % kBlock + quant::kQ3P5SubBlockSize - 1) / quant::kQ3P5SubBlockSize); }

#if SEPTET_SIMD_X86

struct alignas(32) PreparedBlock {
  int8_t x[7][32];  // codes of sub-block i % 4
  float xd[4];      // x_d[s]              (slot 0: scale of v)
  float xd2[8];     // 2 x_d[i % 4], i < 7 (slots 1..3: scale of u)
  float xs[4];      // {0, X_b, 0, 0}, X_b = sum_s x_d[s] x_sum[s]
};
static_assert(sizeof(PreparedBlock) == 288);

// The per-thread activation buffer, grown on demand and reused (no allocation
// per call once it has reached the largest size a thread needs).
PreparedBlock* PreparedBuffer(size_t n) {
  thread_local std::vector<PreparedBlock> buf;  // C++17 aligned new: 32-byte aligned
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

HWY_INLINE float FmaSum(float xd, int32_t xsum, float acc) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(xd), _mm_set_ss(static_cast<float>(xsum)), _mm_set_ss(acc)));
}

// nb full blocks, then (ns > 0) the short block's ns sub-blocks in order.
// Noinline: one compiled body (fixed rounding of X_b) for MatVec and MatMul.
HWY_NOINLINE void PrepareAct(const uint8_t* act, int64_t nb, int ns, PreparedBlock* out) {
  for (int64_t b = 0; b < nb; ++b) {
    PreparedBlock& p = out[b];
    const uint8_t* xb = Q8ABlock(act, b * kSubs);
    float xs = 0.0f;
    for (int i = 0; i < 7; ++i) {
      std::memcpy(p.x[i], Q8ACodes(xb + (i & 3) * kQ8ABytes), 32);
      p.xd2[i] = 2.0f * Q8AScale(xb + (i & 3) * kQ8ABytes);
    }
    p.xd2[7] = 0.0f;
    for (int s = 0; s < kSubs; ++s) {
      p.xd[s] = Q8AScale(xb + s * kQ8ABytes);
      xs = FmaSum(p.xd[s], Q8ASum(xb + s * kQ8ABytes), xs);
    }
    p.xs[0] = 0.0f;
    p.xs[1] = xs;
    p.xs[2] = 0.0f;
    p.xs[3] = 0.0f;
  }
  if (ns == 0) return;
  PreparedBlock& p = out[nb];
  p = PreparedBlock{};
  const uint8_t* xb = Q8ABlock(act, nb * kSubs);
  float xs = 0.0f;
  for (int s = 0; s < ns; ++s) {
    std::memcpy(p.x[s], Q8ACodes(xb + s * kQ8ABytes), 32);
    p.xd2[s] = 2.0f * Q8AScale(xb + s * kQ8ABytes);
    xs = FmaSum(Q8AScale(xb + s * kQ8ABytes), Q8ASum(xb + s * kQ8ABytes), xs);
  }
  p.xs[1] = xs;
}

struct Consts {
  __m256i sh_q, sh_r, sh_l, c15, c7, c4, c3, c2, c1, ones16;
};

Consts MakeConsts() {
  Consts k;
  k.sh_q = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  k.sh_r = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  k.sh_l = _mm256_setr_epi64x(0, 2, 4, 6);
  k.c3 = _mm256_set1_epi8(3);
  k.c15 = _mm256_set1_epi8(15);
  k.c7 = _mm256_set1_epi8(7);
  k.c4 = _mm256_set1_epi8(4);
  k.c2 = _mm256_set1_epi8(2);
  k.c1 = _mm256_set1_epi8(1);
  k.ones16 = _mm256_set1_epi16(1);
  return k;
}

struct Decoded {
  __m256i u[kSubs];  // slot codes, weight order
  __m128 dm;         // [d, m, 0, 0]
  int sel;
};

HWY_INLINE void Decode(const Consts& k, const uint8_t* blk, Decoded* db) {
  const uint32_t hdr = LoadU32(blk);
  db->sel = static_cast<int>((hdr >> 15) & 3u);
  // d: bits 0..14 (fp16, sign 0); m: bits 17..31 = fp16 bits 1..15 (bit 0 is 0).
  db->dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(hdr & 0xFFFE7FFFu)));
  const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 4));
  const __m256i q = _mm256_srlv_epi32(
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 36))), k.sh_q);
  const __m256i r = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(LoadU32(blk + 52))), k.sh_r);
  db->u[0] = _mm256_and_si256(p, k.c15);
  db->u[1] = _mm256_and_si256(_mm256_srli_epi16(p, 4), k.c7);
  db->u[2] = _mm256_and_si256(q, k.c7);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 5), k.c4);
  const __m256i mid = _mm256_and_si256(_mm256_srli_epi16(q, 2), k.c2);
  db->u[3] = _mm256_or_si256(_mm256_or_si256(hi, mid), _mm256_and_si256(r, k.c1));
}

// The short block: header as for a full block (sel ignored), ns sub-blocks of u.
HWY_INLINE void DecodeShort(const Consts& k, const uint8_t* blk, int ns, Decoded* db) {
  db->sel = 0;
  db->dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(LoadU32(blk) & 0xFFFE7FFFu)));
  db->u[0] = _mm256_setzero_si256();  // ns >= 1 overwrites it; keeps the compiler's flow analysis quiet
  for (int s = 0; s < ns; ++s) {
    const uint8_t* sb = blk + 4 + 12 * s;
    int64_t l;
    std::memcpy(&l, sb, 8);
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(l), k.sh_l), k.c3);
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(LoadU32(sb + 8))), k.sh_r), k.c1);
    db->u[s] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
  }
}

HWY_INLINE __m256 SlotDot(const Consts& k, __m256i u, const int8_t* x) {
  const __m256i xv = _mm256_load_si256(reinterpret_cast<const __m256i*>(x));
  return _mm256_cvtepi32_ps(DotU8I8(u, xv));
}

// One block of one row into (acc, accm). The only float ops of the kernel
// (with Finish): MatVec and MatMul run exactly this sequence.
HWY_INLINE void Contribute(const Consts& k, const __m256i u[kSubs], __m128 dm, int sel, const PreparedBlock& p,
                           __m256* acc, __m128* accm) {
  const int8_t* x = p.x[sel];
  __m256 t = _mm256_mul_ps(SlotDot(k, u[0], x), _mm256_broadcast_ss(p.xd + sel));
  t = _mm256_fmadd_ps(SlotDot(k, u[1], x + 32), _mm256_broadcast_ss(p.xd2 + sel + 1), t);
  t = _mm256_fmadd_ps(SlotDot(k, u[2], x + 64), _mm256_broadcast_ss(p.xd2 + sel + 2), t);
  t = _mm256_fmadd_ps(SlotDot(k, u[3], x + 96), _mm256_broadcast_ss(p.xd2 + sel + 3), t);
  *acc = _mm256_fmadd_ps(t, _mm256_broadcastss_ps(dm), *acc);
  *accm = _mm_fmadd_ps(dm, _mm_load_ps(p.xs), *accm);
}

// The short block (all codes u, c = 2, natural order) into (acc, accm).
HWY_INLINE void ContributeShort(const Consts& k, const Decoded& db, int ns, const PreparedBlock& p, __m256* acc,
                                __m128* accm) {
  __m256 t = _mm256_mul_ps(SlotDot(k, db.u[0], p.x[0]), _mm256_broadcast_ss(p.xd2));
  for (int s = 1; s < ns; ++s) t = _mm256_fmadd_ps(SlotDot(k, db.u[s], p.x[s]), _mm256_broadcast_ss(p.xd2 + s), t);
  *acc = _mm256_fmadd_ps(t, _mm256_broadcastss_ps(db.dm), *acc);
  *accm = _mm_fmadd_ps(db.dm, _mm_load_ps(p.xs), *accm);
}

// y = 0.5 * sum(acc) + accm[1]: fixed order, explicit FMA.
HWY_INLINE float Finish(__m256 acc, __m128 accm) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));             // [s0 + s2, s1 + s3]
  s = _mm_add_ss(s, _mm_movehdup_ps(s));              // (s0 + s2) + (s1 + s3)
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(0.5f), s, _mm_movehdup_ps(accm)));
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  const Consts k = MakeConsts();
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  PreparedBlock* px = PreparedBuffer(static_cast<size_t>(nb + 1));
  PrepareAct(act, nb, ns, px);
  int64_t r = r0;
  for (; r + 2 <= r1; r += 2) {  // two rows interleaved (independent chains)
    const uint8_t* wa = w.row(r);
    const uint8_t* wb = w.row(r + 1);
    __m256 acc_a = _mm256_setzero_ps(), acc_b = _mm256_setzero_ps();
    __m128 accm_a = _mm_setzero_ps(), accm_b = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      // Software prefetch: without it the decode and the memory stream do not
      // overlap (measured: ~2x slower than the cached rate on a 26 MB matrix).
      PrefetchWeights(wa + b * kBlockBytes);
      PrefetchWeights(wb + b * kBlockBytes);
      Decoded da, db;
      Decode(k, wa + b * kBlockBytes, &da);
      Decode(k, wb + b * kBlockBytes, &db);
      Contribute(k, da.u, da.dm, da.sel, px[b], &acc_a, &accm_a);
      Contribute(k, db.u, db.dm, db.sel, px[b], &acc_b, &accm_b);
    }
    if (ns > 0) {
      Decoded da, db;
      DecodeShort(k, wa + nb * kBlockBytes, ns, &da);
      DecodeShort(k, wb + nb * kBlockBytes, ns, &db);
      ContributeShort(k, da, ns, px[nb], &acc_a, &accm_a);
      ContributeShort(k, db, ns, px[nb], &acc_b, &accm_b);
    }
    y[r - r0] = Finish(acc_a, accm_a);
    y[r + 1 - r0] = Finish(acc_b, accm_b);
  }
  for (; r < r1; ++r) {
    const uint8_t* wr = w.row(r);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      Decoded d;
      Decode(k, wr + b * kBlockBytes, &d);
      Contribute(k, d.u, d.dm, d.sel, px[b], &acc, &accm);
    }
    if (ns > 0) {
      Decoded d;
      DecodeShort(k, wr + nb * kBlockBytes, ns, &d);
      ContributeShort(k, d, ns, px[nb], &acc, &accm);
    }
    y[r - r0] = Finish(acc, accm);
  }
}

// Prefill: tiles of kTT tokens (activations prepared once per tile) x kRT rows
// (each block decoded once per tile, reused for the kTT tokens).
constexpr int kRT = 4;
constexpr int kTT = 16;

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  const Consts k = MakeConsts();
  const int64_t nb = w.cols / kBlock;
  const int ns = TailSubs(w.cols);
  const size_t nbs = static_cast<size_t>(nb + 1);
  PreparedBlock* px = PreparedBuffer(nbs * kTT);
  __m256 acc[kRT][kTT];
  __m128 accm[kRT][kTT];
  Decoded dec[kRT];
  for (int64_t ta = 0; ta < m; ta += kTT) {
    const int nt = static_cast<int>(std::min<int64_t>(kTT, m - ta));
    for (int tt = 0; tt < nt; ++tt) {
      PrepareAct(act + static_cast<size_t>(ta + tt) * act_stride, nb, ns, px + tt * nbs);
    }
    for (int64_t ra = r0; ra < r1; ra += kRT) {
      const int nr = static_cast<int>(std::min<int64_t>(kRT, r1 - ra));
      for (int r = 0; r < nr; ++r) {
        for (int tt = 0; tt < nt; ++tt) {
          acc[r][tt] = _mm256_setzero_ps();
          accm[r][tt] = _mm_setzero_ps();
        }
      }
      for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < nr; ++r) Decode(k, w.row(ra + r) + b * kBlockBytes, &dec[r]);
        for (int tt = 0; tt < nt; ++tt) {
          const PreparedBlock& p = px[tt * nbs + static_cast<size_t>(b)];
          for (int r = 0; r < nr; ++r) Contribute(k, dec[r].u, dec[r].dm, dec[r].sel, p, &acc[r][tt], &accm[r][tt]);
        }
      }
      if (ns > 0) {
        for (int r = 0; r < nr; ++r) DecodeShort(k, w.row(ra + r) + nb * kBlockBytes, ns, &dec[r]);
        for (int tt = 0; tt < nt; ++tt) {
          const PreparedBlock& p = px[tt * nbs + static_cast<size_t>(nb)];
          for (int r = 0; r < nr; ++r) ContributeShort(k, dec[r], ns, p, &acc[r][tt], &accm[r][tt]);
        }
      }
      for (int r = 0; r < nr; ++r) {
        for (int tt = 0; tt < nt; ++tt) y[(ta + tt) * y_stride + (ra + r)] = Finish(acc[r][tt], accm[r][tt]);
      }
    }
  }
}

bool IsFastImpl() { return true; }

#else  // portable Highway fallback: scalar slot decode, SIMD integer dot

float RowGeneric(const uint8_t* wrow, int64_t n, const uint8_t* act) {
  const int64_t nb = n / kBlock;
  float sum[kSubs] = {0.0f, 0.0f, 0.0f, 0.0f};
  alignas(64) uint8_t codes[kSubs][32];  // slot k: v (k = 0) or u
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wrow + b * kBlockBytes;
    const quant::Q3P5Params p = quant::Q3P5UnpackHeader(LoadU32(blk));
    const float h = p.d * 0.5f;
    for (int j = 0; j < 32; ++j) {
      const int pj = blk[4 + j];
      const int nib = (blk[36 + j % 16] >> (4 * (j / 16))) & 15;
      const int bit = 8 * (j % 4) + j / 4;
      codes[0][j] = static_cast<uint8_t>(pj & 15);
      codes[1][j] = static_cast<uint8_t>((pj >> 4) & 7);
      codes[2][j] = static_cast<uint8_t>(nib & 7);
      codes[3][j] = static_cast<uint8_t>(((pj >> 7) << 2) | ((nib >> 3) << 1) | ((blk[52 + bit / 8] >> (bit % 8)) & 1));
    }
    for (int k = 0; k < kSubs; ++k) {
      const int s = (p.sel + k) & 3;
      const uint8_t* xb = Q8ABlock(act, b * kSubs + s);
      const int32_t dot = DotCodesI32(codes[k], Q8ACodes(xb), 32);
      const int32_t acc = k == 0 ? dot : 2 * dot;
      sum[s] += Q8AScale(xb) * (h * static_cast<float>(acc) + p.m * static_cast<float>(Q8ASum(xb)));
    }
  }
  const int ns = TailSubs(n);
  if (ns == 0) return (sum[0] + sum[1]) + (sum[2] + sum[3]);
  uint8_t file[kBlockBytes];  // the short block back in the file layout, for the reference
  Q3P5SlotsToShort(wrow + nb * kBlockBytes, ns, file);
  return ((sum[0] + sum[1]) + (sum[2] + sum[3])) + quant::Q3P5VecDot(n - nb * kBlock, file, Q8ABlock(act, nb * kSubs));
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
