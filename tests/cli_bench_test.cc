// septet gen-weights and septet bench end to end (built binary). Output shape
// only: timings are never asserted.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "util/cli_runner.h"
#include "util/test_util.h"

namespace septet {
namespace {

using testing::Cat;
using testing::CliRun;
using testing::ReadFileBytes;
using testing::RunSeptet;

std::string Stories() { return Cat("'", testing::SharedFile("models/stories260K/stories260K.bin"), "'"); }

TEST(BenchCliTest, MarkdownTableHasBandwidthAndBothTests) {
  const CliRun r = RunSeptet(Cat("bench -m ", Stories(), " -p 16 -n 8 -r 1 -t 1,2 --bw-mib 4"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| model | type | bpw |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| memory (STREAM-like probe)"), std::string::npos) << r.out;
  EXPECT_LT(r.out.find("memory (STREAM-like probe)"), r.out.find("stories260K.bin"));  // bandwidth on top
  for (const char* s : {"| pp16 |", "| tg8 |", "| F32 |", "| cpu | 1 |", "| cpu | 2 |"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
}

TEST(BenchCliTest, JsonHasResultsForEveryModelAndTest) {
  const CliRun r = RunSeptet(Cat("bench -m ", Stories(), " -m ", Stories(), " -p 16 -n 8 -r 1 --bw-mib 4 -o json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["bandwidth"].size(), 1u);
  EXPECT_GT(j["bandwidth"][0]["read_gbs"]["median"].get<double>(), 0);
  ASSERT_EQ(j["results"].size(), 4u);  // 2 models x (pp16, tg8)
  EXPECT_EQ(j["results"][0]["test"], "pp16");
  EXPECT_EQ(j["results"][1]["test"], "tg8");
  EXPECT_EQ(j["results"][1]["type"], "F32");
  EXPECT_GT(j["results"][1]["bytes_per_token"].get<double>(), 1e6);  // ~1 MB of F32 weights
  EXPECT_GT(j["results"][1]["gbs"].get<double>(), 0);
  EXPECT_EQ(j["results"][1]["repetitions"], 1);
}

TEST(BenchCliTest, BatchCurveReportsAggregateRateAndMemory) {
  const CliRun r = RunSeptet(Cat("bench -m ", Stories(), " -p 0 -n 8 -b 1,4 -r 1 --bw-mib 4 -o json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);  // tg8 at batch 1 and 4
  EXPECT_EQ(j["results"][0]["batch"], 1);
  EXPECT_EQ(j["results"][1]["batch"], 4);
  // Weights are read once per step: per-token traffic drops by about the batch.
  const double b1 = j["results"][0]["bytes_per_token"].get<double>();
  const double b4 = j["results"][1]["bytes_per_token"].get<double>();
  EXPECT_LT(b4, b1 / 3);
  // Four sequences' KV caches.
  EXPECT_EQ(j["results"][1]["memory"]["kv_cache"].get<uint64_t>(),
            4 * j["results"][0]["memory"]["kv_cache"].get<uint64_t>());
  EXPECT_GT(j["results"][1]["memory"]["total"].get<uint64_t>(), j["results"][1]["memory"]["weights"].get<uint64_t>());
  EXPECT_EQ(RunSeptet(Cat("bench -m ", Stories(), " -n 4 -b 0 --bw-mib 0")).exit_code, 2);
}

// --profile: every op row, rows that add up to the pass, and call counts that
// follow from the model's shape (stories260K: 5 layers; q/k/v and gate/up are one
// grouped matmul each, so one call per layer per token).
TEST(BenchCliTest, ProfileRowsAddUpAndCountTheOps) {
  const CliRun r = RunSeptet(Cat("bench -m ", Stories(), " -p 8 -n 6 -r 2 -t 2 --bw-mib 0 --profile -o json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);
  for (const nlohmann::json& res : j["results"]) {
    ASSERT_TRUE(res.contains("profile")) << res.dump();
    const nlohmann::json& p = res["profile"];
    ASSERT_EQ(p["ops"].size(), 13u);
    double sum = 0;
    std::map<std::string, uint64_t> calls;
    for (const nlohmann::json& op : p["ops"]) {
      EXPECT_GE(op["ms_per_token"].get<double>(), 0.0) << op.dump();
      sum += op["ms_per_token"].get<double>();
      calls[op["op"].get<std::string>()] = op["calls"].get<uint64_t>();
    }
    const double total = p["ms_per_token"].get<double>();
    EXPECT_GT(total, 0.0);
    EXPECT_NEAR(sum, total, 1e-6 * total + 1e-9) << res.dump();  // kOther is the remainder
    const uint64_t passes = res["test"] == "pp8" ? 2 : 2 * 6;  // forward calls over the repetitions
    EXPECT_EQ(calls["matmul q/k/v"], passes * 5) << res.dump();
    EXPECT_EQ(calls["matmul ffn gate/up"], passes * 5) << res.dump();
    EXPECT_EQ(calls["matmul ffn down"], passes * 5) << res.dump();
    EXPECT_EQ(calls["matmul output head"], passes) << res.dump();
    EXPECT_EQ(calls["rmsnorm"], passes * 11) << res.dump();  // 2 per layer + the final norm
    EXPECT_EQ(calls["input rotation"], 0u) << res.dump();     // not a rotated model
  }
  // A rotated model (quantize --rotate) rotates the four matmul inputs of every layer.
  const std::string rotated = Cat(testing::TempDir(), "/bench_rotated.gguf");
  ASSERT_EQ(RunSeptet(Cat("quantize ", Stories(), " '", rotated, "' --type F32 --rotate --force")).exit_code, 0);
  const CliRun rr = RunSeptet(Cat("bench -m '", rotated, "' -p 0 -n 3 -r 1 -t 2 --bw-mib 0 --profile -o json"));
  ASSERT_EQ(rr.exit_code, 0) << rr.err;
  uint64_t rotations = 0;
  const nlohmann::json rj = nlohmann::json::parse(rr.out);
  for (const nlohmann::json& op : rj["results"][0]["profile"]["ops"]) {
    if (op["op"] == "input rotation") rotations = op["calls"].get<uint64_t>();
  }
  EXPECT_EQ(rotations, 3u * 5 * 4) << rr.out;  // 3 decode passes x 5 layers x 4 inputs
  // The markdown form prints one table per test after the main table.
  const CliRun md = RunSeptet(Cat("bench -m ", Stories(), " -p 0 -n 4 -r 1 --bw-mib 0 --profile"));
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("profile: stories260K.bin tg4"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| thread-pool wait |"), std::string::npos) << md.out;
}

TEST(BenchCliTest, BadInputsAreClearErrors) {
  const CliRun missing = RunSeptet("bench -m /nonexistent/m.gguf -p 4 -n 4 -r 1 --bw-mib 0");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/m.gguf"), std::string::npos) << missing.err;
  EXPECT_EQ(RunSeptet("bench -p 4").exit_code, 2);  // -m required
  EXPECT_EQ(RunSeptet(Cat("bench -m ", Stories(), " -o xml")).exit_code, 2);
  EXPECT_EQ(RunSeptet(Cat("bench -m ", Stories(), " -t 0 --bw-mib 0")).exit_code, 2);
  EXPECT_EQ(RunSeptet(Cat("bench -m ", Stories(), " -p -3 --bw-mib 0")).exit_code, 2);
  const CliRun type = RunSeptet(Cat("bench -m ", Stories(), " --type Q9 --bw-mib 0"));
  EXPECT_EQ(type.exit_code, 2);
  EXPECT_NE(type.err.find("Q9"), std::string::npos) << type.err;
  const CliRun none = RunSeptet(Cat("bench -m ", Stories(), " -p 0 -n 0 --bw-mib 0"));
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("nothing to measure"), std::string::npos) << none.err;
}

TEST(GenWeightsCliTest, WritesLoadableSyntheticModelAndRefusesOverwrite) {
  const std::string path = Cat(testing::TempDir(), "/gen_smollm.gguf");
  ::unlink(path.c_str());
  const std::string gen = Cat("gen-weights --shape smollm-135m --type Q8_0 --layers 1 --seed 3 -o '", path, "'");
  const CliRun g = RunSeptet(gen);
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_NE(g.err.find("speed measurement only"), std::string::npos) << g.err;
  const std::string bytes = ReadFileBytes(path);
  const CliRun again = RunSeptet(gen);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  ASSERT_EQ(RunSeptet(Cat(gen, " --force")).exit_code, 0);
  EXPECT_TRUE(ReadFileBytes(path) == bytes);  // same seed, same bytes

  const CliRun info = RunSeptet(Cat("inspect '", path, "'"));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("dim           576"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("9 query, 3 key/value"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("vocab         49152"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("Q8_0"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("RANDOM WEIGHTS"), std::string::npos) << info.out;
  // The synthetic tokenizer loads: generate runs (the text is gibberish by design).
  const CliRun gen_text = RunSeptet(Cat("generate -m '", path, "' -p 'hello world' -n 2 --temp 0"));
  EXPECT_EQ(gen_text.exit_code, 0) << gen_text.err;
  EXPECT_NE(gen_text.err.find("RANDOM WEIGHTS"), std::string::npos) << gen_text.err;  // the load line says so

  EXPECT_EQ(RunSeptet("gen-weights --shape llama9-1t -o /tmp/x.gguf").exit_code, 2);
  EXPECT_EQ(RunSeptet("gen-weights --shape smollm-135m --type Q8_A -o /tmp/x.gguf").exit_code, 2);
  EXPECT_EQ(RunSeptet("gen-weights --shape smollm-135m").exit_code, 2);  // -o required
}

}  // namespace
}  // namespace septet
