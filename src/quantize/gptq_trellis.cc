// GPTQ for Q4_T (quant/q4_t.h), whose codes are chosen jointly along the row by a
// trellis search and so cannot be snapped one weight at a time (RowGrid).
//
// Per row, columns in order (no act-order: the trellis runs in column order):
//   * at a block start, the block's D and scales are fitted on the current values
//     (the updates of every committed column applied; quant::Q4TFitBlock,
//     importance diag H), as GptqQuantizeRow fits a group;
//   * the Viterbi search over the 32 states carries, per state, its survivor's
//     last kWindow undecided columns: their codes and GPTQ errors
//     e_c = (t_c - q_c) / U_cc. Column j's target on a survivor is
//       t = w_j - sum over the survivor's window of e_c U_cj,
//     so each path is scored with its own error feedback (the loss increase e^2
//     summed along it, GPTQ's objective), and a branch into state s' keeps the
//     cheaper of its two predecessors;
//   * when the window is full, its oldest column is decided from the survivor
//     with the lowest cost: its code is final and its error is applied to every
//     later column (w_k -= e_c U_ck), as GPTQ does column by column; the other
//     survivors drop their own version of that column (finite-depth Viterbi
//     decoding), and those whose code there differs are dropped (their later
//     subsets assumed other branch bits than the row will hold);
//   * at the row end the cheapest survivor's window is decided.
// The search runs in float, the 32 states side by side in every step, two rows'
// steps interleaved (simd::Q4TSurvivorSteps, bit-identical to quant::Q4TSurvivorStep
// per row). Rows go in chunks of kChunkRows,
// column block by column block: a decided column's error reaches the rest of its
// block at once and the columns after the block when the whole chunk has passed
// it (simd::SubScaledRowsBatch: the block's rows of U, cached, stream past the
// chunk's values held in registers); every column still receives the updates in the
// order the columns were decided, so the result is the same as row by row.
// Deterministic (a fixed order of every operation, ties to the lower state), so
// independent of the thread count.
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q4_t.h"
#include "quantize/gptq.h"

namespace septet::quantize {
namespace {

constexpr int kWindow = quant::kQ4TWindow;
constexpr int kStates = quant::kQ4TStates;
constexpr int kBlock = quant::kQ4NLBlockSize, kSub = quant::kQ4NLSubBlockSize, kSubs = quant::kQ4NLSubBlocks;
constexpr int kChunkRows = 8;  // rows searched together, so that U's block rows stay in cache
constexpr float kInf = std::numeric_limits<float>::infinity();

// The window of undecided columns j0 .. j0 + len - 1 in the ring slots head, head + 1,
// .. (mod kWindow). It moves the same way on every row of a chunk (the same columns are
// decided at the same steps).
struct Window {
  int head = 0, len = 0;
  int64_t j0 = 0;  // first undecided column
  int Slot(int l) const { return (head + l) % kWindow; }  // the slot of column j0 + l
  void DropOldest() {  // the oldest column is decided
    head = (head + 1) % kWindow;
    ++j0;
    --len;
  }
};

// One row's search: the survivors and their window.
struct RowSearch {
  quant::Q4TSurvivors sv;
  Window win;
  float v = 0.0f;   // the current sub-block's value of one level unit
  float* work = nullptr;  // the row's current values (cols)
  uint8_t* codes = nullptr;
  uint16_t* d16 = nullptr;
  int8_t* sc = nullptr;
  float pend[kBlock];  // errors of the columns decided in this column block, in order
  int npend = 0;
};

void Start(RowSearch* r) {
  std::fill(r->sv.cost, r->sv.cost + kStates, kInf);
  r->sv.cost[0] = 0.0f;
  std::memset(r->sv.e, 0, sizeof(r->sv.e));
  std::memset(r->sv.code, 0, sizeof(r->sv.code));
  r->win = Window{};
  r->npend = 0;
  r->sv.best = 0;
}

// The state of least cost (ties: the lower state), as the last step found it (Start:
// state 0, a new row's only live state).
int Cheapest(const RowSearch& r) { return r.sv.best; }

// Before column j of row r (u: U in float, n x n; the column block ends at b1): a
// full window decides its oldest column.
void Decide(RowSearch* r, int64_t j, const float* u, int64_t n, int64_t b1) {
  if (r->win.len == kWindow) {
    // Decide the oldest column from the cheapest survivor; survivors that coded it
    // otherwise would decode through other states (or values) than the row will hold.
    const int p = r->win.head;
    const int best = Cheapest(*r);
    const int c = quant::Q4TSurvivorCode(r->sv, p, best);
    const float e0 = r->sv.e[p][best];
    r->codes[r->win.j0] = static_cast<uint8_t>(c);
    for (int s = 0; s < kStates; ++s) r->sv.cost[s] = quant::Q4TSurvivorCode(r->sv, p, s) == c ? r->sv.cost[s] : kInf;
    // Its error reaches the later columns: this block's now, the rest at the flush.
    simd::SubScaledRows(r->work + j, b1 - j, &e0, 1, u + r->win.j0 * n + j, n);
    r->pend[r->npend++] = e0;
    r->win.DropOldest();
  }
}

// Each column's band: U's entries of the window's columns (band[p] = U[column of slot
// p][j], a free slot 0), and the slot column j takes. The window moves the same way on
// every row of a chunk, so the bands of a column block are gathered once for the chunk,
// following its first row's window as Decide and Columns will move it.
struct BlockBands {
  alignas(64) float band[kBlock][kWindow];
  int slot[kBlock];
};
void GatherBands(const RowSearch& r, int64_t b0, int64_t b1, const float* u, int64_t n, BlockBands* out) {
  Window win = r.win;
  for (int64_t j = b0; j < b1; ++j) {
    if (win.len == kWindow) win.DropOldest();  // as Decide
    float* band = out->band[j - b0];
    std::fill(band, band + kWindow, 0.0f);
    for (int l = 0; l < win.len; ++l) band[win.Slot(l)] = u[(win.j0 + l) * n + j];
    out->slot[j - b0] = win.Slot(win.len);
    ++win.len;  // as Columns
  }
}

// Column j of rows[0 .. nr) (nr <= 2, their steps interleaved): each survivor's target
// is its own window's feedback through the column's band.
void Columns(RowSearch* const* rows, int nr, int64_t j, const float* band, int slot, float ujj) {
  simd::Q4TStepRow step[2];
  for (int i = 0; i < nr; ++i) {
    RowSearch* r = rows[i];
    SEPTET_DCHECK(r->win.Slot(r->win.len) == slot);
    step[i] = simd::Q4TStepRow{&r->sv, band, r->work[j], r->v, ujj, slot};
  }
  simd::Q4TSurvivorSteps(step, nr);
  for (int i = 0; i < nr; ++i) ++rows[i]->win.len;
}

// The row's end: the cheapest survivor's window is decided.
void Finish(RowSearch* r) {
  const int best = Cheapest(*r);
  for (int l = 0; l < r->win.len; ++l) {
    r->codes[r->win.j0 + l] = static_cast<uint8_t>(quant::Q4TSurvivorCode(r->sv, r->win.Slot(l), best));
  }
}

}  // namespace

void GptqTrellisQuantizeRows(const float* w, int64_t rows, const GptqFactor& f, float* q, uint8_t* dst,
                             size_t dst_row) {
  SEPTET_CHECK_MSG(f.perm.empty(), "GPTQ on Q4_T runs in column order (no act-order)");
  const int64_t n = f.cols;
  if (rows <= 0 || n <= 0) return;
  std::vector<float> own;
  const float* u = FloatFactorOf(f, &own);
  const int64_t nb = quant::CeilDiv(n, kBlock);
  std::vector<RowSearch> search(kChunkRows);
  std::vector<float> work(static_cast<size_t>(kChunkRows * n));
  std::vector<uint8_t> codes(static_cast<size_t>(kChunkRows * n));
  std::vector<uint16_t> d16(static_cast<size_t>(kChunkRows * nb));
  std::vector<int8_t> sc(static_cast<size_t>(kChunkRows * nb * kSubs));
  auto bands = std::make_unique<BlockBands>();
  for (int64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
    const int nr = static_cast<int>(std::min<int64_t>(kChunkRows, rows - r0));
    for (int i = 0; i < nr; ++i) {
      RowSearch& rs = search[static_cast<size_t>(i)];
      Start(&rs);
      rs.work = work.data() + i * n;
      rs.codes = codes.data() + i * n;
      rs.d16 = d16.data() + i * nb;
      rs.sc = sc.data() + i * nb * kSubs;
      std::copy(w + (r0 + i) * n, w + (r0 + i + 1) * n, rs.work);
    }
    for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
      const int64_t b1 = std::min(n, b0 + kBlock);
      const int64_t first_pending = search[0].win.j0;  // every row decides the same columns
      GatherBands(search[0], b0, b1, u, n, bands.get());
      for (int i0 = 0; i0 < nr; i0 += 2) {  // rows in pairs, their searches interleaved
        RowSearch* pair[2];
        const int np = std::min(2, nr - i0);
        for (int i = 0; i < np; ++i) {
          RowSearch& rs = search[static_cast<size_t>(i0 + i)];
          pair[i] = &rs;
          rs.npend = 0;
          SEPTET_DCHECK(rs.win.j0 == first_pending);
          // The block's D and scales, fitted on the current values (the updates of every
          // decided column applied; importance diag H).
          quant::Q4TFitBlock(rs.work + b0, f.diag_h.data() + b0, static_cast<int>(b1 - b0), &rs.d16[b0 / kBlock],
                             rs.sc + (b0 / kBlock) * kSubs, simd::Q4TFreeStartCosts);
        }
        for (int64_t j = b0; j < b1; ++j) {
          for (int i = 0; i < np; ++i) {
            RowSearch& rs = *pair[i];
            if (j % kSub == 0) {
              rs.v = Fp16ToFloat(rs.d16[j / kBlock]) * quant::kQ4NLDUnit *
                     static_cast<float>(rs.sc[(j / kBlock) * kSubs + (j % kBlock) / kSub]);
            }
            Decide(&rs, j, u, n, b1);
          }
          Columns(pair, np, j, bands->band[j - b0], bands->slot[j - b0], u[j * n + j]);
        }
      }
      // The columns decided in this block reach the columns after it, in the order
      // they were decided (the same order as column by column).
      float* rows_w[kChunkRows];
      const float* rows_e[kChunkRows];
      for (int i = 0; i < nr; ++i) {
        rows_w[i] = search[static_cast<size_t>(i)].work + b1;
        rows_e[i] = search[static_cast<size_t>(i)].pend;
      }
      simd::SubScaledRowsBatch(rows_w, rows_e, nr, n - b1, search[0].npend, u + first_pending * n + b1, n);
    }
    for (int i = 0; i < nr; ++i) {
      RowSearch& rs = search[static_cast<size_t>(i)];
      Finish(&rs);
      uint8_t* out = dst + static_cast<size_t>(r0 + i) * dst_row;
      quant::Q4TWriteRow(rs.codes, rs.d16, rs.sc, n, out);
      quant::Q4TDequantizeRow(out, q + (r0 + i) * n, n);
    }
  }
}

}  // namespace septet::quantize
