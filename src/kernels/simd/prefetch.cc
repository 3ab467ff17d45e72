#include "kernels/simd/prefetch.h"

namespace septet::simd::detail {
namespace {

int64_t Avx512Distance() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // required before __builtin_cpu_is in a static initializer
  return __builtin_cpu_is("intel") ? 16384 : 4096;
#else
  return 4096;
#endif
}

}  // namespace

extern const int64_t kAvx512WeightPrefetchBytes = Avx512Distance();

}  // namespace septet::simd::detail
