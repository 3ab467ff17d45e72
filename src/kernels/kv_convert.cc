// F16 -> F32 for KV cache rows (kernels/kv_rows.h), Highway with runtime
// dispatch: the conversion is exact, so every target gives the bits of the
// scalar Fp16ToFloat (kv_cache_test compares with the registry's to_float).
#include "kernels/simd/hwy_config.h"

#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kv_convert.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/half.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace septet::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void F16ToF32T(const uint16_t* in, int64_t n, float* out) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const hwy::float16_t* h = reinterpret_cast<const hwy::float16_t*>(in);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, h + i)), df, out + i);
  for (; i < n; ++i) out[i] = Fp16ToFloat(in[i]);
}

}  // namespace HWY_NAMESPACE
}  // namespace septet::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::kernels {
HWY_EXPORT(F16ToF32T);
// Declared in kv_rows.cc (the only caller).
void F16ToF32(const uint16_t* in, int64_t n, float* out) { HWY_DYNAMIC_DISPATCH(F16ToF32T)(in, n, out); }
}  // namespace septet::kernels
#endif
