// Least-squares refit of the block fields of the formats whose rows are linear in
// them, with the codes fixed, against the calibration Hessian: the affine block formats
// (Q3P5, Q4_G: one (step, offset) per 128 weights) and Q3P5_NL (one signed step per 16).
//
// An affine row decodes to q_k = m_b + s_b · v_k for k in block b, where v_k is the
// stored code (Q4_G: u, s = d; Q3P5: the half-step code v = 2u or 2u + e, s = d / 2); a
// Q3P5_NL row to q_k = θ_g · L[u_k] for k in group g, θ_g = d_eff(D_b) · sc_g. With the
// codes fixed, q = B θ is linear in θ, so the layer-output error of the row,
// f(θ) = (w - Bθ)ᵀ H (w - Bθ) with H = (1/N) XᵀX (the quantizer passes it dampened as
// GPTQ used it) and w the original weights, has one minimiser per row: (BᵀHB) θ = BᵀH w
// (Tikhonov-regularised towards the current θ, so a block whose codes are all equal
// keeps its fields). GPTQ chooses the fields before it chooses the codes (from diag H
// only); this solve re-chooses them for the codes GPTQ picked, with the full H, which
// couples the blocks of a row.
//
// Storing the solution: the affine formats round it to the stored fields (fp16 d >= 0;
// Q3P5's 15-bit m); Q3P5_NL searches per block for the fp16 D and the integer scales in
// [-32, 31] nearest to it in f (candidate D values, then coordinate descent on the
// scales; refit.cc says how). Either is kept only where f of the stored fields is below
// f of the current ones (a negative affine step is not storable: such a row keeps its
// fields). The codes are never changed, so a row's bytes differ only in its fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace septet::quantize {

// True for the formats RefitRows handles (Q3P5, Q4_G, Q3P5_NL).
bool CanRefit(DType type);

// Refits rows [0, rows) of dst (rows x dst_row bytes of `type`, cols weights each) in
// place. w: the original weights [rows][cols]; h: the Hessian [cols][cols].
// obj (optional, rows entries): f - wᵀHw per row after the refit (the output error less
// a term of the row that no field changes, so never computed; in double, from the normal
// equations' terms). Deterministic and independent of how the rows are split.
void RefitRows(const float* w, int64_t rows, int64_t cols, const std::vector<double>& h, DType type,
               uint8_t* dst, size_t dst_row, double* obj);

}  // namespace septet::quantize
