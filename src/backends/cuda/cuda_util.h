// CUDA runtime / cuBLAS errors as Status, device discovery, and an owning device
// allocation. Host code only.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/status.h"

namespace septet::cuda {

// OK for cudaSuccess; otherwise "<what>: <cudaErrorName>: <cudaGetErrorString>", as
// kInvalidArgument for an allocation failure (like the CPU KV cache) and kInternal
// for anything else.
Status CudaStatus(cudaError_t err, const char* what);
Status CublasStatus(cublasStatus_t st, const char* what);

#define SEPTET_CUDA_TRY(expr, what) SEPTET_RETURN_IF_ERROR(::septet::cuda::CudaStatus((expr), (what)))
#define SEPTET_CUBLAS_TRY(expr, what) SEPTET_RETURN_IF_ERROR(::septet::cuda::CublasStatus((expr), (what)))

// Number of CUDA devices; kUnsupported "no CUDA device: ..." when there is none or
// the runtime cannot reach a driver (the message carries the runtime's reason).
Result<int> UsableDeviceCount();
// True when UsableDeviceCount() finds at least one device (tests skip otherwise).
bool DeviceAvailable();

// An owning cudaMalloc allocation (move-only; freed with cudaFree).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static Result<DeviceBuffer> Allocate(size_t bytes, const char* what);
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { Reset(); }

  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void Reset();
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace septet::cuda
