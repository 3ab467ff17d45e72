// UTF-8 helpers shared by the tokenizers and the streaming decoder.
// Well-formedness follows Unicode 15 table 3-7 (no overlongs, no surrogates,
// nothing above U+10FFFF); ill-formed input is replaced per "maximal subpart"
// (one U+FFFD for each maximal prefix of a valid sequence, W3C/WHATWG practice).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace septet::tok {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Number of bytes at s[pos] that form a valid prefix of a UTF-8 character (0 when
// s[pos] cannot start one); *complete tells whether that prefix is a whole character.
int Utf8ValidPrefixAt(std::string_view s, size_t pos, bool* complete);

// Length of the well-formed UTF-8 character starting at s[pos]; 0 when the bytes
// there are ill-formed, -1 when they are a valid but incomplete prefix cut by the
// end of `s`.
int Utf8CharLenAt(std::string_view s, size_t pos);

// Length of the next "character" for tokenization: a well-formed UTF-8 character,
// or a single byte where the input is ill-formed or truncated. Always >= 1 when
// pos < s.size().
size_t Utf8StepAt(std::string_view s, size_t pos);

bool IsValidUtf8(std::string_view s);

// Appends the UTF-8 encoding of code point `cp` (must be <= 0x10FFFF).
void AppendUtf8(uint32_t cp, std::string* out);

// Decodes the character at s[pos] (which must be well-formed) and returns its code point.
uint32_t DecodeUtf8At(std::string_view s, size_t pos, int len);

}  // namespace septet::tok
