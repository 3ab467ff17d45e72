// Pre-tokenization for byte-level BPE: the text is cut into words by regex splits
// (HF tokenizers' Split / Digits / ByteLevel pre-tokenizers), each applied to every
// piece the previous step produced. Patterns come from the model (tokenizer.json, or a
// named llama.cpp preset for GGUF); ByteLevel(use_regex) implies GPT-2's pattern, which
// is part of that pre-tokenizer's definition rather than of the file.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace septet::tok {

// GPT-2's pattern, used by HF's ByteLevel pre-tokenizer when use_regex is true.
inline constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// A compiled PCRE2 pattern (UTF + Unicode properties; invalid UTF-8 in the subject is
// allowed and never matched, so it ends up in the gaps between matches).
class Regex {
 public:
  static Result<std::shared_ptr<const Regex>> Compile(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Non-empty matches in s, left to right, as [begin, end) byte offsets.
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view s) const;
  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  void* code_ = nullptr;  // pcre2_code_8*
  std::string pattern_;
};

// HF SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokStep {
  enum class Kind { kSplit, kPrefixSpace };
  Kind kind = Kind::kSplit;
  std::shared_ptr<const Regex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
};

// Runs the steps over `text`; returns the words (non-empty).
std::vector<std::string> PreTokenize(const std::vector<PreTokStep>& steps, std::string_view text);

// Escapes a literal string for use as a PCRE2 pattern.
std::string RegexQuote(std::string_view s);

}  // namespace septet::tok
