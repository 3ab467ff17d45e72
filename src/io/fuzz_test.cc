// Mutation fuzzing of every loader: valid small files get random bytes flipped,
// overwritten with boundary values, or cut short; Open must return (OK or an error)
// without crashing or reading out of bounds (this runs under ASan+UBSan in CI).
// Reproduce a failure with the printed SEPTET_TEST_SEED.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "io/model_file.h"
#include "io/testing_files.h"
#include "quant/registry.h"
#include "util/test_util.h"

namespace septet {
namespace {

constexpr int kIterationsPerFormat = 1500;
constexpr double kTimeBudgetSeconds = 20.0;  // per format; ASan builds are slower

std::vector<uint8_t> Mutate(std::vector<uint8_t> b, std::mt19937_64& rng) {
  static constexpr uint64_t kInteresting[] = {0,          1,          2,          4,          31,
                                              32,         0x7f,       0x80,       0xff,       0xffff,
                                              0x7fffffff, 0xffffffff, 1ULL << 32, 1ULL << 62, UINT64_MAX};
  auto pick = [&](uint64_t n) { return static_cast<size_t>(rng() % n); };
  const int edits = 1 + static_cast<int>(rng() % 6);
  for (int e = 0; e < edits && !b.empty(); ++e) {
    switch (rng() % 6) {
      case 0:  // flip one bit
        b[pick(b.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // random byte
        b[pick(b.size())] = static_cast<uint8_t>(rng());
        break;
      case 2: {  // boundary value over 1/2/4/8 bytes
        const size_t width = size_t{1} << (rng() % 4);
        if (b.size() < width) break;
        const uint64_t v = kInteresting[pick(std::size(kInteresting))];
        std::memcpy(&b[pick(b.size() - width + 1)], &v, width);
        break;
      }
      case 3:  // mutate early: headers and counts live there
        b[pick(std::min<size_t>(b.size(), 64))] = static_cast<uint8_t>(rng());
        break;
      case 4:  // truncate
        b.resize(pick(b.size()));
        break;
      case 5: {  // duplicate a chunk over another place (shifts structure)
        const size_t n = 1 + pick(16);
        if (b.size() <= n) break;
        const size_t from = pick(b.size() - n), to = pick(b.size() - n);
        std::memmove(&b[to], &b[from], n);
        break;
      }
    }
  }
  return b;
}

// For a file that opened, every tensor must be self-consistent; reading all of its
// bytes would fault (or trip ASan) if a view escaped its storage.
void CheckOpened(const ModelFile& f) {
  uint64_t sum = 0;
  for (const TensorInfo& t : f.tensors()) {
    ASSERT_FALSE(t.shape.empty()) << t.name;
    for (int64_t d : t.shape) ASSERT_GT(d, 0) << t.name;
    const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(t.dtype));
    ASSERT_NE(traits, nullptr) << t.name;
    ASSERT_EQ(t.nbytes, static_cast<size_t>(t.rows()) * traits->row_bytes(t.cols())) << t.name;
    for (size_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
  }
  volatile uint64_t sink = sum;
  (void)sink;
}

// Mutates `base` (written to `target`) and opens `open_path` each time.
void Fuzz(const std::string& label, const std::vector<uint8_t>& base, const std::string& target,
          const std::string& open_path, uint64_t salt) {
  auto rng = testing::MakeRng(salt);
  testing::WriteFile(target, base);
  {
    auto r = ModelFile::Open(open_path);
    ASSERT_TRUE(r.ok()) << label << " base file must load: " << r.status().ToString();
  }
  const auto start = std::chrono::steady_clock::now();
  int ok = 0, failed = 0;
  for (int it = 0; it < kIterationsPerFormat; ++it) {
    const std::vector<uint8_t> mutated = Mutate(base, rng);
    testing::WriteFile(target, mutated);
    auto r = ModelFile::Open(open_path);
    if (r.ok()) {
      ++ok;
      CheckOpened(**r);
      if (::testing::Test::HasFatalFailure()) {
        ADD_FAILURE() << label << " iteration " << it;
        return;
      }
    } else {
      ++failed;
      EXPECT_FALSE(r.status().message().empty()) << label << " iteration " << it;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (elapsed > kTimeBudgetSeconds) break;
  }
  // Most mutations must be caught; some (a flipped weight bit) are legitimately fine.
  EXPECT_GT(failed, 0) << label;
  std::fprintf(stderr, "[fuzz] %s: %d opened, %d rejected\n", label.c_str(), ok, failed);
}

TEST(LoaderFuzzTest, Gguf) {
  GgufWriter w;
  ASSERT_TRUE(w.SetMeta("general.architecture", MetaValue::String("llama")).ok());
  ASSERT_TRUE(w.SetMeta("tokenizer.ggml.tokens", MetaValue::StringArray({"<unk>", "<s>", "a"})).ok());
  ASSERT_TRUE(w.SetMeta("tokenizer.ggml.scores", MetaValue::F32Array({0, 0, -1})).ok());
  ASSERT_TRUE(w.SetMeta("tokenizer.ggml.token_type", MetaValue::I32Array({2, 3, 1})).ok());
  ASSERT_TRUE(w.SetMeta("flag", MetaValue::Bool(false)).ok());
  ASSERT_TRUE(w.SetMeta("big", MetaValue::U64(7)).ok());
  const std::vector<float> x(24, 1.0f);
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {2, 3, 4}, x.data(), 96).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kF16, {5}, x.data(), 10).ok());
  const std::string path = testing::TempDir() + "/fuzz.gguf";
  Fuzz("gguf (writer)", w.Serialize(), path, path, 11);
  Fuzz("gguf (hand-made)", testing::SmallRawGguf().Encode(), path, path, 12);
}

TEST(LoaderFuzzTest, Llama2c) {
  const std::string path = testing::TempDir() + "/fuzz.bin";
  Fuzz("llama2c legacy", testing::MakeLlama2cLegacy({}, false), path, path, 21);
  Fuzz("llama2c v1", testing::MakeLlama2cV1({}, true), path, path, 22);
}

TEST(LoaderFuzzTest, Safetensors) {
  testing::HfOptions o;
  o.dims.layers = 1;
  o.dtype = "BF16";
  const std::string dir = testing::WriteTinyHfModel("fuzz_hf", o);
  const std::vector<uint8_t> weights = testing::EncodeSafetensors(testing::TinyHfTensors(o));
  Fuzz("safetensors", weights, dir + "/model.safetensors", dir, 31);
  testing::WriteFile(dir + "/model.safetensors", weights);
  const std::string cfg = testing::TinyHfConfig(o).dump();
  Fuzz("config.json", std::vector<uint8_t>(cfg.begin(), cfg.end()), dir + "/config.json", dir, 32);
}

}  // namespace
}  // namespace septet
