// SmolLM2-135M-Instruct on the GPU against the float64 oracle, the same checks as
// the CPU's tests/model_smollm2_test.cc (bounds derived there, helpers in
// tests/util/smollm2_oracle.h), through both of the backend's matmul paths:
//   * F32 compute: every matrix decoded once at load; the fp32 matvec kernels
//     (gemm_min_tokens huge) or cuBLAS in fp32 (CUBLAS_COMPUTE_32F, no TF32) for
//     the prompt. Float rounding only, in another summation order: every greedy id
//     of the oracle, prompt 0's logits within kF32Err.
//   * As stored: the Q4_1 matrices have no device kernel and are converted to Q8_0
//     at upload (upload_type.h), token_embd is Q8_0; the matvec path rounds the
//     activations to INT8 like the CPU, the cuBLAS path to fp16. The CPU's bounds on
//     how far that may move the logits and a top-1's lead must hold here too.
// Skips without a GPU, like every test in this directory.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_context.h"
#include "backends/cuda/testing_cuda.h"
#include "model/llama_model.h"
#include "util/smollm2_oracle.h"
#include "util/test_util.h"

namespace septet::cuda {
namespace {

using namespace septet::testing::smollm2;  // NOLINT(build/namespaces): the oracle's helpers and bounds

ContextFactory Gpu(int64_t gemm_min_tokens) {
  return [gemm_min_tokens](const model::LlamaModel& m) -> std::unique_ptr<model::InferenceContext> {
    CudaContextOptions o;
    o.gemm_min_tokens = gemm_min_tokens;
    auto ctx = CudaContext::Create(m, 128, o);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    if (!ctx.ok()) return nullptr;
    return std::move(ctx).value();
  };
}

constexpr int64_t kMatvecOnly = int64_t{1} << 30;
constexpr int64_t kCublasPrefill = 2;

class CudaSmolLM2Test : public ::testing::TestWithParam<int64_t> {};

TEST_P(CudaSmolLM2Test, F32MatchesFloat64Oracle) {
  SEPTET_REQUIRE_GPU();
  ASSERT_TRUE(septet::testing::SharedFileExists(kModel));
  const std::vector<OracleCase> cases = ReadOracle();
  ASSERT_EQ(cases.size(), 3u);
  auto f32 = model::LlamaModel::Load(septet::testing::SharedFile(kModel), model::ModelOptions{DType::kF32});
  ASSERT_TRUE(f32.ok()) << f32.status().ToString();
  ExpectF32MatchesOracle(Gpu(GetParam()), *f32.value(), cases,
                         GetParam() == kMatvecOnly ? "cuda smollm2 matvec" : "cuda smollm2 cublas");
}

TEST_P(CudaSmolLM2Test, StoredTracksFloat64Oracle) {
  SEPTET_REQUIRE_GPU();
  ASSERT_TRUE(septet::testing::SharedFileExists(kModel));
  const std::vector<OracleCase> cases = ReadOracle();
  ASSERT_EQ(cases.size(), 3u);
  for (const OracleCase& c : cases) ASSERT_EQ(c.margins.size(), c.greedy.size());
  auto f32 = model::LlamaModel::Load(septet::testing::SharedFile(kModel), model::ModelOptions{DType::kF32});
  ASSERT_TRUE(f32.ok()) << f32.status().ToString();
  auto stored = model::LlamaModel::Load(septet::testing::SharedFile(kModel), {});
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  const bool matvec = GetParam() == kMatvecOnly;
  ExpectStoredTracksOracle(Gpu(GetParam()), *stored.value(), *f32.value(), cases,
                           matvec ? "cuda smollm2 matvec" : "cuda smollm2 cublas",
                           matvec ? "Q4_1 -> Q8_0 at upload, INT8 activations"
                                  : "Q4_1 -> Q8_0 at upload, fp16 activations in the prompt");
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaSmolLM2Test, ::testing::Values(kMatvecOnly, kCublasPrefill),
                         [](const auto& info) { return info.param == kMatvecOnly ? "Matvec" : "CublasPrefill"; });

}  // namespace
}  // namespace septet::cuda
