// GPTQ's error feedback and the refit's segment dots in SIMD (gptq_update.cc)
// against their scalar loops, on every compiled target. Each element receives the
// same multiplies and subtracts in the same order (no FMA), so the results must be
// the same bits: lengths that do and do not fill the vectors and their unrolled
// groups, one and many rows of u, a leading dimension wider than the row (float, as
// GPTQ runs); segment counts that do and do not fill the lanes.
#include "kernels/simd/hwy_config.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/simd/simd_ops.h"
#include "util/test_util.h"

namespace septet::simd {
namespace {

class SimdGptqUpdateTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(SimdGptqUpdateTestGroup, SimdGptqUpdateTest,
                         ::testing::ValuesIn(::hwy::SupportedAndGeneratedTargets()), ::hwy::TestParamTargetName);

// The scalar loop the kernel promises to match; volatile keeps the product a
// separate rounding (no contraction into an FMA, whatever the flags of this file).
template <typename T>
void Reference(T* w, int64_t n, const T* e, int64_t nj, const T* u, int64_t ld) {
  for (int64_t j = 0; j < nj; ++j) {
    for (int64_t k = 0; k < n; ++k) {
      volatile T p = e[j] * u[j * ld + k];
      w[k] -= p;
    }
  }
}

template <typename T>
void CheckAll(uint64_t salt, const char* target) {
  auto rng = testing::MakeRng(salt);
  std::normal_distribution<double> g(0.0, 1.0);
  for (int64_t n : {1, 3, 7, 8, 15, 16, 17, 31, 63, 64, 65, 127, 200, 1536}) {
    for (int64_t nj : {1, 2, 5, 128}) {
      const int64_t ld = n + (nj % 3) * 7;
      std::vector<T> u(static_cast<size_t>(nj * ld)), e(static_cast<size_t>(nj)), w(static_cast<size_t>(n));
      for (T& x : u) x = static_cast<T>(g(rng));
      for (T& x : e) x = static_cast<T>(g(rng) * 0.1);
      for (T& x : w) x = static_cast<T>(g(rng));
      std::vector<T> ref = w, got = w;
      Reference(ref.data(), n, e.data(), nj, u.data(), ld);
      SubScaledRows(got.data(), n, e.data(), nj, u.data(), ld);
      for (int64_t k = 0; k < n; ++k) {
        ASSERT_EQ(0, std::memcmp(&ref[static_cast<size_t>(k)], &got[static_cast<size_t>(k)], sizeof(T)))
            << "n=" << n << " nj=" << nj << " k=" << k << ": simd " << got[static_cast<size_t>(k)] << " ref "
            << ref[static_cast<size_t>(k)] << " " << target;
      }
    }
  }
}

TEST_P(SimdGptqUpdateTest, FloatMatchesTheScalarLoop) { CheckAll<float>(71, hwy::TargetName(GetParam())); }

// The batch form: each row the bits of its own single-row call, for 1 .. 9 rows.
template <typename T>
void CheckBatch(uint64_t salt, const char* target) {
  auto rng = testing::MakeRng(salt);
  std::normal_distribution<double> g(0.0, 1.0);
  for (int nr : {1, 2, 3, 4, 5, 8, 9}) {
    for (int64_t n : {5, 16, 33, 64, 200}) {
      const int64_t nj = 7, ld = n + 3;
      std::vector<T> u(static_cast<size_t>(nj * ld)), e(static_cast<size_t>(nr * nj)), w(static_cast<size_t>(nr * n));
      for (T& x : u) x = static_cast<T>(g(rng));
      for (T& x : e) x = static_cast<T>(g(rng) * 0.1);
      for (T& x : w) x = static_cast<T>(g(rng));
      std::vector<T> ref = w, got = w;
      std::vector<T*> rows(static_cast<size_t>(nr));
      std::vector<const T*> errs(static_cast<size_t>(nr));
      for (int i = 0; i < nr; ++i) {
        SubScaledRows(ref.data() + i * n, n, e.data() + i * nj, nj, u.data(), ld);
        rows[static_cast<size_t>(i)] = got.data() + i * n;
        errs[static_cast<size_t>(i)] = e.data() + i * nj;
      }
      SubScaledRowsBatch(rows.data(), errs.data(), nr, n, nj, u.data(), ld);
      ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * sizeof(T)))
          << "nr=" << nr << " n=" << n << " " << target;
    }
  }
}

TEST_P(SimdGptqUpdateTest, BatchMatchesSingleRows) {
  CheckBatch<float>(74, hwy::TargetName(GetParam()));
}

// The refit's segment dots: each segment's sum in k order, a multiply then an add.
TEST_P(SimdGptqUpdateTest, SegmentDotsMatchTheScalarLoop) {
  auto rng = testing::MakeRng(73);
  std::normal_distribution<double> g(0.0, 1.0);
  for (int64_t seg : {1, 16, 32}) {
    for (int64_t nseg : {1, 3, 8, 9, 36, 96}) {
      std::vector<double> a(static_cast<size_t>(seg * nseg)), b(a.size()), out(static_cast<size_t>(nseg));
      for (double& x : a) x = g(rng);
      for (double& x : b) x = g(rng) * 1e3;
      SegmentDots(a.data(), b.data(), seg, nseg, out.data());
      for (int64_t s = 0; s < nseg; ++s) {
        double ref = 0;
        for (int64_t k = 0; k < seg; ++k) {
          volatile double p = a[static_cast<size_t>(s * seg + k)] * b[static_cast<size_t>(s * seg + k)];
          ref += p;
        }
        ASSERT_EQ(0, std::memcmp(&ref, &out[static_cast<size_t>(s)], sizeof(double)))
            << "seg " << seg << " nseg " << nseg << " s " << s << ": simd " << out[static_cast<size_t>(s)]
            << " ref " << ref << " " << hwy::TargetName(GetParam());
      }
    }
  }
}

// n = 0 or nj = 0 leaves w as it is (and reads nothing).
TEST(SimdGptqUpdate, EmptyIsANoOp) {
  float w[2] = {1.5f, -2.0f};
  SubScaledRows(w, 0, nullptr, 3, nullptr, 0);
  SubScaledRows(w, 2, nullptr, 0, nullptr, 0);
  EXPECT_EQ(w[0], 1.5f);
  EXPECT_EQ(w[1], -2.0f);
}

}  // namespace
}  // namespace septet::simd
