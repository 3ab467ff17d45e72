// GPT-2's reversible byte <-> unicode map used by byte-level BPE vocabularies:
// printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves;
// the other 68 bytes, in increasing order, map to U+0100, U+0101, ... (so ' ' is
// 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace septet::tok {

// The code point that stands for byte b.
uint32_t ByteToUnicode(uint8_t b);
// UTF-8 text of that code point (1 or 2 bytes).
std::string_view ByteToUnicodeUtf8(uint8_t b);
// Maps every byte of `bytes` to its stand-in character.
std::string BytesToUnicode(std::string_view bytes);
// The inverse: false when `text` contains a character that no byte maps to.
bool UnicodeToBytes(std::string_view text, std::string* bytes);

}  // namespace septet::tok
