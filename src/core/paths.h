// Where the shared read-only assets live (../shared beside the checkout).
// SEPTET_SHARED overrides; otherwise <repo root>/../shared, with the repo root
// baked in at build time.
#pragma once

#include <string>

namespace septet {

std::string SharedDir();
// SharedDir() + "/" + rel.
std::string SharedPath(const std::string& rel);

}  // namespace septet
