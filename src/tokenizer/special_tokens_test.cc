// SpecialSplitter's range restriction (Tokenizer::EncodeMarked): a special token
// is cut out only where it lies wholly inside an allowed range.
#include "tokenizer/special_tokens.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace septet::tok {
namespace {

std::vector<std::pair<std::string, int32_t>> Frags(const SpecialSplitter& s, std::string_view text, bool parse,
                                                   const std::vector<TextRange>* ranges) {
  std::span<const TextRange> span;
  if (ranges != nullptr) span = *ranges;
  std::vector<std::pair<std::string, int32_t>> out;
  for (const auto& f : s.Split(text, parse, ranges != nullptr ? &span : nullptr)) out.emplace_back(f.text, f.id);
  return out;
}

TEST(SpecialSplitterTest, MatchesOnlyWhollyInsideAllowedRanges) {
  SpecialSplitter s;
  s.Add({"<e>", 7, /*always=*/false});
  s.Add({"<u>", 9, /*always=*/true});
  const std::string text = "<e>a<e>b<u><e>";  // <e> at 0, 4, 11; <u> at 8
  using F = std::vector<std::pair<std::string, int32_t>>;
  EXPECT_EQ(Frags(s, text, true, nullptr), (F{{"<e>", 7}, {"a", -1}, {"<e>", 7}, {"b", -1}, {"<u>", 9}, {"<e>", 7}}));
  EXPECT_EQ(Frags(s, text, false, nullptr), (F{{"<e>a<e>b", -1}, {"<u>", 9}, {"<e>", -1}}));
  // Allowed: [0, 3) and [11, 14); the <e> at 4 is text; <u> (always) matches anywhere.
  const std::vector<TextRange> r = {{0, 3}, {11, 14}};
  EXPECT_EQ(Frags(s, text, true, &r), (F{{"<e>", 7}, {"a<e>b", -1}, {"<u>", 9}, {"<e>", 7}}));
  // A range that covers only part of a marker does not allow it.
  const std::vector<TextRange> part = {{0, 2}, {5, 14}};
  EXPECT_EQ(Frags(s, text, true, &part), (F{{"<e>a<e>b", -1}, {"<u>", 9}, {"<e>", 7}}));
  // No ranges: no special matches at all.
  const std::vector<TextRange> none;
  EXPECT_EQ(Frags(s, text, true, &none), (F{{"<e>a<e>b", -1}, {"<u>", 9}, {"<e>", -1}}));
}

}  // namespace
}  // namespace septet::tok
