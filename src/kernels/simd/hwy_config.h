// Which Highway targets src/kernels/simd/ compiles. Include this FIRST in every
// file of the directory (before any hwy header), so the kernels and their tests
// agree on the target list.
//
// Compiled: AVX2 (the hand-tuned 256-bit path), SSE4 and EMU128 (the portable
// Highway fallback). Left out on purpose: SSSE3 (SSE4 covers every x86-64
// server we run on) and the AVX-512 targets, because no machine in CI has
// AVX-512, so that code could never be tested here; an AVX-512 host runs the
// AVX2 kernels, which is enough for memory-bound decode. Add a target only
// together with a machine that runs kernels_simd tests on it.
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_AVX3 | HWY_AVX3_DL)
#endif
