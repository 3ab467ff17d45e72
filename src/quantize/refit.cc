#include "quantize/refit.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "kernels/simd/simd_ops.h"
#include "quant/nl_codebook.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q4_g.h"
#include "quant/q4_nl.h"
#include "quant/quant_util.h"

namespace septet::quantize {
namespace {

using namespace septet::quant;

// How a format's row is linear in its fields: segments of `seg` weights, each with a
// step θ_s (weight k of the segment decodes to θ_s v_k) and, when `offset`, an
// offset θ_m added to every weight of the segment. Parameters (s[, m]) per segment.
struct Linear {
  int64_t seg;
  bool offset;
  int64_t per_seg() const { return offset ? 2 : 1; }
};

// The non-uniform-level formats: weight k of group g decodes to d_eff sc_g L[u_k], an fp16
// D (d_eff = float(D) unit) and a signed integer scale per group of `group` weights.
struct NlFormat {
  int64_t group;
  int groups;          // per block of 128
  int sc_min, sc_max;  // the scale's range
  int k_low;           // ProjectNL's D candidates store the block's largest |θ| with |sc| >= k_low
  float d_unit;
  size_t block_bytes;
  const int8_t* levels;
  size_t d_per_sub;  // D's byte offset in a block of ns sub-blocks: d_per_sub * ns
  void (*read_scales)(const uint8_t* p, int r, float* d_eff, int8_t* sc);
  void (*read_codes)(const uint8_t* p, int r, uint8_t* codes);
  void (*write)(uint16_t d16, const int8_t* sc, const uint8_t* codes, int r, uint8_t* dst);
};
constexpr int kMaxGroups = 8;

void ReadQ3P5NLScales(const uint8_t* p, int r, float* d, int8_t* sc) {
  const Q3P5NLParams hp = Q3P5NLReadParams(p, r);
  *d = hp.d;
  std::copy(hp.sc, hp.sc + kQ3P5NLGroups, sc);
}
void ReadQ4NLScales(const uint8_t* p, int r, float* d, int8_t* sc) {
  const Q4NLParams hp = Q4NLReadParams(p, r);
  *d = hp.d;
  std::copy(hp.sc, hp.sc + kQ4NLSubBlocks, sc);
}

const NlFormat* NlOf(DType type) {
  static const NlFormat kQ3P5NL{kQ3P5NLGroupSize, kQ3P5NLGroups, kQ3P5NLScaleMin, kQ3P5NLScaleMax, 24,
                                kQ3P5NLDUnit, sizeof(BlockQ3P5NL), kQ3P5NLLevels, 12, &ReadQ3P5NLScales,
                                &Q3P5NLReadCodes, &Q3P5NLWriteBlock};
  static const NlFormat kQ4NL{kQ4NLSubBlockSize, kQ4NLSubBlocks, kQ4NLScaleMin, kQ4NLScaleMax, 4,
                              kQ4NLDUnit, sizeof(BlockQ4NL), kQ4NLLevels, 16, &ReadQ4NLScales,
                              &Q4NLReadCodes, &Q4NLWriteBlock};
  if (type == DType::kQ3P5_NL) return &kQ3P5NL;
  if (type == DType::kQ4_NL) return &kQ4NL;
  return nullptr;
}
static_assert(kQ3P5NLGroups <= kMaxGroups && kQ4NLSubBlocks <= kMaxGroups && kMaxGroups == kNlMaxBlockGroups);

Linear LinearOf(DType type) {
  if (const NlFormat* nl = NlOf(type)) return Linear{nl->group, false};  // θ = d_eff sc_g, v = L[u]
  return Linear{128, true};                                               // Q3P5, Q4_G: one (d, m) per 128
}
static_assert(kQ3P5BlockSize == 128 && kQ4GBlockSize == 128);

size_t BlockBytes(DType type) {
  switch (type) {
    case DType::kQ3P5: return sizeof(BlockQ3P5);
    case DType::kQ4_G: return sizeof(BlockQ4G);
    default: return NlOf(type)->block_bytes;
  }
}
constexpr int64_t kBlock = 128;  // every format here: blocks of 128 weights, short tails
static_assert(kQ3P5NLBlockSize == kBlock && kQ4NLBlockSize == kBlock);

// The code values v [cols] and the stored parameters θ of one row (LinearOf's order).
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
    } else if (type == DType::kQ4_G) {
      uint16_t d16, m16;
      std::memcpy(&d16, p, 2);
      std::memcpy(&m16, p + 2, 2);
      for (int k = 0; k < r; ++k) vb[k] = (p[4 + k / 2] >> (4 * (k % 2))) & 0xF;
      theta[2 * b] = Fp16ToFloat(d16);
      theta[2 * b + 1] = Fp16ToFloat(m16);
    } else {
      const NlFormat& nl = *NlOf(type);
      float d = 0;
      int8_t sc[kMaxGroups] = {};
      nl.read_scales(p, r, &d, sc);
      uint8_t codes[kBlock] = {};
      nl.read_codes(p, r, codes);
      for (int k = 0; k < r; ++k) vb[k] = nl.levels[codes[k]];
      for (int g = 0; g * nl.group < r; ++g) theta[b * nl.groups + g] = static_cast<double>(d) * sc[g];
    }
  }
}

// Affine formats: rounds theta to the stored fields (in place) and writes them into the
// row's headers when `write`. False when a field cannot hold its value (negative or
// non-finite step).
bool StoreAffineFields(DType type, uint8_t* row, int64_t cols, double* theta, bool write) {
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

// f(θ) - wᵀHw = θᵀ G θ - 2 θ·r (wᵀHw does not depend on θ, so it is never computed).
double Objective(const std::vector<double>& g, const double* rhs, const double* theta, int64_t n) {
  double f = 0;
  for (int64_t i = 0; i < n; ++i) {
    double gi = 0;
    for (int64_t j = 0; j < n; ++j) gi += g[static_cast<size_t>(i * n + j)] * theta[j];
    f += theta[i] * (gi - 2.0 * rhs[i]);
  }
  return f;
}

// Column j of L for rows i..i+R-1: L_ij = (a_ij - sum_k<j L_ik L_jk) / L_jj, each row's sum
// in k order as one row alone would take it (the same bits), R rows in independent chains.
// (One row at a time, the chain of dependent subtractions was most of RefitRows' own time.)
template <int R>
void CholeskyColumn(double* a, int64_t n, int64_t j, int64_t i, double ljj) {
  double s[R];
  for (int q = 0; q < R; ++q) s[q] = a[(i + q) * n + j];
  const double* lj = a + j * n;
  for (int64_t k = 0; k < j; ++k) {
    for (int q = 0; q < R; ++q) s[q] -= a[(i + q) * n + k] * lj[k];
  }
  for (int q = 0; q < R; ++q) a[(i + q) * n + j] = s[q] / ljj;
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
    int64_t i = j + 1;
    for (; i + 8 <= n; i += 8) CholeskyColumn<8>(a.data(), n, j, i, ljj);
    for (; i < n; ++i) CholeskyColumn<1>(a.data(), n, j, i, ljj);
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

// Q3P5_NL, Q4_NL: the stored fields nearest in f to the unconstrained optimum t1 (θ_g =
// d_eff sc_g per group; t0: the current fields). Per block, with the other blocks' θ fixed, f
// is a quadratic q(x) = xᵀ G_BB x - 2 xᵀ e in the block's θ, e = r_B - G_BO θ_O. Candidates
// for D: the current one, and those that store the block's largest |t1_g| with |sc| = k for
// k = k_low..sc_max (..-sc_min when it is negative: Q3P5_NL 24..31 or 32, Q4_NL 4..7 or 8);
// per candidate, sc = round(t1 / d_eff), then sweeps of
// exact coordinate descent over the integer scales (q is convex in each). The lowest q
// wins; two passes over the blocks (the second sees every other block stored). Writes the
// fields and returns the new f when it is below f0, else returns f0.
double ProjectNL(const NlFormat& nl, uint8_t* row, int64_t cols, const std::vector<double>& g, const double* rhs,
                 const double* t1, double f0) {
  const int64_t np = CeilDiv(cols, nl.group), nb = CeilDiv(cols, kBlock);
  std::vector<double> t(t1, t1 + np);
  std::vector<uint16_t> d16(static_cast<size_t>(nb));
  std::vector<int8_t> sc(static_cast<size_t>(nb * nl.groups), 0);
  std::vector<uint16_t> d_now(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b) {
    const int r = static_cast<int>(std::min(kBlock, cols - b * kBlock));
    const size_t ns = static_cast<size_t>(CeilDiv(r, 32));
    std::memcpy(&d_now[static_cast<size_t>(b)], row + static_cast<size_t>(b) * nl.block_bytes + nl.d_per_sub * ns, 2);
  }
  const auto G = [&](int64_t i, int64_t j) { return g[static_cast<size_t>(i * np + j)]; };
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t g0 = b * nl.groups, ng = std::min<int64_t>(nl.groups, np - g0);
      // e_i = r_i - sum over the other blocks' j (ascending) of G_ij θ_j: the block's rows
      // side by side, each its own chain in j order.
      double e[kMaxGroups], tb[kMaxGroups];
      for (int64_t i = 0; i < ng; ++i) {
        e[i] = rhs[g0 + i];
        tb[i] = pass == 0 ? t1[g0 + i] : t[static_cast<size_t>(g0 + i)];
      }
      const auto subtract = [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j) {
          const double tj = t[static_cast<size_t>(j)];
          for (int64_t i = 0; i < ng; ++i) e[i] -= G(g0 + i, j) * tj;
        }
      };
      subtract(0, g0);
      subtract(g0 + ng, np);
      int64_t top = 0;
      for (int64_t i = 1; i < ng; ++i) {
        if (std::fabs(t1[g0 + i]) > std::fabs(t1[g0 + top])) top = i;
      }
      uint16_t cands[12];
      int nc = 0;
      cands[nc++] = pass == 0 ? d_now[static_cast<size_t>(b)] : d16[static_cast<size_t>(b)];
      const int kmax = t1[g0 + top] < 0 ? -nl.sc_min : nl.sc_max;
      for (int k = kmax; k >= nl.k_low && nc < 12; --k) {
        cands[nc++] = FloatToFp16(static_cast<float>(std::fabs(t1[g0 + top]) / k / nl.d_unit));
      }
      // Every usable candidate's scales and error at once (simd::NlBlockScales), then the
      // lowest error, the first of equals.
      double gb[kMaxGroups * kMaxGroups], deff[12], qs[12], ss[12 * quant::kNlMaxBlockGroups];
      for (int64_t i = 0; i < ng; ++i)
        for (int64_t j = 0; j < ng; ++j) gb[i * ng + j] = G(g0 + i, g0 + j);
      int used[12], nu = 0;
      for (int c = 0; c < nc; ++c) {
        const double de = static_cast<double>(Fp16ToFloat(cands[c]) * nl.d_unit);
        if (!(de > 0) || !std::isfinite(de)) continue;
        deff[nu] = de;
        used[nu++] = c;
      }
      if (nu == 0) return f0;  // no finite D stores this block
      simd::NlBlockScales(quant::NlBlockQuadratic{gb, e, tb, static_cast<int>(ng), nl.sc_min, nl.sc_max}, deff, nu,
                          qs, ss);
      int best = 0;
      for (int u = 1; u < nu; ++u) {
        if (qs[u] < qs[best]) best = u;
      }
      d16[static_cast<size_t>(b)] = cands[used[best]];
      for (int64_t i = 0; i < ng; ++i) {
        const double sv = ss[best * quant::kNlMaxBlockGroups + i];
        sc[static_cast<size_t>(g0 + i)] = static_cast<int8_t>(sv);
        t[static_cast<size_t>(g0 + i)] = deff[best] * sv;
      }
    }
  }
  const double f1 = Objective(g, rhs, t.data(), np);
  if (!(f1 < f0)) return f0;
  for (int64_t b = 0; b < nb; ++b) {
    const int r = static_cast<int>(std::min(kBlock, cols - b * kBlock));
    uint8_t* p = row + static_cast<size_t>(b) * nl.block_bytes;
    uint8_t codes[kBlock];
    nl.read_codes(p, r, codes);
    nl.write(d16[static_cast<size_t>(b)], sc.data() + b * nl.groups, codes, r, p);
  }
  return f1;
}

}  // namespace

bool CanRefit(DType type) { return type == DType::kQ3P5 || type == DType::kQ4_G || NlOf(type) != nullptr; }

void RefitRows(const float* w, int64_t rows, int64_t cols, const std::vector<double>& h, DType type, uint8_t* dst,
               size_t dst_row, double* obj) {
  SEPTET_CHECK_MSG(CanRefit(type), "RefitRows: Q3P5, Q4_G, Q3P5_NL or Q4_NL only");
  SEPTET_CHECK_MSG(static_cast<int64_t>(h.size()) == cols * cols, "RefitRows: Hessian size");
  if (rows <= 0 || cols <= 0) return;
  const Linear lin = LinearOf(type);
  const int64_t seg = lin.seg, pp = lin.per_seg();
  const int64_t nseg = CeilDiv(cols, seg), np = pp * nseg;
  const auto len = [&](int64_t b) { return std::min(seg, cols - b * seg); };
  // Shared by every row (offset formats): ha[b][k] = (H a_b)_k, H times segment b's indicator.
  std::vector<double> ha;
  if (lin.offset) {
    ha.assign(static_cast<size_t>(nseg * cols), 0.0);
    for (int64_t b = 0; b < nseg; ++b)
      for (int64_t j = b * seg; j < b * seg + len(b); ++j)
        for (int64_t k = 0; k < cols; ++k) ha[static_cast<size_t>(b * cols + k)] += h[static_cast<size_t>(j * cols + k)];
  }

  constexpr int64_t kTile = 32;  // rows per GEMM
  const int64_t tile = std::min(kTile, rows);
  std::vector<double> wt(static_cast<size_t>(tile * cols)), v(static_cast<size_t>(tile * cols), 0.0);
  std::vector<double> y(wt.size()), ra(lin.offset ? static_cast<size_t>(tile * nseg) : 0);
  std::vector<double> g(static_cast<size_t>(tile * np * np)), rhs(static_cast<size_t>(tile * np));
  std::vector<double> theta0(static_cast<size_t>(tile * np)), dots(static_cast<size_t>(nseg)), wdots(dots.size());
  const int64_t whole = cols / seg;
  const blasint bc = static_cast<blasint>(cols);
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t nt = std::min(tile, rows - r0);
    const blasint bn = static_cast<blasint>(nt);
    for (int64_t i = 0; i < nt * cols; ++i) wt[static_cast<size_t>(i)] = w[r0 * cols + i];
    for (int64_t i = 0; i < nt; ++i)
      DecodeRow(type, dst + static_cast<size_t>(r0 + i) * dst_row, cols, v.data() + i * cols,
                theta0.data() + i * np);
    // The right-hand side r = BᵀHw comes from the products Y below (r for c_b is
    // wᵀ (H c_b)), not from a product W H of its own, which cost as much as all of Y.
    // Offset formats: RA [nt][nseg] = W HAᵀ, a_bᵀ H w for every row and segment.
    if (lin.offset) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bn, static_cast<blasint>(nseg), bc, 1.0, wt.data(), bc,
                  ha.data(), bc, 0.0, ra.data(), static_cast<blasint>(nseg));
    }
    std::fill(g.begin(), g.end(), 0.0);
    for (int64_t b = 0; b < nseg; ++b) {
      // Y [nt][cols] = H c_b per row: segment b's codes times H's rows of segment b.
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bn, bc, static_cast<blasint>(len(b)), 1.0,
                  v.data() + b * seg, bc, h.data() + b * seg * cols, bc, 0.0, y.data(), bc);
      for (int64_t i = 0; i < nt; ++i) {
        const double* yr = y.data() + i * cols;
        const double* vr = v.data() + i * cols;
        const double* wr = wt.data() + i * cols;
        double* gi = g.data() + i * np * np;
        // r for c_b: wᵀ (H c_b), summed per segment (k ascending), then over the segments.
        // (The segment sums in four chains, b2 mod 4, added pairwise: one chain was 8 % of
        // this function's own time.)
        simd::SegmentDots(wr, yr, seg, whole, wdots.data());
        double rc[4] = {0, 0, 0, 0};
        for (int64_t b2 = 0; b2 < whole; ++b2) rc[b2 % 4] += wdots[static_cast<size_t>(b2)];
        double tail = 0;
        for (int64_t k = whole * seg; k < cols; ++k) tail += wr[k] * yr[k];
        rhs[static_cast<size_t>(i * np + pp * b)] = ((rc[0] + rc[1]) + (rc[2] + rc[3])) + tail;
        if (lin.offset) rhs[static_cast<size_t>(i * np + pp * b + 1)] = ra[static_cast<size_t>(i * nseg + b)];
        int64_t b2_first = 0;
        if (!lin.offset) {  // c_b2ᵀ H c_b of the whole segments, one per lane (the same sums)
          simd::SegmentDots(vr, yr, seg, whole, dots.data());
          for (int64_t b2 = 0; b2 < whole; ++b2) gi[(pp * b2) * np + pp * b] = dots[static_cast<size_t>(b2)];
          b2_first = whole;
        }
        for (int64_t b2 = b2_first; b2 < nseg; ++b2) {
          double cc = 0, ac = 0, ca = 0, aa = 0;
          for (int64_t k = b2 * seg; k < b2 * seg + len(b2); ++k) {
            cc += vr[k] * yr[k];
            if (lin.offset) {
              ac += yr[k];
              ca += vr[k] * ha[static_cast<size_t>(b * cols + k)];
              aa += ha[static_cast<size_t>(b * cols + k)];
            }
          }
          gi[(pp * b2) * np + pp * b] = cc;  // c_b2ᵀ H c_b
          if (lin.offset) {
            gi[(pp * b2 + 1) * np + pp * b] = ac;      // a_b2ᵀ H c_b
            gi[(pp * b2) * np + pp * b + 1] = ca;      // c_b2ᵀ H a_b
            gi[(pp * b2 + 1) * np + pp * b + 1] = aa;  // a_b2ᵀ H a_b
          }
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
      const double* ri = rhs.data() + i * np;
      const std::vector<double> gv(gi, gi + np * np);
      const double* t0 = theta0.data() + i * np;
      const double f0 = Objective(gv, ri, t0, np);
      std::vector<double> t1(t0, t0 + np);
      uint8_t* row = dst + static_cast<size_t>(r0 + i) * dst_row;
      double f = f0;
      if (SolveRegularised(gv, std::vector<double>(ri, ri + np), np, t1.data())) {
        if (!lin.offset) {
          f = ProjectNL(*NlOf(type), row, cols, gv, ri, t1.data(), f0);
        } else if (StoreAffineFields(type, row, cols, t1.data(), /*write=*/false)) {
          const double f1 = Objective(gv, ri, t1.data(), np);
          if (f1 < f0) {
            StoreAffineFields(type, row, cols, t1.data(), /*write=*/true);
            f = f1;
          }
        }
      }
      if (obj != nullptr) obj[r0 + i] = f;
    }
  }
}

}  // namespace septet::quantize
