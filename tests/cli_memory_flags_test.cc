// --mem-budget, --gpu-layers and --gpu-mem on serve and perplexity: the same flags
// and plan as generate / bench (tools/septet/cli_placement.h), and the same
// output with layers streamed as without.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

#include "util/cli_runner.h"
#include "util/serve_process.h"
#include "util/test_util.h"

namespace septet {
namespace {

using nlohmann::json;
using testing::CliRun;
using testing::RunSeptet;
using testing::ServeProcess;

std::string Stories() { return testing::SharedFile("models/stories260K/stories260K.bin"); }
std::string Text() { return testing::SharedFile("data/TinyStories-valid.head32k.txt"); }

std::string PplLine(const std::string& out) {
  const size_t p = out.find("PPL: ");
  return p == std::string::npos ? "" : out.substr(p, out.find('\n', p) - p);
}

// 1 resident + 4 streamed layers at --ctx 128 (the text is the PPL itself, printed
// to four decimals; the forward pass reads the same bytes, so it is exact).
TEST(MemoryFlagsCliTest, PerplexityUnderMemBudgetIsTheResidentOne) {
  const std::string args = "perplexity -m '" + Stories() + "' -f '" + Text() + "' --ctx 128 --chunks 4 -t 2";
  const CliRun all = RunSeptet(args, "", 120);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const CliRun streamed = RunSeptet(args + " --mem-budget 1750K", "", 120);
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  EXPECT_NE(streamed.err.find("streamed layers"), std::string::npos) << streamed.err;
  ASSERT_FALSE(PplLine(all.out).empty()) << all.out;
  EXPECT_EQ(PplLine(streamed.out), PplLine(all.out));
  const CliRun small = RunSeptet(args + " --mem-budget 100K", "", 60);
  EXPECT_EQ(small.exit_code, 1) << small.err;
  EXPECT_NE(small.err.find("--mem-budget 102400 bytes"), std::string::npos) << small.err;
  const CliRun bad = RunSeptet(args + " --mem-budget lots", "", 60);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--mem-budget 'lots'"), std::string::npos) << bad.err;
}

TEST(MemoryFlagsCliTest, GpuLayersWithoutADeviceIsAClearErrorEverywhere) {
  // No GPU here: in either build the split is refused at startup.
  const CliRun ppl = RunSeptet("perplexity -m '" + Stories() + "' -f '" + Text() + "' --ctx 32 --chunks 1 --gpu-layers 1",
                               "", 60);
  EXPECT_EQ(ppl.exit_code, 1) << ppl.out;
  EXPECT_NE(ppl.err.find("--gpu-layers 1: no CUDA device"), std::string::npos) << ppl.err;
  const CliRun serve = RunSeptet("serve -m '" + Stories() + "' --port 0 --gpu-layers 1", "", 60);
  EXPECT_EQ(serve.exit_code, 1) << serve.out;
  EXPECT_NE(serve.err.find("--gpu-layers 1: no CUDA device"), std::string::npos) << serve.err;
}

std::string Complete(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  c.set_connection_timeout(5, 0);
  const std::string body = R"({"prompt":"Once upon a time","max_tokens":24,"temperature":0})";
  auto res = c.Post("/v1/completions", body, "application/json");
  if (!res || res->status != 200) return "(no answer)";
  return json::parse(res->body)["choices"][0]["text"];
}

// Two slots at --ctx 256: the budget holds 1 layer + both slots' KV; the rest streams.
TEST(MemoryFlagsCliTest, ServeUnderMemBudgetAnswersAsResident) {
  std::string all_text, streamed_text;
  {
    ServeProcess p({"-m", Stories(), "--parallel", "2", "--ctx", "256", "-t", "2"});
    const int port = p.WaitForPort();
    ASSERT_GT(port, 0) << p.Stderr();
    all_text = Complete(port);
    p.Signal(SIGTERM);
    EXPECT_EQ(p.Wait(30), 0) << p.Stderr();
  }
  {
    ServeProcess p({"-m", Stories(), "--parallel", "2", "--ctx", "256", "-t", "2", "--mem-budget", "2200K"});
    const int port = p.WaitForPort();
    ASSERT_GT(port, 0) << p.Stderr();
    streamed_text = Complete(port);
    p.Signal(SIGTERM);
    EXPECT_EQ(p.Wait(30), 0) << p.Stderr();
    EXPECT_NE(p.Stderr().find("streamed layers"), std::string::npos) << p.Stderr();
  }
  EXPECT_GT(all_text.size(), 10u) << all_text;
  EXPECT_EQ(streamed_text, all_text);
}

// --mlock on a command with its own context (perplexity) and through the public
// API (generate): how much is locked is reported; the output does not change.
TEST(MemoryFlagsCliTest, MlockReportsTheLockedBytes) {
  const CliRun gen = RunSeptet("generate -m '" + Stories() + "' -p Once -n 8 --temp 0 --ctx 128 --mem-budget 1750K --mlock",
                               "", 60);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_NE(gen.err.find("of resident weights locked in RAM"), std::string::npos) << gen.err;
  const CliRun ppl = RunSeptet("perplexity -m '" + Stories() + "' -f '" + Text() + "' --ctx 64 --chunks 1 --mlock", "", 60);
  ASSERT_EQ(ppl.exit_code, 0) << ppl.err;
  EXPECT_NE(ppl.err.find("of resident weights locked in RAM"), std::string::npos) << ppl.err;
}

}  // namespace
}  // namespace septet
