#include "quant/q4_t.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/half.h"
#include "quant/q8_act.h"

namespace septet::quant {
namespace {

constexpr int kBlock = kQ4NLBlockSize, kSub = kQ4NLSubBlockSize, kSubs = kQ4NLSubBlocks;

constexpr double kInf = std::numeric_limits<double>::infinity();

constexpr int kLanes = 16;  // searches run side by side, one per float lane

// Up to kLanes free-start searches of at most one sub-block each, lane by lane in
// the same float operations (independent of the other lanes, so of the batching).
void FreeStartBatch(const Q4TSearchLane* lanes, int n, float* out) {
  alignas(64) float w[kSub][kLanes] = {}, a[kSub][kLanes] = {};
  alignas(64) float v[kLanes], vs[kLanes];
  int maxlen = 0;
  for (int i = 0; i < kLanes; ++i) {
    const Q4TSearchLane* l = i < n ? &lanes[i] : nullptr;
    v[i] = l != nullptr ? l->v : 0.0f;
    vs[i] = v[i] != 0.0f ? v[i] : 1.0f;  // w / vs: any finite index where v = 0 (the error is w^2 there)
    if (l == nullptr) continue;
    maxlen = std::max(maxlen, l->len);
    for (int k = 0; k < l->len; ++k) {
      w[k][i] = l->w[k];
      a[k][i] = l->imp != nullptr ? l->imp[k] : 1.0f;
    }
  }
  alignas(64) float cost[kQ4TStates][kLanes] = {}, next[kQ4TStates][kLanes];
  for (int k = 0; k < maxlen; ++k) {
    alignas(64) float e[4][kLanes];
    for (int z = 0; z < 4; ++z) {
      for (int i = 0; i < kLanes; ++i) {
        const float x = w[k][i] / vs[i];
        float lv = static_cast<float>(kQ4TLevels[z]);
        for (int m = 0; m + 1 < kQ4TIndexCount; ++m) lv += x > kQ4TMidpoints.mid[z][m] ? kQ4TSteps.step[z][m] : 0.0f;
        const float d = w[k][i] - v[i] * lv;
        e[z][i] = a[k][i] * d * d;
      }
    }
    for (int ns = 0; ns < kQ4TStates; ++ns) {
      const int b = ns & 1, s0 = ns >> 1, s1 = s0 | (kQ4TStates >> 1);
      const float *c0 = cost[s0], *c1 = cost[s1], *e0 = e[Q4TSubset(s0, b)], *e1 = e[Q4TSubset(s1, b)];
      for (int i = 0; i < kLanes; ++i) {
        const float x0 = c0[i] + e0[i], x1 = c1[i] + e1[i];
        next[ns][i] = x1 < x0 ? x1 : x0;
      }
    }
    std::memcpy(cost, next, sizeof(cost));
  }
  for (int i = 0; i < n; ++i) {
    float best = cost[0][i];
    for (int s = 1; s < kQ4TStates; ++s) best = cost[s][i] < best ? cost[s][i] : best;
    out[i] = best;
  }
}

int NumSubBlocks(int r) { return static_cast<int>(CeilDiv(r, kSub)); }

}  // namespace

void Q4TSubsetErrors(float w, float v, float a, double e[4], int idx[4]) {
  const float x = v != 0.0f ? w / v : 0.0f;
  for (int z = 0; z < 4; ++z) {
    const int i = Q4TNearestIndex(x, z);
    const double d = static_cast<double>(w) - static_cast<double>(v) * kQ4TLevels[4 * i + z];
    idx[z] = i;
    e[z] = static_cast<double>(a) * d * d;
  }
}

void Q4TViterbiStep(const double* cost, const double e[4], const int idx[4], double* out, uint8_t* back) {
  for (int ns = 0; ns < kQ4TStates; ++ns) {
    const int b = ns & 1, s0 = ns >> 1, s1 = s0 | (kQ4TStates >> 1);
    const int z0 = Q4TSubset(s0, b), z1 = Q4TSubset(s1, b);
    const double c0 = cost[s0] + e[z0], c1 = cost[s1] + e[z1];
    if (c1 < c0) {
      out[ns] = c1;
      back[ns] = static_cast<uint8_t>(8 | idx[z1]);
    } else {
      out[ns] = c0;
      back[ns] = static_cast<uint8_t>(idx[z0]);
    }
  }
}

void Q4TLevelNumbers(const uint8_t* codes, int64_t n, uint8_t* j) {
  int state = 0;
  for (int64_t k = 0; k < n; ++k) {
    j[k] = static_cast<uint8_t>(Q4TLevelNumber(state, codes[k]));
    state = Q4TNextState(state, codes[k] >> 3);
  }
}

double Q4TViterbi(const float* w, const float* v, const float* imp, int64_t n, uint8_t* codes) {
  if (n <= 0) return 0.0;
  std::vector<uint8_t> back(static_cast<size_t>(n) * kQ4TStates);
  double cost[kQ4TStates], next[kQ4TStates];
  std::fill(cost, cost + kQ4TStates, kInf);
  cost[0] = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    double e[4];
    int idx[4];
    Q4TSubsetErrors(w[k], v[k], imp ? imp[k] : 1.0f, e, idx);
    Q4TViterbiStep(cost, e, idx, next, back.data() + static_cast<size_t>(k) * kQ4TStates);
    std::copy(next, next + kQ4TStates, cost);
  }
  return Q4TTraceback(cost, back.data(), n, codes);
}

double Q4TTraceback(const double* cost, const uint8_t* back, int64_t n, uint8_t* codes) {
  int s = static_cast<int>(std::min_element(cost, cost + kQ4TStates) - cost);
  const double best = cost[s];
  for (int64_t k = n - 1; k >= 0; --k) {
    const uint8_t bk = back[static_cast<size_t>(k) * kQ4TStates + static_cast<size_t>(s)];
    codes[k] = static_cast<uint8_t>(((s & 1) << 3) | (bk & 7));
    s = (s >> 1) | ((bk >> 3) << (kQ4TStateBits - 1));
  }
  return best;
}

void Q4TFreeStartCosts(const Q4TSearchLane* lanes, int n, float* cost) {
  for (int i0 = 0; i0 < n; i0 += kLanes) {
    for (int i = i0; i < std::min(n, i0 + kLanes); ++i) {
      SEPTET_CHECK_MSG(lanes[i].len >= 0 && lanes[i].len <= kSub, "Q4_T search lane length must be 0..32");
    }
    FreeStartBatch(lanes + i0, std::min(kLanes, n - i0), cost + i0);
  }
}

void Q4TFitBlock(const float* w, const float* imp, int r, uint16_t* d16, int8_t* sc, Q4TCostsFn costs_fn) {
  SEPTET_CHECK_MSG(r >= 1 && r <= kBlock, "Q4_T block length must be 1..128");
  constexpr int kGrid = 11;
  const int ns = NumSubBlocks(r);
  // 1. Every (sub-block, grid point) search in one batch.
  Q4TSearchLane lanes[kSubs * kGrid];
  float costs[kSubs * kGrid];
  int owner[kSubs * kGrid];
  int nl = 0;
  for (int s = 0; s < ns; ++s) {
    const int k0 = s * kSub, len = std::min(r - k0, kSub);
    double ss = 0;
    for (int k = 0; k < len; ++k) ss += static_cast<double>(w[k0 + k]) * w[k0 + k];
    const float rms = static_cast<float>(std::sqrt(ss / len));
    if (!(rms > 0.0f)) continue;
    for (int g = 0; g < kGrid; ++g) {
      lanes[nl] = {w + k0, imp ? imp + k0 : nullptr, len, -(rms * (0.7f + 0.07f * static_cast<float>(g)) / 40.5f)};
      owner[nl++] = s;
    }
  }
  costs_fn(lanes, nl, costs);
  float t[kSubs] = {}, best[kSubs];
  std::fill(best, best + kSubs, std::numeric_limits<float>::infinity());
  for (int i = 0; i < nl; ++i) {  // grid order within a sub-block: ties keep the smaller scale
    if (costs[i] < best[owner[i]]) {
      best[owner[i]] = costs[i];
      t[owner[i]] = -lanes[i].v;
    }
  }
  const float tmax = *std::max_element(t, t + kSubs);
  *d16 = FloatToFp16(std::min(tmax / 8.0f / kQ4NLDUnit, 65504.0f));
  const float d = Fp16ToFloat(*d16) * kQ4NLDUnit;
  std::fill(sc, sc + kSubs, int8_t{0});
  // 2. Per sub-block the scales round(t / d) and +- 1, again in one batch.
  nl = 0;
  for (int s = 0; s < ns; ++s) {
    if (!(t[s] > 0.0f) || !(d > 0.0f)) continue;  // all-zero sub-block (or an underflowing D): values 0
    const int k0 = s * kSub, len = std::min(r - k0, kSub);
    const int c0 = std::clamp(static_cast<int>(std::lround(t[s] / d)), 1, -kQ4NLScaleMin);
    for (int c = std::max(1, c0 - 1); c <= std::min(-kQ4NLScaleMin, c0 + 1); ++c) {
      lanes[nl] = {w + k0, imp ? imp + k0 : nullptr, len, -d * static_cast<float>(c)};
      owner[nl++] = s * 16 + c;
    }
  }
  costs_fn(lanes, nl, costs);
  std::fill(best, best + kSubs, std::numeric_limits<float>::infinity());
  for (int i = 0; i < nl; ++i) {
    const int s = owner[i] / 16;
    if (costs[i] < best[s]) {
      best[s] = costs[i];
      sc[s] = static_cast<int8_t>(-(owner[i] % 16));
    }
  }
}

void Q4TSurvivorStep(Q4TSurvivors* sv, const float* band, float target, float v, float ujj, int slot) {
  constexpr int kHalf = kQ4TStates / 2;
  float t[kQ4TStates];
  for (int s = 0; s < kQ4TStates; ++s) t[s] = target;
  for (int p = 0; p < kQ4TWindow; ++p) {
    for (int s = 0; s < kQ4TStates; ++s) t[s] -= sv->e[p][s] * band[p];
  }
  const float vs = v != 0.0f ? v : 1.0f;
  float eb[2][kQ4TStates], cb[2][kQ4TStates], ib[2][kQ4TStates];
  for (int b = 0; b < 2; ++b) {
    for (int s = 0; s < kQ4TStates; ++s) {
      const float x = t[s] / vs;
      float lv = kQ4TBranch.base[b][s], i = static_cast<float>(8 * b);
      for (int m = 0; m + 1 < kQ4TIndexCount; ++m) {
        const bool above = x > kQ4TBranch.mid[b][m][s];
        lv += above ? kQ4TBranch.step[b][m][s] : 0.0f;
        i += above ? 1.0f : 0.0f;
      }
      const float e = (t[s] - v * lv) / ujj;
      eb[b][s] = e;
      cb[b][s] = sv->cost[s] + e * e;
      ib[b][s] = i;
    }
  }
  // State 2m + b is reached from m or m + 16 (the bit shifted out).
  bool hi[2][kHalf];
  for (int b = 0; b < 2; ++b) {
    for (int m = 0; m < kHalf; ++m) hi[b][m] = cb[b][m + kHalf] < cb[b][m];
  }
  // Each state's window follows it (errors and packed codes alike).
  const auto permute = [&](auto* row) {
    std::remove_reference_t<decltype(row[0])> tmp[kQ4TStates];
    for (int m = 0; m < kHalf; ++m) {
      for (int b = 0; b < 2; ++b) tmp[2 * m + b] = hi[b][m] ? row[m + kHalf] : row[m];
    }
    std::copy(tmp, tmp + kQ4TStates, row);
  };
  for (auto& row : sv->e) permute(row);
  for (auto& row : sv->code) permute(row);
  for (int m = 0; m < kHalf; ++m) {
    for (int b = 0; b < 2; ++b) {
      const int from = hi[b][m] ? m + kHalf : m;
      sv->cost[2 * m + b] = cb[b][from];
      sv->e[slot][2 * m + b] = eb[b][from];
      SetQ4TSurvivorCode(sv, slot, 2 * m + b, static_cast<int>(ib[b][from]));
    }
  }
  sv->best = 0;
  for (int s = 1; s < kQ4TStates; ++s) sv->best = sv->cost[s] < sv->cost[sv->best] ? s : sv->best;
}

void Q4TQuantizeRow(const float* src, void* dst, int64_t n, const float* importance) {
  Q4TQuantizeRowWith(src, dst, n, importance, Q4TSearchFns{});
}

void Q4TQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const Q4TSearchFns& fns) {
  CheckRowArgs(src, dst, n);
  if (n == 0) return;
  const int64_t nb = CeilDiv(n, kBlock);
  std::vector<uint16_t> d16(static_cast<size_t>(nb));
  std::vector<int8_t> sc(static_cast<size_t>(nb * kSubs));
  std::vector<float> v(static_cast<size_t>(n));
  // Per weight: its importance, or 1 in a block whose importance is all zero (any
  // choice is optimal there; use the unweighted one).
  std::vector<float> imp;
  if (importance != nullptr) imp.assign(importance, importance + n);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t i0 = b * kBlock;
    const int r = static_cast<int>(std::min<int64_t>(kBlock, n - i0));
    float* ib = imp.empty() ? nullptr : imp.data() + i0;
    if (ib != nullptr && std::none_of(ib, ib + r, [](float a) { return a > 0.0f; })) std::fill(ib, ib + r, 1.0f);
    int8_t* scb = sc.data() + b * kSubs;
    Q4TFitBlock(src + i0, ib, r, &d16[static_cast<size_t>(b)], scb, fns.costs);
    const float d = Fp16ToFloat(d16[static_cast<size_t>(b)]) * kQ4NLDUnit;
    for (int k = 0; k < r; ++k) v[static_cast<size_t>(i0 + k)] = d * static_cast<float>(scb[k / kSub]);
  }
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  fns.viterbi(src, v.data(), imp.empty() ? nullptr : imp.data(), n, codes.data());
  Q4TWriteRow(codes.data(), d16.data(), sc.data(), n, dst);
}

void Q4TWriteRow(const uint8_t* codes, const uint16_t* d16, const int8_t* sc, int64_t n, void* dst) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i0 = 0, b = 0; i0 < n; i0 += kBlock, ++b) {
    const int r = static_cast<int>(std::min<int64_t>(kBlock, n - i0));
    Q4NLWriteBlock(d16[b], sc + b * kSubs, codes + i0, r, out);
    out += Q4NLShortBlockBytes(r);
  }
}

void Q4TReadRowCodes(const void* src, int64_t n, uint8_t* codes) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int r = static_cast<int>(std::min<int64_t>(kBlock, n - i0));
    uint8_t blk[kBlock];
    Q4NLReadCodes(p, r, blk);
    std::copy(blk, blk + r, codes + i0);
    p += Q4NLShortBlockBytes(r);
  }
}

namespace {

// Level of each next code of a row, through the trellis from state 0.
struct TrellisLevels {
  int state = 0;
  int operator()(int c) {
    const int j = Q4TLevelNumber(state, c);
    state = Q4TNextState(state, c >> 3);
    return kQ4TLevels[j];
  }
};

}  // namespace

void Q4TDequantizeRow(const void* src, float* dst, int64_t n) { Q4NLContainerDequantize(src, dst, n, TrellisLevels{}); }

float Q4TVecDot(int64_t n, const void* w_row, const void* act_row) {
  return Q4NLContainerVecDot(n, w_row, act_row, TrellisLevels{});
}

size_t Q4TRowBytesFn(int64_t n) {
  SEPTET_CHECK_MSG(n >= 0, "row length n must be >= 0");
  return Q4NLRowBytes(n);
}

}  // namespace septet::quant
