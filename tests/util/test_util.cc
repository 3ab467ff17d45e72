#include "util/test_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/paths.h"

namespace septet::testing {

uint64_t TestSeed() {
  static const uint64_t seed = [] {
    uint64_t s;
    if (const char* env = std::getenv("SEPTET_TEST_SEED"); env != nullptr && *env != '\0') {
      s = std::strtoull(env, nullptr, 0);
    } else {
      std::random_device rd;
      s = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    }
    std::fprintf(stderr, "[septet] random seed: SEPTET_TEST_SEED=%llu\n",
                 static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

std::mt19937_64 MakeRng(uint64_t salt) {
  std::seed_seq seq{static_cast<uint32_t>(TestSeed()), static_cast<uint32_t>(TestSeed() >> 32),
                    static_cast<uint32_t>(salt), static_cast<uint32_t>(salt >> 32)};
  return std::mt19937_64(seq);
}

std::vector<float> RandomWeights(std::mt19937_64& rng, int64_t n, float stddev, float outlier_prob,
                                 float outlier_scale) {
  std::normal_distribution<float> normal(0.0f, stddev);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& v : w) {
    v = normal(rng);
    if (uni(rng) < outlier_prob) v *= outlier_scale;
  }
  return w;
}

std::string SharedFile(const std::string& rel) { return SharedPath(rel); }

bool SharedFileExists(const std::string& rel) {
  struct stat st {};
  return ::stat(SharedPath(rel).c_str(), &st) == 0;
}

std::string TempDir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/septet_test_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const char* d = ::mkdtemp(buf.data());
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

std::string WriteTempFile(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = TempDir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

}  // namespace septet::testing
