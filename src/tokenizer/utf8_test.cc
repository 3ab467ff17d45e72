#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::tok {
namespace {

const std::string kFffd(kReplacementChar);

std::string StreamAll(const std::vector<std::string>& chunks) {
  Utf8Streamer s;
  std::string out;
  for (const auto& c : chunks) out += s.Push(c);
  return out + s.Flush();
}

TEST(Utf8Streamer, EverySplitOfValidText) {
  const std::string text =
      "a\xC3\xA9"
      "b\xE2\x82\xAC\xF0\x9F\xA6\x99 \xE4\xBD\xA0\xE5\xA5\xBD!";
  // Every way of cutting it into two and three chunks gives back the text, and no
  // chunk of output ever ends inside a character.
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); ++j) {
      Utf8Streamer s;
      std::string out;
      for (const auto& chunk : {text.substr(0, i), text.substr(i, j - i), text.substr(j)}) {
        const std::string piece = s.Push(chunk);
        EXPECT_TRUE(IsValidUtf8(piece)) << i << "," << j;
        out += piece;
      }
      out += s.Flush();
      EXPECT_EQ(out, text) << i << "," << j;
    }
  }
  // Byte by byte.
  std::vector<std::string> bytes;
  for (const char c : text) bytes.emplace_back(1, c);
  EXPECT_EQ(StreamAll(bytes), text);
}

TEST(Utf8Streamer, HoldsIncompleteCharacter) {
  Utf8Streamer s;
  EXPECT_EQ(s.Push("x\xF0\x9F"), "x");
  EXPECT_EQ(s.Push("\xA6"), "");
  EXPECT_EQ(s.Push("\x99y"), "\xF0\x9F\xA6\x99y");
  EXPECT_EQ(s.Flush(), "");
  EXPECT_EQ(s.Push("\xE2\x82"), "");
  EXPECT_EQ(s.Flush(), kFffd);  // cut off at the end: one replacement
  EXPECT_EQ(s.Flush(), "");
}

TEST(Utf8Streamer, InvalidBytesBecomeReplacementCharacters) {
  // Maximal-subpart replacement (Unicode 15 §3.9, table 3-8 examples).
  EXPECT_EQ(StreamAll({"\x80"}), kFffd);
  EXPECT_EQ(StreamAll({"\xFF"
                       "a"}),
            kFffd + "a");
  EXPECT_EQ(StreamAll({"\xC0\xAF"}), kFffd + kFffd);                          // overlong lead C0
  EXPECT_EQ(StreamAll({"\xE0\x80\x80"}), kFffd + kFffd + kFffd);              // E0 80: not a valid prefix
  EXPECT_EQ(StreamAll({"\xED\xA0\x80"}), kFffd + kFffd + kFffd);              // surrogate
  EXPECT_EQ(StreamAll({"\xF4\x90\x80\x80"}), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
  EXPECT_EQ(StreamAll({"\xE2\x82(", "x"}), kFffd + "(x");  // truncated sequence, then ASCII
  EXPECT_EQ(StreamAll({"\xF0\x9F\xA6", "a"}), kFffd + "a");
  EXPECT_EQ(StreamAll({"\xC3", "\xC3\xA9"}), kFffd + "\xC3\xA9");
  // Split points do not change the result for invalid input either.
  const std::string bad =
      "a\xE2\x82"
      "b\xFF\xF0\x9F\xA6\x99\xED\xA0\x80\xC3";
  const std::string want = StreamAll({bad});
  EXPECT_EQ(want, "a" + kFffd + "b" + kFffd + "\xF0\x9F\xA6\x99" + kFffd + kFffd + kFffd + kFffd);
  for (size_t i = 0; i <= bad.size(); ++i) {
    for (size_t j = i; j <= bad.size(); ++j) {
      EXPECT_EQ(StreamAll({bad.substr(0, i), bad.substr(i, j - i), bad.substr(j)}), want) << i << "," << j;
    }
  }
}

TEST(Utf8Streamer, RandomBytesAlwaysGiveValidUtf8) {
  auto rng = septet::testing::MakeRng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(rng() % 24, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : rng() % 256);
    Utf8Streamer st;
    std::string out;
    for (size_t i = 0; i < s.size();) {
      const size_t n = 1 + rng() % 4;
      out += st.Push(s.substr(i, n));
      i += n;
    }
    out += st.Flush();
    EXPECT_TRUE(IsValidUtf8(out));
    if (IsValidUtf8(s)) {
      EXPECT_EQ(out, s);
    }
  }
}

TEST(Utf8, Helpers) {
  EXPECT_EQ(Utf8CharLenAt("\xE2\x82\xAC", 0), 3);
  EXPECT_EQ(Utf8CharLenAt("\xE2\x82", 0), -1);
  EXPECT_EQ(Utf8CharLenAt("\xE2(", 0), 0);
  EXPECT_EQ(Utf8StepAt("\xE2(", 0), 1u);
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  std::string s;
  for (const uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F999u}) AppendUtf8(cp, &s);
  EXPECT_EQ(s, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\xA6\x99");
  EXPECT_EQ(DecodeUtf8At(s, 6, 4), 0x1F999u);
}

}  // namespace
}  // namespace septet::tok
