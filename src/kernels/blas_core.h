// OpenBLAS (the BLAS prefill and the quantizer's GEMMs, kernels/matmul.cc)
// chooses its kernels once, when the library loads, from its own table of CPUs
// (DYNAMIC_ARCH). A CPU newer than that table can fall to a generic core: Debian
// 12's OpenBLAS 0.3.21 runs its Prescott (SSE3) kernels on an Intel Emerald Rapids
// (family 6, model 0xCF), where its SkylakeX kernels do the same sgemm several
// times faster. OPENBLAS_CORETYPE, read at that load, selects the kernels; these
// functions say which value fits this CPU when OpenBLAS fell below its class.
#pragma once

#include <string>
#include <string_view>

namespace septet::kernels {

// What the CPU runs (and the OS enables): AVX-512 F/BW/DQ/VL, AVX2 with FMA.
struct BlasCpuClass {
  bool avx512 = false;
  bool avx2_fma = false;
};
BlasCpuClass DetectBlasCpuClass();

// The OPENBLAS_CORETYPE value for a CPU of class `cpu` on which OpenBLAS chose
// the core `corename` (openblas_get_corename()): "SkylakeX" or "Haswell" when the
// core is a pre-AVX2 one (Prescott, Core2, Penryn, Dunnington, Nehalem,
// Sandybridge, Atom, ...) below what the CPU runs; empty when OpenBLAS's choice
// is of the CPU's class (Haswell, Zen, SkylakeX, Cooperlake, ...) or better
// than it: a known core is left alone.
std::string BlasCoreForClass(std::string_view corename, BlasCpuClass cpu);

// BlasCoreForClass for this process's OpenBLAS and CPU, or empty when the
// environment already sets OPENBLAS_CORETYPE (the user's choice, or a run that
// was re-executed with it).
std::string BlasCoreAdvice();

}  // namespace septet::kernels
