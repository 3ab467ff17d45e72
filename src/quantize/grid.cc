#include "quantize/grid.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "kernels/simd/simd_ops.h"
#include "quant/affine_fit.h"
#include "quant/int3_rtn.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q3p5_seed.h"
#include "quant/q4_g.h"
#include "quant/q4_nl.h"
#include "quant/q8_0.h"
#include "quant/quant_util.h"

namespace septet::quantize {
namespace {

using namespace septet::quant;

// The (d, m) search of Q3P5 and Q4_G with its passes in SIMD (the same bytes).
constexpr AffineSearchFns kAffineSimd{&simd::AffineCodeSums, &simd::AffineErrors};

// ---- Q3P5: (d, m, sel) per 128; short tail block without a 4-bit sub-block ----
class Q3P5Grid final : public RowGrid {
 public:
  int64_t group_size() const override { return kQ3P5BlockSize; }
  void Fit(const float* w, int64_t g0, int64_t len, int64_t, const float* imp) override {
    uint8_t buf[sizeof(BlockQ3P5)];
    Q3P5QuantizeRowWith(w, buf, len, imp, kAffineSimd);  // one (possibly short) block
    groups_.push_back(FromHeader(buf, g0, len == kQ3P5BlockSize));
  }
  bool Load(const void* row, int64_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(row);
    groups_.clear();
    for (int64_t g0 = 0; g0 < n; g0 += kQ3P5BlockSize, p += sizeof(BlockQ3P5)) {
      groups_.push_back(FromHeader(p, g0, n - g0 >= kQ3P5BlockSize));
    }
    return true;
  }
  float Snap(float w, int64_t i) const override {
    const G& g = groups_[static_cast<size_t>(i / kQ3P5BlockSize)];
    const bool up = g.full && (i - g.g0) / kQ3P5SubBlockSize == g.sel;
    const int c = Q3P5NearestCode(w, g.d, g.m, up);
    const int v = up ? c : 2 * c;
    return g.m + (g.d * 0.5f) * static_cast<float>(v);  // as Q3P5DequantizeRow
  }
  void Encode(const float* q, int64_t n, void* dst) override {
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (const G& g : groups_) {
      const int r = static_cast<int>(std::min<int64_t>(kQ3P5BlockSize, n - g.g0));
      const BlockQ3P5 blk = Q3P5EncodeBlock(q + g.g0, r, g.d15, g.m15, g.sel);
      const size_t bytes = r == kQ3P5BlockSize ? sizeof(BlockQ3P5) : Q3P5ShortBlockBytes(r);
      std::memcpy(out, &blk, bytes);
      out += bytes;
    }
    groups_.clear();
  }

 private:
  struct G {
    uint16_t d15, m15;
    int sel;
    float d, m;
    int64_t g0;
    bool full;
  };
  // The grid of a stored block (its header word), first weight g0.
  static G FromHeader(const uint8_t* block, int64_t g0, bool full) {
    uint32_t hdr;
    std::memcpy(&hdr, block, sizeof(hdr));
    G g;
    g.d15 = static_cast<uint16_t>(hdr & 0x7FFFu);
    g.sel = static_cast<int>((hdr >> 15) & 3u);
    g.m15 = static_cast<uint16_t>(hdr >> 17);
    g.d = Q3P5DecodeD(g.d15);
    g.m = Q3P5DecodeM(g.m15);
    g.g0 = g0;
    g.full = full;
    return g;
  }
  std::vector<G> groups_;
};

// ---- Q3P5_NL and Q4_NL: fp16 D per 128, a signed integer scale per group, ----
// ---- non-uniform levels (F: one of the two format descriptions below)    ----
template <class F>
class NlGrid final : public RowGrid {
 public:
  int64_t group_size() const override { return F::kBlock; }
  void Fit(const float* w, int64_t g0, int64_t len, int64_t, const float* imp) override {
    uint8_t buf[F::kBlockBytes];
    // One (possibly short) block, the searches in SIMD.
    F::QuantizeRowWith(w, buf, len, imp, quant::NlSearchFns{&simd::NlScaleErrors, &simd::NlStoredErrors});
    groups_.push_back(G{g0, buf, static_cast<int>(len)});
  }
  bool Load(const void* row, int64_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(row);
    groups_.clear();
    for (int64_t g0 = 0; g0 < n; g0 += F::kBlock, p += F::kBlockBytes) {
      groups_.push_back(G{g0, p, static_cast<int>(std::min<int64_t>(F::kBlock, n - g0))});
    }
    return true;
  }
  float Snap(float w, int64_t i) const override {
    const G& g = groups_[static_cast<size_t>(i / F::kBlock)];
    const int s = g.p.sc[(i - g.g0) / F::kGroup];
    return F::Value(g.p.d, s, F::NearestCode(w, g.p.d, s));  // as the format's DequantizeRow
  }
  void Encode(const float* q, int64_t n, void* dst) override {
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (const G& g : groups_) {
      const int r = static_cast<int>(std::min<int64_t>(F::kBlock, n - g.g0));
      uint8_t codes[F::kBlock];
      for (int k0 = 0; k0 < r; k0 += F::kGroup) {  // F::NearestCode per weight, a group at a time in SIMD
        const int s = g.p.sc[k0 / F::kGroup];
        simd::NlStoredErrors(F::Codebook(), q + g.g0 + k0, nullptr, std::min(F::kGroup, r - k0), g.p.d, &s, 1, nullptr,
                             codes + k0);
      }
      F::WriteBlock(g.d16(), g.p.sc, codes, r, out);
      out += F::ShortBlockBytes(r);
    }
    groups_.clear();
  }

 private:
  struct G {
    G(int64_t first, const uint8_t* block, int r) : g0(first), p(F::ReadParams(block, r)) {}
    // The stored fp16 D: p.d = float(D) * unit (a power of two) exactly, so this gives D's bits back.
    uint16_t d16() const { return FloatToFp16(p.d / F::kDUnit); }
    int64_t g0;
    typename F::Params p;
  };
  std::vector<G> groups_;
};

struct Q3P5NLFormat {
  static constexpr int kBlock = kQ3P5NLBlockSize, kGroup = kQ3P5NLGroupSize;
  static constexpr size_t kBlockBytes = sizeof(BlockQ3P5NL);
  static constexpr float kDUnit = kQ3P5NLDUnit;
  using Params = Q3P5NLParams;
  static constexpr auto QuantizeRowWith = &Q3P5NLQuantizeRowWith;
  static constexpr auto ReadParams = &Q3P5NLReadParams;
  static constexpr auto NearestCode = &Q3P5NLNearestCode;
  static constexpr auto Codebook = &Q3P5NLCodebook;
  static constexpr auto Value = &Q3P5NLValue;
  static constexpr auto WriteBlock = &Q3P5NLWriteBlock;
  static constexpr auto ShortBlockBytes = &Q3P5NLShortBlockBytes;
};
struct Q4NLFormat {
  static constexpr int kBlock = kQ4NLBlockSize, kGroup = kQ4NLSubBlockSize;
  static constexpr size_t kBlockBytes = sizeof(BlockQ4NL);
  static constexpr float kDUnit = kQ4NLDUnit;
  using Params = Q4NLParams;
  static constexpr auto QuantizeRowWith = &Q4NLQuantizeRowWith;
  static constexpr auto ReadParams = &Q4NLReadParams;
  static constexpr auto NearestCode = &Q4NLNearestCode;
  static constexpr auto Codebook = &Q4NLCodebook;
  static constexpr auto Value = &Q4NLValue;
  static constexpr auto WriteBlock = &Q4NLWriteBlock;
  static constexpr auto ShortBlockBytes = &Q4NLShortBlockBytes;
};

// ---- Q4_G: fp16 (d, m) per 128 ----
class Q4GGrid final : public RowGrid {
 public:
  int64_t group_size() const override { return kQ4GBlockSize; }
  void Fit(const float* w, int64_t g0, int64_t len, int64_t, const float* imp) override {
    uint8_t buf[sizeof(BlockQ4G)];
    Q4GQuantizeRowWith(w, buf, len, imp, kAffineSimd);
    groups_.push_back(FromHeader(buf, g0));
  }
  bool Load(const void* row, int64_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(row);
    groups_.clear();
    for (int64_t g0 = 0; g0 < n; g0 += kQ4GBlockSize, p += sizeof(BlockQ4G)) groups_.push_back(FromHeader(p, g0));
    return true;
  }
  float Snap(float w, int64_t i) const override {
    const G& g = groups_[static_cast<size_t>(i / kQ4GBlockSize)];
    return g.m + g.d * static_cast<float>(NearestAffineCode(w, g.d, g.m, kQ4GMaxCode));
  }
  void Encode(const float* q, int64_t n, void* dst) override {
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (const G& g : groups_) {
      const int r = static_cast<int>(std::min<int64_t>(kQ4GBlockSize, n - g.g0));
      const BlockQ4G blk = Q4GEncodeBlock(q + g.g0, r, g.d16, g.m16);
      const size_t bytes = r == kQ4GBlockSize ? sizeof(BlockQ4G) : Q4GShortBlockBytes(r);
      std::memcpy(out, &blk, bytes);
      out += bytes;
    }
    groups_.clear();
  }

 private:
  struct G {
    uint16_t d16, m16;
    float d, m;
    int64_t g0;
  };
  // The grid of a stored block (its fp16 d and m), first weight g0.
  static G FromHeader(const uint8_t* block, int64_t g0) {
    G g;
    std::memcpy(&g.d16, block, 2);
    std::memcpy(&g.m16, block + 2, 2);
    g.d = Fp16ToFloat(g.d16);
    g.m = Fp16ToFloat(g.m16);
    g.g0 = g0;
    return g;
  }
  std::vector<G> groups_;
};

// ---- Q8_0: fp16 d per 32, symmetric codes ----
class Q8_0Grid final : public RowGrid {
 public:
  int64_t group_size() const override { return kQ8_0BlockSize; }
  void Fit(const float* w, int64_t g0, int64_t len, int64_t, const float* imp) override {
    uint8_t buf[sizeof(BlockQ8_0)];
    Q8_0QuantizeRowWith(w, buf, len, imp, &simd::Q8_0CandidateErrors);
    G g;
    std::memcpy(&g.d16, buf, 2);
    g.d = Fp16ToFloat(g.d16);
    g.g0 = g0;
    groups_.push_back(g);
  }
  float Snap(float w, int64_t i) const override {
    const G& g = groups_[static_cast<size_t>(i / kQ8_0BlockSize)];
    const int q = g.d > 0.0f ? RoundClamp(w / g.d, -kQ8_0MaxCode, kQ8_0MaxCode) : 0;
    return g.d * static_cast<float>(q);
  }
  void Encode(const float* q, int64_t n, void* dst) override {
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (const G& g : groups_) {
      const int r = static_cast<int>(std::min<int64_t>(kQ8_0BlockSize, n - g.g0));
      const BlockQ8_0 blk = Q8_0EncodeBlock(q + g.g0, r, g.d16);
      std::memcpy(out, &blk, sizeof(blk));
      out += sizeof(blk);
    }
    groups_.clear();
  }

 private:
  struct G {
    uint16_t d16;
    float d;
    int64_t g0;
  };
  std::vector<G> groups_;
};

// ---- Q3P5_SEED: one fp32 (scale, offset) per row; 4-bit even, 3-bit odd positions ----
class SeedGrid final : public RowGrid {
 public:
  int64_t group_size() const override { return 0; }
  void Fit(const float* w, int64_t, int64_t len, int64_t, const float* imp) override {
    std::vector<uint8_t> buf(Q3P5SeedRowBytes(len));
    Q3P5SeedQuantizeRow(w, buf.data(), len, imp);
    Q3P5SeedHeader h;
    std::memcpy(&h, buf.data(), sizeof(h));
    scale_ = h.scale;
    offset_ = h.offset;
  }
  float Snap(float w, int64_t i) const override {
    const int q = Q3P5SeedNearestCode(w, scale_, offset_, i % 2 == 1);
    return scale_ * (static_cast<float>(q) + offset_);  // as Q3P5SeedDequantizeRow
  }
  void Encode(const float* q, int64_t n, void* dst) override { Q3P5SeedEncodeRow(q, n, scale_, offset_, dst); }

 private:
  float scale_ = 0, offset_ = 0;
};

// ---- RTN3_G64 baseline: min/max (d, m) per 64, written as F32 ----
class RtnInt3Grid final : public RowGrid {
 public:
  int64_t group_size() const override { return kInt3RtnGroupSize; }
  void Fit(const float* w, int64_t, int64_t len, int64_t, const float*) override { p_.push_back(Int3RtnFit(w, len)); }
  float Snap(float w, int64_t i) const override {
    return Int3RtnSnap(w, p_[static_cast<size_t>(i / kInt3RtnGroupSize)]);
  }
  void Encode(const float* q, int64_t n, void* dst) override {
    std::memcpy(dst, q, static_cast<size_t>(n) * sizeof(float));
    p_.clear();
  }

 private:
  std::vector<Int3RtnParams> p_;  // per group of the row, in order
};

}  // namespace

std::unique_ptr<RowGrid> MakeRowGrid(DType type, bool rtn_int3) {
  if (rtn_int3) return std::make_unique<RtnInt3Grid>();
  switch (type) {
    case DType::kQ3P5:
      return std::make_unique<Q3P5Grid>();
    case DType::kQ3P5_NL:
      return std::make_unique<NlGrid<Q3P5NLFormat>>();
    case DType::kQ4_NL:
      return std::make_unique<NlGrid<Q4NLFormat>>();
    case DType::kQ4_G:
      return std::make_unique<Q4GGrid>();
    case DType::kQ8_0:
      return std::make_unique<Q8_0Grid>();
    case DType::kQ3P5_SEED:
      return std::make_unique<SeedGrid>();
    default:
      return nullptr;
  }
}

}  // namespace septet::quantize
