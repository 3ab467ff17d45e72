// Token attributes shared by both tokenizer kinds, and the splitter that cuts
// literal special / added tokens out of the text before the model's BPE runs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace septet::tok {

// SentencePiece ModelProto.SentencePiece.Type == GGUF tokenizer.ggml.token_type ids.
enum class TokenType : uint8_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, </s>, <|im_start|>: never produced from text unless parse_special
  kUserDefined = 4,  // always matched literally in the text
  kUnused = 5,
  kByte = 6,  // <0xXX>
};

// Returns false for an id outside 1..6.
bool TokenTypeFromInt(int64_t v, TokenType* out);

// Splits text into raw-text fragments and literal token matches. Matching is
// leftmost-longest (as HF's added-vocabulary matcher). `always` entries match
// regardless of parse_special; the others only when parse_special is set.
class SpecialSplitter {
 public:
  struct Entry {
    std::string text;
    int32_t id = -1;
    bool always = false;
    bool lstrip = false;  // swallow whitespace before the match
    bool rstrip = false;  // swallow whitespace after the match
  };
  struct Fragment {
    std::string_view text;  // raw text when id < 0
    int32_t id = -1;
  };

  void Add(Entry e);
  bool empty() const { return entries_.empty(); }
  // only_in (when set): special entries (not `always`) match only wholly inside
  // one of these sorted, disjoint ranges (Tokenizer::EncodeMarked).
  std::vector<Fragment> Split(std::string_view text, bool parse_special,
                              const std::span<const TextRange>* only_in = nullptr) const;

 private:
  std::vector<Entry> entries_;
  // entries_ indices by first byte, longest text first.
  std::vector<std::vector<uint32_t>> by_first_byte_ = std::vector<std::vector<uint32_t>>(256);
};

}  // namespace septet::tok
