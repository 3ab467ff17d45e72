// Shared helpers for septet tests: reproducible random seeds and the location
// of ../shared assets.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace septet::testing {

// Error models (Higham): u = 2^-24, the binary32 unit roundoff, and gamma_k =
// k u / (1 - k u), the relative bound of a value computed with at most k roundings.
inline constexpr double kU = 1.0 / 16777216.0;
inline double Gamma(double k) { return k * kU / (1.0 - k * kU); }

// A fresh seed per test process, printed so a failure can be reproduced:
// rerun with SEPTET_TEST_SEED=<value>.
uint64_t TestSeed();

// A generator seeded from TestSeed() mixed with `salt` (e.g. a test-local index).
std::mt19937_64 MakeRng(uint64_t salt = 0);

// Gaussian floats with occasional outliers, the shape of real LLM weights.
std::vector<float> RandomWeights(std::mt19937_64& rng, int64_t n, float stddev = 0.02f,
                                 float outlier_prob = 0.01f, float outlier_scale = 8.0f);

// Absolute path of a file under ../shared (honours SEPTET_SHARED).
std::string SharedFile(const std::string& rel);
bool SharedFileExists(const std::string& rel);

// Writes bytes to a fresh file under the test temp dir; returns its path.
std::string WriteTempFile(const std::string& name, const std::vector<uint8_t>& bytes);
std::string TempDir();

}  // namespace septet::testing
