// Which Highway targets src/kernels/simd/ compiles. Include this FIRST in every
// file of the directory (before any hwy header), so the kernels and their tests
// agree on the target list.
//
// Compiled: AVX3_DL (AVX-512 with VNNI, VBMI2, ...: Ice Lake, Sapphire Rapids,
// Zen 4), AVX3 (AVX-512 F/BW/DQ/VL: Skylake-SP), AVX2, SSE4 and EMU128 (the
// portable Highway fallback). SSSE3 is left out (SSE4 covers every x86-64
// server we run on). The hand-written x86 kernels (SEPTET_SIMD_X86 below) run
// on AVX2 and both AVX-512 targets; on AVX3_DL their u8 x s8 dot products are
// one vpdpbusd (same integers, so the same bits as on AVX2). The kernel tests
// run on every target the machine supports and print which.
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3)
#endif
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL 1
#endif

// True inside a per-target pass whose target runs the hand-written x86 intrinsics.
#define SEPTET_SIMD_X86 (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)

// Highway 1.0.3 compiles AVX3_DL with "avxvnni" (the VEX form of vpdpbusd) but
// selects the target at run time by the AVX512_VNNI bit: Zen 4 and Ice Lake run
// AVX3_DL without AVX-VNNI. Files that use vpdpbusd enable its EVEX form, which
// that check covers, right after HWY_BEFORE_NAMESPACE():
//   #if HWY_TARGET == HWY_AVX3_DL
//   #pragma GCC target("avx512vnni")
//   #endif
// and write 256-bit dots with Dpbusd256 (common-inl.h), never
// _mm256_dpbusd_epi32, which GCC encodes as VEX when avxvnni is on (ctest
// Isa.NoVexVnni fails on any VEX-encoded VNNI in the binaries).
