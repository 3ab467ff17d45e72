// The OPENBLAS_CORETYPE advice (kernels/blas_core.h): which OpenBLAS choices are
// corrected, to what, and that a set variable is never overridden.
#include "kernels/blas_core.h"

#include <gtest/gtest.h>

#include <cblas.h>

#include <cstdlib>
#include <string>

namespace septet::kernels {
namespace {

constexpr BlasCpuClass kAvx512{true, true}, kAvx2{false, true}, kSse{false, false};

TEST(BlasCoreTest, GenericCoresOnNewerCpusGetTheirClass) {
  for (const char* generic : {"Prescott", "Core2", "Penryn", "Nehalem", "Sandybridge", "Atom", "Barcelona"}) {
    EXPECT_EQ(BlasCoreForClass(generic, kAvx512), "SkylakeX") << generic;
    EXPECT_EQ(BlasCoreForClass(generic, kAvx2), "Haswell") << generic;
    EXPECT_EQ(BlasCoreForClass(generic, kSse), "") << generic << ": nothing better to choose";
  }
}

TEST(BlasCoreTest, CoresOfTheCpusClassAreLeftAlone) {
  for (const char* known : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator", "Unknown", ""}) {
    EXPECT_EQ(BlasCoreForClass(known, kAvx512), "") << known;
    EXPECT_EQ(BlasCoreForClass(known, kAvx2), "") << known;
  }
}

TEST(BlasCoreTest, AdviceFollowsThisProcess) {
  const BlasCpuClass cpu = DetectBlasCpuClass();
  EXPECT_TRUE(cpu.avx2_fma || !cpu.avx512) << "AVX-512 implies AVX2 here";
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  const std::string advice = BlasCoreAdvice();
  if (set != nullptr) {
    EXPECT_EQ(advice, "") << "OPENBLAS_CORETYPE=" << set << " is the user's choice";
  } else {
    EXPECT_EQ(advice, BlasCoreForClass(openblas_get_corename(), cpu)) << openblas_get_corename();
  }
}

}  // namespace
}  // namespace septet::kernels
