// GPTQ (Frantar et al. 2022, "Optimal Brain Quantization" applied column by column)
// for any format with a RowGrid (quantize/grid.h). See docs/quantization.md for the
// derivation. For one weight matrix W [rows][cols] whose input has the second-moment
// matrix H = (1/N) XᵀX [cols][cols]:
//
//   1. dead inputs (H_jj = 0) get H_jj = 1; dampening H += λ I, λ = damp · mean(diag H);
//   2. U = the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU);
//   3. per row w (independently, so rows can run in parallel, bit-identically):
//        for j = 0 .. cols-1:
//          at a group start: fit the group's parameters on the current w[group]
//                            (importance = diag of the undamped H);
//          q_j = Snap(w_j);  e = (w_j - q_j) / U_jj;  w_k -= e · U_jk  for k > j.
//      then Encode(q).
//
// Act-order (GptqPrepare(..., act_order = true)): the columns are processed in
// decreasing diag(H) (ties: lower index first), so the inputs with the most energy are
// quantized while the most later columns remain to absorb their error; U is the factor
// of the permuted H. The groups keep the format's layout (128 consecutive columns of the
// *original* order share (d, m)), so they cannot be fitted as the pass reaches them:
// every group of the row is fitted first, on the unmodified row ("static groups"), then
// the permuted pass snaps each column to its group's grid.
//
// Every floating-point operation happens in a fixed order, so the result is
// deterministic and independent of the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "quantize/grid.h"

namespace septet::quantize {

struct GptqFactor {
  int64_t cols = 0;
  std::vector<double> u;      // [cols][cols] upper triangular, H⁻¹ = UᵀU
  std::vector<float> diag_h;  // undamped diag(H): the group fit's importance
  double damp_used = 0;       // the relative dampening that made H positive definite
  // Act-order: perm[p] = the original column processed at step p; u is then the factor
  // of the permuted H (row/column p = column perm[p]). Empty: natural order.
  std::vector<int32_t> perm;
  // U rounded to float, which the error feedback reads (every format); empty: each call
  // rounds its own copy. Filled by AddFloatFactor once per input when the rows go
  // in many calls (quantize/input_prep.h).
  std::vector<float> u_float;
};

void AddFloatFactor(GptqFactor* f);
// f.u_float when AddFloatFactor filled it, else U rounded into *own.
const float* FloatFactorOf(const GptqFactor& f, std::vector<float>* own);

// Dampens, factors and inverts H. Retries with 10x the dampening (up to 1.0) when
// the Cholesky factorisation fails; kInvalidArgument if it never succeeds.
Result<GptqFactor> GptqPrepare(const std::vector<double>& h, int64_t cols, double damp, bool act_order = false);

// Quantizes one row of cols weights into dst (the grid's storage). `work` is scratch
// of cols floats and `q` of cols floats (the snapped values, left there). The error
// feedback runs in float with U rounded to float (FloatFactorOf): the weights are float,
// and a rounding of the update (2^-24 relative) is far below any grid's step.
void GptqQuantizeRow(const float* w, const GptqFactor& f, RowGrid* grid, float* work, float* q, void* dst);

// The same for rows [0, rows) of W (q: rows x cols snapped values; dst: rows x dst_row
// bytes), bit-identical to GptqQuantizeRow per row, but in column blocks over chunks
// of rows so that U's rows are read from cache rather than memory once per row.
// preset (rows x dst_row bytes, may be dst itself): re-round on fixed grids, each row's
// group parameters loaded from its preset row (RowGrid::Load) instead of fitted; the
// codes are chosen by the same error-feedback pass.
void GptqQuantizeRows(const float* w, int64_t rows, const GptqFactor& f, DType type, bool rtn_int3, float* q,
                      uint8_t* dst, size_t dst_row, const uint8_t* preset = nullptr);

// GPTQ for Q4_T (gptq_trellis.cc): the trellis search of quant/q4_t.h with each
// survivor path's own error feedback, columns in order (f without act-order). Same
// outputs as GptqQuantizeRows (which calls it for Q4_T, without a preset).
void GptqTrellisQuantizeRows(const float* w, int64_t rows, const GptqFactor& f, float* q, uint8_t* dst,
                             size_t dst_row);

// Plain (no error feedback) quantization through the same grid: fit per group with
// `imp`, snap, encode. Used for tests (equals the format's own quantizer for block
// formats whose Encode reproduces it).
void GridQuantizeRow(const float* w, int64_t cols, const float* imp, RowGrid* grid, float* q, void* dst);

}  // namespace septet::quantize
