#include "tokenizer/special_tokens.h"

#include <algorithm>
#include <cstring>

namespace septet::tok {

bool TokenTypeFromInt(int64_t v, TokenType* out) {
  if (v < 1 || v > 6) return false;
  *out = static_cast<TokenType>(v);
  return true;
}

void SpecialSplitter::Add(Entry e) {
  if (e.text.empty()) return;
  const uint8_t first = static_cast<uint8_t>(e.text[0]);
  entries_.push_back(std::move(e));
  // Keep each bucket longest-first (ties in insertion order) so the first hit is the longest.
  auto& bucket = by_first_byte_[first];
  const size_t len = entries_.back().text.size();
  const auto at = std::upper_bound(bucket.begin(), bucket.end(), len,
                                   [this](size_t l, uint32_t k) { return l > entries_[k].text.size(); });
  bucket.insert(at, static_cast<uint32_t>(entries_.size() - 1));
}

namespace {
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
}  // namespace

std::vector<SpecialSplitter::Fragment> SpecialSplitter::Split(std::string_view text, bool parse_special,
                                                              const std::span<const TextRange>* only_in) const {
  std::vector<Fragment> out;
  size_t range = 0;  // only_in: the first range that does not end before i
  // Whether a special (not `always`) match of n bytes at i lies inside a range.
  const auto allowed = [&](size_t i, size_t n) {
    if (!parse_special) return false;
    if (only_in == nullptr) return true;
    while (range < only_in->size() && (*only_in)[range].end <= i) ++range;
    return range < only_in->size() && (*only_in)[range].begin <= i && i + n <= (*only_in)[range].end;
  };
  size_t raw_start = 0;  // start of the pending raw fragment
  size_t i = 0;
  while (i < text.size()) {
    const Entry* hit = nullptr;
    int32_t hit_id = -1;
    if (!entries_.empty()) {
      for (const uint32_t k : by_first_byte_[static_cast<uint8_t>(text[i])]) {
        const Entry& e = entries_[k];
        if (!e.always && !allowed(i, e.text.size())) continue;
        if (e.text.size() <= text.size() - i &&
            std::memcmp(text.data() + i, e.text.data(), e.text.size()) == 0) {
          hit = &e;
          hit_id = e.id;
          break;
        }
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t raw_end = i;
    if (hit->lstrip) {
      while (raw_end > raw_start && IsSpace(text[raw_end - 1])) --raw_end;
    }
    if (raw_end > raw_start) out.push_back({text.substr(raw_start, raw_end - raw_start), -1});
    out.push_back({text.substr(i, hit->text.size()), hit_id});
    i += hit->text.size();
    if (hit->rstrip) {
      while (i < text.size() && IsSpace(text[i])) ++i;
    }
    raw_start = i;
  }
  if (raw_start < text.size()) out.push_back({text.substr(raw_start), -1});
  return out;
}

}  // namespace septet::tok
