// septet plan / inspect --memory end to end (built binary): the numbers are the
// hand-computed ones of src/model/memory_plan_test.cc, through the CLI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "util/cli_runner.h"
#include "util/test_util.h"

namespace septet {
namespace {

using testing::Cat;
using testing::CliRun;
using testing::RunSeptet;

std::string Stories() { return Cat("'", testing::SharedFile("models/stories260K/stories260K.bin"), "'"); }

TEST(PlanCliTest, JsonForAFile) {
  const CliRun r =
      RunSeptet(Cat("plan -m ", Stories(), " --mem 1G --ctx 512 -t 1 --mem-bw 10 --disk-bw 1 --json"), "", 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["weights"]["total"], 1040128u);
  EXPECT_EQ(j["weights"]["ffn"], 660480u);
  EXPECT_EQ(j["kv_bytes_per_token"], 1280u);
  EXPECT_EQ(j["kv_bytes"], 655360u);
  EXPECT_EQ(j["request"]["mem_budget"], 1ull << 30);
  EXPECT_EQ(j["placement"]["text"], "all 5 layers resident");
  EXPECT_EQ(j["mlock"]["bytes"], 1040128u);  // all resident: every weight
  EXPECT_TRUE(j["mlock"]["allowed"].is_boolean());
  EXPECT_DOUBLE_EQ(j["decode"]["tok_s_overlapped"].get<double>(), 10e9 / (1040128.0 + 655360.0));
}

TEST(PlanCliTest, ShapeTableWithKvTypeAndStreaming) {
  const CliRun r = RunSeptet(
      "plan --shape llama2-70b --type Q3P5 --mem 8G --kv-type q8_0 -t 4 --mem-bw 20 --disk-bw 2", "", 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"shape llama2-70b Q3P5", "KV cache      Q8_0", "streamed layers", "tok/s per sequence"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
}

TEST(PlanCliTest, TooSmallBudgetIsRefusedWithTheNumbers) {
  const CliRun r = RunSeptet("plan --shape llama2-70b --type Q3P5 --mem 1G --mem-bw 20 --disk-bw 2 -t 1", "", 120);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("--mem 1073741824 bytes (1.00 GiB) cannot hold the KV cache and the layer streaming buffers"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("largest layer 374407168"), std::string::npos) << r.err;
}

TEST(PlanCliTest, BadFlagsAreUsageErrors) {
  CliRun r = RunSeptet(Cat("plan -m ", Stories(), " --mem 24X --mem-bw 1 --disk-bw 1"), "", 60);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--mem '24X'"), std::string::npos) << r.err;
  r = RunSeptet(Cat("plan -m ", Stories(), " --kv-type q4_0 --mem-bw 1 --disk-bw 1"), "", 60);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--kv-type 'q4_0'"), std::string::npos) << r.err;
  r = RunSeptet("plan --mem-bw 1", "", 60);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("-m"), std::string::npos) << r.err;
}

TEST(PlanCliTest, InspectMemory) {
  const CliRun r = RunSeptet(Cat("inspect ", Stories(), " --memory --ctx 512 --kv-type f16"), "", 60);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("KV cache      F16, 640 bytes per token; n_ctx 512 x 1 sequence(s): 327680"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ffn                 660480"), std::string::npos) << r.out;
}

// A file that cannot be mapped is read into memory instead: forced with
// SEPTET_NO_MMAP=1 (inherited by the child), the output is the mmap run's.
TEST(MemoryCliTest, ReadIntoMemoryFallbackGivesTheSameText) {
  const std::string args = Cat("generate -m ", Stories(), " -p 'Once upon a time' -n 24 --temp 0 -t 2");
  const CliRun mapped = RunSeptet(args, "", 60);
  ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
  ::setenv("SEPTET_NO_MMAP", "1", 1);
  const CliRun read = RunSeptet(args, "", 60);
  ::unsetenv("SEPTET_NO_MMAP");
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_GT(mapped.out.size(), 20u);
  EXPECT_EQ(read.out, mapped.out);
}

TEST(MemoryCliTest, MemBudgetBelowOneLayerPlusKvIsRefused) {
  const CliRun r = RunSeptet(Cat("generate -m ", Stories(), " -p x -n 1 --temp 0 --ctx 512 --mem-budget 1M"), "", 60);
  EXPECT_EQ(r.exit_code, 1);
  for (const char* s : {"--mem-budget 1048576 bytes", "KV cache 655360", "largest layer 181760"}) {
    EXPECT_NE(r.err.find(s), std::string::npos) << s << "\n" << r.err;
  }
  const CliRun ok = RunSeptet(Cat("generate -m ", Stories(), " -p x -n 1 --temp 0 --ctx 512 --mem-budget 4M"), "", 60);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  const CliRun bad = RunSeptet(Cat("generate -m ", Stories(), " -p x -n 1 --mem-budget lots"), "", 60);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--mem-budget 'lots'"), std::string::npos) << bad.err;
}

// A budget between one layer + KV and the whole model streams the layers that do
// not fit (1 resident + 4 streamed here); the text is the all-resident run's.
TEST(MemoryCliTest, MemBudgetStreamsLayersWithTheSameOutput) {
  const std::string args = Cat("generate -m ", Stories(), " -p 'Once upon a time' -n 24 --temp 0 -t 2 --ctx 512");
  const CliRun all = RunSeptet(args, "", 60);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const CliRun streamed = RunSeptet(args + " --mem-budget 2200K", "", 60);
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  EXPECT_NE(streamed.err.find("4 of 5 layers are streamed"), std::string::npos) << streamed.err;
  EXPECT_EQ(streamed.out, all.out);
}

TEST(MemoryCliTest, BenchStreamsUnderMemBudget) {
  const CliRun r = RunSeptet(Cat("bench -m ", Stories(), " -p 16 -n 8 -r 1 --bw-mib 4 --mem-budget 1400K"), "", 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("0 resident + 5 streamed layers"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("| tg8 |"), std::string::npos) << r.out;
}

TEST(PlanCliTest, GpuSplitFromGpuMem) {
  // token_embd 131072 + scratch (model/layer_split_test.cc) + 2 x (layer 181760 + F32 KV 131072) fits, 3 do not.
  // A chunk of 256 tokens (model/forward_chunk.h) at --ctx 512.
  const uint64_t scratch =
      4 * 256 * 4 + 256 * 4 * 728 + 256 * 192 + 2 * 256 * 6 * 4 + 256 * 172 * 2 + (uint64_t{64} << 20);
  const uint64_t two = 131072 + scratch + 2 * (181760 + 131072);
  const CliRun r = RunSeptet(Cat("plan -m ", Stories(), " --ctx 512 -t 1 --mem-bw 10 --disk-bw 1 --gpu-bw 100 --gpu-mem ",
                                 two + 1000, " --json"),
                             "", 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["placement"]["gpu_layers"], 2);
  EXPECT_EQ(j["placement"]["gpu_bytes"], two);
  EXPECT_EQ(j["gpu_split"]["boundary_bytes_per_token"], 256u);
  EXPECT_EQ(j["gpu_split"]["cpu_layer_bytes"], 3u * 181760);
}

TEST(MemoryCliTest, GpuLayersWithoutADeviceIsAClearError) {
  // This machine has no GPU: in either build the split is refused at startup.
  const CliRun r = RunSeptet(Cat("generate -m ", Stories(), " -p Once -n 4 --gpu-layers 2"), "", 60);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("--gpu-layers 2: no CUDA device"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace septet
