#include "tokenizer/utf8.h"

#include "tokenizer/tokenizer.h"

namespace septet::tok {
namespace {

// Allowed range of the second byte for each lead byte; later bytes are 80..BF.
struct LeadInfo {
  int len;  // 0 = never a lead byte
  uint8_t lo, hi;
};

LeadInfo Lead(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // <= U+10FFFF
  return {0, 0, 0};
}

}  // namespace

int Utf8ValidPrefixAt(std::string_view s, size_t pos, bool* complete) {
  const LeadInfo li = Lead(static_cast<uint8_t>(s[pos]));
  *complete = false;
  if (li.len == 0) return 0;
  if (li.len == 1) {
    *complete = true;
    return 1;
  }
  int n = 1;
  for (; n < li.len; ++n) {
    if (pos + n >= s.size()) return n;  // cut by the end
    const uint8_t c = static_cast<uint8_t>(s[pos + n]);
    const uint8_t lo = n == 1 ? li.lo : 0x80;
    const uint8_t hi = n == 1 ? li.hi : 0xBF;
    if (c < lo || c > hi) return n;  // ill-formed after n bytes
  }
  *complete = true;
  return n;
}

int Utf8CharLenAt(std::string_view s, size_t pos) {
  bool complete = false;
  const int n = Utf8ValidPrefixAt(s, pos, &complete);
  if (complete) return n;
  if (n > 0 && pos + n == s.size()) return -1;
  return 0;
}

size_t Utf8StepAt(std::string_view s, size_t pos) {
  const int n = Utf8CharLenAt(s, pos);
  return n > 0 ? static_cast<size_t>(n) : 1;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const int n = Utf8CharLenAt(s, i);
    if (n <= 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t DecodeUtf8At(std::string_view s, size_t pos, int len) {
  const auto b = [&](int k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[pos + k])); };
  switch (len) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

}  // namespace septet::tok

namespace septet {

// Emits every complete character; keeps a trailing valid-but-incomplete prefix
// for the next Push. Each maximal ill-formed subpart becomes one U+FFFD.
std::string Utf8Streamer::Push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const int n = tok::Utf8CharLenAt(pending_, i);
    if (n > 0) {
      out.append(pending_, i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    } else if (n < 0) {
      break;  // incomplete tail: wait for more bytes
    } else {
      // Skip the maximal subpart: the lead byte and the continuation bytes valid after it.
      bool complete = false;
      const int valid = tok::Utf8ValidPrefixAt(pending_, i, &complete);
      out.append(tok::kReplacementChar);
      i += static_cast<size_t>(valid > 0 ? valid : 1);
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8Streamer::Flush() {
  std::string out = Push("");
  if (!pending_.empty()) {
    out.append(tok::kReplacementChar);  // a cut-off character is one maximal subpart
    pending_.clear();
  }
  return out;
}

}  // namespace septet
