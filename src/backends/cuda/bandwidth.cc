#include "backends/cuda/bandwidth.h"

#include <cuda_runtime_api.h>

#include <cinttypes>

#include "backends/cuda/cuda_util.h"

namespace septet::cuda {
namespace {

// Owns a pair of events (destroyed on every return path).
struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Events() {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
  }
};

}  // namespace

Result<std::vector<double>> MeasureCopyBandwidth(size_t bytes, int32_t repetitions, int device) {
  if (bytes < (size_t{1} << 20)) return InvalidArgument("bandwidth probe: %zu bytes; expected >= 1 MiB", bytes);
  if (repetitions < 1) return InvalidArgument("bandwidth probe: %d repetitions; expected >= 1", repetitions);
  SEPTET_ASSIGN_OR_RETURN(const int n_devices, UsableDeviceCount());
  if (device < 0 || device >= n_devices) {
    return InvalidArgument("CUDA device %d requested; %d device(s) present", device, n_devices);
  }
  SEPTET_CUDA_TRY(cudaSetDevice(device), "cudaSetDevice");
  SEPTET_ASSIGN_OR_RETURN(DeviceBuffer src, DeviceBuffer::Allocate(bytes, "bandwidth probe source"));
  SEPTET_ASSIGN_OR_RETURN(DeviceBuffer dst, DeviceBuffer::Allocate(bytes, "bandwidth probe destination"));
  SEPTET_CUDA_TRY(cudaMemset(src.get(), 1, bytes), "cudaMemset (bandwidth probe)");
  Events ev;
  SEPTET_CUDA_TRY(cudaEventCreate(&ev.start), "cudaEventCreate");
  SEPTET_CUDA_TRY(cudaEventCreate(&ev.stop), "cudaEventCreate");
  SEPTET_CUDA_TRY(cudaMemcpy(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy (warm-up)");
  std::vector<double> gbs;
  for (int32_t r = 0; r < repetitions; ++r) {
    SEPTET_CUDA_TRY(cudaEventRecord(ev.start, nullptr), "cudaEventRecord");
    SEPTET_CUDA_TRY(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, nullptr),
                    "cudaMemcpyAsync (bandwidth probe)");
    SEPTET_CUDA_TRY(cudaEventRecord(ev.stop, nullptr), "cudaEventRecord");
    SEPTET_CUDA_TRY(cudaEventSynchronize(ev.stop), "cudaEventSynchronize");
    float ms = 0;
    SEPTET_CUDA_TRY(cudaEventElapsedTime(&ms, ev.start, ev.stop), "cudaEventElapsedTime");
    if (ms <= 0) return Internal("bandwidth probe: event timer returned %.6f ms", static_cast<double>(ms));
    gbs.push_back(2.0 * static_cast<double>(bytes) / (static_cast<double>(ms) * 1e-3) / 1e9);
  }
  return gbs;
}

}  // namespace septet::cuda
