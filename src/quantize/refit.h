// Least-squares refit of the per-block (step, offset) of the affine block formats
// (Q3P5, Q4_G) with the codes fixed, against the calibration Hessian.
//
// A row of such a format decodes to q_k = m_b + s_b · v_k for k in block b, where v_k is
// the stored code (Q4_G: u, s = d; Q3P5: the half-step code v = 2u or 2u + e, s = d / 2).
// With the codes fixed, q = B θ is linear in θ = (s_0, m_0, s_1, m_1, ...), so the
// layer-output error of the row, f(θ) = (w - Bθ)ᵀ H (w - Bθ) with H = (1/N) XᵀX (the
// quantizer passes it dampened as GPTQ used it) and w the original weights, has one
// minimiser per row: (BᵀHB) θ = BᵀH w, a system of
// 2 · blocks unknowns (Tikhonov-regularised towards the current θ, so a block whose
// codes are all equal keeps its fields). GPTQ chooses (s, m) before it chooses the
// codes (from diag H only); this solve re-chooses them for the codes GPTQ picked, with
// the full H, which couples the blocks of a row.
//
// The solution is rounded to the stored fields (fp16 d >= 0; Q3P5's 15-bit m) and kept
// only where f of the rounded fields is below f of the current ones (a negative step is
// not storable: such a row keeps its fields). The codes are never changed, so the bytes
// of a row differ only in its block headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace septet::quantize {

// True for the formats RefitAffineRows handles (Q3P5, Q4_G).
bool CanRefitAffine(DType type);

// Refits rows [0, rows) of dst (rows x dst_row bytes of `type`, cols weights each) in
// place. w: the original weights [rows][cols]; h: the Hessian [cols][cols].
// obj (optional, rows entries): f per row after the refit (in double, from the normal
// equations' terms). Deterministic and independent of how the rows are split.
void RefitAffineRows(const float* w, int64_t rows, int64_t cols, const std::vector<double>& h, DType type,
                     uint8_t* dst, size_t dst_row, double* obj);

}  // namespace septet::quantize
