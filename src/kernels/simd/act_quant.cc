// Activation quantization (Q8_A, Q8_B, Q8_R) in SIMD, byte-identical to the scalar
// from_float in quant/q8_act.cc:
//   amax = max |x| (NaN ignored, as std::fmax does; max is order-independent),
//   d = amax / 127 (the same float division), q = nearbyint(x / d) clamped to
//   [-127, 127] with NaN -> -127, all codes 0 when d == 0, sum of the codes.
// IEEE division and round-half-even are exact in every lane, so the bytes match.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/act_quant.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "quant/q8_act.h"
#include "quant/registry.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kMax = quant::kActMaxAbs;

// Scalar twin of quant::RoundClamp for the remainder lanes.
HWY_INLINE int CodeOf(float x, float d) {
  if (!(d > 0.0f)) return 0;
  const float r = std::nearbyint(x / d);
  if (!(r >= -static_cast<float>(kMax))) return -kMax;  // also NaN
  if (r > static_cast<float>(kMax)) return kMax;
  return static_cast<int>(r);
}

// Noinline: inlined with a constant n, GCC 12 warns of a bogus out-of-range tail iteration.
HWY_NOINLINE float AbsMax(const float* x, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto m = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto a = hn::Abs(hn::LoadU(df, x + i));
    m = hn::Max(m, hn::IfThenElseZero(hn::Eq(a, a), a));  // NaN -> 0
  }
  float amax = hn::GetLane(hn::MaxOfLanes(df, m));
  for (; i < n; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  return amax;
}

// Codes of x[0, n) for scale d (> 0); returns their sum.
int64_t Codes(const float* x, int64_t n, float d, int8_t* q) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vd = hn::Set(df, d);
  const auto lo = hn::Set(df, -static_cast<float>(kMax));
  const auto hi = hn::Set(df, static_cast<float>(kMax));
  auto sum = hn::Zero(di);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto r = hn::Round(hn::Div(hn::LoadU(df, x + i), vd));
    r = hn::IfThenElse(hn::Eq(r, r), r, lo);  // NaN -> -127
    r = hn::Min(hn::Max(r, lo), hi);
    const auto c = hn::ConvertTo(di, r);
    sum = hn::Add(sum, c);  // |sum lane| <= 127 * n / N: fits int32 for n <= K_max of Q8_R
    hn::StoreU(hn::DemoteTo(d8, c), d8, q + i);
  }
  int64_t s = hn::GetLane(hn::SumOfLanes(di, sum));
  for (; i < n; ++i) {
    const int c = CodeOf(x[i], d);
    q[i] = static_cast<int8_t>(c);
    s += c;
  }
  return s;
}

// Q8_A / Q8_B: blocks of kB values, a final partial block zero-padded as the
// reference pads it (quant/q8_act.cc: codes past n are 0). The partial block ran
// through the scalar reference until the twenty-first session: a ninth of every
// SmolLM2 activation (576 = 4.5 blocks of 128), 1.8 % of its prefill (perf).
template <class Block, int kB>
void QuantizeBlocks(const float* x, int64_t n, uint8_t* out) {
  for (int64_t b = 0; b * kB < n; ++b) {
    const float* xb = x + b * kB;
    const int64_t len = std::min<int64_t>(kB, n - b * kB);
    Block blk{};
    const float amax = AbsMax(xb, len);
    blk.d = amax / static_cast<float>(kMax);
    int64_t sum = 0;
    if (blk.d > 0.0f) sum = Codes(xb, len, blk.d, blk.qs);
    blk.sum = static_cast<int16_t>(sum);
    std::memcpy(out + b * sizeof(Block), &blk, sizeof(blk));
  }
}

void QuantizeQ8R(const float* x, int64_t n, uint8_t* out) {
  SEPTET_CHECK_MSG(n <= quant::kQ8RMaxRowLength, "Q8_R: row too long for its int32 code sum");
  std::memset(out, 0, quant::Q8RRowBytes(n));
  quant::Q8RHeader hdr{};
  hdr.d = AbsMax(x, n) / static_cast<float>(kMax);
  int64_t sum = 0;
  if (hdr.d > 0.0f) sum = Codes(x, n, hdr.d, reinterpret_cast<int8_t*>(out + sizeof(hdr)));
  hdr.sum = static_cast<int32_t>(sum);
  std::memcpy(out, &hdr, sizeof(hdr));
}

}  // namespace

void QuantizeActivationT(DType act_type, const float* x, int64_t n, uint8_t* out) {
  SEPTET_CHECK_MSG(n >= 0, "QuantizeActivation: n must be >= 0");
  switch (act_type) {
    case DType::kQ8_A:
      QuantizeBlocks<quant::BlockQ8A, quant::kQ8ABlockSize>(x, n, out);
      return;
    case DType::kQ8_B:
      QuantizeBlocks<quant::BlockQ8B, quant::kQ8BBlockSize>(x, n, out);
      return;
    case DType::kQ8_R:
      QuantizeQ8R(x, n, out);
      return;
    case DType::kF32:
      if (n > 0) std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
      return;
    default:
      SEPTET_CHECK_MSG(false, "QuantizeActivation: not an activation type (Q8_A, Q8_B, Q8_R, F32)");
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(QuantizeActivationT);

void QuantizeActivation(DType act_type, const float* x, int64_t n, uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(QuantizeActivationT)(act_type, x, n, out);
}

}  // namespace septet::simd
#endif  // HWY_ONCE
