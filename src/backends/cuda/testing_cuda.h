// Test-only helpers for the GPU tests in this directory (header-only; included only
// by *_test.cc). Every GPU test starts with SEPTET_REQUIRE_GPU().
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/device_types.h"
#include "quant/q3p5.h"
#include "quant/registry.h"

#define SEPTET_REQUIRE_GPU()                                                    \
  do {                                                                          \
    if (!::septet::cuda::DeviceAvailable()) {                                   \
      GTEST_SKIP() << "no CUDA device; GPU validation owed";                    \
    }                                                                           \
  } while (0)

// Asserts a CUDA call succeeded, naming it.
#define SEPTET_ASSERT_CUDA(expr)                                                \
  do {                                                                          \
    const ::septet::Status _s = ::septet::cuda::CudaStatus((expr), #expr);      \
    ASSERT_TRUE(_s.ok()) << _s.ToString();                                      \
  } while (0)

namespace septet::cuda::testing {

// gamma_k = k u / (1 - k u): the classic bound on k rounding errors (Higham), with
// u the unit roundoff of the arithmetic.
inline double Gamma(double k, double u = 0x1p-24) { return k * u / (1.0 - k * u); }

// The reference dot of the device's pairing (DeviceActType): Q3P5 with Q8_B is
// quant::Q3P5VecDotQ8B, every other type the registry's vec_dot (`act`: the
// activation row in DeviceActType's registry layout; the floats for float weights).
inline float ReferenceDot(DType t, int64_t n, const uint8_t* row, const void* act) {
  return t == DType::kQ3P5 ? quant::Q3P5VecDotQ8B(n, row, act) : GetTypeTraits(t).vec_dot(n, row, act);
}

template <typename T>
DeviceBuffer ToDevice(const std::vector<T>& host) {
  auto buf = DeviceBuffer::Allocate(std::max<size_t>(host.size() * sizeof(T), 1), "test buffer");
  EXPECT_TRUE(buf.ok()) << buf.status().ToString();
  if (!buf.ok()) return DeviceBuffer();
  if (!host.empty()) {
    EXPECT_EQ(cudaMemcpy(buf->get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  return std::move(buf).value();
}

template <typename T>
std::vector<T> ToHost(const DeviceBuffer& buf, size_t count) {
  std::vector<T> host(count);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  if (count > 0) {
    EXPECT_EQ(cudaMemcpy(host.data(), buf.get(), count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return host;
}

// A matrix of `rows` x `cols` in `type`, quantized from float on the host with the
// registry, and its device copy in the backend's pitched layout.
struct TestMatrix {
  DType type = DType::kF32;
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> host;  // rows * row_bytes, packed (the file layout)
  size_t row_bytes = 0;
  DeviceBuffer dev;
  DeviceMatrix view;

  const uint8_t* row(int64_t r) const { return host.data() + static_cast<size_t>(r) * row_bytes; }
};

inline TestMatrix MakeTestMatrix(DType type, int64_t rows, int64_t cols, const std::vector<float>& values) {
  TestMatrix m;
  const TypeTraits& t = GetTypeTraits(type);
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  m.row_bytes = t.row_bytes(cols);
  m.host.resize(m.row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    t.from_float(values.data() + r * cols, m.host.data() + static_cast<size_t>(r) * m.row_bytes, cols, nullptr);
  }
  const size_t pitch = RoundUp(m.row_bytes, kRowAlign);
  std::vector<uint8_t> pitched(pitch * static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(pitched.data() + r * pitch, m.row(r), m.row_bytes);
  m.dev = ToDevice(pitched);
  m.view.type = type;
  m.view.rows = rows;
  m.view.cols = cols;
  m.view.row_bytes = m.row_bytes;
  m.view.pitch = pitch;
  m.view.data = m.dev.get<const uint8_t>();
  return m;
}

}  // namespace septet::cuda::testing
