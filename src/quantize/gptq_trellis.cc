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
// Deterministic (a fixed order of every operation, ties to the lower state), so
// independent of the thread count.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "quant/q4_t.h"
#include "quantize/gptq.h"

namespace septet::quantize {
namespace {

constexpr int kWindow = 24;  // undecided columns per survivor (~5 constraint lengths of the code)
constexpr int kStates = quant::kQ4TStates;
constexpr int kBlock = quant::kQ4NLBlockSize, kSub = quant::kQ4NLSubBlockSize, kSubs = quant::kQ4NLSubBlocks;

// Survivors: per state its cost and its window (errors and codes of columns
// j0 .. j0 + len - 1, the same columns for every state).
struct Survivors {
  double cost[kStates];
  double e[kStates][kWindow];
  uint8_t code[kStates][kWindow];
};

// band[j * kWindow + d - 1] = U[j - d][j] for d = 1 .. kWindow (0 before column 0).
std::vector<double> Band(const GptqFactor& f) {
  const int64_t n = f.cols;
  std::vector<double> band(static_cast<size_t>(n * kWindow), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    for (int d = 1; d <= kWindow && d <= j; ++d) {
      band[static_cast<size_t>(j * kWindow + d - 1)] = f.u[static_cast<size_t>((j - d) * n + j)];
    }
  }
  return band;
}

void QuantizeRow(const float* w, const GptqFactor& f, const std::vector<double>& band, double* work, uint8_t* codes,
                 uint16_t* d16, int8_t* sc) {
  const int64_t n = f.cols;
  for (int64_t k = 0; k < n; ++k) work[k] = w[k];
  Survivors cur, nxt;
  std::fill(cur.cost, cur.cost + kStates, std::numeric_limits<double>::infinity());
  cur.cost[0] = 0.0;
  int64_t j0 = 0;  // first undecided column
  int len = 0;     // undecided columns (the window)
  float v = 0.0f;  // the current sub-block's value of one level unit
  float fit[kBlock];
  const auto commit_oldest = [&](int s) {
    const double e0 = cur.e[s][0];
    codes[j0] = cur.code[s][0];
    // Survivors that coded the column otherwise would decode through other
    // states (or other values) than the row will hold: dropped.
    for (int o = 0; o < kStates; ++o) {
      if (cur.code[o][0] != codes[j0]) cur.cost[o] = std::numeric_limits<double>::infinity();
    }
    const double* urow = f.u.data() + j0 * n;
    for (int64_t k = j0 + len; k < n; ++k) work[k] -= e0 * urow[k];
    ++j0;
  };
  for (int64_t j = 0; j < n; ++j) {
    if (j % kBlock == 0) {
      const int r = static_cast<int>(std::min<int64_t>(kBlock, n - j));
      for (int k = 0; k < r; ++k) fit[k] = static_cast<float>(work[j + k]);
      quant::Q4TFitBlock(fit, f.diag_h.data() + j, r, &d16[j / kBlock], sc + (j / kBlock) * kSubs);
    }
    if (j % kSub == 0) {
      v = Fp16ToFloat(d16[j / kBlock]) * quant::kQ4NLDUnit * static_cast<float>(sc[(j / kBlock) * kSubs + (j % kBlock) / kSub]);
    }
    int drop = 0;
    if (len == kWindow) {  // decide the oldest column from the cheapest survivor
      commit_oldest(static_cast<int>(std::min_element(cur.cost, cur.cost + kStates) - cur.cost));
      drop = 1;
    }
    // Each survivor's target for column j: its own window's feedback.
    double t[kStates];
    const double* bj = band.data() + j * kWindow;
    for (int s = 0; s < kStates; ++s) {
      double acc = work[j];
      for (int l = drop; l < len; ++l) acc -= cur.e[s][l] * bj[j - (j0 - drop + l) - 1];
      t[s] = acc;
    }
    const double ujj = f.u[static_cast<size_t>(j * n + j)];
    for (int ns = 0; ns < kStates; ++ns) {
      const int b = ns & 1;
      int best_s = -1, best_i = 0;
      double best_c = std::numeric_limits<double>::infinity(), best_e = 0;
      for (int hi = 0; hi < 2; ++hi) {
        const int s = (ns >> 1) | (hi << (quant::kQ4TStateBits - 1));
        if (!(cur.cost[s] < std::numeric_limits<double>::infinity())) continue;
        const int z = quant::Q4TSubset(s, b);
        const float x = v != 0.0f ? static_cast<float>(t[s]) / v : 0.0f;
        const int i = quant::Q4TNearestIndex(x, z);
        const double e = (t[s] - static_cast<double>(v) * quant::kQ4TLevels[4 * i + z]) / ujj;
        const double c = cur.cost[s] + e * e;
        if (c < best_c) {
          best_c = c;
          best_s = s;
          best_i = i;
          best_e = e;
        }
      }
      nxt.cost[ns] = best_c;
      if (best_s < 0) continue;  // unreachable yet (the row's first columns)
      const int keep = len - drop;
      std::memcpy(nxt.e[ns], cur.e[best_s] + drop, sizeof(double) * static_cast<size_t>(keep));
      std::memcpy(nxt.code[ns], cur.code[best_s] + drop, static_cast<size_t>(keep));
      nxt.e[ns][keep] = best_e;
      nxt.code[ns][keep] = static_cast<uint8_t>((b << 3) | best_i);
    }
    len = len - drop + 1;
    std::swap(cur, nxt);
  }
  const int s = static_cast<int>(std::min_element(cur.cost, cur.cost + kStates) - cur.cost);
  for (int l = 0; l < len; ++l) codes[j0 + l] = cur.code[s][l];
}

}  // namespace

void GptqTrellisQuantizeRows(const float* w, int64_t rows, const GptqFactor& f, float* q, uint8_t* dst,
                             size_t dst_row) {
  SEPTET_CHECK_MSG(f.perm.empty(), "GPTQ on Q4_T runs in column order (no act-order)");
  const int64_t n = f.cols;
  if (rows <= 0 || n <= 0) return;
  const std::vector<double> band = Band(f);
  const int64_t nb = quant::CeilDiv(n, kBlock);
  std::vector<double> work(static_cast<size_t>(n));
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  std::vector<uint16_t> d16(static_cast<size_t>(nb));
  std::vector<int8_t> sc(static_cast<size_t>(nb * kSubs));
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(w + r * n, f, band, work.data(), codes.data(), d16.data(), sc.data());
    uint8_t* out = dst + static_cast<size_t>(r) * dst_row;
    quant::Q4TWriteRow(codes.data(), d16.data(), sc.data(), n, out);
    quant::Q4TDequantizeRow(out, q + r * n, n);
  }
}

}  // namespace septet::quantize
