#include "tokenizer/byte_unicode.h"

#include <array>

#include "tokenizer/utf8.h"

namespace septet::tok {
namespace {

struct Tables {
  std::array<uint32_t, 256> cp{};
  std::array<std::string, 256> utf8;
  std::array<int16_t, 324> byte_of{};  // code point -> byte, -1 if none (max code point 323)
};

const Tables& GetTables() {
  static const Tables t = [] {
    Tables r;
    r.byte_of.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      r.cp[b] = self ? static_cast<uint32_t>(b) : next++;
      AppendUtf8(r.cp[b], &r.utf8[b]);
      r.byte_of[r.cp[b]] = static_cast<int16_t>(b);
    }
    return r;
  }();
  return t;
}

}  // namespace

uint32_t ByteToUnicode(uint8_t b) { return GetTables().cp[b]; }

std::string_view ByteToUnicodeUtf8(uint8_t b) { return GetTables().utf8[b]; }

std::string BytesToUnicode(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out.append(t.utf8[static_cast<uint8_t>(c)]);
  return out;
}

bool UnicodeToBytes(std::string_view text, std::string* bytes) {
  const Tables& t = GetTables();
  for (size_t i = 0; i < text.size();) {
    const int n = Utf8CharLenAt(text, i);
    if (n <= 0) return false;
    const uint32_t cp = DecodeUtf8At(text, i, n);
    if (cp >= t.byte_of.size() || t.byte_of[cp] < 0) return false;
    bytes->push_back(static_cast<char>(t.byte_of[cp]));
    i += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace septet::tok
