#include "quantize/gptq.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>

#include "core/check.h"
#include "kernels/simd/simd_ops.h"

namespace septet::quantize {
namespace {

// LAPACK (OpenBLAS): Cholesky factor and inverse from it, column-major. The trailing
// size_t is the Fortran ABI's hidden length of `uplo` (ignored where the routine is C).
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
}

// In place: a (n x n, symmetric) = L Lᵀ; L in the column-major lower triangle, i.e. the
// row-major upper triangle holds Lᵀ. The other triangle is left as it was. False when
// a is not positive definite.
bool CholeskyColMajorLower(std::vector<double>& a, int64_t n) {
  const int nn = static_cast<int>(n);
  int info = 0;
  dpotrf_("L", &nn, a.data(), &nn, &info, 1);
  return info == 0;
}

// Act-order's static groups: every group of the row fitted, in order, on the row as given.
void FitAllGroups(const float* w, int64_t n, int64_t gs, const float* imp, RowGrid* grid) {
  for (int64_t g0 = 0; g0 < n; g0 += gs) grid->Fit(w + g0, g0, std::min(gs, n - g0), n, imp + g0);
}

}  // namespace

Result<GptqFactor> GptqPrepare(const std::vector<double>& h_in, int64_t cols, double damp, bool act_order) {
  if (static_cast<int64_t>(h_in.size()) != cols * cols) {
    return InvalidArgument("GPTQ: Hessian has %zu entries; expected %lld^2", h_in.size(),
                           static_cast<long long>(cols));
  }
  GptqFactor f;
  std::vector<double> permuted;
  if (act_order) {
    f.perm.resize(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) f.perm[static_cast<size_t>(j)] = static_cast<int32_t>(j);
    std::stable_sort(f.perm.begin(), f.perm.end(),
                     [&](int32_t a, int32_t b) { return h_in[a * cols + a] > h_in[b * cols + b]; });
    permuted.resize(h_in.size());
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j) permuted[i * cols + j] = h_in[f.perm[i] * cols + f.perm[j]];
  }
  const std::vector<double>& h = act_order ? permuted : h_in;
  f.cols = cols;
  f.diag_h.resize(static_cast<size_t>(cols));
  double mean_diag = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    f.diag_h[j] = static_cast<float>(h_in[j * cols + j]);  // original order (the groups' importance)
    mean_diag += h_in[j * cols + j];
  }
  mean_diag /= static_cast<double>(std::max<int64_t>(cols, 1));
  if (!(mean_diag > 0.0)) mean_diag = 1.0;
  for (double rel = damp; rel <= 1.0 + 1e-12; rel *= 10.0) {
    std::vector<double> a = h;
    for (int64_t j = 0; j < cols; ++j) {
      if (a[j * cols + j] == 0.0) a[j * cols + j] = 1.0;  // dead input: any value of the weight is as good
      a[j * cols + j] += rel * mean_diag;
    }
    // H = L Lᵀ; H⁻¹ from it (the same triangle); H⁻¹ = L2 L2ᵀ, whose row-major upper
    // triangle is U = L2ᵀ with H⁻¹ = UᵀU. LAPACK, column-major, on a symmetric matrix.
    if (!CholeskyColMajorLower(a, cols)) continue;
    const int nn = static_cast<int>(cols);
    int info = 0;
    dpotri_("L", &nn, a.data(), &nn, &info, 1);
    if (info != 0) continue;
    if (!CholeskyColMajorLower(a, cols)) continue;
    f.u.assign(static_cast<size_t>(cols * cols), 0.0);
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = i; j < cols; ++j) f.u[i * cols + j] = a[i * cols + j];
    f.damp_used = rel;
    return f;
  }
  return InvalidArgument(
      "GPTQ: the calibration Hessian (%lld x %lld) is not positive definite even with "
      "dampening 1.0; use more calibration text or --no-gptq",
      static_cast<long long>(cols), static_cast<long long>(cols));
}

void AddFloatFactor(GptqFactor* f) { f->u_float.assign(f->u.begin(), f->u.end()); }

const float* FloatFactorOf(const GptqFactor& f, std::vector<float>* own) {
  if (f.u_float.size() == f.u.size()) return f.u_float.data();
  own->assign(f.u.begin(), f.u.end());
  return own->data();
}

void GptqQuantizeRow(const float* w, const GptqFactor& f, RowGrid* grid, float* work, float* q, void* dst) {
  const int64_t n = f.cols;
  const int64_t gs = grid->group_size() > 0 ? grid->group_size() : n;
  std::vector<float> own;
  const float* u = FloatFactorOf(f, &own);
  if (!f.perm.empty()) {
    FitAllGroups(w, n, gs, f.diag_h.data(), grid);
    for (int64_t p = 0; p < n; ++p) work[p] = w[f.perm[static_cast<size_t>(p)]];
    for (int64_t p = 0; p < n; ++p) {
      const int64_t j = f.perm[static_cast<size_t>(p)];
      q[j] = grid->Snap(work[p], j);
      const float* urow = u + p * n;
      const float e = (work[p] - q[j]) / urow[p];
      for (int64_t k = p + 1; k < n; ++k) work[k] -= e * urow[k];
    }
    grid->Encode(q, n, dst);
    return;
  }
  for (int64_t j = 0; j < n; ++j) work[j] = w[j];
  for (int64_t j = 0; j < n; ++j) {
    if (j % gs == 0) grid->Fit(work + j, j, std::min(gs, n - j), n, f.diag_h.data() + j);
    q[j] = grid->Snap(work[j], j);
    const float* urow = u + j * n;
    const float e = (work[j] - q[j]) / urow[j];
    for (int64_t k = j + 1; k < n; ++k) work[k] -= e * urow[k];
  }
  grid->Encode(q, n, dst);
}

void GptqQuantizeRows(const float* w, int64_t rows, const GptqFactor& f, DType type, bool rtn_int3, float* q,
                      uint8_t* dst, size_t dst_row, const uint8_t* preset) {
  const int64_t n = f.cols;
  if (rows <= 0 || n <= 0) return;
  if (type == DType::kQ4_T) {
    SEPTET_CHECK_MSG(preset == nullptr, "GPTQ on Q4_T: no preset grids (no --refit)");
    return GptqTrellisQuantizeRows(w, rows, f, q, dst, dst_row);
  }
  constexpr int64_t kChunk = 16;  // rows that share one pass over U's block rows
  std::vector<std::unique_ptr<RowGrid>> grids;
  for (int64_t i = 0; i < std::min(kChunk, rows); ++i) grids.push_back(MakeRowGrid(type, rtn_int3));
  const int64_t gs = grids[0]->group_size() > 0 ? grids[0]->group_size() : n;
  const bool act = !f.perm.empty();
  std::vector<float> own;
  const float* u = FloatFactorOf(f, &own);
  // Column blocks of whole groups: a group is fitted on values that have received the
  // updates of every earlier column, as in GptqQuantizeRow. (Act-order: blocks of 128
  // permuted columns; the groups were fitted before the pass.)
  const int64_t bw = act ? 128 : gs >= 128 ? gs : 128 / gs * gs;
  std::vector<float> work(static_cast<size_t>(kChunk * n));
  std::vector<float> err(static_cast<size_t>(kChunk * bw));
  for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
    const int64_t nr = std::min(kChunk, rows - r0);
    if (preset != nullptr) {  // fixed grids: every group's parameters from the preset row
      for (int64_t i = 0; i < nr; ++i) {
        const bool loaded = grids[static_cast<size_t>(i)]->Load(preset + static_cast<size_t>(r0 + i) * dst_row, n);
        SEPTET_CHECK_MSG(loaded, "GPTQ: this format's grid cannot load preset parameters");
      }
    }
    if (act) {
      for (int64_t i = 0; i < nr; ++i) {
        const float* wr = w + (r0 + i) * n;
        if (preset == nullptr) FitAllGroups(wr, n, gs, f.diag_h.data(), grids[static_cast<size_t>(i)].get());
        for (int64_t p = 0; p < n; ++p) work[static_cast<size_t>(i * n + p)] = wr[f.perm[static_cast<size_t>(p)]];
      }
    } else {
      for (int64_t i = 0; i < nr * n; ++i) work[static_cast<size_t>(i)] = w[r0 * n + i];
    }
    for (int64_t b0 = 0; b0 < n; b0 += bw) {
      const int64_t b1 = std::min(n, b0 + bw);
      for (int64_t i = 0; i < nr; ++i) {
        float* wk = work.data() + i * n;
        float* qr = q + (r0 + i) * n;
        RowGrid* grid = grids[static_cast<size_t>(i)].get();
        for (int64_t j = b0; j < b1; ++j) {
          if (!act && preset == nullptr && j % gs == 0) grid->Fit(wk + j, j, std::min(gs, n - j), n, f.diag_h.data() + j);
          // j: the step (the column in the processing order); col: where it is stored.
          const int64_t col = act ? f.perm[static_cast<size_t>(j)] : j;
          qr[col] = grid->Snap(wk[j], col);
          const float* urow = u + j * n;
          const float e = (wk[j] - qr[col]) / urow[j];
          err[static_cast<size_t>(i * bw + (j - b0))] = e;
          simd::SubScaledRows(wk + j + 1, b1 - j - 1, &e, 1, urow + j + 1, n);
        }
      }
      // The block's updates of the later columns, in the same order per element as the
      // column-by-column loop (j ascending), so the result is bit-identical to it.
      if (b1 < n) {
        float* rows_w[kChunk];
        const float* rows_e[kChunk];
        for (int64_t i = 0; i < nr; ++i) {
          rows_w[i] = work.data() + i * n + b1;
          rows_e[i] = err.data() + i * bw;
        }
        simd::SubScaledRowsBatch(rows_w, rows_e, static_cast<int>(nr), n - b1, b1 - b0, u + b0 * n + b1, n);
      }
    }
    for (int64_t i = 0; i < nr; ++i) {
      grids[static_cast<size_t>(i)]->Encode(q + (r0 + i) * n, n, dst + static_cast<size_t>(r0 + i) * dst_row);
    }
  }
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
