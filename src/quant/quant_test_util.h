// Test-only helpers for src/quant/*_test.cc (header-only so it never enters the
// library). Error-model conventions used by every tolerance below:
//   u = 2^-24 (binary32 unit roundoff), gamma_k = k u / (1 - k u) (Higham):
//   a value computed with at most k roundings, each a relative perturbation
//   (1 + delta), |delta| <= u, is within gamma_k of the exact one relative to the
//   sum of the magnitudes of its terms.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q3p5_seed.h"
#include "quant/q4_g.h"
#include "quant/q4_nl.h"
#include "quant/q4_t.h"
#include "quant/q8_0.h"
#include "quant/q8_act.h"
#include "quant/registry.h"

namespace septet::quant::testing {

inline constexpr double kU = 1.0 / 16777216.0;  // 2^-24
inline double Gamma(double k) { return k * kU / (1.0 - k * kU); }

inline const TypeTraits& Traits(DType t) { return GetTypeTraits(t); }

// Quantize / dequantize through the registry into a buffer that starts `misalign`
// bytes past a (vector-)aligned address, followed by kCanary guard bytes.
inline constexpr int kGuard = 16;
inline constexpr uint8_t kCanary = 0xA5;

struct Row {
  std::vector<uint8_t> storage;
  size_t offset = 0;
  size_t bytes = 0;
  uint8_t* data() { return storage.data() + offset; }
  const uint8_t* data() const { return storage.data() + offset; }
  bool GuardIntact() const {
    for (int i = 0; i < kGuard; ++i) {
      if (storage[offset + bytes + static_cast<size_t>(i)] != kCanary) return false;
    }
    return true;
  }
};

inline Row Quantize(DType t, const float* x, int64_t n, const float* imp = nullptr,
                    size_t misalign = 0) {
  Row r;
  r.bytes = Traits(t).row_bytes(n);
  r.offset = misalign;
  r.storage.assign(misalign + r.bytes + kGuard, kCanary);
  Traits(t).from_float(x, r.data(), n, imp);
  return r;
}

inline std::vector<float> Dequantize(DType t, const Row& r, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  Traits(t).to_float(r.data(), out.data(), n);
  return out;
}

// The magnitude a vec_dot's float evaluation error is measured against, and the
// number of roundings k, so that |vec_dot - sum_i deq(w)_i deq(x)_i| <= gamma_k * M.
//   Q8_0:       term_b = (d_w * d_x) * acc_b (2 roundings), summed in float over
//               N blocks: k = N + 2. M = sum_b |d_w d_x| sum_k |q_w q_x|.
//   Q4_G, Q3P5: term_s = x_d * (h * acc_s + m * x_sum_s) (3 roundings), N sub-blocks:
//               k = N + 3; M = sum_s |x_d| (|h| sum|x_q v| + |m| sum|x_q|).
//   Q3P5_NL, Q4_NL, Q4_T: term_s = (d x_d) * float(isum_s) (2 roundings; |isum_s| < 2^24 converts
//               exactly), N sub-blocks: k = N + 2; M = sum_s |d x_d| sum_k |x_q sc L[u]|.
//   Q3P5_SEED:  (x_d * scale) * (float(acc) + offset * float(x_sum)): 6 roundings.
//   Each reference value deq(w)_i deq(x)_i itself carries the decoders' roundings
//   (fl(m + h v): 1; fl(scale (q + offset)): 2; fl(d_x q): 1), all bounded relative
//   to the same M, so they add 2 (3 for the seed) to k. Float types: the double
//   accumulation then one rounding to float: k = 2 with M = sum |w x|.
struct DotBound {
  double magnitude = 0;
  double k = 0;
  double Tolerance() const { return Gamma(k) * magnitude + 1e-37; }
};

inline DotBound ComputeDotBound(DType t, int64_t n, const uint8_t* w, const uint8_t* x) {
  DotBound b;
  if (t == DType::kQ8_0) {
    for (int64_t i0 = 0; i0 < n; i0 += 32) {
      const auto wb = LoadBlock<BlockQ8_0>(w + (i0 / 32) * sizeof(BlockQ8_0));
      const auto xb = LoadBlock<BlockQ8A>(x + (i0 / 32) * sizeof(BlockQ8A));
      double s = 0;
      for (int k = 0; k < 32; ++k) s += std::abs(wb.qs[k] * xb.qs[k]);
      b.magnitude += std::fabs(static_cast<double>(Fp16ToFloat(wb.d)) * xb.d) * s;
      b.k += 1;
    }
    b.k += 4;
  } else if (t == DType::kQ4_G || t == DType::kQ3P5) {
    // Recover (h, m, v) per sub-block from the block headers.
    size_t off = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 128) {
      const int r = static_cast<int>(std::min<int64_t>(128, n - i0));
      float h, m;
      std::vector<int> v(128, 0);
      size_t bytes;
      if (t == DType::kQ4_G) {
        bytes = r == 128 ? sizeof(BlockQ4G) : Q4GShortBlockBytes(r);
        const auto blk = LoadBlock<BlockQ4G>(w + off, bytes);
        h = Fp16ToFloat(blk.d);
        m = Fp16ToFloat(blk.m);
        for (int k = 0; k < r; ++k) v[static_cast<size_t>(k)] = Q4GCode(blk, k);
      } else {
        bytes = r == 128 ? sizeof(BlockQ3P5) : Q3P5ShortBlockBytes(r);
        const auto blk = LoadBlock<BlockQ3P5>(w + off, bytes);
        const Q3P5Params p = Q3P5UnpackHeader(blk.hdr);
        h = p.d * 0.5f;
        m = p.m;
        uint8_t codes[128];
        const int ns = static_cast<int>(CeilDiv(r, 32));
        Q3P5UnpackCodes(blk, ns, codes);
        for (int k = 0; k < r; ++k) {
          const bool up = ns == 4 && k / 32 == p.sel;
          v[static_cast<size_t>(k)] = up ? codes[k] : 2 * codes[k];
        }
      }
      off += bytes;
      for (int s = 0; s * 32 < r; ++s) {
        const auto xb = LoadBlock<BlockQ8A>(x + (i0 / 32 + s) * sizeof(BlockQ8A));
        double sv = 0, sx = 0;
        for (int k = 0; k < 32 && s * 32 + k < r; ++k) {
          sv += std::abs(xb.qs[k] * v[static_cast<size_t>(s * 32 + k)]);
          sx += std::abs(xb.qs[k]);
        }
        b.magnitude += std::fabs(xb.d) * (std::fabs(h) * sv + std::fabs(m) * sx);
        b.k += 1;
      }
    }
    b.k += 5;
  } else if (t == DType::kQ3P5_NL) {
    size_t off = 0;
    for (int64_t i0 = 0; i0 < n; i0 += kQ3P5NLBlockSize) {
      const int r = static_cast<int>(std::min<int64_t>(kQ3P5NLBlockSize, n - i0));
      const Q3P5NLParams p = Q3P5NLReadParams(w + off, r);
      uint8_t codes[kQ3P5NLBlockSize];
      Q3P5NLReadCodes(w + off, r, codes);
      off += Q3P5NLShortBlockBytes(r);
      for (int s = 0; s * 32 < r; ++s) {
        const auto xb = LoadBlock<BlockQ8A>(x + (i0 / 32 + s) * sizeof(BlockQ8A));
        double sv = 0;
        for (int k = 0; k < 32 && s * 32 + k < r; ++k) {
          const int i = s * 32 + k;
          sv += std::abs(xb.qs[k] * p.sc[i / 16] * kQ3P5NLLevels[codes[i]]);
        }
        b.magnitude += std::fabs(static_cast<double>(xb.d) * p.d) * sv;
        b.k += 1;
      }
    }
    b.k += 4;
  } else if (t == DType::kQ4_NL || t == DType::kQ4_T) {
    // Q4_T: the same terms with the levels of the row's decoded level numbers.
    std::vector<uint8_t> j(static_cast<size_t>(n));
    if (t == DType::kQ4_T) {
      Q4TReadRowCodes(w, n, j.data());
      Q4TLevelNumbers(j.data(), n, j.data());
    }
    const auto level = [&](int64_t i, const uint8_t* codes) {
      return t == DType::kQ4_T ? kQ4TLevels[j[static_cast<size_t>(i)]] : kQ4NLLevels[codes[i % kQ4NLBlockSize]];
    };
    size_t off = 0;
    for (int64_t i0 = 0; i0 < n; i0 += kQ4NLBlockSize) {
      const int r = static_cast<int>(std::min<int64_t>(kQ4NLBlockSize, n - i0));
      const Q4NLParams p = Q4NLReadParams(w + off, r);
      uint8_t codes[kQ4NLBlockSize];
      Q4NLReadCodes(w + off, r, codes);
      off += Q4NLShortBlockBytes(r);
      for (int s = 0; s * 32 < r; ++s) {
        const auto xb = LoadBlock<BlockQ8A>(x + (i0 / 32 + s) * sizeof(BlockQ8A));
        double sv = 0;
        for (int k = 0; k < 32 && s * 32 + k < r; ++k) sv += std::abs(xb.qs[k] * p.sc[s] * level(i0 + s * 32 + k, codes));
        b.magnitude += std::fabs(static_cast<double>(xb.d) * p.d) * sv;
        b.k += 1;
      }
    }
    b.k += 4;
  } else if (t == DType::kQ3P5_SEED) {
    if (n == 0) return b;
    const auto wh = LoadBlock<Q3P5SeedHeader>(w);
    const auto xh = LoadBlock<Q8RHeader>(x);
    const uint8_t* stream = w + sizeof(Q3P5SeedHeader);
    const int8_t* xq = reinterpret_cast<const int8_t*>(x + sizeof(Q8RHeader));
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t c = Q3P5SeedGetPair(stream, i / 2);
      const int q = i % 2 == 0 ? Q3P5SeedQ4(c) : Q3P5SeedQ3(c);
      s += std::abs(xq[i]) * (std::abs(q) + std::fabs(static_cast<double>(wh.offset)));
    }
    b.magnitude = std::fabs(static_cast<double>(xh.d) * wh.scale) * s;
    b.k = 9;
  } else {  // float types: act is float
    std::vector<float> wd(static_cast<size_t>(n));
    Traits(t).to_float(w, wd.data(), n);
    std::vector<float> xf(static_cast<size_t>(n));  // x may be misaligned: copy, don't cast
    if (n > 0) std::memcpy(xf.data(), x, static_cast<size_t>(n) * sizeof(float));
    for (int64_t i = 0; i < n; ++i) b.magnitude += std::fabs(static_cast<double>(wd[i]) * xf[static_cast<size_t>(i)]);
    b.k = 2;
  }
  return b;
}

// sum_i a_i b_i in double.
inline double DotDouble(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

inline std::vector<float> Uniform(std::mt19937_64& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

}  // namespace septet::quant::testing
