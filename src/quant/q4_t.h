// Q4_T (DType 208): 4.25 bits per weight all-in for full blocks, Q4_NL's container
// (quant/q4_nl.h: 68 bytes per 128 weights, the same byte for byte), with the
// 4-bit codes read as trellis-coded quantization (TCQ; Marcellin and Fischer,
// "Trellis coded quantization of memoryless and Gauss-Markov sources", 1990) over
// each whole row (docs/formats.md §Q4_T).
//
// Code c of weight k (the row's k-th weight, blocks in order; c at Q4_NL's place
// of code u): branch bit b_k = c >> 3 and index i_k = c & 7. The 32 levels L (one
// table, ascending) fall into 4 subsets by level number mod 4; weight k's subset is
//   z_k = y0 + 2 y1,   y1 = b_k ^ b_(k-2) ^ b_(k-5),   y0 = b_(k-3)
// (b_j = 0 for j < 0: every row starts in state 0), the feed-forward form of the
// 32-state rate-1/2 code with parity polynomials h0 = 45, h1 = 10 (octal)
// (Ungerboeck 1987, one-dimensional set partitioning), and its level is
//   j_k = 4 i_k + z_k,   w_k = d_eff * float(sc_s * L[j_k])
// with d_eff = float(D) * 2^-10 and sc_s the signed 4-bit scale of k's sub-block,
// as in Q4_NL. Each weight chooses among 16 of the 32 levels (its 8 indices in
// either of the two subsets its state allows), and which 16 depends on the bits
// of the weights before it: the encoder (the Viterbi algorithm over the 32
// states b_(k-1) .. b_(k-5)) picks the row's codes jointly. On Gaussian groups
// of 32 with a free scale per group the squared error is 0.85x that of Q4_NL's
// 16 Lloyd-Max levels at the same bits (scripts/q4t_codebook.py, which derives L).
//
// Consequences: a row decodes only in order from its start (the kernels keep the
// last 5 branch bits between blocks); the padding codes of a short final block
// come last and no value depends on them.
//
// vec_dot_type Q8_A, with Q4_NL's integers and float steps:
//   acc_s = sum_{k in s} x_q[k] * L[j_k]   (|acc_s| <= 32 * 127 * 127)
//   isum_s = sc_s * acc_s                   (|isum_s| < 2^24, int32)
//   result += (d_eff * x_d) * float(isum_s), in block then sub-block order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/q4_nl.h"

namespace septet::quant {

inline constexpr int kQ4TStateBits = 5;
inline constexpr int kQ4TStates = 1 << kQ4TStateBits;  // b_(k-1) .. b_(k-5) in bits 0 .. 4
inline constexpr int kQ4TLevelCount = 32;
inline constexpr int kQ4TIndexCount = 8;  // levels per subset
// scripts/q4t_codebook.py (default run), scaled to |L| <= 127.
inline constexpr int8_t kQ4TLevels[kQ4TLevelCount] = {-127, -107, -92, -82, -72, -64, -57, -50, -44, -38, -32,
                                                      -26,  -20,  -14, -9,  -3,  3,   8,   14,  20,  26,  32,
                                                      38,   44,   50,  57,  64,  72,  81,  92,  106, 126};
inline constexpr int kQ4TMaxAbsLevel = 127;
static_assert(kQ4TMaxAbsLevel == kQ4NLMaxAbsLevel, "Q4_NL's integer bounds hold for Q4_T");
inline constexpr double kQ4TBitsPerWeight = kQ4NLBitsPerWeight;

// The subset z of a weight whose state is `state` (bit d - 1 = b_(k-d)) and
// whose branch bit is b; the state of the next weight.
constexpr int Q4TSubset(int state, int b) {
  return ((state >> 2) & 1) + 2 * (b ^ ((state >> 1) & 1) ^ ((state >> 4) & 1));
}
constexpr int Q4TNextState(int state, int b) { return ((state << 1) | b) & (kQ4TStates - 1); }
// Level number j of code c (b = c >> 3, i = c & 7) in `state`.
constexpr int Q4TLevelNumber(int state, int c) { return 4 * (c & 7) + Q4TSubset(state, c >> 3); }
static_assert(Q4TSubset(0, 0) == 0 && Q4TSubset(0, 1) == 2 && Q4TSubset(0b00100, 0) == 1 &&
              Q4TSubset(0b10000, 0) == 2 && Q4TSubset(0b00010, 1) == 0);

// Midpoints between the consecutive levels of each subset (L[4 i + z], ascending).
struct Q4TSubsetMidpoints {
  float mid[4][kQ4TIndexCount - 1];
};
constexpr Q4TSubsetMidpoints MakeQ4TSubsetMidpoints() {
  Q4TSubsetMidpoints t{};
  for (int z = 0; z < 4; ++z) {
    for (int i = 0; i + 1 < kQ4TIndexCount; ++i) {
      t.mid[z][i] = 0.5f * static_cast<float>(kQ4TLevels[4 * i + z] + kQ4TLevels[4 * i + 4 + z]);
    }
  }
  return t;
}
inline constexpr Q4TSubsetMidpoints kQ4TMidpoints = MakeQ4TSubsetMidpoints();

// The nearest level of subset z to x (in units of the levels): its index i, the
// number of midpoints below x (ties: the lower level), by binary search.
inline int Q4TNearestIndex(float x, int z) {
  const float* m = kQ4TMidpoints.mid[z];
  int i = x > m[3] ? 4 : 0;
  i += x > m[i + 1] ? 2 : 0;
  i += x > m[i] ? 1 : 0;
  return i;
}

// The step between consecutive levels of subset z: L[4 m + 4 + z] - L[4 m + z].
struct Q4TSubsetSteps {
  float step[4][kQ4TIndexCount - 1];
};
constexpr Q4TSubsetSteps MakeQ4TSubsetSteps() {
  Q4TSubsetSteps t{};
  for (int z = 0; z < 4; ++z) {
    for (int m = 0; m + 1 < kQ4TIndexCount; ++m) {
      t.step[z][m] = static_cast<float>(kQ4TLevels[4 * m + 4 + z] - kQ4TLevels[4 * m + z]);
    }
  }
  return t;
}
inline constexpr Q4TSubsetSteps kQ4TSteps = MakeQ4TSubsetSteps();

// The same per source state s (a lane) and branch bit b: the lowest level, the
// midpoints and the steps of subset Q4TSubset(s, b), so that the nearest level in
// every lane comes from one compare-and-add sequence (the level = the lowest +
// the steps of the midpoints below x; its index = their count).
struct Q4TBranchTables {  // rows of 32 floats, 64-byte aligned for vector loads
  alignas(64) float base[2][kQ4TStates];
  alignas(64) float mid[2][kQ4TIndexCount - 1][kQ4TStates];
  alignas(64) float step[2][kQ4TIndexCount - 1][kQ4TStates];
};
constexpr Q4TBranchTables MakeQ4TBranchTables() {
  Q4TBranchTables t{};
  for (int b = 0; b < 2; ++b) {
    for (int s = 0; s < kQ4TStates; ++s) {
      const int z = Q4TSubset(s, b);
      t.base[b][s] = static_cast<float>(kQ4TLevels[z]);
      for (int m = 0; m + 1 < kQ4TIndexCount; ++m) {
        t.mid[b][m][s] = kQ4TMidpoints.mid[z][m];
        t.step[b][m][s] = kQ4TSteps.step[z][m];
      }
    }
  }
  return t;
}
inline constexpr Q4TBranchTables kQ4TBranch = MakeQ4TBranchTables();

// The level numbers j of a row of n weights' codes (codes: one per weight, in
// order), decoded from state 0.
void Q4TLevelNumbers(const uint8_t* codes, int64_t n, uint8_t* j);

// Block parameters for r <= 128 weights w (importance imp or null): the fp16 D and
// the sub-block scales, chosen by the error of the Viterbi search of each sub-block
// alone from any state:
//   1. per sub-block the float scale t = rms(w) f / 40.5 (40.5 = 127 / the float
//      codebook's largest level, so f is relative to a unit-variance group) over
//      the grid f = 0.70, 0.77, .., 1.40 with the lowest weighted squared error;
//   2. D = the nearest fp16 to 1024 max t / 8, and every sc = -round(t / d_eff)
//      clamped to [-8, -1] (negative: |sc| = 8 is then available; the levels are
//      symmetric to within one unit), then sc +- 1 tried, the lowest error kept.
// The searches run in float arithmetic through `costs` (Q4TFreeStartCosts or
// its SIMD twin simd::Q4TFreeStartCosts, which gives the same bits).
struct Q4TSearchLane;
using Q4TCostsFn = void (*)(const Q4TSearchLane* lanes, int n, float* cost);
void Q4TFreeStartCosts(const Q4TSearchLane* lanes, int n, float* cost);
void Q4TFitBlock(const float* w, const float* imp, int r, uint16_t* d16, int8_t* sc,
                 Q4TCostsFn costs = Q4TFreeStartCosts);

// The free-start searches of Q4TFitBlock, many at once: per lane the lowest
// sum_k imp_k (w_k - v L[j_k])^2 (imp null: 1) over the codes of w[0 .. len)
// (len <= 32) from any start state, in float. Each lane's result depends on its
// own inputs only (the reference runs them side by side in the same float
// operations as simd::Q4TFreeStartCosts), not on the others or on n.
struct Q4TSearchLane {
  const float* w;
  const float* imp;
  int len;
  float v;
};

// The survivors of the GPTQ search through the trellis (quantize/gptq_trellis.cc):
// per state (a lane of each array) its cost and its window of undecided columns,
// their GPTQ errors and codes in ring slots; the caller keeps which column each slot
// holds. The codes (0 .. 15) are packed eight to a 32-bit word, slot p in bits
// 4 (p % 8) .. 4 (p % 8) + 3 of word p / 8: a step moves the survivors' windows, and
// three words move for 24 codes.
inline constexpr int kQ4TWindow = 24;  // ~5 constraint lengths of the code
inline constexpr int kQ4TCodesPerWord = 8;
inline constexpr int kQ4TCodeWords = kQ4TWindow / kQ4TCodesPerWord;
static_assert(kQ4TCodeWords * kQ4TCodesPerWord == kQ4TWindow, "whole words of codes");
struct Q4TSurvivors {
  alignas(64) float cost[kQ4TStates];
  alignas(64) float e[kQ4TWindow][kQ4TStates];
  alignas(64) uint32_t code[kQ4TCodeWords][kQ4TStates];
  int best = 0;  // after a step: the state of least cost (ties: the lower state)
};
// The code of `state`'s survivor in slot p, and its replacement.
inline int Q4TSurvivorCode(const Q4TSurvivors& sv, int p, int state) {
  return static_cast<int>((sv.code[p / kQ4TCodesPerWord][state] >> (4 * (p % kQ4TCodesPerWord))) & 15u);
}
inline void SetQ4TSurvivorCode(Q4TSurvivors* sv, int p, int state, int c) {
  uint32_t& w = sv->code[p / kQ4TCodesPerWord][state];
  const int sh = 4 * (p % kQ4TCodesPerWord);
  w = (w & ~(15u << sh)) | (static_cast<uint32_t>(c) << sh);
}

// One column of that search (scalar reference; simd::Q4TSurvivorStep gives the
// same bits): per state s the target t_s = target - sum_p e[p][s] band[p] (p in
// slot order; band[p] = U[column of slot p][j], 0 for a free slot); per state and
// branch bit b the nearest level L of subset Q4TSubset(s, b) to t_s / v (any level
// when v = 0), e = (t_s - v L) / ujj and cost_s + e^2; state 2m + b keeps the
// cheaper of its branches from m and m + 16 (ties: m) with that survivor's window,
// the new column's error and code in slot `slot`; sv->best the cheapest new state.
void Q4TSurvivorStep(Q4TSurvivors* sv, const float* band, float target, float v, float ujj, int slot);

// The Viterbi search: the codes of a row of n weights minimising
// sum_k imp_k (w_k - v_k L[j_k])^2 (imp null: 1) from state 0, v_k the weight's
// value of one level unit (d_eff sc of its sub-block). Ties: the lower state and
// the lower index. Returns the cost.
double Q4TViterbi(const float* w, const float* v, const float* imp, int64_t n, uint8_t* codes);
// Its parts, per weight: the weighted errors of w (value of one level unit v,
// importance a) in each subset's nearest level, and those levels' indices; then one
// trellis step: out[ns] = the cheaper of its two predecessors' paths (ties: m) extended
// by the weight (back[ns] = which predecessor (bit 3) and the index).
void Q4TSubsetErrors(float w, float v, float a, double e[4], int idx[4]);
void Q4TViterbiStep(const double* cost, const double e[4], const int idx[4], double* out, uint8_t* back);
// Its end: from the cheapest final state (the first of equals) back through the
// back pointers (n rows of 32: bit 3 = came from m + 16, bits 0-2 = the index), the
// codes; returns that state's cost.
double Q4TTraceback(const double* cost, const uint8_t* back, int64_t n, uint8_t* codes);

// Quantizer (deterministic): Q4TFitBlock per block, then one Viterbi search over
// the whole row (importance-weighted squared error, state 0 at the start).
void Q4TQuantizeRow(const float* src, void* dst, int64_t n, const float* importance);
// The same with Q4TFitBlock's searches and the row's Viterbi search through `fns`
// (simd::Q4TFreeStartCosts and simd::Q4TViterbi give the same bytes).
using Q4TViterbiFn = double (*)(const float* w, const float* v, const float* imp, int64_t n, uint8_t* codes);
struct Q4TSearchFns {
  Q4TCostsFn costs = &Q4TFreeStartCosts;
  Q4TViterbiFn viterbi = &Q4TViterbi;
};
void Q4TQuantizeRowWith(const float* src, void* dst, int64_t n, const float* importance, const Q4TSearchFns& fns);
void Q4TDequantizeRow(const void* src, float* dst, int64_t n);
float Q4TVecDot(int64_t n, const void* w_row, const void* act_row);  // act_row: Q8_A
size_t Q4TRowBytesFn(int64_t n);
// A row's codes (one per weight) from its encoded bytes, and the inverse with the
// block parameters given (d16 / sc per block of 128: ceil(n / 128) and 4 each).
void Q4TReadRowCodes(const void* src, int64_t n, uint8_t* codes);
void Q4TWriteRow(const uint8_t* codes, const uint16_t* d16, const int8_t* sc, int64_t n, void* dst);

}  // namespace septet::quant
