// Always-on invariant checks. SEPTET_CHECK aborts with file:line and a message;
// SEPTET_DCHECK is on in Debug and sanitizer builds (NDEBUG unset) and compiles
// away in Release. Kernels never throw; recoverable errors use Status.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace septet::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const char* msg);
}  // namespace septet::internal

#define SEPTET_CHECK_MSG(cond, msg)                                              \
  do {                                                                           \
    if (__builtin_expect(!(cond), 0))                                            \
      ::septet::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg));         \
  } while (0)
#define SEPTET_CHECK(cond) SEPTET_CHECK_MSG(cond, "")

#ifdef NDEBUG
#define SEPTET_DCHECK(cond) \
  do {                      \
    (void)sizeof(cond);     \
  } while (0)
#else
#define SEPTET_DCHECK(cond) SEPTET_CHECK(cond)
#endif
