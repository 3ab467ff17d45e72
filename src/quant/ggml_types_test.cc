// The ggml block formats septet reads (ggml_legacy.h, ggml_kquants.h,
// ggml_iq4.h; Q8_0 too) against fixtures made by an independent implementation:
// scripts/make-ggml-fixtures.py writes raw blocks (tests/data/ggml/<TYPE>.bin)
// and the float32 values the PyPI gguf package's numpy dequantizer gives for them
// (<TYPE>.f32).
//
// Dequantization is compared bit for bit. Both sides evaluate the same float32
// expression per weight, each operation rounded once: w = fl(d * q),
// fl(fl(d * q) + m), fl(fl(d * sc) * q) or fl(fl(fl(d * sc) * q) - fl(dmin * mn)),
// with fp16 -> f32 and small-int -> f32 conversions exact. numpy never fuses a
// multiply-add, and the quant module is built for the baseline ISA (no FMA to
// contract into), so there is no rounding difference to allow for.
//
// VecDot, types paired with F32 (Q2_K, Q3_K, IQ4_NL, IQ4_XS): a row's w~
// (dequantized) dotted with float x, products and sum in double, then rounded
// to float. Against the float64 dot of the same w~ and x, computed here in
// another order: each double sum of n exact products is within
// gamma53_{n-1} sum|w~ x| of the exact dot, and the final rounding adds
// 2^-24 |result|, so |vec_dot - ref| <= 2^-24 |ref| + 2 gamma53_n sum|w~ x| (+ the
// 2^-24 of that slack, far below it).
//
// VecDot, types paired with Q8_A (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K):
// x is quantized to Q8_A (x~ = x_d * x_q, exact in double) and the reference is
// the float64 dot of w~ (gguf-py's values) and x~. vec_dot evaluates, per
// activation block, exact integers and a float term of <= 4 roundings, then
// N - 1 float additions (N = n / 32 terms): within gamma_{N+4} M of its exact
// value sum_k w_k x~_k, where w_k = a_k + b_k are the exact weights of its
// formula (GgmlQ8ADotParts) and M = sum_k |x~_k| (|a_k| + |b_k|). Those differ
// from the dequantizer's w~ by its own roundings: none for Q4_0 / Q5_0 (d (q - c)
// fits 16 bits), one for Q4_1 / Q5_1 (+ m) and Q6_K (d sc fits 19 bits, times
// q - 32 may not), two for Q4_K / Q5_K (fl(dl q) - ml): |w_k - w~_k| <=
// (2u + u^2)(|a_k| + |b_k|). So, u = 2^-24,
//   |vec_dot - ref| <= (gamma_{N+4} + 3u) M + 2 gamma53_n sum|w~ x~|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "quant/checked.h"
#include "quant/ggml_test_util.h"
#include "quant/q8_act.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet::quant {
namespace {

// Repository root, from this file's own path (<root>/src/quant/ggml_types_test.cc).
std::string FixturePath(const std::string& name) {
  std::string f = __FILE__;
  for (int i = 0; i < 3; ++i) f = f.substr(0, f.find_last_of('/'));
  return f + "/tests/data/ggml/" + name;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Expected {
  DType type;
  double bpw;  // the all-in figure ggml documents for the block
  DType act;   // vec_dot_type: Q8_A (septet has an integer dot for each)
};
constexpr DType kA = DType::kQ8_A;
const Expected kTypes[] = {
    {DType::kQ4_0, 4.5, kA},     {DType::kQ4_1, 5.0, kA},    {DType::kQ5_0, 5.5, kA},
    {DType::kQ5_1, 6.0, kA},     {DType::kQ8_0, 8.5, kA},    {DType::kQ2_K, 2.625, kA},
    {DType::kQ3_K, 3.4375, kA},  {DType::kQ4_K, 4.5, kA},    {DType::kQ5_K, 5.5, kA},
    {DType::kQ6_K, 6.5625, kA},  {DType::kIQ4_NL, 4.5, kA},  {DType::kIQ4_XS, 4.25, kA},
};

// The whole-block ggml types (Q8_0 has septet's padding convention): every input-only
// type, and Q6_K, which septet writes as well.
std::vector<DType> WholeBlockTypes() {
  std::vector<DType> out;
  for (const Expected& e : kTypes) {
    if (GetTypeTraits(e.type).whole_blocks) out.push_back(e.type);
  }
  return out;
}

struct Fixture {
  std::vector<uint8_t> blocks;
  std::vector<float> values;
  int64_t n = 0;  // values (the whole fixture is decoded as one row)
};

Fixture LoadFixture(const TypeTraits& tr) {
  Fixture f;
  f.blocks = ReadBytes(FixturePath(std::string(tr.name) + ".bin"));
  const std::vector<uint8_t> raw = ReadBytes(FixturePath(std::string(tr.name) + ".f32"));
  f.values.resize(raw.size() / sizeof(float));
  if (!raw.empty()) std::memcpy(f.values.data(), raw.data(), f.values.size() * sizeof(float));
  f.n = static_cast<int64_t>(f.blocks.size() / tr.block_bytes) * tr.block_size;
  return f;
}

TEST(GgmlTypes, DequantizeMatchesGgufPyBitForBit) {
  for (const Expected& e : kTypes) {
    const TypeTraits& tr = GetTypeTraits(e.type);
    SCOPED_TRACE(tr.name);
    const Fixture f = LoadFixture(tr);
    ASSERT_GT(f.n, 0) << "missing fixture " << FixturePath(std::string(tr.name) + ".bin")
                      << " (scripts/make-ggml-fixtures.py)";
    ASSERT_EQ(f.blocks.size() % tr.block_bytes, 0u);
    ASSERT_EQ(static_cast<int64_t>(f.values.size()), f.n);
    for (size_t misalign : {0, 3}) {  // rows may start at any byte
      std::vector<uint8_t> buf(misalign + f.blocks.size());
      std::memcpy(buf.data() + misalign, f.blocks.data(), f.blocks.size());
      std::vector<float> got(static_cast<size_t>(f.n), -1.0f);
      tr.to_float(buf.data() + misalign, got.data(), f.n);
      for (int64_t i = 0; i < f.n; ++i) {
        ASSERT_EQ(std::memcmp(&got[i], &f.values[i], sizeof(float)), 0)
            << "block " << i / tr.block_size << " weight " << i % tr.block_size << ": septet " << got[i]
            << ", gguf-py " << f.values[i] << " (misalign " << misalign << ")";
      }
    }
  }
}

TEST(GgmlTypes, VecDotMatchesFloat64DotOfDequantizedRow) {
  auto rng = septet::testing::MakeRng(23);
  std::uniform_real_distribution<float> unif(-1.0f, 1.0f);
  constexpr double kU53 = 1.0 / 9007199254740992.0;  // 2^-53
  for (DType t : WholeBlockTypes()) {
    const TypeTraits& tr = GetTypeTraits(t);
    SCOPED_TRACE(tr.name);
    const Fixture f = LoadFixture(tr);
    ASSERT_GT(f.n, 0);
    // Rows of 1, 2 and every block of the fixture, from its start.
    for (int64_t blocks : {int64_t{1}, int64_t{2}, f.n / tr.block_size}) {
      const int64_t n = blocks * tr.block_size;
      std::vector<float> x(static_cast<size_t>(n));
      for (float& v : x) v = unif(rng);
      // The activation row as vec_dot takes it, misaligned; xt: the values it stands for.
      std::vector<uint8_t> act(1 + GetTypeTraits(tr.vec_dot_type).row_bytes(n));
      std::vector<double> xt(static_cast<size_t>(n));
      ASSERT_EQ(tr.vec_dot_type, DType::kQ8_A);
      GetTypeTraits(DType::kQ8_A).from_float(x.data(), act.data() + 1, n, nullptr);
      for (int64_t i = 0; i < n; ++i) {
        const auto xb = LoadBlock<BlockQ8A>(act.data() + 1 + (i / kQ8ABlockSize) * sizeof(BlockQ8A));
        xt[i] = double{xb.d} * xb.qs[i % kQ8ABlockSize];  // exact
      }
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += double{f.values[i]} * xt[i];
        mag += std::fabs(double{f.values[i]} * xt[i]);
      }
      const float got = tr.vec_dot(n, f.blocks.data(), act.data() + 1);
      const double g = n * kU53 / (1 - n * kU53);
      std::vector<double> a, b;
      testing::GgmlQ8ADotParts(t, f.blocks.data(), n, &a, &b);
      double m = 0;
      for (int64_t i = 0; i < n; ++i) m += std::fabs(xt[i]) * (std::fabs(a[i]) + std::fabs(b[i]));
      const double terms = static_cast<double>(n / kQ8ABlockSize) + 4;
      const double gamma = terms * 0x1p-24 / (1 - terms * 0x1p-24);
      const double tol = (gamma + 3 * 0x1p-24) * m + 2 * g * mag;
      EXPECT_LE(std::fabs(double{got} - ref), tol) << "n = " << n << ": vec_dot " << got << ", float64 " << ref;
    }
  }
}

TEST(GgmlTypes, RowBytesAndBitsPerWeight) {
  for (const Expected& e : kTypes) {
    const TypeTraits& tr = GetTypeTraits(e.type);
    SCOPED_TRACE(tr.name);
    EXPECT_EQ(tr.bits_per_weight, e.bpw);
    EXPECT_EQ(8.0 * static_cast<double>(tr.block_bytes) / tr.block_size, e.bpw);
    EXPECT_EQ(RowBitsPerWeight(e.type, 4096), e.bpw);
    EXPECT_EQ(tr.vec_dot_type, e.act);
    for (int64_t k : {0, 1, 2, 3, 16, 18}) {
      EXPECT_EQ(tr.row_bytes(k * tr.block_size), static_cast<size_t>(k) * tr.block_bytes);
    }
  }
  // The ggml structs are the registry's blocks.
  EXPECT_EQ(GetTypeTraits(DType::kQ4_K).block_bytes, sizeof(BlockQ4_K));
  EXPECT_EQ(GetTypeTraits(DType::kQ6_K).block_bytes, sizeof(BlockQ6_K));
  EXPECT_EQ(GetTypeTraits(DType::kIQ4_XS).block_bytes, sizeof(BlockIQ4_XS));
  EXPECT_EQ(GetTypeTraits(DType::kQ5_1).block_bytes, sizeof(BlockQ5_1));
}

// A few weights worked out by hand from the layout comments in the headers.
TEST(GgmlTypes, HandDecodedBlocks) {
  const uint16_t one = FloatToFp16(1.0f), half = FloatToFp16(0.5f);
  float out[256];

  BlockQ4_0 q4{};
  q4.d = half;
  q4.qs[0] = 0xF0;  // weight 0: code 0 -> 0.5 * -8; weight 16: code 15 -> 0.5 * 7
  q4.qs[3] = 0x19;  // weight 3: code 9 -> 0.5; weight 19: code 1 -> -3.5
  Q4_0DequantizeRow(&q4, out, 32);
  EXPECT_EQ(out[0], -4.0f);
  EXPECT_EQ(out[16], 3.5f);
  EXPECT_EQ(out[3], 0.5f);
  EXPECT_EQ(out[19], -3.5f);
  EXPECT_EQ(out[1], -4.0f);  // code 0

  BlockQ5_1 q5{};
  q5.d = one;
  q5.m = FloatToFp16(-2.0f);
  q5.qh[2] = 0x01;  // bit 16: the fifth bit of weight 16
  q5.qs[0] = 0x3F;  // weight 0: 15; weight 16: 3 | 16
  Q5_1DequantizeRow(&q5, out, 32);
  EXPECT_EQ(out[0], 13.0f);
  EXPECT_EQ(out[16], 17.0f);

  BlockQ6_K q6{};
  q6.d = one;
  for (int8_t& s : q6.scales) s = -2;
  q6.ql[64 + 5] = 0xA3;  // weight 128 + 5: low bits 3; weight 128 + 64 + 5: low bits 10
  q6.qh[32 + 5] = 0xC4;  // top bits of weight 128 + 5 (pair 0): 0; of 128 + 32 + 5 (pair 1): 1; of 128 + 96 + 5: 3
  Q6_KDequantizeRow(&q6, out, 256);
  EXPECT_EQ(out[133], -2.0f * (3 - 32));
  EXPECT_EQ(out[165], -2.0f * (16 - 32));
  EXPECT_EQ(out[197], -2.0f * (10 - 32));
  EXPECT_EQ(out[229], -2.0f * (48 - 32));

  BlockIQ4_XS xs{};
  xs.d = half;
  xs.scales_l[1] = 0x70;  // sub-block 3: low nibble 7
  xs.scales_h = 0x2 << 6;  // sub-block 3: top bits 2 -> ls = 39, scale 0.5 * 7
  xs.qs[16 * 3 + 1] = 0xF8;  // weight 97: level[8] = 1; weight 113: level[15] = 113
  IQ4_XSDequantizeRow(&xs, out, 256);
  EXPECT_EQ(out[97], 3.5f);
  EXPECT_EQ(out[113], 3.5f * 113);
  EXPECT_EQ(out[0], 0.5f * -32 * -127);  // sub-block 0: ls = 0, code 0
}

TEST(GgmlTypes, CheckedEntryPointsRejectPartialBlocksAndQuantizing) {
  auto rng = septet::testing::MakeRng(24);
  for (DType t : WholeBlockTypes()) {
    const TypeTraits& tr = GetTypeTraits(t);
    SCOPED_TRACE(tr.name);
    const int64_t n = 2 * tr.block_size;
    std::vector<uint8_t> w(tr.row_bytes(n));
    testing::FillRandomGgmlRows(t, 1, n, rng, w.data());
    std::vector<float> x(static_cast<size_t>(n), 0.25f), out(static_cast<size_t>(n));
    EXPECT_TRUE(DequantizeRow(t, w.data(), w.size(), n, out.data()).ok());
    // The activation row in the type's vec_dot_type (F32: x itself).
    const TypeTraits& at = GetTypeTraits(tr.vec_dot_type);
    std::vector<uint8_t> act(at.row_bytes(n));
    if (tr.vec_dot_type == DType::kF32) {
      std::memcpy(act.data(), x.data(), act.size());
    } else {
      at.from_float(x.data(), act.data(), n, nullptr);
    }
    const Result<float> dot = VecDotChecked(t, n, w.data(), w.size(), act.data(), act.size());
    ASSERT_TRUE(dot.ok()) << dot.status().ToString();
    EXPECT_EQ(dot.value(), tr.vec_dot(n, w.data(), act.data()));
    const int64_t bs = tr.block_size;
    for (int64_t bad : {int64_t{1}, bs - 1, bs + 16, n - 1}) {
      const Status s = DequantizeRow(t, w.data(), w.size(), bad, out.data());
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
      EXPECT_NE(s.message().find("not a multiple of the block size"), std::string::npos) << s.message();
      EXPECT_FALSE(VecDotChecked(t, bad, w.data(), w.size(), act.data(), act.size()).ok()) << bad;
    }
    const Status q = QuantizeRow(t, x.data(), n, w.data(), w.size());
    if (tr.is_input_only) {
      EXPECT_EQ(q.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(q.message().find("input-only"), std::string::npos) << q.message();
    } else {  // Q6_K: whole blocks only
      EXPECT_TRUE(q.ok()) << q.ToString();
      const Status partial = QuantizeRow(t, x.data(), n - 16, w.data(), w.size());
      EXPECT_NE(partial.message().find("not a multiple of the block size"), std::string::npos) << partial.message();
    }
  }
}

TEST(GgmlTypes, RawFunctionsCheckWholeBlocks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (DType t : {DType::kQ4_1, DType::kQ4_K, DType::kIQ4_XS}) {
    const TypeTraits& tr = GetTypeTraits(t);
    std::vector<uint8_t> w(tr.block_bytes * 2, 0);
    std::vector<float> x(512, 0.0f);
    EXPECT_DEATH(tr.to_float(w.data(), x.data(), tr.block_size + 1), "whole blocks") << tr.name;
    EXPECT_DEATH(tr.vec_dot(tr.block_size / 2, w.data(), x.data()), "whole blocks") << tr.name;
    EXPECT_DEATH(tr.row_bytes(-1), "n must be >= 0") << tr.name;
  }
}

}  // namespace
}  // namespace septet::quant
