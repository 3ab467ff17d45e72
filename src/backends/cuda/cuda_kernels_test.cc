// Every CUDA kernel against the CPU reference (src/kernels/cpu, the registry), with
// tolerances derived from an error model (u = 2^-24, gamma_k = k u / (1 - k u)).
// Each test skips without a GPU ("no CUDA device; GPU validation owed").
//
//   Activation quantization (Q8_A, Q8_B, Q8_R): exact. Same IEEE division and
//     round-to-nearest-even as the reference; max is order-independent.
//   Quantized matvec: every unit term t_u (per block for Q3P5 with Q8_B, its
//     reference quant::Q3P5VecDotQ8B) is bit-identical to the reference's
//     (cuda_host_test checks the helpers), only the summation order differs: the
//     reference sums U terms left to right (<= gamma_{U-1} sum|t_u|), a lane sums
//     ceil(U/32) terms and a 5-level butterfly adds the lanes (<= gamma_{ceil(U/32)+4}
//     sum|t_u|). Hence |gpu - cpu| <= (gamma_{U-1} + gamma_{ceil(U/32)+4}) sum|t_u|.
//   Q3P5_SEED matvec: exact (int32 sums are associative; one float formula).
//   Float matvec (F32/F16/BF16): fp32 FMA chains of ceil(n/32) per lane + 5 adds:
//     <= gamma_{ceil(n/32)+5} sum|w x|; the reference accumulates in double and rounds
//     once (<= u |ref| + n 2^-53 sum|w x|).
//   GEMM (cuBLAS): fp32 paths <= gamma_K sum|w x|; fp16 paths add the rounding of
//     each weight and/or activation to fp16 (relative 2^-11, absolute 2^-25 below the
//     normal range). Tensor-core accumulation may truncate rather than round, so the
//     accumulation bound uses u = 2^-23.
//   RMSNorm, RoPE, SwiGLU: computed in double like the reference, the differences
//     (order of a double sum; device cos/sin/exp within 2 double ulps) are far below
//     float precision, so after the final rounding: at most 1 float ulp (2^-23 |ref|).
//   Attention: fp32 scores (<= gamma_{ceil(hd/32)+5} sum|q k| scale + u|s|, call the
//     max over positions ds); softmax weights then carry a relative error <= 2 ds plus
//     the exp / rescale / merge roundings (<= 8 gamma_{n_pos+16}, generous); the
//     output error is that relative error times sum_t p_t |v_t|.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "backends/cuda/kernels.h"
#include "backends/cuda/gemm.h"
#include "backends/cuda/quant_decode.h"
#include "backends/cuda/testing_cuda.h"
#include "backends/cuda/upload_type.h"
#include "core/half.h"
#include "kernels/cpu/ops.h"
#include "quant/q8_act.h"
#include "util/test_util.h"

namespace septet::cuda {
namespace {

using testing::Gamma;
using testing::MakeTestMatrix;
using testing::TestMatrix;
using testing::ToDevice;
using testing::ToHost;

constexpr double kU = 0x1p-24;

const std::vector<DType> kWeightTypes = {DType::kF32,  DType::kF16,  DType::kBF16,     DType::kQ8_0,
                                         DType::kQ4_G, DType::kQ3P5, DType::kQ3P5_SEED};
const std::vector<int64_t> kCols = {1, 17, 31, 32, 33, 64, 100, 127, 128, 129, 172, 300, 1024, 4096};

std::string Name(DType t) { return GetTypeTraits(t).name; }

class CudaKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override { SEPTET_REQUIRE_GPU(); }
};

// Device activation buffers sized for m rows of n values.
struct ActBuffers {
  DeviceBuffer q, d, sum;
  DeviceAct view;
};
ActBuffers MakeAct(DType act_type, int64_t m, int64_t n) {
  ActBuffers a;
  a.view.q_stride = ActStride(n);
  a.view.blocks = ActBlocksFor(act_type, n);
  a.q = ToDevice(std::vector<int8_t>(static_cast<size_t>(m * a.view.q_stride), 99));  // garbage: must be overwritten
  a.d = ToDevice(std::vector<float>(static_cast<size_t>(m * a.view.blocks), -1.0f));
  a.sum = ToDevice(std::vector<int32_t>(static_cast<size_t>(m * a.view.blocks), -1));
  a.view.q = a.q.get<int8_t>();
  a.view.d = a.d.get<float>();
  a.view.sum = a.sum.get<int32_t>();
  return a;
}

// ---- activation quantization: exact ----
TEST_F(CudaKernelsTest, QuantizeActivationsMatchRegistryExactly) {
  auto rng = septet::testing::MakeRng(1);
  for (const DType act_type : {DType::kQ8_A, DType::kQ8_B, DType::kQ8_R}) {
    for (const int64_t n : kCols) {
      SCOPED_TRACE(Name(act_type) + " n=" + std::to_string(n));
      const int64_t m = 3, stride = n + 5;  // a row stride wider than n
      std::vector<float> x = septet::testing::RandomWeights(rng, m * stride, 1.0f);
      std::fill(x.begin(), x.begin() + std::min<int64_t>(n, 32), 0.0f);  // an all-zero block (d = 0)
      DeviceBuffer dx = ToDevice(x);
      ActBuffers a = MakeAct(act_type, m, n);
      SEPTET_ASSERT_CUDA(LaunchQuantizeActivation(act_type, dx.get<float>(), m, n, stride, a.view, nullptr));
      const auto q = ToHost<int8_t>(a.q, static_cast<size_t>(m * a.view.q_stride));
      const auto d = ToHost<float>(a.d, static_cast<size_t>(m * a.view.blocks));
      const auto sum = ToHost<int32_t>(a.sum, static_cast<size_t>(m * a.view.blocks));
      const TypeTraits& at = GetTypeTraits(act_type);
      // Values per block, and where block b's {d, sum} and codes sit in the registry row.
      const int64_t block = act_type == DType::kQ8_A ? 32 : act_type == DType::kQ8_B ? 128 : n;
      for (int64_t t = 0; t < m; ++t) {
        std::vector<uint8_t> ref(at.row_bytes(n));
        at.from_float(x.data() + t * stride, ref.data(), n, nullptr);
        for (int64_t b = 0; b < a.view.blocks; ++b) {
          float rd;
          int32_t rsum;
          const int8_t* rq;
          if (act_type == DType::kQ8_A) {
            quant::BlockQ8A blk;
            std::memcpy(&blk, ref.data() + b * sizeof(blk), sizeof(blk));
            rd = blk.d;
            rsum = blk.sum;
            rq = reinterpret_cast<const int8_t*>(ref.data() + b * sizeof(blk) + offsetof(quant::BlockQ8A, qs));
          } else if (act_type == DType::kQ8_B) {
            quant::BlockQ8B blk;
            std::memcpy(&blk, ref.data() + b * sizeof(blk), sizeof(blk));
            rd = blk.d;
            rsum = blk.sum;
            rq = reinterpret_cast<const int8_t*>(ref.data() + b * sizeof(blk) + offsetof(quant::BlockQ8B, qs));
          } else {
            quant::Q8RHeader hdr;
            std::memcpy(&hdr, ref.data(), sizeof(hdr));
            rd = hdr.d;
            rsum = hdr.sum;
            rq = reinterpret_cast<const int8_t*>(ref.data() + sizeof(hdr));
          }
          const size_t bi = static_cast<size_t>(t * a.view.blocks + b);
          ASSERT_EQ(std::memcmp(&d[bi], &rd, 4), 0)
              << "token " << t << " block " << b << ": d " << d[bi] << " vs " << rd;
          ASSERT_EQ(sum[bi], rsum) << "token " << t << " block " << b;
          for (int64_t k = block * b; k < std::min(n, block * (b + 1)); ++k) {
            ASSERT_EQ(q[static_cast<size_t>(t * a.view.q_stride + k)], rq[k - block * b])
                << "token " << t << " value " << k;
          }
        }
        for (int64_t k = n; k < a.view.q_stride; ++k) {
          ASSERT_EQ(q[static_cast<size_t>(t * a.view.q_stride + k)], 0) << "padding code " << k;
        }
      }
    }
  }
}

// ---- matvec: every weight type, shapes that break kernels ----
TEST_F(CudaKernelsTest, MatVecMatchesReferenceWithinDerivedBound) {
  auto rng = septet::testing::MakeRng(2);
  for (const DType type : kWeightTypes) {
    const TypeTraits& tt = GetTypeTraits(type);
    for (const int64_t cols : kCols) {
      for (const int64_t rows : {1, 9, 33}) {
        SCOPED_TRACE(Name(type) + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
        const int64_t m = 3;
        TestMatrix w = MakeTestMatrix(type, rows, cols, septet::testing::RandomWeights(rng, rows * cols, 0.05f));
        std::vector<float> x = septet::testing::RandomWeights(rng, m * cols, 1.0f);
        DeviceBuffer dx = ToDevice(x);
        DeviceBuffer dy = ToDevice(std::vector<float>(static_cast<size_t>(m * rows), NAN));
        const DType act_type = DeviceActType(type);
        ActBuffers a = MakeAct(act_type, m, cols);
        SEPTET_ASSERT_CUDA(LaunchQuantizeActivation(act_type, dx.get<float>(), m, cols, cols, a.view, nullptr));
        SEPTET_ASSERT_CUDA(LaunchMatVec(w.view, dx.get<float>(), cols, a.view, m, dy.get<float>(), rows, nullptr));
        const auto y = ToHost<float>(dy, static_cast<size_t>(m * rows));
        const auto hq = ToHost<int8_t>(a.q, static_cast<size_t>(m * a.view.q_stride));
        const auto hd = ToHost<float>(a.d, static_cast<size_t>(m * a.view.blocks));
        const auto hs = ToHost<int32_t>(a.sum, static_cast<size_t>(m * a.view.blocks));
        for (int64_t t = 0; t < m; ++t) {
          const float* xt = x.data() + t * cols;
          std::vector<uint8_t> act;
          if (tt.is_quantized) {
            const TypeTraits& at = GetTypeTraits(act_type);
            act.resize(at.row_bytes(cols));
            at.from_float(xt, act.data(), cols, nullptr);
          }
          // The device's activations (checked bit for bit against the registry above).
          const int8_t* q = hq.data() + t * a.view.q_stride;
          const float* xd = hd.data() + t * a.view.blocks;
          const int32_t* xs = hs.data() + t * a.view.blocks;
          for (int64_t r = 0; r < rows; ++r) {
            const float got = y[static_cast<size_t>(t * rows + r)];
            const void* xin = tt.is_quantized ? static_cast<const void*>(act.data()) : xt;
            const float ref = testing::ReferenceDot(type, cols, w.row(r), xin);
            double tol = 0;
            if (type == DType::kQ3P5_SEED) {
              tol = 0;  // exact
            } else if (tt.is_quantized) {
              // sum |t| over the bit-identical terms (host helpers): per unit, per block for Q3P5.
              double abs_terms = 0;
              const int64_t units = (cols + 31) / 32;
              int64_t n_terms = units;
              if (type == DType::kQ3P5) {
                n_terms = (units + 3) / 4;
                for (int64_t b = 0; b < n_terms; ++b) {
                  int32_t acc = 0;
                  for (int64_t u = 4 * b; u < std::min(units, 4 * b + 4); ++u) {
                    acc += decode::Q3P5UnitAcc(w.row(r), cols, u, q);
                  }
                  abs_terms += std::fabs(decode::Q3P5BlockTerm(w.row(r), b, acc, xd[b], xs[b]));
                }
              } else {
                for (int64_t u = 0; u < units; ++u) {
                  const float term = type == DType::kQ8_0 ? decode::Q8_0UnitDot(w.row(r), u, q, xd[u])
                                                          : decode::Q4GUnitDot(w.row(r), u, q, xd[u], xs[u]);
                  abs_terms += std::fabs(term);
                }
              }
              tol = (Gamma(static_cast<double>(n_terms - 1)) + Gamma(static_cast<double>((units + 31) / 32 + 4))) *
                    abs_terms;
            } else {
              std::vector<float> wf(static_cast<size_t>(cols));
              tt.to_float(w.row(r), wf.data(), cols);
              double s = 0;
              for (int64_t k = 0; k < cols; ++k) s += std::fabs(static_cast<double>(wf[k]) * xt[k]);
              tol = Gamma(static_cast<double>((cols + 31) / 32 + 5)) * s + kU * std::fabs(ref) +
                    static_cast<double>(cols) * 0x1p-52 * s;
            }
            ASSERT_LE(std::fabs(static_cast<double>(got) - ref), tol)
                << "token " << t << " row " << r << ": gpu " << got << " cpu " << ref;
          }
        }
      }
    }
  }
}

// ---- dequantized rows (embedding lookup, GEMM tiles): exact ----
TEST_F(CudaKernelsTest, DequantRowsMatchToFloatExactly) {
  auto rng = septet::testing::MakeRng(3);
  for (const DType type : kWeightTypes) {
    for (const int64_t cols : {1, 33, 172, 300}) {
      SCOPED_TRACE(Name(type) + " cols=" + std::to_string(cols));
      const int64_t rows = 11;
      TestMatrix w = MakeTestMatrix(type, rows, cols, septet::testing::RandomWeights(rng, rows * cols, 0.5f));
      const std::vector<int32_t> ids = {10, 0, 3, 3, 7};
      const int64_t nrows = static_cast<int64_t>(ids.size()), ld = cols + 3;
      DeviceBuffer dids = ToDevice(ids);
      DeviceBuffer out32 = ToDevice(std::vector<float>(static_cast<size_t>(nrows * ld), 0.0f));
      DeviceBuffer out16 = ToDevice(std::vector<uint16_t>(static_cast<size_t>(rows * ld), 0));
      SEPTET_ASSERT_CUDA(LaunchDequantRowsF32(w.view, dids.get<int32_t>(), 0, nrows, out32.get<float>(), ld, nullptr));
      SEPTET_ASSERT_CUDA(LaunchDequantRowsF16(w.view, nullptr, 2, rows - 2, out16.get<uint16_t>(), ld, nullptr));
      const auto g32 = ToHost<float>(out32, static_cast<size_t>(nrows * ld));
      const auto g16 = ToHost<uint16_t>(out16, static_cast<size_t>(rows * ld));
      std::vector<float> ref(static_cast<size_t>(cols));
      for (int64_t i = 0; i < nrows; ++i) {
        GetTypeTraits(type).to_float(w.row(ids[static_cast<size_t>(i)]), ref.data(), cols);
        for (int64_t k = 0; k < cols; ++k) {
          ASSERT_EQ(std::memcmp(&g32[static_cast<size_t>(i * ld + k)], &ref[static_cast<size_t>(k)], 4), 0)
              << "row " << i << " k " << k;
        }
      }
      for (int64_t i = 0; i < rows - 2; ++i) {
        GetTypeTraits(type).to_float(w.row(2 + i), ref.data(), cols);
        for (int64_t k = 0; k < cols; ++k) {
          ASSERT_EQ(g16[static_cast<size_t>(i * ld + k)], FloatToFp16(ref[static_cast<size_t>(k)])) << "tile row " << i;
        }
      }
    }
  }
}

// ---- cuBLAS prefill path ----
TEST_F(CudaKernelsTest, GemmMatchesReferenceWithinDerivedBound) {
  auto rng = septet::testing::MakeRng(4);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  for (const DType type : kWeightTypes) {
    for (const int64_t cols : {64, 172, 300}) {
      for (const int64_t m : {2, 17}) {
        SCOPED_TRACE(Name(type) + " cols=" + std::to_string(cols) + " m=" + std::to_string(m));
        const int64_t rows = 33, ldy = rows + 2;
        TestMatrix w = MakeTestMatrix(type, rows, cols, septet::testing::RandomWeights(rng, rows * cols, 0.05f));
        std::vector<float> x = septet::testing::RandomWeights(rng, m * cols, 1.0f);
        DeviceBuffer dx = ToDevice(x);
        DeviceBuffer dy = ToDevice(std::vector<float>(static_cast<size_t>(m * ldy), NAN));
        DeviceBuffer tile = ToDevice(std::vector<uint8_t>(std::max<size_t>(GemmTileBytes(w.view), 1)));
        DeviceBuffer x16 = ToDevice(std::vector<uint16_t>(static_cast<size_t>(m * cols)));
        GemmScratch gs{tile.get(), tile.bytes(), x16.get<uint16_t>(), static_cast<size_t>(m * cols)};
        const Status st = GemmMatMul(handle, nullptr, w.view, dx.get<float>(), m, dy.get<float>(), ldy, gs);
        ASSERT_TRUE(st.ok()) << st.ToString();
        const auto y = ToHost<float>(dy, static_cast<size_t>(m * ldy));
        const GemmKind kind = GemmKindOf(type);
        const bool w16 = kind == GemmKind::kF16Tiles, x16r = kind == GemmKind::kF16Direct || w16;
        std::vector<float> wf(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          GetTypeTraits(type).to_float(w.row(r), wf.data(), cols);
          for (int64_t t = 0; t < m; ++t) {
            double ref = 0, abs_sum = 0, round_err = 0;
            for (int64_t k = 0; k < cols; ++k) {
              const double wv = wf[static_cast<size_t>(k)], xv = x[static_cast<size_t>(t * cols + k)];
              ref += wv * xv;
              abs_sum += std::fabs(wv * xv);
              const double ew = w16 ? 0x1p-11 * std::fabs(wv) + 0x1p-25 : 0.0;
              const double ex = x16r ? 0x1p-11 * std::fabs(xv) + 0x1p-25 : 0.0;
              round_err += ew * std::fabs(xv) + ex * std::fabs(wv) + ew * ex;
            }
            const double tol = round_err + Gamma(static_cast<double>(cols), 0x1p-23) * (abs_sum + round_err) +
                               kU * std::fabs(ref);
            const float got = y[static_cast<size_t>(t * ldy + r)];
            ASSERT_LE(std::fabs(got - ref), tol) << "row " << r << " token " << t << ": gpu " << got << " ref " << ref;
          }
        }
        for (int64_t t = 0; t < m; ++t) {  // columns past rows (ldy padding) are untouched
          ASSERT_TRUE(std::isnan(y[static_cast<size_t>(t * ldy + rows)]));
        }
      }
    }
  }
  cublasDestroy(handle);
}

// ---- RMSNorm, RoPE, SwiGLU, Add ----
double UlpTol(double ref) { return 0x1p-23 * std::fabs(ref) + FLT_TRUE_MIN; }

TEST_F(CudaKernelsTest, RmsNormWithinOneUlpAlsoInPlace) {
  auto rng = septet::testing::MakeRng(5);
  for (const int64_t n : {1, 64, 255, 4096}) {
    const int64_t m = 4;
    std::vector<float> x = septet::testing::RandomWeights(rng, m * n, 3.0f);
    std::vector<float> w = septet::testing::RandomWeights(rng, n, 1.0f);
    DeviceBuffer dx = ToDevice(x), dw = ToDevice(w), dout = ToDevice(std::vector<float>(x.size()));
    SEPTET_ASSERT_CUDA(LaunchRmsNorm(dx.get<float>(), dw.get<float>(), m, n, 1e-5f, dout.get<float>(), nullptr));
    SEPTET_ASSERT_CUDA(LaunchRmsNorm(dx.get<float>(), dw.get<float>(), m, n, 1e-5f, dx.get<float>(), nullptr));
    const auto got = ToHost<float>(dout, x.size());
    const auto got_inplace = ToHost<float>(dx, x.size());
    std::vector<float> ref(static_cast<size_t>(n));
    for (int64_t t = 0; t < m; ++t) {
      cpu::RmsNorm(ref.data(), x.data() + t * n, w.data(), n, 1e-5f);
      for (int64_t i = 0; i < n; ++i) {
        const size_t j = static_cast<size_t>(t * n + i);
        ASSERT_LE(std::fabs(got[j] - ref[static_cast<size_t>(i)]), UlpTol(ref[static_cast<size_t>(i)])) << n << " " << j;
        ASSERT_EQ(got_inplace[j], got[j]) << "in-place differs at " << j;
      }
    }
  }
}

TEST_F(CudaKernelsTest, RopeBothPairingsWithinOneUlp) {
  auto rng = septet::testing::MakeRng(6);
  for (const bool half : {false, true}) {
    for (const int64_t n_rot : {32, 64}) {
      for (const int64_t pos0 : {0, 7, 4000}) {
        SCOPED_TRACE("half=" + std::to_string(half) + " n_rot=" + std::to_string(n_rot) + " pos0=" + std::to_string(pos0));
        const int64_t m = 3, n_heads = 4, hd = 64, stride = n_heads * hd + 8;
        cpu::RopeScaling scaling;
        scaling.kind = cpu::RopeScaling::Kind::kLlama3;
        scaling.factor = 8.0;
        const std::vector<double> inv = cpu::RopeInvFreq(n_rot, 500000.0, scaling);
        std::vector<float> x = septet::testing::RandomWeights(rng, m * stride, 1.0f);
        std::vector<int32_t> pos(static_cast<size_t>(m));
        for (int64_t t = 0; t < m; ++t) pos[static_cast<size_t>(t)] = static_cast<int32_t>(pos0 + t);
        DeviceBuffer dx = ToDevice(x), dinv = ToDevice(inv), dpos = ToDevice(pos);
        SEPTET_ASSERT_CUDA(LaunchRope(dx.get<float>(), m, stride, n_heads, hd, n_rot, dpos.get<int32_t>(),
                                      dinv.get<double>(), half, nullptr));
        const auto got = ToHost<float>(dx, x.size());
        double max_abs = 0;
        for (const float v : x) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
        std::vector<float> ref = x;
        for (int64_t t = 0; t < m; ++t) {
          cpu::Rope(ref.data() + t * stride, n_heads, hd, n_rot, pos0 + t, inv.data(),
                    half ? cpu::RopePairing::kHalf : cpu::RopePairing::kInterleaved);
        }
        for (size_t i = 0; i < x.size(); ++i) {
          // 1 float ulp, plus the double-level difference: 2 ulps of cos / sin times |a| + |b|.
          const double tol = UlpTol(ref[i]) + 0x1p-50 * 2.0 * max_abs;
          ASSERT_LE(std::fabs(got[i] - ref[i]), tol) << "element " << i;
        }
      }
    }
  }
}

TEST_F(CudaKernelsTest, SiluMulAndAdd) {
  auto rng = septet::testing::MakeRng(7);
  std::vector<float> g = septet::testing::RandomWeights(rng, 1000, 4.0f);
  std::vector<float> u = septet::testing::RandomWeights(rng, 1000, 1.0f);
  g[0] = -800.0f;  // e^-g overflows in double: silu -> 0, as the reference
  g[1] = -100.0f;
  g[2] = 0.0f;
  g[3] = 100.0f;
  DeviceBuffer dg = ToDevice(g), du = ToDevice(u), dout = ToDevice(std::vector<float>(g.size()));
  SEPTET_ASSERT_CUDA(LaunchSiluMul(dout.get<float>(), dg.get<float>(), du.get<float>(), 1000, nullptr));
  const auto got = ToHost<float>(dout, g.size());
  std::vector<float> ref(g.size());
  cpu::SiluMul(ref.data(), g.data(), u.data(), 1000);
  for (size_t i = 0; i < g.size(); ++i) ASSERT_LE(std::fabs(got[i] - ref[i]), UlpTol(ref[i])) << i;
  EXPECT_EQ(got[0], 0.0f);

  SEPTET_ASSERT_CUDA(LaunchAdd(dg.get<float>(), du.get<float>(), 1000, nullptr));
  const auto sum = ToHost<float>(dg, g.size());
  for (size_t i = 0; i < g.size(); ++i) ASSERT_EQ(sum[i], g[i] + u[i]) << i;  // exact: one rounded add
}

// ---- KV cache write and row gather: pure data movement, exact ----
TEST_F(CudaKernelsTest, KvStoreAndGatherRowsPlaceEveryValue) {
  auto rng = septet::testing::MakeRng(9);
  const int64_t m = 5, kv_dim = 24, n_ctx = 7, n_seq = 3, seq_stride = n_ctx * kv_dim;
  const std::vector<int32_t> pos = {0, 6, 3, 3, 1}, seq = {2, 0, 1, 2, 0};
  std::vector<float> k = septet::testing::RandomWeights(rng, m * kv_dim, 1.0f);
  std::vector<float> v = septet::testing::RandomWeights(rng, m * kv_dim, 1.0f);
  DeviceBuffer dk = ToDevice(k), dv = ToDevice(v), dpos = ToDevice(pos), dseq = ToDevice(seq);
  const size_t cache_n = static_cast<size_t>(n_seq * seq_stride);
  DeviceBuffer kc = ToDevice(std::vector<float>(cache_n, NAN)), vc = ToDevice(std::vector<float>(cache_n, NAN));
  SEPTET_ASSERT_CUDA(LaunchKvStore(dk.get<float>(), dv.get<float>(), m, kv_dim, dpos.get<int32_t>(),
                                   dseq.get<int32_t>(), seq_stride, kc.get<float>(), vc.get<float>(), nullptr));
  const auto hk = ToHost<float>(kc, cache_n), hv = ToHost<float>(vc, cache_n);
  std::vector<bool> written(cache_n, false);
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t j = 0; j < kv_dim; ++j) {
      const size_t at = static_cast<size_t>(seq[static_cast<size_t>(t)] * seq_stride +
                                            pos[static_cast<size_t>(t)] * kv_dim + j);
      ASSERT_EQ(hk[at], k[static_cast<size_t>(t * kv_dim + j)]) << t << " " << j;
      ASSERT_EQ(hv[at], v[static_cast<size_t>(t * kv_dim + j)]) << t << " " << j;
      written[at] = true;
    }
  }
  for (size_t i = 0; i < cache_n; ++i) {
    if (!written[i]) {
      ASSERT_TRUE(std::isnan(hk[i]) && std::isnan(hv[i])) << "stray write at " << i;
    }
  }

  const std::vector<int32_t> idx = {4, 0, 2};
  DeviceBuffer didx = ToDevice(idx), dout = ToDevice(std::vector<float>(idx.size() * kv_dim, NAN));
  SEPTET_ASSERT_CUDA(LaunchGatherRows(dk.get<float>(), didx.get<int32_t>(), 3, kv_dim, dout.get<float>(), nullptr));
  const auto g = ToHost<float>(dout, idx.size() * kv_dim);
  for (size_t i = 0; i < idx.size(); ++i) {
    for (int64_t j = 0; j < kv_dim; ++j) {
      ASSERT_EQ(g[i * kv_dim + static_cast<size_t>(j)], k[static_cast<size_t>(idx[i] * kv_dim + j)]) << i << " " << j;
    }
  }
}

// ---- attention: causal, GQA, head_dim up to the kernel's maximum, tokens of two
// sequences interleaved (each token reads only its own sequence's planes) ----
TEST_F(CudaKernelsTest, AttentionMatchesAttendHeadWithinDerivedBound) {
  auto rng = septet::testing::MakeRng(8);
  for (const int64_t hd : {8, 64, 100, 256}) {
    for (const int64_t n_past : {0, 37}) {
      SCOPED_TRACE("head_dim=" + std::to_string(hd) + " n_past=" + std::to_string(n_past));
      const int64_t m = 5, n_heads = 8, n_kv = 2, group = n_heads / n_kv, n_seq = 2;
      const int64_t q_dim = n_heads * hd, kv_dim = n_kv * hd, n_total = n_past + m;
      const int64_t seq_stride = n_total * kv_dim;
      const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
      std::vector<float> q = septet::testing::RandomWeights(rng, m * q_dim, 1.0f);
      std::vector<float> kc = septet::testing::RandomWeights(rng, n_seq * seq_stride, 1.0f);
      std::vector<float> vc = septet::testing::RandomWeights(rng, n_seq * seq_stride, 1.0f);
      std::vector<int32_t> pos(static_cast<size_t>(m)), seq(static_cast<size_t>(m));
      for (int64_t t = 0; t < m; ++t) {
        pos[static_cast<size_t>(t)] = static_cast<int32_t>(n_past + t);
        seq[static_cast<size_t>(t)] = static_cast<int32_t>((t * 7 / 3) % n_seq);
      }
      DeviceBuffer dq = ToDevice(q), dk = ToDevice(kc), dv = ToDevice(vc), dpos = ToDevice(pos), dseq = ToDevice(seq);
      DeviceBuffer dout = ToDevice(std::vector<float>(static_cast<size_t>(m * q_dim), NAN));
      SEPTET_ASSERT_CUDA(LaunchAttention(dq.get<float>(), dk.get<float>(), dv.get<float>(), m, dpos.get<int32_t>(),
                                         dseq.get<int32_t>(), seq_stride, n_heads, n_kv, hd, scale, dout.get<float>(),
                                         nullptr));
      const auto got = ToHost<float>(dout, static_cast<size_t>(m * q_dim));
      std::vector<float> probs(static_cast<size_t>(n_total)), ref(static_cast<size_t>(hd));
      for (int64_t t = 0; t < m; ++t) {
        const int64_t n_pos = pos[static_cast<size_t>(t)] + 1;
        const float* ks = kc.data() + seq[static_cast<size_t>(t)] * seq_stride;
        const float* vs = vc.data() + seq[static_cast<size_t>(t)] * seq_stride;
        for (int64_t h = 0; h < n_heads; ++h) {
          const float* qh = q.data() + t * q_dim + h * hd;
          const int64_t off = (h / group) * hd;
          cpu::AttendHead(qh, ks + off, vs + off, n_pos, hd, kv_dim, scale, probs.data(), ref.data());
          double ds = 0;  // worst score error bound
          for (int64_t p = 0; p < n_pos; ++p) {
            double qk = 0, sc = 0;
            for (int64_t d = 0; d < hd; ++d) {
              qk += std::fabs(static_cast<double>(qh[d]) * ks[p * kv_dim + off + d]);
              sc += static_cast<double>(qh[d]) * ks[p * kv_dim + off + d];
            }
            ds = std::max(ds, Gamma(static_cast<double>((hd + 31) / 32 + 5)) * qk * scale + kU * std::fabs(sc * scale));
          }
          const double rel = 2 * ds + 8 * Gamma(static_cast<double>(n_pos + 16));
          for (int64_t d = 0; d < hd; ++d) {
            double pv = 0;
            for (int64_t p = 0; p < n_pos; ++p) pv += probs[static_cast<size_t>(p)] * std::fabs(vs[p * kv_dim + off + d]);
            const float g = got[static_cast<size_t>(t * q_dim + h * hd + d)];
            ASSERT_LE(std::fabs(g - ref[static_cast<size_t>(d)]), rel * pv + kU * std::fabs(ref[static_cast<size_t>(d)]))
                << "token " << t << " head " << h << " dim " << d << ": gpu " << g << " cpu " << ref[static_cast<size_t>(d)];
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace septet::cuda
