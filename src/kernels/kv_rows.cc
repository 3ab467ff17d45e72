#include "kernels/kv_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "quant/q8_0.h"
#include "quant/quant_util.h"

namespace septet::kernels {

// kv_convert.cc (Highway, runtime dispatch; exact).
void F16ToF32(const uint16_t* in, int64_t n, float* out);

bool IsKvType(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kQ8_0; }

size_t KvRowBytes(DType t, int64_t n) {
  SEPTET_CHECK(n >= 0);
  switch (t) {
    case DType::kF32: return static_cast<size_t>(n) * 4;
    case DType::kF16: return static_cast<size_t>(n) * 2;
    case DType::kQ8_0: return quant::Q8_0RowBytes(n);
    default: break;
  }
  SEPTET_CHECK_MSG(false, "not a KV cache type");
  return 0;
}

void KvRowFromFloat(DType t, const float* src, int64_t n, uint8_t* dst) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = FloatToFp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::kQ8_0:
      for (int64_t i0 = 0; i0 < n; i0 += quant::kQ8_0BlockSize) {
        const int len = static_cast<int>(std::min<int64_t>(quant::kQ8_0BlockSize, n - i0));
        float amax = 0.0f;
        for (int k = 0; k < len; ++k) amax = std::fmax(amax, std::fabs(src[i0 + k]));
        const quant::BlockQ8_0 b =
            quant::Q8_0EncodeBlock(src + i0, len, FloatToFp16(amax / static_cast<float>(quant::kQ8_0MaxCode)));
        quant::StoreBlock(dst + (i0 / quant::kQ8_0BlockSize) * sizeof(quant::BlockQ8_0), b);
      }
      return;
    default: break;
  }
  SEPTET_CHECK_MSG(false, "not a KV cache type");
}

void KvRowToFloat(DType t, const uint8_t* row, int64_t first, int64_t n, float* out) {
  switch (t) {
    case DType::kF32:
      std::memcpy(out, row + first * 4, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:  // rows are 2-byte aligned (vector buffer, even row_bytes)
      F16ToF32(reinterpret_cast<const uint16_t*>(row) + first, n, out);
      return;
    case DType::kQ8_0: {
      int64_t i = 0;
      while (i < n) {  // one block at a time: its scale, then its codes in the slice
        const int64_t e = first + i, b = e / quant::kQ8_0BlockSize, k0 = e % quant::kQ8_0BlockSize;
        const uint8_t* blk = row + b * static_cast<int64_t>(sizeof(quant::BlockQ8_0));
        uint16_t dh;
        std::memcpy(&dh, blk, 2);
        const float d = Fp16ToFloat(dh);
        const int8_t* qs = reinterpret_cast<const int8_t*>(blk + 2);
        const int64_t len = std::min<int64_t>(quant::kQ8_0BlockSize - k0, n - i);
        for (int64_t k = 0; k < len; ++k) out[i + k] = d * qs[k0 + k];
        i += len;
      }
      return;
    }
    default: break;
  }
  SEPTET_CHECK_MSG(false, "not a KV cache type");
}

}  // namespace septet::kernels
