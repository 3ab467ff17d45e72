// Float vector ops of the forward pass (RmsNorm, Softmax, SiluMul, Dot, Axpy,
// AttendHead, RotateInput),
// portable Highway on every target. Semantics of the scalar kernels in
// kernels/cpu/; the error bounds against them are derived in vec_ops_test.cc.
//   RmsNorm: sum of squares in double (as the reference), output in double.
//   Softmax: exp in f32 (hwy contrib Exp, ~1 ulp), normalising sum in double.
//   SiluMul: g * sigmoid(g) * up in f32, sigmoid from t = exp(-|g|) (never overflows):
//     1 / (1 + t) for g >= 0, t / (1 + t) for g < 0.
//   Dot / Axpy: f32 FMA.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/vec_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/ascii.h"
#include "core/check.h"
#include "kernels/cpu/hadamard.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {

void RmsNormT(float* out, const float* x, const float* weight, int64_t n, float eps) {
  SEPTET_DCHECK(n > 0);
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;  // half-width f32 vector
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  auto s0 = hn::Zero(dd), s1 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::PromoteTo(dd, hn::LoadU(dfh, x + i));
    const auto b = hn::PromoteTo(dd, hn::LoadU(dfh, x + i + N));
    s0 = hn::MulAdd(a, a, s0);
    s1 = hn::MulAdd(b, b, s1);
  }
  double ss = hn::GetLane(hn::SumOfLanes(dd, hn::Add(s0, s1)));
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps));
  const auto vs = hn::Set(dd, scale);
  i = 0;
  for (; i + N <= n; i += N) {
    const auto xv = hn::PromoteTo(dd, hn::LoadU(dfh, x + i));
    const auto wv = hn::PromoteTo(dd, hn::LoadU(dfh, weight + i));
    hn::StoreU(hn::DemoteTo(dfh, hn::Mul(hn::Mul(xv, vs), wv)), dfh, out + i);
  }
  for (; i < n; ++i) out[i] = static_cast<float>(static_cast<double>(x[i]) * scale * weight[i]);
}

void SoftmaxT(float* x, int64_t n) {
  SEPTET_DCHECK(n > 0);
  const hn::ScalableTag<float> df;
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t NH = static_cast<int64_t>(hn::Lanes(dd));
  float max_v = x[0];
  int64_t i = 0;
  if (n >= N) {
    auto m = hn::LoadU(df, x);
    for (i = N; i + N <= n; i += N) m = hn::Max(m, hn::LoadU(df, x + i));
    max_v = hn::GetLane(hn::MaxOfLanes(df, m));
  }
  for (; i < n; ++i) max_v = x[i] > max_v ? x[i] : max_v;
  const auto vmax = hn::Set(df, max_v);
  auto sum = hn::Zero(dd);
  i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    hn::StoreU(e, df, x + i);
  }
  // Sum the stored f32 exponentials in double (NH lanes at a time).
  int64_t j = 0;
  for (; j + NH <= i; j += NH) sum = hn::Add(sum, hn::PromoteTo(dd, hn::LoadU(dfh, x + j)));
  double total = hn::GetLane(hn::SumOfLanes(dd, sum));
  for (; j < i; ++j) total += x[j];
  for (; i < n; ++i) {
    const double e = std::exp(static_cast<double>(x[i]) - max_v);
    x[i] = static_cast<float>(e);
    total += static_cast<double>(x[i]);
  }
  const double inv = 1.0 / total;
  const auto vinv = hn::Set(dd, inv);
  i = 0;
  for (; i + NH <= n; i += NH) {
    hn::StoreU(hn::DemoteTo(dfh, hn::Mul(hn::PromoteTo(dd, hn::LoadU(dfh, x + i)), vinv)), dfh, x + i);
  }
  for (; i < n; ++i) x[i] = static_cast<float>(x[i] * inv);
}

void SiluMulT(float* out, const float* gate, const float* up, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    // g / (1 + e^-g) would overflow e^-g for g < -ln(FLT_MAX) = -88.72 and return 0
    // where silu(g) is still a normal float (down to g ~ -92); e^-|g| keeps it.
    const auto t = hn::Exp(df, hn::Neg(hn::Abs(g)));
    const auto silu = hn::Div(hn::Mul(g, hn::IfThenElse(hn::Lt(g, hn::Zero(df)), t, one)), hn::Add(one, t));
    hn::StoreU(hn::Mul(silu, hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

float DotT(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto s0 = hn::Zero(df), s1 = hn::Zero(df), s2 = hn::Zero(df), s3 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + N), hn::LoadU(df, b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(df, a + i + 2 * N), hn::LoadU(df, b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(df, a + i + 3 * N), hn::LoadU(df, b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void AxpyT(float a, const float* x, float* y, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto va = hn::Set(df, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);  // explicit: AttendHeadT's tail does the same
}

#if SEPTET_SIMD_X86
// [sum(c0), sum(c1), sum(c2), sum(c3)]: the four keys' vectors folded together
// (pairs of lanes within 128-bit blocks, then the blocks), about 3 operations a
// key where one SumOfLanes per key takes 8.
HWY_INLINE __m128 Reduce4(__m128 c0, __m128 c1, __m128 c2, __m128 c3) {
  const __m128 t01 = _mm_add_ps(_mm_unpacklo_ps(c0, c1), _mm_unpackhi_ps(c0, c1));
  const __m128 t23 = _mm_add_ps(_mm_unpacklo_ps(c2, c3), _mm_unpackhi_ps(c2, c3));
  return _mm_add_ps(_mm_movelh_ps(t01, t23), _mm_movehl_ps(t23, t01));
}
// The first two levels of Reduce4 at full width: lane 4b + j of the result is
// key j's sum over 128-bit block b (pairs of lanes, then the pairs).
HWY_INLINE __m256 FoldPairs(__m256 c0, __m256 c1, __m256 c2, __m256 c3) {
  const __m256 t01 = _mm256_add_ps(_mm256_unpacklo_ps(c0, c1), _mm256_unpackhi_ps(c0, c1));
  const __m256 t23 = _mm256_add_ps(_mm256_unpacklo_ps(c2, c3), _mm256_unpackhi_ps(c2, c3));
  return _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t01), _mm256_castps_pd(t23))),
                       _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t01), _mm256_castps_pd(t23))));
}
HWY_INLINE __m128 Reduce4(__m256 c0, __m256 c1, __m256 c2, __m256 c3) {
  const __m256 u = FoldPairs(c0, c1, c2, c3);
  return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}
// Reduce4 of two quads of keys in one vector: [quad 0's 4 sums | quad 1's],
// the blocks folded as Reduce4 folds them (block 0 + block 1).
HWY_INLINE __m256 FoldBlocks(__m256 u0, __m256 u1) {
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}
#if HWY_TARGET != HWY_AVX2
HWY_INLINE __m512 FoldPairs(__m512 c0, __m512 c1, __m512 c2, __m512 c3) {
  const __m512 t01 = _mm512_add_ps(_mm512_unpacklo_ps(c0, c1), _mm512_unpackhi_ps(c0, c1));
  const __m512 t23 = _mm512_add_ps(_mm512_unpacklo_ps(c2, c3), _mm512_unpackhi_ps(c2, c3));
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t01), _mm512_castps_pd(t23))),
                       _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t01), _mm512_castps_pd(t23))));
}
HWY_INLINE __m128 Reduce4(__m512 c0, __m512 c1, __m512 c2, __m512 c3) {
  const __m512 u = FoldPairs(c0, c1, c2, c3);
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}
// Reduce4 of four quads in one vector, the blocks folded in Reduce4's order:
// (block 0 + block 2) + (block 1 + block 3).
HWY_INLINE __m512 FoldBlocks(__m512 u0, __m512 u1, __m512 u2, __m512 u3) {
  // [u0: 0+2, 1+3 | u1: 0+2, 1+3], the same for u2, u3
  const __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
#endif
#endif  // SEPTET_SIMD_X86

// Scores of keys [t, t + K): per key DotT's accumulators (four vectors over the
// head, a tail in index order), combined (a0 + a1) + (a2 + a3); on x86 four keys'
// combined vectors are reduced together (Reduce4), elsewhere one SumOfLanes each.
template <int K>
HWY_INLINE void Scores(const float* q, const float* k, int64_t stride, int64_t n, float scale, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  decltype(hn::Zero(df)) s[K][4];
  for (int j = 0; j < K; ++j) {
    for (int c = 0; c < 4; ++c) s[j][c] = hn::Zero(df);
  }
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    for (int c = 0; c < 4; ++c) {
      const auto qv = hn::LoadU(df, q + i + c * N);
      for (int j = 0; j < K; ++j) s[j][c] = hn::MulAdd(qv, hn::LoadU(df, k + j * stride + i + c * N), s[j][c]);
    }
  }
  for (; i + N <= n; i += N) {
    const auto qv = hn::LoadU(df, q + i);
    for (int j = 0; j < K; ++j) s[j][0] = hn::MulAdd(qv, hn::LoadU(df, k + j * stride + i), s[j][0]);
  }
  float sums[K];
#if SEPTET_SIMD_X86
  if constexpr (K == 4) {
    decltype(hn::Zero(df)) c[4];
    for (int j = 0; j < 4; ++j) c[j] = hn::Add(hn::Add(s[j][0], s[j][1]), hn::Add(s[j][2], s[j][3]));
    _mm_storeu_ps(sums, Reduce4(c[0].raw, c[1].raw, c[2].raw, c[3].raw));
  } else
#endif
  {
    for (int j = 0; j < K; ++j) {
      sums[j] = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s[j][0], s[j][1]), hn::Add(s[j][2], s[j][3]))));
    }
  }
  for (int j = 0; j < K; ++j) {
    float sum = sums[j];
    for (int64_t t = i; t < n; ++t) sum += q[t] * k[j * stride + t];
    out[j] = sum * scale;
  }
}

#if SEPTET_SIMD_X86
// Scores<4> of Lanes() keys [t, t + N) for a head of exactly R * 4 N floats (no
// tail), unrolled: each quad of keys runs Scores<4>'s products and sums in its
// order, then Reduce4's folds for all quads at once (FoldPairs per quad,
// FoldBlocks across them: the same additions in the same order), the N sums
// scaled as one vector (lane-wise multiplies: the same floats) and stored. The
// generic loop, a quad at a time, ran the attention of 64-float heads at 12-24
// GMAC/s on one AMD Zen 4 core (simd_kernels_bench BM_AttendGroup): loop state
// spilled, each quad's sums re-read from the stack, and a ~20-cycle fold chain
// per quad.
template <int R>
HWY_INLINE void ScoresRowFixed(const float* q, const float* k, int64_t stride, float scale, float* out) {
  const hn::ScalableTag<float> df;
  constexpr size_t N = hn::MaxLanes(df);
  constexpr int kQuads = static_cast<int>(N / 4);
  using V = decltype(hn::Zero(df));
  decltype(V().raw) u[kQuads];
  for (int qd = 0; qd < kQuads; ++qd) {
    const float* kq = k + 4 * qd * stride;
    V s[4][4];
    for (auto& key : s) {
      for (V& x : key) x = hn::Zero(df);
    }
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < 4; ++c) {
        const size_t i = (4 * static_cast<size_t>(r) + static_cast<size_t>(c)) * N;
        const V qv = hn::LoadU(df, q + i);
        for (int j = 0; j < 4; ++j) s[j][c] = hn::MulAdd(qv, hn::LoadU(df, kq + j * stride + i), s[j][c]);
      }
    }
    V c4[4];
    for (int j = 0; j < 4; ++j) c4[j] = hn::Add(hn::Add(s[j][0], s[j][1]), hn::Add(s[j][2], s[j][3]));
    u[qd] = FoldPairs(c4[0].raw, c4[1].raw, c4[2].raw, c4[3].raw);
  }
#if HWY_TARGET == HWY_AVX2
  const V sums{FoldBlocks(u[0], u[1])};
#else
  const V sums{FoldBlocks(u[0], u[1], u[2], u[3])};
#endif
  hn::StoreU(hn::Mul(sums, hn::Set(df, scale)), df, out);
}
#endif

// Whether ScoresRow takes a head of hd floats: 4, 8 or 16 vectors on the
// hand-written x86 targets (otherwise the callers run Scores<4>).
constexpr int64_t kRowKeys = static_cast<int64_t>(hn::MaxLanes(hn::ScalableTag<float>()));
HWY_INLINE bool HasScoresRow(int64_t hd) {
#if SEPTET_SIMD_X86
  return hd == 4 * kRowKeys || hd == 8 * kRowKeys || hd == 16 * kRowKeys;
#else
  (void)hd;
  return false;
#endif
}
// Keys [t, t + kRowKeys) through ScoresRowFixed (HasScoresRow(hd)).
HWY_INLINE void ScoresRow(const float* q, const float* k, int64_t stride, int64_t hd, float scale, float* out) {
#if SEPTET_SIMD_X86
  if (hd == 4 * kRowKeys) return ScoresRowFixed<1>(q, k, stride, scale, out);
  if (hd == 8 * kRowKeys) return ScoresRowFixed<2>(q, k, stride, scale, out);
  ScoresRowFixed<4>(q, k, stride, scale, out);
#else
  (void)q, (void)k, (void)stride, (void)hd, (void)scale, (void)out;
#endif
}

// kernels::AttendHead in one call: the scores (ScoresRow a vector's lanes of
// keys at a time where the head allows, then Scores 4 keys at a time, then 1),
// SoftmaxT, then out = sum_t p_t v_t in column blocks of 4 vectors, each column
// as two FMA chains (even and odd t, added at the end) so the FMA latency does
// not bound it; columns past the blocks as AxpyT's chain. Decode and prefill
// both call this, so a token's attention does not depend on the batch.
void AttendHeadT(const float* q, const float* k, const float* v, int64_t n_pos, int64_t hd, int64_t stride,
                 float scale, float* scores, float* out) {
  SEPTET_DCHECK(n_pos > 0);
  int64_t t = 0;
  if (HasScoresRow(hd)) {
    for (; t + kRowKeys <= n_pos; t += kRowKeys) ScoresRow(q, k + t * stride, stride, hd, scale, scores + t);
  }
  for (; t + 4 <= n_pos; t += 4) Scores<4>(q, k + t * stride, stride, hd, scale, scores + t);
  for (; t < n_pos; ++t) Scores<1>(q, k + t * stride, stride, hd, scale, scores + t);
  SoftmaxT(scores, n_pos);
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = 0;
  for (; j + 4 * N <= hd; j += 4 * N) {
    using V = decltype(hn::Zero(df));
    V a[2][4];  // [chain: even / odd t][vector of the column block]
    for (auto& chain : a) {
      for (V& x : chain) x = hn::Zero(df);
    }
    const auto add = [&](V* chain, int64_t u) HWY_ATTR {
      const V p = hn::Set(df, scores[u]);
      const float* vr = v + u * stride + j;
      for (int c = 0; c < 4; ++c) chain[c] = hn::MulAdd(p, hn::LoadU(df, vr + c * N), chain[c]);
    };
    int64_t u = 0;
    for (; u + 2 <= n_pos; u += 2) {
      add(a[0], u);
      add(a[1], u + 1);
    }
    if (u < n_pos) add(a[0], u);
    for (int c = 0; c < 4; ++c) hn::StoreU(hn::Add(a[0][c], a[1][c]), df, out + j + c * N);
  }
  for (; j + N <= hd; j += N) {
    auto a0 = hn::Zero(df);
    for (int64_t u = 0; u < n_pos; ++u) a0 = hn::MulAdd(hn::Set(df, scores[u]), hn::LoadU(df, v + u * stride + j), a0);
    hn::StoreU(a0, df, out + j);
  }
  for (; j < hd; ++j) {  // AxpyT's tail: one fma per position
    float a = 0.0f;
    for (int64_t u = 0; u < n_pos; ++u) a = std::fma(scores[u], v[u * stride + j], a);
    out[j] = a;
  }
}

// AttendHeadT for n_q query heads that read the same keys and values (the
// heads of one GQA group, for one token): each head's arithmetic is exactly
// AttendHeadT's (the same Scores calls, SoftmaxT, the same two FMA chains per
// output vector in the same order), only the loops are reordered so that the
// heads share each key block and value block while it is in L1: the scores
// four keys at a time for every head, the value sum in blocks of kPvBlock
// positions for every head, each head's chains parked in memory between
// blocks (a store and a load change no bits). scores: n_q rows of n_pos.
constexpr int kMaxGroup = 16;
constexpr int64_t kPvBlock = 64;  // positions; even, so the (even, odd) pairs do not straddle blocks
void AttendGroupT(const float* q, int64_t q_stride, int64_t n_q, const float* k, const float* v, int64_t n_pos,
                  int64_t hd, int64_t stride, float scale, float* scores, float* out, int64_t out_stride) {
  SEPTET_DCHECK(n_pos > 0 && n_q > 0);
  if (n_q > kMaxGroup) {
    for (int64_t g0 = 0; g0 < n_q; g0 += kMaxGroup) {
      AttendGroupT(q + g0 * q_stride, q_stride, std::min<int64_t>(kMaxGroup, n_q - g0), k, v, n_pos, hd, stride, scale,
                   scores + g0 * n_pos, out + g0 * out_stride, out_stride);
    }
    return;
  }
  int64_t t = 0;
  if (HasScoresRow(hd)) {
    for (; t + kRowKeys <= n_pos; t += kRowKeys) {
      for (int64_t g = 0; g < n_q; ++g) {
        ScoresRow(q + g * q_stride, k + t * stride, stride, hd, scale, scores + g * n_pos + t);
      }
    }
  }
  for (; t + 4 <= n_pos; t += 4) {
    for (int64_t g = 0; g < n_q; ++g) Scores<4>(q + g * q_stride, k + t * stride, stride, hd, scale, scores + g * n_pos + t);
  }
  for (; t < n_pos; ++t) {
    for (int64_t g = 0; g < n_q; ++g) Scores<1>(q + g * q_stride, k + t * stride, stride, hd, scale, scores + g * n_pos + t);
  }
  for (int64_t g = 0; g < n_q; ++g) SoftmaxT(scores + g * n_pos, n_pos);
  const hn::ScalableTag<float> df;
  using V = decltype(hn::Zero(df));
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = 0;
  for (; j + 4 * N <= hd; j += 4 * N) {
    HWY_ALIGN float park[kMaxGroup][2][4][hn::MaxLanes(df)];
    for (int64_t g = 0; g < n_q; ++g) {
      for (auto& chain : park[g]) {
        for (auto& x : chain) hn::Store(hn::Zero(df), df, x);
      }
    }
    for (int64_t u0 = 0; u0 < n_pos; u0 += kPvBlock) {
      const int64_t u1 = std::min(n_pos, u0 + kPvBlock);
      for (int64_t g = 0; g < n_q; ++g) {
        const float* p = scores + g * n_pos;
        V a[2][4];
        for (int ch = 0; ch < 2; ++ch) {
          for (int c = 0; c < 4; ++c) a[ch][c] = hn::Load(df, park[g][ch][c]);
        }
        const auto add = [&](V* chain, int64_t u) HWY_ATTR {
          const V pu = hn::Set(df, p[u]);
          const float* vr = v + u * stride + j;
          for (int c = 0; c < 4; ++c) chain[c] = hn::MulAdd(pu, hn::LoadU(df, vr + c * N), chain[c]);
        };
        int64_t u = u0;
        for (; u + 2 <= u1; u += 2) {
          add(a[0], u);
          add(a[1], u + 1);
        }
        if (u < u1) add(a[0], u);  // only in the last block, when n_pos is odd
        for (int ch = 0; ch < 2; ++ch) {
          for (int c = 0; c < 4; ++c) hn::Store(a[ch][c], df, park[g][ch][c]);
        }
      }
    }
    for (int64_t g = 0; g < n_q; ++g) {
      for (int c = 0; c < 4; ++c) {
        hn::StoreU(hn::Add(hn::Load(df, park[g][0][c]), hn::Load(df, park[g][1][c])), df, out + g * out_stride + j + c * N);
      }
    }
  }
  for (int64_t g = 0; g < n_q; ++g) {  // AttendHeadT's columns past the blocks
    const float* p = scores + g * n_pos;
    float* o = out + g * out_stride;
    for (int64_t jj = j; jj + N <= hd; jj += N) {
      auto a0 = hn::Zero(df);
      for (int64_t u = 0; u < n_pos; ++u) a0 = hn::MulAdd(hn::Set(df, p[u]), hn::LoadU(df, v + u * stride + jj), a0);
      hn::StoreU(a0, df, o + jj);
    }
    for (int64_t jj = j + (hd - j) / N * N; jj < hd; ++jj) {
      float a = 0.0f;
      for (int64_t u = 0; u < n_pos; ++u) a = std::fma(p[u], v[u * stride + jj], a);
      o[jj] = a;
    }
  }
}

#if HWY_TARGET != HWY_SCALAR
// One butterfly stage of span len (>= Lanes(d)) over a block of b.
template <class D>
HWY_INLINE void RotateStage(D d, hn::TFromD<D>* v, int64_t b, int64_t len) {
  const int64_t W = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t k = 0; k < b; k += 2 * len) {
    for (int64_t j = k; j < k + len; j += W) {
      const auto p = hn::LoadU(d, v + j), q = hn::LoadU(d, v + j + len);
      hn::StoreU(hn::Add(p, q), d, v + j);
      hn::StoreU(hn::Sub(p, q), d, v + j + len);
    }
  }
}

// Stages len and 2 len in one pass: the same additions as RotateStage twice.
template <class D>
HWY_INLINE void RotateStages2(D d, hn::TFromD<D>* v, int64_t b, int64_t len) {
  const int64_t W = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t k = 0; k < b; k += 4 * len) {
    for (int64_t j = k; j < k + len; j += W) {
      const auto a0 = hn::LoadU(d, v + j), a1 = hn::LoadU(d, v + j + len);
      const auto a2 = hn::LoadU(d, v + j + 2 * len), a3 = hn::LoadU(d, v + j + 3 * len);
      const auto b0 = hn::Add(a0, a1), b1 = hn::Sub(a0, a1);
      const auto b2 = hn::Add(a2, a3), b3 = hn::Sub(a2, a3);
      hn::StoreU(hn::Add(b0, b2), d, v + j);
      hn::StoreU(hn::Sub(b0, b2), d, v + j + 2 * len);
      hn::StoreU(hn::Add(b1, b3), d, v + j + len);
      hn::StoreU(hn::Sub(b1, b3), d, v + j + 3 * len);
    }
  }
}
#endif

// cpu::InputRotation::Apply(float*) / Apply(double*) with the same operations in the
// same order (signs, every butterfly stage of every block, the scale), so bit-identical
// to it: floats: stages of span 1 and 2 inside 128-bit vectors (lane swaps); doubles:
// span 1 inside 128-bit vectors; then spans up to N-1 between 128-bit vectors, spans
// >= N between full vectors, two stages per pass where two are left.
template <typename T>
void RotateInputImpl(const cpu::InputRotation& rot, T* x) {
#if HWY_TARGET == HWY_SCALAR
  rot.Apply(x);  // the reference itself
#else
  const float* signs = rot.signs();
  const int64_t n = rot.size(), b = rot.block();
  const T scale = std::is_same_v<T, float> ? static_cast<T>(rot.scale()) : static_cast<T>(rot.scale_double());
  const hn::ScalableTag<T> d;
  const hn::Rebind<float, decltype(d)> df;  // the signs, as many lanes as d
  const hn::FixedTag<T, 16 / sizeof(T)> d16;  // one 128-bit block
  const int64_t N = static_cast<int64_t>(hn::Lanes(d)), W = static_cast<int64_t>(hn::Lanes(d16));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto s = hn::LoadU(df, signs + i);
    if constexpr (std::is_same_v<T, float>) {
      hn::StoreU(hn::Mul(hn::LoadU(d, x + i), s), d, x + i);
    } else {
      hn::StoreU(hn::Mul(hn::LoadU(d, x + i), hn::PromoteTo(d, s)), d, x + i);
    }
  }
  for (; i < n; ++i) x[i] *= static_cast<T>(signs[i]);
  alignas(16) static constexpr T kOdd[4] = {0, 1, 0, 1}, kHigh[4] = {0, 0, 1, 1};
  const auto odd = hn::Gt(hn::Load(d16, kOdd), hn::Zero(d16));
  const auto high = hn::Gt(hn::Load(d16, kHigh), hn::Zero(d16));
  for (int64_t o = 0; o < n; o += b) {
    T* v = x + o;
    int64_t len = 1;
    if (b >= W) {  // the stages inside a 128-bit block: lane k pairs with k ^ 1 (and k ^ 2)
      for (int64_t k = 0; k < b; k += W) {
        auto a = hn::LoadU(d16, v + k);
        if constexpr (std::is_same_v<T, float>) {
          auto sw = hn::Shuffle2301(a);
          a = hn::IfThenElse(odd, hn::Sub(sw, a), hn::Add(a, sw));
          sw = hn::Shuffle1032(a);
          a = hn::IfThenElse(high, hn::Sub(sw, a), hn::Add(a, sw));
        } else {
          const auto sw = hn::Shuffle01(a);
          a = hn::IfThenElse(odd, hn::Sub(sw, a), hn::Add(a, sw));
        }
        hn::StoreU(a, d16, v + k);
      }
      len = W;
    }
    while (len < b) {
      if (len < W) {  // b = 2 (floats)
        const T p = v[0], q = v[1];
        v[0] = p + q;
        v[1] = p - q;
        len = 2;
      } else if (4 * len <= b) {  // stages len and 2 len in one pass
        if (len < N) {
          RotateStages2(d16, v, b, len);
        } else {
          RotateStages2(d, v, b, len);
        }
        len *= 4;
      } else {
        if (len < N) {
          RotateStage(d16, v, b, len);
        } else {
          RotateStage(d, v, b, len);
        }
        len *= 2;
      }
    }
  }
  const auto vs = hn::Set(d, scale);
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vs), d, x + i);
  for (; i < n; ++i) x[i] *= scale;
#endif
}
void RotateInputT(const cpu::InputRotation& rot, float* x) { RotateInputImpl(rot, x); }
void RotateInputF64T(const cpu::InputRotation& rot, double* x) { RotateInputImpl(rot, x); }

const char* TargetNameT() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(RmsNormT);
HWY_EXPORT(SoftmaxT);
HWY_EXPORT(SiluMulT);
HWY_EXPORT(DotT);
HWY_EXPORT(AxpyT);
HWY_EXPORT(AttendHeadT);
HWY_EXPORT(AttendGroupT);
HWY_EXPORT(RotateInputT);
HWY_EXPORT(RotateInputF64T);
HWY_EXPORT(TargetNameT);

void RmsNorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNormT)(out, x, weight, n, eps);
}
void Softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxT)(x, n); }
void SiluMul(float* out, const float* gate, const float* up, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMulT)(out, gate, up, n);
}
float Dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotT)(a, b, n); }
void Axpy(float a, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyT)(a, x, y, n); }
void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out) {
  HWY_DYNAMIC_DISPATCH(AttendHeadT)(q, k, v, n_pos, head_dim, stride, scale, scores, out);
}
void AttendGroup(const float* q, int64_t q_stride, int64_t n_q, const float* k, const float* v, int64_t n_pos,
                 int64_t head_dim, int64_t stride, float scale, float* scores, float* out, int64_t out_stride) {
  HWY_DYNAMIC_DISPATCH(AttendGroupT)(q, q_stride, n_q, k, v, n_pos, head_dim, stride, scale, scores, out, out_stride);
}
void RotateInput(const cpu::InputRotation& rot, float* x) {
  HWY_DYNAMIC_DISPATCH(RotateInputT)(rot, x);
}
void RotateInput(const cpu::InputRotation& rot, double* x) {
  HWY_DYNAMIC_DISPATCH(RotateInputF64T)(rot, x);
}
const char* TargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameT)(); }

bool CapTarget(const std::string& name, std::string* error) {
  std::string names;
  for (const int64_t t : hwy::SupportedAndGeneratedTargets()) {
    if (AsciiUpper(name) == AsciiUpper(hwy::TargetName(t))) {
      hwy::DisableTargets(t - 1);  // Highway's better targets have the lower bits
      return true;
    }
    names += std::string(names.empty() ? "" : ", ") + hwy::TargetName(t);
  }
  *error = "SIMD target '" + name + "' is not one this CPU runs (it runs: " + names + ")";
  return false;
}

}  // namespace septet::simd
#endif  // HWY_ONCE
