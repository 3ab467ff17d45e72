#include "kernels/blas_core.h"

#include <cblas.h>

#include <array>
#include <cstdlib>

namespace septet::kernels {

BlasCpuClass DetectBlasCpuClass() {
  BlasCpuClass c;
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's CPU model: features the CPU reports and the OS enables (XGETBV).
  __builtin_cpu_init();
  c.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  c.avx512 = c.avx2_fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
  return c;
}

std::string BlasCoreForClass(std::string_view corename, BlasCpuClass cpu) {
  // OpenBLAS's x86 cores without AVX2 kernels (openblas_get_corename() spellings).
  static constexpr std::array<std::string_view, 16> kPreAvx2 = {
      "Prescott", "Core2",   "Penryn",   "Dunnington", "Nehalem", "Sandybridge", "Atom",       "Nano",
      "Katmai",   "Coppermine", "Northwood", "Banias",  "Athlon",  "Opteron",     "Opteron_SSE3", "Barcelona"};
  bool pre_avx2 = false;
  for (std::string_view name : kPreAvx2) pre_avx2 = pre_avx2 || corename == name;
  if (!pre_avx2) return {};
  if (cpu.avx512) return "SkylakeX";
  if (cpu.avx2_fma) return "Haswell";
  return {};
}

std::string BlasCoreAdvice() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return {};
  const char* name = openblas_get_corename();
  return name == nullptr ? std::string() : BlasCoreForClass(name, DetectBlasCpuClass());
}

}  // namespace septet::kernels
