#include "serve/chat_page.h"

namespace septet::serve {

std::string_view ChatPageHtml() {
  static constexpr std::string_view kPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>septet</title></head>
<body><p>septet chat (placeholder)</p></body></html>
)HTML";
  return kPage;
}

}  // namespace septet::serve
