#include "quantize/refit.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "quant/q3p5.h"
#include "quant/q4_g.h"
#include "quant/quant_util.h"

namespace septet::quantize {
namespace {

using namespace septet::quant;

constexpr int64_t kBlock = 128;  // both formats: one (d, m) per 128 weights
static_assert(kQ3P5BlockSize == kBlock && kQ4GBlockSize == kBlock);

size_t BlockBytes(DType type) { return type == DType::kQ3P5 ? sizeof(BlockQ3P5) : sizeof(BlockQ4G); }

// The codes v [cols] and the stored (s, m) per block of one row.
void DecodeRow(DType type, const uint8_t* row, int64_t cols, double* v, double* theta) {
  const int64_t nb = CeilDiv(cols, kBlock);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = row + static_cast<size_t>(b) * BlockBytes(type);
    const int r = static_cast<int>(std::min(kBlock, cols - b * kBlock));
    double* vb = v + b * kBlock;
    if (type == DType::kQ3P5) {
      BlockQ3P5 blk{};
      std::memcpy(&blk, p, r == kBlock ? sizeof(BlockQ3P5) : Q3P5ShortBlockBytes(r));
      const Q3P5Params hp = Q3P5UnpackHeader(blk.hdr);
      const int ns = static_cast<int>(CeilDiv(r, kQ3P5SubBlockSize));
      uint8_t codes[kQ3P5BlockSize] = {};
      Q3P5UnpackCodes(blk, ns, codes);
      for (int k = 0; k < r; ++k) {
        const bool up = ns == kQ3P5SubBlocks && k / kQ3P5SubBlockSize == hp.sel;
        vb[k] = up ? codes[k] : 2.0 * codes[k];
      }
      theta[2 * b] = hp.d * 0.5f;  // the decoder's step: exact
      theta[2 * b + 1] = hp.m;
    } else {
      uint16_t d16, m16;
      std::memcpy(&d16, p, 2);
      std::memcpy(&m16, p + 2, 2);
      for (int k = 0; k < r; ++k) vb[k] = (p[4 + k / 2] >> (4 * (k % 2))) & 0xF;
      theta[2 * b] = Fp16ToFloat(d16);
      theta[2 * b + 1] = Fp16ToFloat(m16);
    }
  }
}

// Rounds theta to the stored fields (in place) and writes them into the row's headers
// when `write`. False when a field cannot hold its value (negative or non-finite step).
bool StoreFields(DType type, uint8_t* row, int64_t cols, double* theta, bool write) {
  const int64_t nb = CeilDiv(cols, kBlock);
  for (int64_t b = 0; b < nb; ++b) {
    const double s = theta[2 * b], m = theta[2 * b + 1];
    if (!(s >= 0.0) || !std::isfinite(s) || !std::isfinite(m)) return false;
    uint8_t* p = row + static_cast<size_t>(b) * BlockBytes(type);
    if (type == DType::kQ3P5) {
      const uint16_t d15 = Q3P5EncodeD(static_cast<float>(2.0 * s)), m15 = Q3P5EncodeM(static_cast<float>(m));
      theta[2 * b] = Q3P5DecodeD(d15) * 0.5f;
      theta[2 * b + 1] = Q3P5DecodeM(m15);
      if (write) {
        uint32_t hdr;
        std::memcpy(&hdr, p, 4);
        hdr = Q3P5PackHeader(d15, static_cast<int>((hdr >> 15) & 3u), m15);
        std::memcpy(p, &hdr, 4);
      }
    } else {
      const uint16_t d16 = FloatToFp16(static_cast<float>(s)), m16 = FloatToFp16(static_cast<float>(m));
      theta[2 * b] = Fp16ToFloat(d16);
      theta[2 * b + 1] = Fp16ToFloat(m16);
      if (write) {
        std::memcpy(p, &d16, 2);
        std::memcpy(p + 2, &m16, 2);
      }
    }
    if (!std::isfinite(theta[2 * b]) || !std::isfinite(theta[2 * b + 1])) return false;
  }
  return true;
}

// f(θ) = wHw - 2 θ·r + θᵀ G θ.
double Objective(const std::vector<double>& g, const double* rhs, double whw, const double* theta, int64_t n) {
  double f = whw;
  for (int64_t i = 0; i < n; ++i) {
    double gi = 0;
    for (int64_t j = 0; j < n; ++j) gi += g[static_cast<size_t>(i * n + j)] * theta[j];
    f += theta[i] * (gi - 2.0 * rhs[i]);
  }
  return f;
}

// Solves (G + λI) x = rhs + λ x0 by Cholesky, in place into x (which holds x0 on entry).
// False when the matrix is not positive definite.
bool SolveRegularised(std::vector<double> a, std::vector<double> b, int64_t n, double* x) {
  double maxd = 0;
  for (int64_t i = 0; i < n; ++i) maxd = std::max(maxd, a[static_cast<size_t>(i * n + i)]);
  if (!(maxd > 0)) return false;
  const double lambda = 1e-9 * maxd;
  for (int64_t i = 0; i < n; ++i) {
    a[static_cast<size_t>(i * n + i)] += lambda;
    b[static_cast<size_t>(i)] += lambda * x[i];
  }
  for (int64_t j = 0; j < n; ++j) {  // a = L Lᵀ, L in the lower triangle
    double d = a[static_cast<size_t>(j * n + j)];
    for (int64_t k = 0; k < j; ++k) d -= a[static_cast<size_t>(j * n + k)] * a[static_cast<size_t>(j * n + k)];
    if (!(d > 0)) return false;
    const double ljj = std::sqrt(d);
    a[static_cast<size_t>(j * n + j)] = ljj;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[static_cast<size_t>(i * n + j)];
      for (int64_t k = 0; k < j; ++k) s -= a[static_cast<size_t>(i * n + k)] * a[static_cast<size_t>(j * n + k)];
      a[static_cast<size_t>(i * n + j)] = s / ljj;
    }
  }
  for (int64_t i = 0; i < n; ++i) {  // L y = b
    double s = b[static_cast<size_t>(i)];
    for (int64_t k = 0; k < i; ++k) s -= a[static_cast<size_t>(i * n + k)] * b[static_cast<size_t>(k)];
    b[static_cast<size_t>(i)] = s / a[static_cast<size_t>(i * n + i)];
  }
  for (int64_t i = n - 1; i >= 0; --i) {  // Lᵀ x = y
    double s = b[static_cast<size_t>(i)];
    for (int64_t k = i + 1; k < n; ++k) s -= a[static_cast<size_t>(k * n + i)] * x[k];
    x[i] = s / a[static_cast<size_t>(i * n + i)];
  }
  return true;
}

}  // namespace

bool CanRefitAffine(DType type) { return type == DType::kQ3P5 || type == DType::kQ4_G; }

void RefitAffineRows(const float* w, int64_t rows, int64_t cols, const std::vector<double>& h, DType type,
                     uint8_t* dst, size_t dst_row, double* obj) {
  SEPTET_CHECK_MSG(CanRefitAffine(type), "RefitAffineRows: Q3P5 or Q4_G only");
  SEPTET_CHECK_MSG(static_cast<int64_t>(h.size()) == cols * cols, "RefitAffineRows: Hessian size");
  if (rows <= 0 || cols <= 0) return;
  const int64_t nb = CeilDiv(cols, kBlock), np = 2 * nb;
  const auto len = [&](int64_t b) { return std::min(kBlock, cols - b * kBlock); };
  // Shared by every row: ha[b][k] = (H a_b)_k, the Hessian times block b's indicator.
  std::vector<double> ha(static_cast<size_t>(nb * cols), 0.0);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t j = b * kBlock; j < b * kBlock + len(b); ++j)
      for (int64_t k = 0; k < cols; ++k) ha[static_cast<size_t>(b * cols + k)] += h[static_cast<size_t>(j * cols + k)];

  constexpr int64_t kTile = 32;  // rows per GEMM
  const int64_t tile = std::min(kTile, rows);
  std::vector<double> wt(static_cast<size_t>(tile * cols)), v(static_cast<size_t>(tile * cols), 0.0);
  std::vector<double> hw(wt.size()), y(wt.size());
  std::vector<double> g(static_cast<size_t>(tile * np * np)), rhs(static_cast<size_t>(tile * np));
  std::vector<double> theta0(static_cast<size_t>(tile * np));
  const blasint bc = static_cast<blasint>(cols);
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t nt = std::min(tile, rows - r0);
    const blasint bn = static_cast<blasint>(nt);
    for (int64_t i = 0; i < nt * cols; ++i) wt[static_cast<size_t>(i)] = w[r0 * cols + i];
    for (int64_t i = 0; i < nt; ++i)
      DecodeRow(type, dst + static_cast<size_t>(r0 + i) * dst_row, cols, v.data() + i * cols,
                theta0.data() + i * np);
    // HW [nt][cols] = W H.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bn, bc, bc, 1.0, wt.data(), bc, h.data(), bc, 0.0,
                hw.data(), bc);
    std::fill(g.begin(), g.end(), 0.0);
    for (int64_t b = 0; b < nb; ++b) {
      // Y [nt][cols] = H c_b per row: block b's codes times H's rows of block b.
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bn, bc, static_cast<blasint>(len(b)), 1.0,
                  v.data() + b * kBlock, bc, h.data() + b * kBlock * cols, bc, 0.0, y.data(), bc);
      for (int64_t i = 0; i < nt; ++i) {
        const double* yr = y.data() + i * cols;
        const double* vr = v.data() + i * cols;
        double* gi = g.data() + i * np * np;
        for (int64_t b2 = 0; b2 < nb; ++b2) {
          double cc = 0, ac = 0, ca = 0, aa = 0;
          for (int64_t k = b2 * kBlock; k < b2 * kBlock + len(b2); ++k) {
            cc += vr[k] * yr[k];
            ac += yr[k];
            ca += vr[k] * ha[static_cast<size_t>(b * cols + k)];
            aa += ha[static_cast<size_t>(b * cols + k)];
          }
          gi[(2 * b2) * np + 2 * b] = cc;          // c_b2ᵀ H c_b
          gi[(2 * b2 + 1) * np + 2 * b] = ac;      // a_b2ᵀ H c_b
          gi[(2 * b2) * np + 2 * b + 1] = ca;      // c_b2ᵀ H a_b
          gi[(2 * b2 + 1) * np + 2 * b + 1] = aa;  // a_b2ᵀ H a_b
        }
      }
    }
    for (int64_t i = 0; i < nt; ++i) {
      double* gi = g.data() + i * np * np;
      for (int64_t a = 0; a < np; ++a)
        for (int64_t c = a + 1; c < np; ++c) {
          const double s = 0.5 * (gi[a * np + c] + gi[c * np + a]);
          gi[a * np + c] = gi[c * np + a] = s;
        }
      const double* hr = hw.data() + i * cols;
      const double* vr = v.data() + i * cols;
      double* ri = rhs.data() + i * np;
      double whw = 0;
      for (int64_t k = 0; k < cols; ++k) whw += wt[static_cast<size_t>(i * cols + k)] * hr[k];
      for (int64_t b = 0; b < nb; ++b) {
        double rc = 0, ra = 0;
        for (int64_t k = b * kBlock; k < b * kBlock + len(b); ++k) {
          rc += vr[k] * hr[k];
          ra += hr[k];
        }
        ri[2 * b] = rc;
        ri[2 * b + 1] = ra;
      }
      const std::vector<double> gv(gi, gi + np * np);
      const double* t0 = theta0.data() + i * np;
      const double f0 = Objective(gv, ri, whw, t0, np);
      std::vector<double> t1(t0, t0 + np);
      uint8_t* row = dst + static_cast<size_t>(r0 + i) * dst_row;
      double f = f0;
      if (SolveRegularised(gv, std::vector<double>(ri, ri + np), np, t1.data()) &&
          StoreFields(type, row, cols, t1.data(), /*write=*/false)) {
        const double f1 = Objective(gv, ri, whw, t1.data(), np);
        if (f1 < f0) {
          StoreFields(type, row, cols, t1.data(), /*write=*/true);
          f = f1;
        }
      }
      if (obj != nullptr) obj[r0 + i] = f;
    }
  }
}

}  // namespace septet::quantize
