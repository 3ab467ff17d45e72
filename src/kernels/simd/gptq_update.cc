// GPTQ's error feedback (quantize/gptq.cc, quantize/gptq_trellis.cc) in SIMD:
// w[k] -= e[j] * u[j ld + k] for j = 0 .. nj - 1 in order, each term a separate
// multiply and subtract (no FMA, no reassociation), so every element gets the
// bits of the scalar loop on every target. Each vector of w stays in a register
// while the nj rows of u stream past it (four vectors at a time), instead of
// being loaded and stored once per row of u.
// And the refit's per-segment dot products (quantize/refit.cc): one segment per
// lane, each summed in its own order, k ascending, so again the scalar loop's bits.
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/gptq_update.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/simd/simd_ops.h"

HWY_BEFORE_NAMESPACE();
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;

void SubScaledRowsImpl(float* w, int64_t n, const float* e, int64_t nj, const float* u, int64_t ld) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t nl = static_cast<int64_t>(hn::Lanes(d));
  int64_t k = 0;
  for (; k + 4 * nl <= n; k += 4 * nl) {
    V a0 = hn::LoadU(d, w + k), a1 = hn::LoadU(d, w + k + nl);
    V a2 = hn::LoadU(d, w + k + 2 * nl), a3 = hn::LoadU(d, w + k + 3 * nl);
    for (int64_t j = 0; j < nj; ++j) {
      const V ej = hn::Set(d, e[j]);
      const float* ur = u + j * ld + k;
      a0 = hn::Sub(a0, hn::Mul(ej, hn::LoadU(d, ur)));
      a1 = hn::Sub(a1, hn::Mul(ej, hn::LoadU(d, ur + nl)));
      a2 = hn::Sub(a2, hn::Mul(ej, hn::LoadU(d, ur + 2 * nl)));
      a3 = hn::Sub(a3, hn::Mul(ej, hn::LoadU(d, ur + 3 * nl)));
    }
    hn::StoreU(a0, d, w + k);
    hn::StoreU(a1, d, w + k + nl);
    hn::StoreU(a2, d, w + k + 2 * nl);
    hn::StoreU(a3, d, w + k + 3 * nl);
  }
  for (; k + nl <= n; k += nl) {
    V a = hn::LoadU(d, w + k);
    for (int64_t j = 0; j < nj; ++j) a = hn::Sub(a, hn::Mul(hn::Set(d, e[j]), hn::LoadU(d, u + j * ld + k)));
    hn::StoreU(a, d, w + k);
  }
  for (; k < n; ++k) {  // this file is built with -ffp-contract=off: a multiply, then a subtract
    float a = w[k];
    for (int64_t j = 0; j < nj; ++j) a -= e[j] * u[j * ld + k];
    w[k] = a;
  }
}

// R rows sharing u (each u vector loaded once for all R): per element the same
// operations in the same order as SubScaledRowsImpl on each row.
template <int R>
void SubScaledRowsGroup(float* const* w, const float* const* e, int64_t n, int64_t nj, const float* u, int64_t ld) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t nl = static_cast<int64_t>(hn::Lanes(d));
  int64_t k = 0;
  for (; k + 2 * nl <= n; k += 2 * nl) {
    V a0[R], a1[R];
    for (int r = 0; r < R; ++r) {
      a0[r] = hn::LoadU(d, w[r] + k);
      a1[r] = hn::LoadU(d, w[r] + k + nl);
    }
    for (int64_t j = 0; j < nj; ++j) {
      const V u0 = hn::LoadU(d, u + j * ld + k), u1 = hn::LoadU(d, u + j * ld + k + nl);
      for (int r = 0; r < R; ++r) {
        const V ej = hn::Set(d, e[r][j]);
        a0[r] = hn::Sub(a0[r], hn::Mul(ej, u0));
        a1[r] = hn::Sub(a1[r], hn::Mul(ej, u1));
      }
    }
    for (int r = 0; r < R; ++r) {
      hn::StoreU(a0[r], d, w[r] + k);
      hn::StoreU(a1[r], d, w[r] + k + nl);
    }
  }
  for (int r = 0; r < R; ++r) SubScaledRowsImpl(w[r] + k, n - k, e[r], nj, u + k, ld);  // the rest
}

void SubScaledRowsBatchImpl(float* const* w, const float* const* e, int nr, int64_t n, int64_t nj, const float* u, int64_t ld) {
  int i = 0;
  for (; i + 4 <= nr; i += 4) SubScaledRowsGroup<4>(w + i, e + i, n, nj, u, ld);
  switch (nr - i) {
    case 3: SubScaledRowsGroup<3>(w + i, e + i, n, nj, u, ld); break;
    case 2: SubScaledRowsGroup<2>(w + i, e + i, n, nj, u, ld); break;
    case 1: SubScaledRowsImpl(w[i], n, e[i], nj, u, ld); break;
    default: break;
  }
}

void SubScaledRowsBatchF32T(float* const* w, const float* const* e, int nr, int64_t n, int64_t nj, const float* u,
                            int64_t ld) {
  SubScaledRowsBatchImpl(w, e, nr, n, nj, u, ld);
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// Rows r[0..8) -> columns: r[k] lane l becomes r[l] lane k (three shuffle stages).
HWY_INLINE void Transpose8x8(__m512d* r) {
  __m512d x[8], y[8];
  for (int i = 0; i < 8; i += 2) {
    x[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);  // r_i[0] r_i+1[0] r_i[2] r_i+1[2] ..
    x[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
  }
  const __m512i lo2 = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0), hi2 = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  for (int i = 0; i < 8; i += 4) {
    for (int j = 0; j < 2; ++j) {
      y[i + j] = _mm512_permutex2var_pd(x[i + j], lo2, x[i + 2 + j]);      // columns j, j + 4
      y[i + 2 + j] = _mm512_permutex2var_pd(x[i + j], hi2, x[i + 2 + j]);  // columns j + 2, j + 6
    }
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm512_shuffle_f64x2(y[k], y[k + 4], 0x44);
    r[k + 4] = _mm512_shuffle_f64x2(y[k], y[k + 4], 0xEE);
  }
}
#endif

void SegmentDotsT(const double* a, const double* b, int64_t seg, int64_t nseg, double* out) {
  const hn::ScalableTag<double> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t nl = static_cast<int64_t>(hn::Lanes(d));
  const auto stride = hn::Mul(hn::Iota(di, 0), hn::Set(di, seg));  // lane l: segment s0 + l
  int64_t s0 = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (seg == 16) {  // Q3P5_NL's groups: contiguous products, transposed to one segment per lane
    for (; s0 + 8 <= nseg; s0 += 8) {
      __m512d p[16];
      for (int l = 0; l < 8; ++l) {
        const double* pa = a + (s0 + l) * 16;
        const double* pb = b + (s0 + l) * 16;
        p[l] = _mm512_mul_pd(_mm512_loadu_pd(pa), _mm512_loadu_pd(pb));
        p[8 + l] = _mm512_mul_pd(_mm512_loadu_pd(pa + 8), _mm512_loadu_pd(pb + 8));
      }
      Transpose8x8(p);
      Transpose8x8(p + 8);
      __m512d acc = _mm512_setzero_pd();
      for (int k = 0; k < 16; ++k) acc = _mm512_add_pd(acc, p[k]);
      _mm512_storeu_pd(out + s0, acc);
    }
  }
#endif
  for (; s0 + nl <= nseg; s0 += nl) {
    const double* pa = a + s0 * seg;
    const double* pb = b + s0 * seg;
    auto acc = hn::Zero(d);
    for (int64_t k = 0; k < seg; ++k) {
      acc = hn::Add(acc, hn::Mul(hn::GatherIndex(d, pa + k, stride), hn::GatherIndex(d, pb + k, stride)));
    }
    hn::StoreU(acc, d, out + s0);
  }
  for (; s0 < nseg; ++s0) {  // this file is built with -ffp-contract=off
    double acc = 0;
    for (int64_t k = 0; k < seg; ++k) acc += a[s0 * seg + k] * b[s0 * seg + k];
    out[s0] = acc;
  }
}

void SubScaledRowsF32T(float* w, int64_t n, const float* e, int64_t nj, const float* u, int64_t ld) {
  SubScaledRowsImpl(w, n, e, nj, u, ld);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(SegmentDotsT);
HWY_EXPORT(SubScaledRowsBatchF32T);
HWY_EXPORT(SubScaledRowsF32T);

void SubScaledRowsBatch(float* const* w, const float* const* e, int nr, int64_t n, int64_t nj, const float* u,
                        int64_t ld) {
  if (nr > 0 && n > 0 && nj > 0) HWY_DYNAMIC_DISPATCH(SubScaledRowsBatchF32T)(w, e, nr, n, nj, u, ld);
}
void SegmentDots(const double* a, const double* b, int64_t seg, int64_t nseg, double* out) {
  if (seg > 0 && nseg > 0) HWY_DYNAMIC_DISPATCH(SegmentDotsT)(a, b, seg, nseg, out);
}
void SubScaledRows(float* w, int64_t n, const float* e, int64_t nj, const float* u, int64_t ld) {
  if (n > 0 && nj > 0) HWY_DYNAMIC_DISPATCH(SubScaledRowsF32T)(w, n, e, nj, u, ld);
}

}  // namespace septet::simd
#endif  // HWY_ONCE
