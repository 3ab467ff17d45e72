// Which type a weight matrix has on the device, and the host-side conversion for
// the types the CUDA kernels do not read.
//
// The kernels (matvec.cu, gemm.cc, the embedding lookup) read F32, F16, BF16,
// Q8_0, Q4_G, Q3P5 and Q3P5_SEED in their file layout. Every other registry type
// that can be dequantized -- the ggml input types (Q4_0 ... Q6_K, IQ4_NL/XS) a
// user's GGUF carries, and Q3P5_NL / Q4_NL -- is converted at upload, row by row:
// to_float, then Q8_0 with the absmax scale fp16(|max| / 127) and nearest codes (one
// pass; the registry's Q8_0 quantizer searches 17 scales per block and took minutes
// for a 135M model). A converted 32-weight block differs from the stored one by at
// most 0.57 |max| / 127 per weight (the bound cuda_host_test.cc derives and checks);
// the device then reads Q8_0 bytes (8.5 bpw) instead of the stored ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/cpu/weight_view.h"

namespace septet::cuda {

// True for the types the device kernels read directly.
bool HasDeviceKernel(DType t);

// The activation type the device's matvec pairs with device weight type `t`: Q8_B
// (blocks of 128) for Q3P5, the pairing of the CPU's repacked Q3P5 kernels
// (simd::ActivationType; reference quant::Q3P5VecDotQ8B), so that both backends
// compute the same function; the registry's vec_dot_type otherwise (Q8_A for Q8_0 and
// Q4_G, Q8_R for Q3P5_SEED, F32 for the float types).
DType DeviceActType(DType t);

// The type `t` is stored in on the device: t itself when HasDeviceKernel(t), Q8_0
// when t is a weight type that can be dequantized, nullopt otherwise.
std::optional<DType> DeviceWeightType(DType t);

// Bytes one row of `cols` values of stored type `t` takes on the device (before
// the pitch rounding), 0 when DeviceWeightType(t) is nullopt.
size_t DeviceRowBytes(DType t, int64_t cols);

// For a file-layout view `w` whose type has no device kernel: writes the Q8_0 rows
// into *out and points *view at them (type Q8_0, same rows / cols). Errors name
// the tensor: a type that cannot be dequantized, an inconsistent view.
Status ConvertForDevice(const cpu::WeightView& w, const std::string& name, std::vector<uint8_t>* out,
                        cpu::WeightView* view);

}  // namespace septet::cuda
