#include "quantize/gptq.h"

#include <algorithm>
#include <cmath>

namespace septet::quantize {
namespace {

// In-place lower Cholesky a = L Lᵀ (row-major, lower triangle written). False when not PD.
bool CholeskyLower(std::vector<double>& a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    const double ljj = std::sqrt(d);
    a[j * n + j] = ljj;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / ljj;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) a[i * n + j] = 0.0;
  return true;
}

// H⁻¹ from its lower Cholesky factor L: H⁻¹ = L⁻ᵀ L⁻¹.
std::vector<double> InverseFromCholesky(const std::vector<double>& l, int64_t n) {
  // Linv: lower triangular inverse of L, by forward substitution per column.
  std::vector<double> li(static_cast<size_t>(n * n), 0.0);
  for (int64_t c = 0; c < n; ++c) {
    li[c * n + c] = 1.0 / l[c * n + c];
    for (int64_t i = c + 1; i < n; ++i) {
      double s = 0.0;
      for (int64_t k = c; k < i; ++k) s += l[i * n + k] * li[k * n + c];
      li[i * n + c] = -s / l[i * n + i];
    }
  }
  std::vector<double> inv(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0.0;  // (Linvᵀ Linv)_ij = Σ_k Linv_ki Linv_kj, k >= max(i, j) = i
      for (int64_t k = i; k < n; ++k) s += li[k * n + i] * li[k * n + j];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  }
  return inv;
}

}  // namespace

Result<GptqFactor> GptqPrepare(const std::vector<double>& h, int64_t cols, double damp) {
  if (static_cast<int64_t>(h.size()) != cols * cols) {
    return InvalidArgument("GPTQ: Hessian has %zu entries; expected %lld^2", h.size(), static_cast<long long>(cols));
  }
  GptqFactor f;
  f.cols = cols;
  f.diag_h.resize(static_cast<size_t>(cols));
  double mean_diag = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    f.diag_h[j] = static_cast<float>(h[j * cols + j]);
    mean_diag += h[j * cols + j];
  }
  mean_diag /= static_cast<double>(std::max<int64_t>(cols, 1));
  if (!(mean_diag > 0.0)) mean_diag = 1.0;
  for (double rel = damp; rel <= 1.0 + 1e-12; rel *= 10.0) {
    std::vector<double> a = h;
    for (int64_t j = 0; j < cols; ++j) {
      if (a[j * cols + j] == 0.0) a[j * cols + j] = 1.0;  // dead input: any value of the weight is as good
      a[j * cols + j] += rel * mean_diag;
    }
    if (!CholeskyLower(a, cols)) continue;
    std::vector<double> inv = InverseFromCholesky(a, cols);
    if (!CholeskyLower(inv, cols)) continue;
    // inv now holds L2 with H⁻¹ = L2 L2ᵀ; U = L2ᵀ.
    f.u.assign(static_cast<size_t>(cols * cols), 0.0);
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j <= i; ++j) f.u[j * cols + i] = inv[i * cols + j];
    f.damp_used = rel;
    return f;
  }
  return InvalidArgument(
      "GPTQ: the calibration Hessian (%lld x %lld) is not positive definite even with "
      "dampening 1.0; use more calibration text or --no-gptq",
      static_cast<long long>(cols), static_cast<long long>(cols));
}

void GptqQuantizeRow(const float* w, const GptqFactor& f, RowGrid* grid, double* work, float* q, void* dst) {
  const int64_t n = f.cols;
  const int64_t gs = grid->group_size() > 0 ? grid->group_size() : n;
  std::vector<float> gw(static_cast<size_t>(std::min(gs, n)));
  for (int64_t j = 0; j < n; ++j) work[j] = w[j];
  for (int64_t j = 0; j < n; ++j) {
    if (j % gs == 0) {
      const int64_t len = std::min(gs, n - j);
      for (int64_t k = 0; k < len; ++k) gw[k] = static_cast<float>(work[j + k]);
      grid->Fit(gw.data(), j, len, n, f.diag_h.data() + j);
    }
    const float wj = static_cast<float>(work[j]);
    q[j] = grid->Snap(wj, j);
    const double* urow = f.u.data() + j * n;
    const double e = (work[j] - static_cast<double>(q[j])) / urow[j];
    for (int64_t k = j + 1; k < n; ++k) work[k] -= e * urow[k];
  }
  grid->Encode(q, n, dst);
}

void GridQuantizeRow(const float* w, int64_t cols, const float* imp, RowGrid* grid, float* q, void* dst) {
  const int64_t gs = grid->group_size() > 0 ? grid->group_size() : cols;
  for (int64_t g0 = 0; g0 < cols; g0 += gs) {
    const int64_t len = std::min(gs, cols - g0);
    grid->Fit(w + g0, g0, len, cols, imp ? imp + g0 : nullptr);
    for (int64_t k = 0; k < len; ++k) q[g0 + k] = grid->Snap(w[g0 + k], g0 + k);
  }
  grid->Encode(q, cols, dst);
}

}  // namespace septet::quantize
