// The chat page served at GET /: one self-contained HTML document (inline CSS
// and JavaScript, no external assets), compiled into the binary.
#pragma once

#include <string_view>

namespace septet::serve {

std::string_view ChatPageHtml();

}  // namespace septet::serve
