// ASCII upper case of a name a user typed (type names, SIMD targets, size units).
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace septet {

inline std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace septet
