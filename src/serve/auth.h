// API-key checks for `septet serve --api-key / --api-key-file`: clients send
// "Authorization: Bearer <key>" (as the OpenAI clients do).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace septet::serve {

// The key from --api-key or the first line of --api-key-file (trailing
// whitespace / newline removed). Neither: "" (no auth). Both, an unreadable file
// or an empty key: kInvalidArgument naming the flag or file.
Result<std::string> LoadApiKey(const std::string& flag_key, const std::string& key_file);

// Whether an Authorization header value carries exactly `key` as a Bearer token.
// The comparison time does not depend on where the strings first differ.
bool BearerMatches(std::string_view authorization, std::string_view key);

}  // namespace septet::serve
