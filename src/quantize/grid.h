// Per-format "grids" for GPTQ: a weight format seen as (1) parameters fitted once per
// group when the group starts, (2) a nearest-value function for one weight given those
// parameters, and (3) an encoder that writes a row whose values already lie on the
// grid, with the fitted parameters, byte for byte in the format's layout.
//
// Fit() calls the format's own reference quantizer on the group (so the (d, m) search
// of quant/affine_fit, Q3P5's choice of the 4-bit sub-block, Q3P5_SEED's
// scale/offset search all apply, importance-weighted) and reads the parameters back
// from the bytes it wrote. Snap() reproduces the decoder's arithmetic exactly, so
// Encode(Snap(...)) decodes to the snapped values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace septet::quantize {

// The pseudo-type of the plain round-to-nearest INT3 g64 baseline (quant/int3_rtn.h):
// values are written as F32.
inline constexpr const char* kRtnInt3Name = "RTN3_G64";

class RowGrid {
 public:
  virtual ~RowGrid() = default;
  // Parameters change at multiples of this column index (0: once per row).
  virtual int64_t group_size() const = 0;
  // Fits the parameters of group [g0, g0 + len) of a row of n from the current
  // values w[0..len) with importance imp (null or len non-negative weights).
  virtual void Fit(const float* w, int64_t g0, int64_t len, int64_t n, const float* imp) = 0;
  // The grid value for w at column i, with the parameters of i's group (groups are
  // fitted in order from column 0; any group fitted since the last Encode: GPTQ's
  // act-order fits every group of the row first, then snaps in another column order).
  virtual float Snap(float w, int64_t i) const = 0;
  // Writes the row (values q on the grid of the groups fitted for this row, in order)
  // into dst (row_bytes of the storage type). Fit must have been called for every
  // group of this row since the last Encode.
  virtual void Encode(const float* q, int64_t n, void* dst) = 0;
  // Sets the parameters of every group of a row of n from an encoded row (row_bytes of
  // the storage type), instead of Fit: GPTQ re-rounding on fixed grids (after
  // quantize/refit.h). False (nothing set) for the formats without it.
  virtual bool Load(const void* /*row*/, int64_t /*n*/) { return false; }
};

// A grid for `type`: Q8_0, Q4_G, Q3P5, Q3P5_NL, Q4_NL, Q3P5_SEED, or the RTN3_G64 baseline (pass
// rtn_int3 = true; storage F32). Null for float types (nothing to snap to).
std::unique_ptr<RowGrid> MakeRowGrid(DType type, bool rtn_int3);

}  // namespace septet::quantize
