#include "runtime/stop_matcher.h"

#include <gtest/gtest.h>

namespace septet::runtime {
namespace {

TEST(StopMatcherTest, StopSplitAcrossPiecesIsNeverEmitted) {
  StopMatcher m({"\nUser:"});
  bool stopped = false;
  EXPECT_EQ(m.Push("Hello", &stopped), "Hello");
  EXPECT_EQ(m.Push(" there\nU", &stopped), " there");  // "\nU" might start the stop
  EXPECT_FALSE(stopped);
  EXPECT_EQ(m.Push("se", &stopped), "");
  EXPECT_EQ(m.Push("r: next", &stopped), "");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcherTest, FalseStartIsReleased) {
  StopMatcher m({"\nUser:"});
  bool stopped = false;
  EXPECT_EQ(m.Push("a\nUs", &stopped), "a");
  EXPECT_EQ(m.Push("ually", &stopped), "\nUsually");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(m.Push("\n", &stopped), "");
  EXPECT_EQ(m.Flush(), "\n");
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  StopMatcher m({"END", "ND"});
  bool stopped = false;
  EXPECT_EQ(m.Push("abcEND", &stopped), "abc");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcherTest, NoStopsPassesThrough) {
  StopMatcher m({});
  bool stopped = true;
  EXPECT_EQ(m.Push("anything", &stopped), "anything");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(m.Flush(), "");
}

}  // namespace
}  // namespace septet::runtime
