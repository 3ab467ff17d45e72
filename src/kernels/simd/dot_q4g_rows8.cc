// Q4_G x Q8_A kernels on the repacked layout WeightLayout::kQ4GRows8
// (kernels/simd/repack.h): 8 rows interleaved, an int32 lane per row.
//
// Decode (x86): per sub-block of 8 rows (128 bytes), four 32-byte loads; each
// gives two vectors of codes (& 15: weights 4c..4c+3 of every row, (>> 4) & 15:
// weights 16+4c..), dotted with a broadcast quad of activation codes. On
// AVX3_DL two vpdpbusd chains; elsewhere vpmaddubsw into int16 (8 pair sums of
// |u x| <= 2 * 15 * 127 each: |sum| <= 30480 < 2^15) and one vpmaddwd. Either way
// lane r is row r's exact int32 sub-block dot, the integer the file-layout kernel
// (dot_q4g.cc) gets by its horizontal sum, and the float step per lane is its
// step (CombineAffine: inner = d acc + m x_sum, sum_s += x_d inner, one position
// per sub-block, then (s0 + s1) + (s2 + s3)): MatVec gives the file layout's
// bits. MatMul of up to 32 tokens runs the same kernel with each sub-block
// decoded once per tile of 4 tokens; of more, the Lanes GEMM of
// token_lanes-inl.h on rows decoded from this layout (8 at a time); per token
// both give MatVec's bits, as on the file layout. The file kernel's per-row
// horizontal sum (HSum4x8) per 128 weights is gone, and one activation broadcast
// serves 8 rows: on AMD Zen 4 the file kernel was compute-bound at 16 GB/s a
// core, this one runs at 26-36 (docs/benchmarks.md §0).
// Portable targets: each 8-row group back to the file layout, then the file kernels.
#include "kernels/simd/hwy_config.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd/dot_q4g_rows8.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "core/check.h"
#include "hwy/highway.h"
#include "kernels/simd/common-inl.h"
#include "kernels/simd/kernels_internal.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/token_lanes-inl.h"
#include "quant/q4_g.h"
#include "quant/q8_act.h"

HWY_BEFORE_NAMESPACE();
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC target("avx512vnni")  // see hwy_config.h
#endif
namespace septet::simd {
namespace HWY_NAMESPACE {
namespace {

constexpr int kRows = static_cast<int>(kQ4GGroupRows);
constexpr int kSubs = quant::kQ4GBlockSize / quant::kQ4GSubBlockSize;
constexpr size_t kGroupBlockBytes = kRows * sizeof(quant::BlockQ4G);  // one full block of 8 rows
static_assert(kRows == 8 && kSubs == 4 && quant::kQ4GSubBlockSize == quant::kQ8ABlockSize);
static_assert(Q4GRows8CodeByte(1, 0, 0, 0) - Q4GRows8CodeByte(0, 0, 0, 0) == 128 &&
              Q4GRows8CodeByte(0, 1, 0, 0) - Q4GRows8CodeByte(0, 0, 0, 0) == 32 &&
              Q4GRows8CodeByte(0, 0, 1, 0) - Q4GRows8CodeByte(0, 0, 0, 0) == 4);

#if SEPTET_SIMD_X86

int64_t FullBlocks(const cpu::WeightView& w) { return w.cols / quant::kQ4GBlockSize; }
const uint8_t* GroupOf(const cpu::WeightView& w, int64_t g) {
  return w.data + static_cast<size_t>(g * kRows) * w.row_bytes;
}

// A sub-block of the 8 rows (128 bytes at q) as codes: lo[c] holds weights
// 4c..4c+3 of every row (a dword per row), hi[c] weights 16+4c..16+4c+3.
struct SubCodes {
  __m256i lo[4], hi[4];
};
HWY_INLINE void DecodeSub(const uint8_t* q, __m256i c15, SubCodes* sc) {
  for (int c = 0; c < 4; ++c) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * c));
    sc->lo[c] = _mm256_and_si256(v, c15);
    sc->hi[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), c15);
  }
}

// Lane r: row r's exact int32 dot of the sub-block with the 32 activation codes x.
HWY_INLINE __m256i SubDot(const SubCodes& sc, const int8_t* x) {
  const uint8_t* xb = reinterpret_cast<const uint8_t*>(x);
#if HWY_TARGET == HWY_AVX3_DL
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    lo = Dpbusd256(lo, sc.lo[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 4 * c))));
    hi = Dpbusd256(hi, sc.hi[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 16 + 4 * c))));
  }
  return _mm256_add_epi32(lo, hi);
#else
  __m256i p = _mm256_setzero_si256();  // int16 pair sums, |.| <= 8 * 3810
  for (int c = 0; c < 4; ++c) {
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(sc.lo[c], _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 4 * c)))));
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(sc.hi[c],
                                                 _mm256_set1_epi32(static_cast<int>(LoadU32(xb + 16 + 4 * c)))));
  }
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
}

// Per token and activation block: x_d and float(x_sum), the broadcast operands
// of the float step ([token][block][2]).
inline HWY_NOINLINE std::vector<float>& MetaOfThread() {  // noinline: see common-inl.h
  thread_local std::vector<float> meta;
  return meta;
}
const float* FillMeta(const uint8_t* act, size_t act_stride, int64_t m, int64_t nact) {
  std::vector<float>& meta = MetaOfThread();
  meta.resize(static_cast<size_t>(2 * nact * m));
  for (int64_t t = 0; t < m; ++t) {
    const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
    float* mt = meta.data() + 2 * nact * t;
    for (int64_t i = 0; i < nact; ++i) {
      mt[2 * i] = Q8AScale(Q8ABlock(a, i));
      mt[2 * i + 1] = static_cast<float>(Q8ASum(Q8ABlock(a, i)));
    }
  }
  return meta.data();
}

// The 8 rows of group block gb (ns sub-blocks) into the per-sub-block sums of
// T tokens (activation blocks xblk[t], their meta mt[t]); each sub-block decoded once.
template <int T>
HWY_INLINE void AddGroupBlock(const uint8_t* gb, int ns, const uint8_t* const (&xblk)[T], const float* const (&mt)[T],
                              __m256i c15, __m256 (&sum)[T][kSubs]) {
  const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb)));
  const __m256 m8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + 16)));
  for (int s = 0; s < ns; ++s) {  // a short block's missing sub-blocks add exactly 0 in the file kernel
    SubCodes sc;
    DecodeSub(gb + Q4GRows8CodeByte(s, 0, 0, 0), c15, &sc);
    for (int t = 0; t < T; ++t) {
      const __m256i acc = SubDot(sc, Q8ACodes(Q8ABlock(xblk[t], s)));
      const __m256 inner =
          _mm256_fmadd_ps(d8, _mm256_cvtepi32_ps(acc), _mm256_mul_ps(m8, _mm256_broadcast_ss(mt[t] + 2 * s + 1)));
      sum[t][s] = _mm256_fmadd_ps(_mm256_broadcast_ss(mt[t] + 2 * s), inner, sum[t][s]);
    }
  }
}

// Where a call's outputs go: token t, row r at y[t * y_stride + r - y_off]
// (MatVec: y_off = r0, MatMul: 0), for r in [r0, r1) only.
struct Out {
  float* y;
  int64_t y_stride, y_off, r0, r1;
};

// Tokens t0 .. t0 + T - 1 of group g (activations act_stride apart, meta
// meta_stride floats apart); `sweep` (or null) steps once per block.
template <int T>
HWY_INLINE void GroupTokens(const cpu::WeightView& w, int64_t g, const uint8_t* act, size_t act_stride,
                            const float* meta, int64_t meta_stride, int64_t t0, const Out& out, TileSweep* sweep) {
  const int64_t nb = FullBlocks(w);
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  const __m256i c15 = _mm256_set1_epi8(15);
  const uint8_t* group = GroupOf(w, g);
  __m256 sum[T][kSubs];
  for (auto& st : sum) {
    for (auto& v : st) v = _mm256_setzero_ps();
  }
  const uint8_t* xblk[T];
  const float* mt[T];
  for (int64_t b = 0; b <= nb; ++b) {
    const int n = b < nb ? kSubs : ns;
    if (n == 0) break;
    if (sweep != nullptr) sweep->Step();
    for (int t = 0; t < T; ++t) {
      xblk[t] = Q8ABlock(act + static_cast<size_t>(t0 + t) * act_stride, b * kSubs);
      mt[t] = meta + (t0 + t) * meta_stride + 2 * kSubs * b;
    }
    AddGroupBlock<T>(group + b * kGroupBlockBytes, n, xblk, mt, c15, sum);
  }
  const int64_t lo = std::max(out.r0, g * kRows), hi = std::min(out.r1, (g + 1) * kRows);
  for (int t = 0; t < T; ++t) {
    const __m256 y8 = _mm256_add_ps(_mm256_add_ps(sum[t][0], sum[t][1]), _mm256_add_ps(sum[t][2], sum[t][3]));
    float* ylo = out.y + (t0 + t) * out.y_stride + (lo - out.y_off);  // row lo's output
    if (lo == g * kRows && hi == lo + kRows) {
      _mm256_storeu_ps(ylo, y8);
    } else {
      alignas(32) float lanes[kRows];
      _mm256_store_ps(lanes, y8);
      for (int64_t r = lo; r < hi; ++r) ylo[r - lo] = lanes[r - g * kRows];
    }
  }
}

// Rows [r0, r1) for m tokens, group after group: each group's tokens in tiles of
// 4 (then 2, 1) while its bytes are in L1, the weight stream prefetched once.
void RunGroups(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride, int64_t m,
               const Out& out) {
  const int64_t nb = FullBlocks(w);
  const int ns = quant::Q4GShortSubBlocks(w.cols);
  const int64_t nact = nb * kSubs + ns;
  const float* meta = FillMeta(act, act_stride, m, nact);
  const int64_t g0 = r0 / kRows, g1 = (r1 + kRows - 1) / kRows;
  const RowSpan span{GroupOf(w, g0), GroupOf(w, g1)};
  for (int64_t g = g0; g < g1; ++g) {
    TileSweep sweep =
        SweepAhead(GroupOf(w, g), kRows * w.row_bytes, TilePrefetchBytes(kRows, w.row_bytes), span, nb + (ns > 0));
    int64_t t = 0;
    for (; t + 4 <= m; t += 4) GroupTokens<4>(w, g, act, act_stride, meta, 2 * nact, t, out, t == 0 ? &sweep : nullptr);
    if (t + 2 <= m) {
      GroupTokens<2>(w, g, act, act_stride, meta, 2 * nact, t, out, t == 0 ? &sweep : nullptr);
      t += 2;
    }
    if (t < m) GroupTokens<1>(w, g, act, act_stride, meta, 2 * nact, t, out, t == 0 ? &sweep : nullptr);
  }
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  RunGroups(w, r0, r1, act, 0, 1, Out{y, 0, r0, r0, r1});
}

// The Lanes GEMM's rows (natural-order codes, per sub-block (d, m), as
// dot_q4g.cc's DecodeRow gives them from the file layout), decoded a group of 8
// at a time: one row alone would read each of its 4-byte quads from another
// 32-byte chunk (measured: the GEMM 30 % slower than on the file layout). Per
// sub-block the 4 chunks' codes are transposed as 4 x 8 dwords, so each row's 16
// low-nibble and 16 high-nibble codes come out whole. The cache lives for one
// MatMul call (reset at its start), so no stale bytes can be read.
struct GroupCodes {
  int64_t group = -1;
  std::vector<uint8_t> codes;  // [lane][nsub][32]
  std::vector<float> dm;       // [lane][nsub][2]
};
inline HWY_NOINLINE GroupCodes& GroupCodesOfThread() {  // noinline: see common-inl.h
  thread_local GroupCodes gc;
  return gc;
}

// Rows i of the 4 vectors (dword i of each, 4 bytes: c = 0..3) -> 16 bytes per lane row.
HWY_INLINE void StoreTransposed(const __m256i (&v)[4], uint8_t* lane0, size_t lane_stride) {
  const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
  const __m256i a[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3),
                        _mm256_unpackhi_epi64(t1, t3)};  // lanes (0 | 4), (1 | 5), (2 | 6), (3 | 7)
  for (int i = 0; i < 4; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + i * lane_stride), _mm256_castsi256_si128(a[i]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lane0 + (i + 4) * lane_stride), _mm256_extracti128_si256(a[i], 1));
  }
}

void DecodeGroup(const cpu::WeightView& w, int64_t g, GroupCodes* gc) {
  const int64_t nsub = (w.cols + quant::kQ4GSubBlockSize - 1) / quant::kQ4GSubBlockSize;
  const size_t lane_codes = static_cast<size_t>(nsub) * 32;
  gc->codes.resize(kRows * lane_codes);
  gc->dm.resize(static_cast<size_t>(kRows * nsub) * 2);
  const __m256i c15 = _mm256_set1_epi8(15);
  const uint8_t* group = GroupOf(w, g);
  for (int64_t sb = 0; sb < nsub; ++sb) {
    const uint8_t* gb = group + (sb / kSubs) * kGroupBlockBytes;
    const int s = static_cast<int>(sb % kSubs);
    for (int lane = 0; lane < kRows; ++lane) {
      float* dm = gc->dm.data() + static_cast<size_t>(lane * nsub + sb) * 2;
      _mm_storel_pi(reinterpret_cast<__m64*>(dm), Fp16Pair(LoadU16(gb + 2 * lane), LoadU16(gb + 16 + 2 * lane)));
    }
    __m256i lo[4], hi[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(gb + Q4GRows8CodeByte(s, c, 0, 0)));
      lo[c] = _mm256_and_si256(v, c15);
      hi[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), c15);
    }
    StoreTransposed(lo, gc->codes.data() + 32 * sb, lane_codes);
    StoreTransposed(hi, gc->codes.data() + 32 * sb + 16, lane_codes);
  }
  gc->group = g;
}

void DecodeRow(const cpu::WeightView& w, int64_t r, GroupCodes* gc, uint8_t* codes, float* dm) {
  if (gc->group != r / kRows) DecodeGroup(w, r / kRows, gc);
  const int64_t nsub = (w.cols + quant::kQ4GSubBlockSize - 1) / quant::kQ4GSubBlockSize;
  const size_t lane = static_cast<size_t>(r % kRows);
  std::memcpy(codes, gc->codes.data() + lane * static_cast<size_t>(nsub) * 32, static_cast<size_t>(nsub) * 32);
  std::memcpy(dm, gc->dm.data() + lane * static_cast<size_t>(nsub) * 2, static_cast<size_t>(nsub) * 2 * sizeof(float));
}

// Up to kGroupTokensMax tokens run through RunGroups (a group's codes decoded
// once per token tile, the activations broadcast), more through the Lanes GEMM
// (tokens in the lanes), as dot_q4g.cc does on the file layout. Both give the
// MatVec bits. The bound from simd_kernels_bench BM_MatMul_Q4_G_repacked_simd
// (docs/benchmarks.md §0, twentieth session).
constexpr int64_t kGroupTokensMax = 32;
void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  if (m <= kGroupTokensMax) return RunGroups(w, r0, r1, act, act_stride, m, Out{y, y_stride, 0, r0, r1});
  GroupCodes& gc = GroupCodesOfThread();
  gc.group = -1;
  CodesBitsMatMul<4, Affine>(w, r0, r1, act, act_stride, m, y, y_stride,
                             [&](int64_t r, uint8_t* codes, float* dm) { DecodeRow(w, r, &gc, codes, dm); });
}

bool IsFastImpl() { return true; }

#else  // portable: each group back to the file layout, then the file kernels

inline HWY_NOINLINE std::vector<uint8_t>& GroupBufferOfThread() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

// f(file view of the group's rows, first row of it) for each group that [r0, r1) touches.
template <class F>
void ForGroupsInFileLayout(const cpu::WeightView& w, int64_t r0, int64_t r1, const F& f) {
  std::vector<uint8_t>& buf = GroupBufferOfThread();
  buf.resize(kRows * w.row_bytes);
  for (int64_t g = r0 / kRows; g * kRows < r1; ++g) {
    const int64_t first = g * kRows, rows = std::min<int64_t>(kRows, w.rows - first);
    for (int64_t r = 0; r < rows; ++r) Q4GRows8Row(w, first + r, buf.data() + static_cast<size_t>(r) * w.row_bytes);
    f(cpu::WeightView{DType::kQ4_G, rows, w.cols, buf.data(), w.row_bytes}, first);
  }
}

void MatVecImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  ForGroupsInFileLayout(w, r0, r1, [&](const cpu::WeightView& file, int64_t first) {
    const int64_t lo = std::max(r0, first), hi = std::min(r1, first + file.rows);
    detail::Q4GMatVec(file, lo - first, hi - first, act, y + (lo - r0));
  });
}

void MatMulImpl(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                int64_t m, float* y, int64_t y_stride) {
  ForGroupsInFileLayout(w, r0, r1, [&](const cpu::WeightView& file, int64_t first) {
    const int64_t lo = std::max(r0, first), hi = std::min(r1, first + file.rows);
    detail::Q4GMatMul(file, lo - first, hi - first, act, act_stride, m, y + first, y_stride);
  });
}

bool IsFastImpl() { return false; }

#endif  // SEPTET_SIMD_X86

// The kernels read the rows-of-8 layout: a view in any other layout is a caller bug.
void CheckedMatVec(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y) {
  SEPTET_CHECK(w.type == DType::kQ4_G && w.layout == cpu::WeightLayout::kQ4GRows8);
  MatVecImpl(w, r0, r1, act, y);
}
void CheckedMatMul(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, size_t act_stride,
                   int64_t m, float* y, int64_t y_stride) {
  SEPTET_CHECK(w.type == DType::kQ4_G && w.layout == cpu::WeightLayout::kQ4GRows8);
  MatMulImpl(w, r0, r1, act, act_stride, m, y, y_stride);
}

}  // namespace

SEPTET_SIMD_FAMILY_TARGET(Q4GRows8, CheckedMatVec, CheckedMatMul)
bool Q4GRows8IsFastT() { return IsFastImpl(); }

}  // namespace HWY_NAMESPACE
}  // namespace septet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace septet::simd::detail {

SEPTET_SIMD_FAMILY_DISPATCH(Q4GRows8)
SEPTET_SIMD_FAMILY_IS_FAST_DISPATCH(Q4GRows8)

}  // namespace septet::simd::detail
#endif  // HWY_ONCE
