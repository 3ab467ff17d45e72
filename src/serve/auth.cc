#include "serve/auth.h"

#include <fstream>
#include <sstream>

namespace septet::serve {

Result<std::string> LoadApiKey(const std::string& flag_key, const std::string& key_file) {
  if (!flag_key.empty() && !key_file.empty()) {
    return InvalidArgument("--api-key and --api-key-file were both given; use one");
  }
  std::string key = flag_key;
  if (!key_file.empty()) {
    std::ifstream f(key_file, std::ios::binary);
    if (!f) return InvalidArgument("--api-key-file: cannot read '%s'", key_file.c_str());
    std::getline(f, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key.empty()) return InvalidArgument("--api-key-file: '%s' holds no key on its first line", key_file.c_str());
  }
  for (const char c : key) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return InvalidArgument("the API key contains whitespace or control characters");
    }
  }
  return key;
}

bool BearerMatches(std::string_view authorization, std::string_view key) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size()) return false;
  // The scheme is case-insensitive (RFC 7235); the token is compared exactly.
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if ((authorization[i] | 0x20) != (kScheme[i] | 0x20)) return false;
  }
  const std::string_view got = authorization.substr(kScheme.size());
  // Every byte of the key is compared whatever the given token holds; only the
  // length (not secret in practice) decides early.
  unsigned diff = got.size() == key.size() ? 0u : 1u;
  for (size_t i = 0; i < key.size(); ++i) {
    const unsigned char g = i < got.size() ? static_cast<unsigned char>(got[i]) : 0;
    diff |= g ^ static_cast<unsigned char>(key[i]);
  }
  volatile unsigned result = diff;  // keep the loop from being cut short
  return result == 0 && !key.empty();
}

}  // namespace septet::serve
