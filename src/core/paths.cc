#include "core/paths.h"

#include <cstdlib>

#ifndef SEPTET_SOURCE_DIR
#define SEPTET_SOURCE_DIR "."
#endif

namespace septet {

std::string SharedDir() {
  if (const char* env = std::getenv("SEPTET_SHARED"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(SEPTET_SOURCE_DIR) + "/../shared";
}

std::string SharedPath(const std::string& rel) { return SharedDir() + "/" + rel; }

}  // namespace septet
