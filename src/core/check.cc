#include "core/check.h"

namespace septet::internal {

void CheckFailed(const char* file, int line, const char* cond, const char* msg) {
  std::fprintf(stderr, "septet: CHECK failed at %s:%d: %s%s%s\n", file, line, cond,
               (msg && *msg) ? " -- " : "", msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace septet::internal
