#include "tokenizer/tokenizer.h"

namespace septet {

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  int32_t prev = -1;
  for (const int32_t id : ids) {
    out += TokenBytes(id, prev);
    prev = id;
  }
  return out;
}

}  // namespace septet
