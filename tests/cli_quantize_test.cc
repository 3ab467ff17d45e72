// `septet quantize` and `septet perplexity` end to end (built binary, stories260K).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
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

class QuantizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SharedFileExists("models/stories260K/stories260K.bin") ||
        !testing::SharedFileExists("data/TinyStories-valid.head32k.txt")) {
      GTEST_SKIP() << "no stories260K / TinyStories text";
    }
    model_ = Cat("'", testing::SharedFile("models/stories260K/stories260K.bin"), "'");
    text_ = Cat("'", testing::SharedFile("data/TinyStories-valid.head32k.txt"), "'");
    dir_ = Cat(testing::TempDir(), "/cli_quantize");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  std::string model_, text_, dir_;
};

TEST_F(QuantizeCliTest, QuantizeThenPerplexityAndKl) {
  const std::string out = dir_ + "/q.gguf";
  const CliRun q = RunSeptet(Cat("quantize ", model_, " '", out, "' --type Q4_G"));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_NE(q.out.find("bpw all tensors:"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("bpw quantized tensors: 4.5819"), std::string::npos) << q.out;
  EXPECT_NE(q.err.find("blk.0.attn_q.weight"), std::string::npos);  // plain log lines (not a TTY)
  EXPECT_EQ(q.err.find("\033["), std::string::npos);                // no progress-bar escapes

  const std::string lp = dir_ + "/base.lp";
  const std::string common = Cat(" -f ", text_, " --ctx 64 --chunks 2");
  const CliRun base = RunSeptet(Cat("perplexity -m ", model_, common, " --save-logits '", lp, "'"));
  ASSERT_EQ(base.exit_code, 0) << base.err;
  EXPECT_NE(base.out.find("PPL: "), std::string::npos);
  EXPECT_NE(base.out.find(" +/- "), std::string::npos);
  const CliRun again = RunSeptet(Cat("perplexity -m ", model_, common, " --save-logits '", lp, "'"));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;

  const CliRun kl = RunSeptet(Cat("perplexity -m '", out, "'", common, " --kl-divergence '", lp, "'"));
  ASSERT_EQ(kl.exit_code, 0) << kl.err;
  for (const char* key : {"KLD mean:", "KLD median:", "KLD p99:", "KLD max:", "top-1 agreement:", "base PPL:"}) {
    EXPECT_NE(kl.out.find(key), std::string::npos) << key << "\n" << kl.out;
  }
  const CliRun mismatch =
      RunSeptet(Cat("perplexity -m '", out, "' -f ", text_, " --ctx 32 --chunks 2 --kl-divergence '", lp, "'"));
  EXPECT_NE(mismatch.exit_code, 0);
  EXPECT_NE(mismatch.err.find("--ctx 64"), std::string::npos) << mismatch.err;
  const CliRun notlp = RunSeptet(Cat("perplexity -m '", out, "'", common, " --kl-divergence '", out, "'"));
  EXPECT_NE(notlp.exit_code, 0);
  EXPECT_NE(notlp.err.find("not a septet log-probability file"), std::string::npos) << notlp.err;
}

TEST_F(QuantizeCliTest, BadInputsGiveClearErrors) {
  const CliRun missing = RunSeptet(Cat("quantize /nonexistent/m.bin '", dir_, "/x.gguf' --type Q3P5"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/nonexistent/m.bin"), std::string::npos) << missing.err;

  const CliRun type = RunSeptet(Cat("quantize ", model_, " '", dir_, "/x.gguf' --type Q2"));
  EXPECT_NE(type.exit_code, 0);
  EXPECT_NE(type.err.find("unknown type 'Q2'"), std::string::npos) << type.err;
  EXPECT_NE(type.err.find("Q3P5_SEED"), std::string::npos) << type.err;

  const std::string exists = dir_ + "/exists.gguf";
  std::ofstream(exists) << "precious";
  const CliRun ow = RunSeptet(Cat("quantize ", model_, " '", exists, "' --type Q3P5"));
  EXPECT_NE(ow.exit_code, 0);
  EXPECT_NE(ow.err.find(exists), std::string::npos) << ow.err;
  EXPECT_NE(ow.err.find("--force"), std::string::npos) << ow.err;
  EXPECT_EQ(ReadFileBytes(exists), "precious");

  std::ofstream(dir_ + "/empty.txt").flush();
  const CliRun empty =
      RunSeptet(Cat("quantize ", model_, " '", dir_, "/y.gguf' --type Q3P5 --calib '", dir_, "/empty.txt'"));
  EXPECT_NE(empty.exit_code, 0);
  EXPECT_NE(empty.err.find("--calib"), std::string::npos) << empty.err;
  EXPECT_NE(empty.err.find("empty"), std::string::npos) << empty.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/y.gguf"));

  const CliRun nofile = RunSeptet(Cat("perplexity -m ", model_, " -f /nonexistent/t.txt"));
  EXPECT_NE(nofile.exit_code, 0);
  EXPECT_NE(nofile.err.find("/nonexistent/t.txt"), std::string::npos) << nofile.err;
}

TEST_F(QuantizeCliTest, CalibratedOutputIndependentOfThreads) {
  const std::string calib = dir_ + "/calib.txt";
  std::ofstream(calib) << "Once upon a time, there was a little dog named Max. Max liked to run in the park with "
                          "his friend Sue. One day they found a big box.";
  const std::string a = dir_ + "/a.gguf", b = dir_ + "/b.gguf";
  const CliRun ra = RunSeptet(Cat("quantize ", model_, " '", a, "' --type Q3P5 --calib '", calib, "' -t 1"));
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  const CliRun rb = RunSeptet(Cat("quantize ", model_, " '", b, "' --type Q3P5 --calib '", calib, "' -t 2"));
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_NE(ra.out.find("method: gptq"), std::string::npos) << ra.out;
  const std::string ba = ReadFileBytes(a);
  ASSERT_FALSE(ba.empty());
  EXPECT_EQ(ba, ReadFileBytes(b));
  const CliRun g = RunSeptet(Cat("generate -m '", a, "' -p 'Once upon a time' -n 8 --temp 0"));
  EXPECT_EQ(g.exit_code, 0) << g.err;  // self-contained: the tokenizer is inside
}

// --rotate end to end: the rotated F32 file generates the same greedy text as the plain
// one (the rotation is orthogonal; the two differ by float rounding only, far below
// stories260K's top-1 margins on this prompt), `inspect` shows the key, and rotating a
// rotated file is refused naming the flag.
TEST_F(QuantizeCliTest, RotateGeneratesTheSameTextAndIsShown) {
  const std::string plain = dir_ + "/plain.gguf", rot = dir_ + "/rot.gguf";
  ASSERT_EQ(RunSeptet(Cat("quantize ", model_, " '", plain, "' --type F32")).exit_code, 0);
  const CliRun q = RunSeptet(Cat("quantize ", model_, " '", rot, "' --type F32 --rotate"));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const CliRun gp = RunSeptet(Cat("generate -m '", plain, "' -p 'Once upon a time' -n 24 --temp 0"));
  const CliRun gr = RunSeptet(Cat("generate -m '", rot, "' -p 'Once upon a time' -n 24 --temp 0"));
  ASSERT_EQ(gp.exit_code, 0) << gp.err;
  ASSERT_EQ(gr.exit_code, 0) << gr.err;
  EXPECT_EQ(gp.out, gr.out);
  const CliRun in = RunSeptet(Cat("inspect '", rot, "'"));
  ASSERT_EQ(in.exit_code, 0) << in.err;
  EXPECT_NE(in.out.find("rotation      hadamard-v1"), std::string::npos) << in.out;
  const CliRun again = RunSeptet(Cat("quantize '", rot, "' '", dir_, "/again.gguf' --type Q3P5 --rotate"));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already rotated"), std::string::npos) << again.err;
}

// --mix-bpw: the summary line names the budget and the types, the bpw printed stays within
// it, the mixed file loads and runs; without --calib it is a usage error.
TEST_F(QuantizeCliTest, MixBpwPrintsTheChoiceAndKeepsTheBudget) {
  const std::string calib = dir_ + "/calib.txt";
  std::ofstream(calib) << "Once upon a time, there was a little dog named Max. Max liked to run in the park with "
                          "his friend Sue. One day they found a big box.";
  const std::string m = dir_ + "/mix.gguf";
  const CliRun r = RunSeptet(Cat("quantize ", model_, " '", m, "' --type Q3P5 --calib '", calib, "' --mix-bpw 4.2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("mix-bpw 4.2: "), std::string::npos) << r.err;
  const size_t at = r.out.find("bpw quantized tensors: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const double bpw = std::stod(r.out.substr(at + 23));
  EXPECT_LE(bpw, 4.2);
  EXPECT_GT(bpw, 3.8) << "the budget was mostly used";
  const CliRun g = RunSeptet(Cat("generate -m '", m, "' -p 'Once upon a time' -n 8 --temp 0"));
  EXPECT_EQ(g.exit_code, 0) << g.err;
  const CliRun bad = RunSeptet(Cat("quantize ", model_, " '", dir_, "/nocal.gguf' --type Q3P5 --mix-bpw 4.2"));
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--mix-bpw needs --calib"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace septet
