// Q4_T's quantizer searches (quant/q4_t.h) in SIMD, bit-identical to the scalar
// references quant::Q4TFreeStartCosts and quant::Q4TSurvivorStep on every target:
// the lanes are independent searches (the free-start cost of one scale candidate)
// or the 32 trellis states, and each lane performs the reference's float
// operations in its order (separate multiplies and adds, no FMA; IEEE division;
// compares and selects), so every result is the same float.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/trellis_search.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/simd_ops.h"
#include "quant/q4_t.h"

HWY_BEFORE_NAMESPACE();
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
constexpr int kStates = quant::kQ4TStates, kHalf = kStates / 2, kMids = quant::kQ4TIndexCount - 1;
constexpr int kSub = quant::kQ4NLSubBlockSize, kWindow = quant::kQ4TWindow, kCodeWords = quant::kQ4TCodeWords;
// At most 16 lanes: a power of two that divides the 16 states of a half.
using D = hn::CappedTag<float, 16>;

// x1 where x1 < x0, else x0 (ties and NaN: x0), per lane: x86's MINPS with x1 first
// gives exactly that in one instruction; elsewhere a compare and a select.
template <class V>
HWY_INLINE V Cheaper(V x1, V x0) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_EMU128 && HWY_TARGET != HWY_SCALAR
  return hn::Min(x1, x0);
#else
  return hn::IfThenElse(hn::Lt(x1, x0), x1, x0);
#endif
}

// Up to Lanes(d) free-start searches side by side (lane i: lanes[i]).
void FreeStartGroup(const quant::Q4TSearchLane* lanes, int n, float* out) {
  const D d;
  const int nl = static_cast<int>(hn::Lanes(d));
  HWY_ALIGN float w[kSub][16] = {}, a[kSub][16] = {}, v[16] = {}, vs[16];
  int maxlen = 0;
  for (int i = 0; i < nl; ++i) {
    vs[i] = 1.0f;
    if (i >= n) continue;
    v[i] = lanes[i].v;
    vs[i] = lanes[i].v != 0.0f ? lanes[i].v : 1.0f;
    maxlen = std::max(maxlen, lanes[i].len);
  }
  using V = hn::Vec<D>;
  // Each weight's row of lanes: a run of lanes that search the same weights (a block's
  // scale candidates) gets them in one masked store per weight.
  for (int i0 = 0; i0 < n;) {
    const quant::Q4TSearchLane& l = lanes[i0];
    int i1 = i0 + 1;
    while (i1 < n && lanes[i1].w == l.w && lanes[i1].imp == l.imp && lanes[i1].len == l.len) ++i1;
    const auto run = hn::AndNot(hn::FirstN(d, static_cast<size_t>(i0)), hn::FirstN(d, static_cast<size_t>(i1)));
    for (int k = 0; k < l.len; ++k) {
      hn::BlendedStore(hn::Set(d, l.w[k]), run, d, w[k]);
      hn::BlendedStore(hn::Set(d, l.imp != nullptr ? l.imp[k] : 1.0f), run, d, a[k]);
    }
    i0 = i1;
  }
  const V vv = hn::Load(d, v), vvs = hn::Load(d, vs);
  HWY_ALIGN float buf[2][kStates][16] = {};
  float(*cost)[16] = buf[0];  // the two halves of buf in turn: no copy per step
  float(*next)[16] = buf[1];
  for (int k = 0; k < maxlen; ++k) {
    const V wk = hn::Load(d, w[k]), ak = hn::Load(d, a[k]);
    const V x = hn::Div(wk, vvs);
    V e[4];
    for (int z = 0; z < 4; ++z) {
      V lv = hn::Set(d, static_cast<float>(quant::kQ4TLevels[z]));
      for (int m = 0; m < kMids; ++m) {
        const auto above = hn::Gt(x, hn::Set(d, quant::kQ4TMidpoints.mid[z][m]));
        lv = hn::Add(lv, hn::IfThenElseZero(above, hn::Set(d, quant::kQ4TSteps.step[z][m])));
      }
      const V dd = hn::Sub(wk, hn::Mul(vv, lv));
      e[z] = hn::Mul(hn::Mul(ak, dd), dd);
    }
    // States 2m and 2m + 1 both come from m or m + 16: their costs loaded once.
#pragma GCC unroll 16  // constant subsets: the four e[] stay in registers
    for (int s0 = 0; s0 < kHalf; ++s0) {
      const int s1 = s0 | kHalf;
      const V c0 = hn::Load(d, cost[s0]), c1 = hn::Load(d, cost[s1]);
      for (int b = 0; b < 2; ++b) {
        const V x0 = hn::Add(c0, e[quant::Q4TSubset(s0, b)]);
        const V x1 = hn::Add(c1, e[quant::Q4TSubset(s1, b)]);
        hn::Store(Cheaper(x1, x0), d, next[2 * s0 + b]);
      }
    }
    std::swap(cost, next);
  }
  V best = hn::Load(d, cost[0]);
  for (int s = 1; s < kStates; ++s) {
    const V c = hn::Load(d, cost[s]);
    best = hn::IfThenElse(hn::Lt(c, best), c, best);
  }
  HWY_ALIGN float res[16];
  hn::Store(best, d, res);
  std::copy(res, res + n, out);
}

void Q4TFreeStartCostsT(const quant::Q4TSearchLane* lanes, int n, float* cost) {
  const int nl = static_cast<int>(hn::Lanes(D()));
  for (int i0 = 0; i0 < n; i0 += nl) {
    for (int i = i0; i < std::min(n, i0 + nl); ++i) {
      SEPTET_CHECK_MSG(lanes[i].len >= 0 && lanes[i].len <= kSub, "Q4_T search lane length must be 0..32");
    }
    FreeStartGroup(lanes + i0, std::min(nl, n - i0), cost + i0);
  }
}

// N rows' steps side by side (rows[r]: its survivors and column; each row's
// operations are Q4TSurvivorStep's, in its order): one row's step is a chain of
// dependent operations (the targets' 24 subtractions, the divisions, the level
// search, the moves that wait for the choices), and two independent chains
// interleaved keep the vector units busy where one waits.
template <int N>
HWY_INLINE void StepRows(const Q4TStepRow* rows) {
  const D d;
  using V = hn::Vec<D>;
  const int nl = static_cast<int>(hn::Lanes(d));
  const quant::Q4TBranchTables& bt = quant::kQ4TBranch;
  HWY_ALIGN float eb[N][2][kStates], cb[N][2][kStates], ib[N][2][kStates];
  V vv[N], vvs[N], vujj[N];
  for (int r = 0; r < N; ++r) {
    vv[r] = hn::Set(d, rows[r].v);
    vvs[r] = hn::Set(d, rows[r].v != 0.0f ? rows[r].v : 1.0f);
    vujj[r] = hn::Set(d, rows[r].ujj);
  }
  const V one = hn::Set(d, 1.0f);
  // Every state's target, the vectors side by side: independent chains of subtracts
  // (each lane's own order is the reference's, slot 0 first).
  constexpr int kVecs = kStates / static_cast<int>(hn::MaxLanes(D()));
  static_assert(kVecs * hn::MaxLanes(D()) == kStates, "the states fill whole vectors");
  SEPTET_DCHECK(nl == kStates / kVecs);
  V tv[N][kVecs];
  for (int r = 0; r < N; ++r) {
    for (int k = 0; k < kVecs; ++k) tv[r][k] = hn::Set(d, rows[r].target);
  }
  for (int p = 0; p < kWindow; ++p) {
    for (int r = 0; r < N; ++r) {
      const V bp = hn::Set(d, rows[r].band[p]);
      for (int k = 0; k < kVecs; ++k) tv[r][k] = hn::Sub(tv[r][k], hn::Mul(hn::Load(d, rows[r].sv->e[p] + k * nl), bp));
    }
  }
  for (int s0 = 0; s0 < kStates; s0 += nl) {
    V x[N], cost[N], lv[N][2], ix[N][2];
    for (int r = 0; r < N; ++r) {
      x[r] = hn::Div(tv[r][s0 / nl], vvs[r]);
      cost[r] = hn::Load(d, rows[r].sv->cost + s0);
      for (int b = 0; b < 2; ++b) {
        lv[r][b] = hn::Load(d, bt.base[b] + s0);
        ix[r][b] = hn::Set(d, static_cast<float>(8 * b));
      }
    }
    for (int m = 0; m < kMids; ++m) {
      for (int b = 0; b < 2; ++b) {
        const V mid = hn::Load(d, bt.mid[b][m] + s0), step = hn::Load(d, bt.step[b][m] + s0);
        for (int r = 0; r < N; ++r) {
          const auto above = hn::Gt(x[r], mid);
          lv[r][b] = hn::Add(lv[r][b], hn::IfThenElseZero(above, step));
          ix[r][b] = hn::Add(ix[r][b], hn::IfThenElseZero(above, one));
        }
      }
    }
    for (int r = 0; r < N; ++r) {
      const V t = tv[r][s0 / nl];
      for (int b = 0; b < 2; ++b) {
        const V e = hn::Div(hn::Sub(t, hn::Mul(vv[r], lv[r][b])), vujj[r]);
        hn::Store(e, d, eb[r][b] + s0);
        hn::Store(hn::Add(cost[r], hn::Mul(e, e)), d, cb[r][b] + s0);
        hn::Store(ix[r][b], d, ib[r][b] + s0);
      }
    }
  }
  // State 2m + b is reached from m or m + 16; the choice per (b, m) as a float mask.
  HWY_ALIGN float hi[N][2][kHalf];
  for (int r = 0; r < N; ++r) {
    for (int b = 0; b < 2; ++b) {
      for (int m0 = 0; m0 < kHalf; m0 += nl) {
        const auto h = hn::Lt(hn::Load(d, cb[r][b] + kHalf + m0), hn::Load(d, cb[r][b] + m0));
        hn::Store(hn::VecFromMask(d, h), d, hi[r][b] + m0);
      }
    }
  }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if constexpr (hn::MaxLanes(D()) == 16) {
    // AVX-512: dst[2m + b] = src[m + 16] where (b, m) chose it, else src[m], as one
    // two-source permute per output vector, its indices (m + 16 where (b, m) chose
    // the upper source) built once per step.
    const hn::RebindToSigned<D> di;
    const auto sixteen = hn::Set(di, 16), iota = hn::Iota(di, 0);
    __m512i x0[N], x1[N];
    for (int r = 0; r < N; ++r) {
      const auto i0 = hn::Add(iota, hn::And(hn::BitCast(di, hn::Load(d, hi[r][0])), sixteen));
      const auto i1 = hn::Add(iota, hn::And(hn::BitCast(di, hn::Load(d, hi[r][1])), sixteen));
      HWY_ALIGN int32_t idx[kStates];
      hn::StoreInterleaved2(i0, i1, di, idx);
      x0[r] = _mm512_load_si512(idx);
      x1[r] = _mm512_load_si512(idx + 16);
    }
    const auto move = [&](void* row, int r) {
      int32_t* p = static_cast<int32_t*>(row);
      const __m512i lo = _mm512_load_si512(p), up = _mm512_load_si512(p + 16);
      _mm512_store_si512(p, _mm512_permutex2var_epi32(lo, x0[r], up));
      _mm512_store_si512(p + 16, _mm512_permutex2var_epi32(lo, x1[r], up));
    };
    for (int r = 0; r < N; ++r) {
      for (int w = 0; w < kCodeWords; ++w) move(rows[r].sv->code[w], r);
    }
    for (int p = 0; p < kWindow; ++p) {
      for (int r = 0; r < N; ++r) move(rows[r].sv->e[p], r);
    }
  } else
#endif
  {
    // The 32-bit lanes moved as bits (errors and packed codes alike).
    const hn::RebindToUnsigned<D> du;
    const auto permute = [&](void* row, int r) {
      uint32_t* src = static_cast<uint32_t*>(row);
      HWY_ALIGN uint32_t tmp[kStates];
      for (int m0 = 0; m0 < kHalf; m0 += nl) {
        const auto lo = hn::Load(du, src + m0), up = hn::Load(du, src + kHalf + m0);
        const auto x0 = hn::IfThenElse(hn::RebindMask(du, hn::MaskFromVec(hn::Load(d, hi[r][0] + m0))), up, lo);
        const auto x1 = hn::IfThenElse(hn::RebindMask(du, hn::MaskFromVec(hn::Load(d, hi[r][1] + m0))), up, lo);
        hn::StoreInterleaved2(x0, x1, du, tmp + 2 * m0);
      }
      std::memcpy(src, tmp, sizeof(tmp));
    };
    for (int r = 0; r < N; ++r) {
      for (int p = 0; p < kWindow; ++p) permute(rows[r].sv->e[p], r);
      for (int w = 0; w < kCodeWords; ++w) permute(rows[r].sv->code[w], r);
    }
  }
  for (int r = 0; r < N; ++r) {
    quant::Q4TSurvivors* sv = rows[r].sv;
    // The branch taken into each state: its cost, and its error and code in `slot`.
    const auto chosen = [&](const float (*src)[kStates], float* dst) {
      for (int m0 = 0; m0 < kHalf; m0 += nl) {
        const V x0 = hn::IfThenElse(hn::MaskFromVec(hn::Load(d, hi[r][0] + m0)), hn::Load(d, src[0] + kHalf + m0),
                                    hn::Load(d, src[0] + m0));
        const V x1 = hn::IfThenElse(hn::MaskFromVec(hn::Load(d, hi[r][1] + m0)), hn::Load(d, src[1] + kHalf + m0),
                                    hn::Load(d, src[1] + m0));
        hn::StoreInterleaved2(x0, x1, d, dst + 2 * m0);
      }
    };
    chosen(cb[r], sv->cost);
    chosen(eb[r], sv->e[rows[r].slot]);
    // The new codes (small integers in float lanes) into their 4 bits of the slot's word.
    HWY_ALIGN float codes[kStates];
    chosen(ib[r], codes);
    {
      const hn::RebindToUnsigned<D> du;
      const hn::RebindToSigned<D> di;
      const int sh = 4 * (rows[r].slot % quant::kQ4TCodesPerWord);
      uint32_t* word = sv->code[rows[r].slot / quant::kQ4TCodesPerWord];
      const auto keep = hn::Set(du, ~(15u << sh));
      for (int s0 = 0; s0 < kStates; s0 += nl) {
        const auto c = hn::ShiftLeftSame(hn::BitCast(du, hn::ConvertTo(di, hn::Load(d, codes + s0))), sh);
        hn::Store(hn::Or(hn::And(hn::Load(du, word + s0), keep), c), du, word + s0);
      }
    }
    // The cheapest state: the least cost in every lane, then the first state holding it
    // (the costs are never NaN: the reference's strict compare finds the same state).
    V lo = hn::Load(d, sv->cost);
    for (int s0 = nl; s0 < kStates; s0 += nl) lo = hn::Min(lo, hn::Load(d, sv->cost + s0));
    lo = hn::MinOfLanes(d, lo);
    sv->best = 0;
    for (int s0 = 0; s0 < kStates; s0 += nl) {
      const intptr_t i = hn::FindFirstTrue(d, hn::Eq(hn::Load(d, sv->cost + s0), lo));
      if (i >= 0) {
        sv->best = s0 + static_cast<int>(i);
        break;
      }
    }
  }
}

// quant::Q4TViterbi: per weight the four subsets' nearest levels and errors by the
// reference's quant::Q4TSubsetErrors, then the trellis step with the 32 states in lanes
// of double (at least 4 lanes; fewer: the reference's quant::Q4TViterbiStep): state ns = 2 m + b takes the
// cheaper of m and m + 16, each predecessor's cost moved into ns's lane by a table
// lookup, its subset's error likewise, ties to m, and its back pointer (8 | index from
// m + 16, else the index) narrowed to bytes; the traceback as the reference's.
double Q4TViterbiT(const float* w, const float* v, const float* imp, int64_t n, uint8_t* codes) {
  if (n <= 0) return 0.0;
  const hn::ScalableTag<double> dd;
  using VD = hn::Vec<decltype(dd)>;
  constexpr int kMaxN = static_cast<int>(hn::MaxLanes(hn::ScalableTag<double>()));
  const int nl = static_cast<int>(hn::Lanes(dd));
  std::vector<uint8_t> back(static_cast<size_t>(n) * kStates);
  HWY_ALIGN double cost[kStates], next[kStates];
  std::fill(cost, cost + kStates, std::numeric_limits<double>::infinity());
  cost[0] = 0.0;
  // Per output vector q (states q nl ..): each lane's predecessor lane and its two
  // branches' subsets.
  const hn::RebindToSigned<decltype(dd)> di64;
  const hn::Rebind<int32_t, decltype(dd)> di32;
  const hn::Rebind<uint8_t, decltype(dd)> du8;
  using VI = hn::Vec<decltype(di64)>;
  const bool vector_step = nl >= 4 && nl <= kHalf;
  VI pred[kStates], sub0[kStates], sub1[kStates];
  if (vector_step) {
    for (int q = 0; q * nl < kStates; ++q) {
      HWY_ALIGN int64_t pi[kMaxN], z0[kMaxN], z1[kMaxN];
      for (int l = 0; l < nl; ++l) {
        const int ns = q * nl + l, s0 = ns >> 1;
        pi[l] = s0 % nl;
        z0[l] = quant::Q4TSubset(s0, ns & 1);
        z1[l] = quant::Q4TSubset(s0 | kHalf, ns & 1);
      }
      pred[q] = hn::Load(di64, pi);
      sub0[q] = hn::Load(di64, z0);
      sub1[q] = hn::Load(di64, z1);
    }
  }
  for (int64_t k = 0; k < n; ++k) {
    double e4[4];
    int idx[4];
    quant::Q4TSubsetErrors(w[k], v[k], imp != nullptr ? imp[k] : 1.0f, e4, idx);
    uint8_t* bk = back.data() + static_cast<size_t>(k) * kStates;
    if (vector_step) {
      HWY_ALIGN double e[kMaxN < 4 ? 4 : kMaxN] = {}, ix[kMaxN < 4 ? 4 : kMaxN] = {}, ix8[kMaxN < 4 ? 4 : kMaxN] = {};
      for (int z = 0; z < 4; ++z) {
        e[z] = e4[z];
        ix[z] = idx[z];
        ix8[z] = 8 + idx[z];
      }
      const VD ve = hn::Load(dd, e), vix = hn::Load(dd, ix), vix8 = hn::Load(dd, ix8);
      for (int q = 0; q * nl < kStates; ++q) {
        const auto tp = hn::IndicesFromVec(dd, pred[q]);
        const auto t0 = hn::IndicesFromVec(dd, sub0[q]), t1 = hn::IndicesFromVec(dd, sub1[q]);
        const int src0 = (q * nl / 2) / nl * nl;  // the vector holding states q nl / 2 ..
        const VD c0 = hn::Add(hn::TableLookupLanes(hn::Load(dd, cost + src0), tp), hn::TableLookupLanes(ve, t0));
        const VD c1 =
            hn::Add(hn::TableLookupLanes(hn::Load(dd, cost + kHalf + src0), tp), hn::TableLookupLanes(ve, t1));
        const auto lt = hn::Lt(c1, c0);
        hn::Store(hn::IfThenElse(lt, c1, c0), dd, next + q * nl);
        const VD b = hn::IfThenElse(lt, hn::TableLookupLanes(vix8, t1), hn::TableLookupLanes(vix, t0));
        hn::StoreU(hn::DemoteTo(du8, hn::DemoteTo(di32, b)), du8, bk + q * nl);
      }
    } else {
      quant::Q4TViterbiStep(cost, e4, idx, next, bk);
    }
    std::copy(next, next + kStates, cost);
  }
  return quant::Q4TTraceback(cost, back.data(), n, codes);
}

void Q4TSurvivorStepsT(const Q4TStepRow* rows, int n) {
  int r = 0;  // (four rows at once measured no faster than two)
  for (; r + 2 <= n; r += 2) StepRows<2>(rows + r);
  if (r < n) StepRows<1>(rows + r);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd {

HWY_EXPORT(Q4TFreeStartCostsT);
HWY_EXPORT(Q4TSurvivorStepsT);
HWY_EXPORT(Q4TViterbiT);

double Q4TViterbi(const float* w, const float* v, const float* imp, int64_t n, uint8_t* codes) {
  return HWY_DYNAMIC_DISPATCH(Q4TViterbiT)(w, v, imp, n, codes);
}

void Q4TFreeStartCosts(const quant::Q4TSearchLane* lanes, int n, float* cost) {
  HWY_DYNAMIC_DISPATCH(Q4TFreeStartCostsT)(lanes, n, cost);
}

void Q4TSurvivorStep(quant::Q4TSurvivors* sv, const float* band, float target, float v, float ujj, int slot) {
  const Q4TStepRow row{sv, band, target, v, ujj, slot};
  HWY_DYNAMIC_DISPATCH(Q4TSurvivorStepsT)(&row, 1);
}

void Q4TSurvivorSteps(const Q4TStepRow* rows, int n) { HWY_DYNAMIC_DISPATCH(Q4TSurvivorStepsT)(rows, n); }

}  // namespace septet::simd
#endif  // HWY_ONCE
