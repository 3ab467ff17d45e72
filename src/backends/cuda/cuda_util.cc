#include "backends/cuda/cuda_util.h"

namespace septet::cuda {

Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  if (err == cudaErrorMemoryAllocation) {
    return InvalidArgument("%s: %s: %s", what, cudaGetErrorName(err), cudaGetErrorString(err));
  }
  return Internal("%s: %s: %s", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

Status CublasStatus(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  if (st == CUBLAS_STATUS_ALLOC_FAILED) return InvalidArgument("%s: cuBLAS: %s", what, cublasGetStatusString(st));
  return Internal("%s: cuBLAS: %s", what, cublasGetStatusString(st));
}

Result<int> UsableDeviceCount() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) error so later calls start clean
    return Unsupported("no CUDA device: cudaGetDeviceCount: %s: %s", cudaGetErrorName(err), cudaGetErrorString(err));
  }
  if (count <= 0) return Unsupported("no CUDA device: cudaGetDeviceCount found 0 devices");
  return count;
}

bool DeviceAvailable() { return UsableDeviceCount().ok(); }

Result<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes, const char* what) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return InvalidArgument("cudaMalloc(%zu bytes for %s): %s: %s", bytes, what, cudaGetErrorName(err),
                           cudaGetErrorString(err));
  }
  b.ptr_ = p;
  b.bytes_ = bytes;
  return b;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    Reset();
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::Reset() {
  if (ptr_ != nullptr) cudaFree(ptr_);  // an error here has nowhere to go; the context reports faults earlier
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace septet::cuda
