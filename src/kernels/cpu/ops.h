// The reference CPU ops of the LLaMA forward pass, one small function each
// (scalar; the SIMD/threaded tier will keep these signatures and be tested
// against these bodies).
#pragma once

#include "kernels/cpu/attention.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/swiglu.h"
#include "kernels/cpu/weight_view.h"
