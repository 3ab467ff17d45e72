// Holds back streamed text that might be the start of a stop string, so a stop
// string never reaches the output, even when it arrives split across tokens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace septet::runtime {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Appends text; returns what is now safe to emit. Sets *stopped when a stop
  // string completed (the returned text is everything before it; later calls
  // must not be made).
  std::string Push(std::string_view text, bool* stopped);
  // The held-back remainder (at the end of generation).
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace septet::runtime
