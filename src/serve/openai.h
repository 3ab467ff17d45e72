// The OpenAI-compatible request and response bodies `septet serve` speaks
// (POST /v1/completions and /v1/chat/completions), as pure functions: parsing
// validates every field it reads and names the field at fault; the builders
// produce the JSON objects (whole responses and streamed chunks).
//
// Request fields read (others are ignored, as OpenAI clients send many):
//   model           string (echoed back)           prompt    string (completions)
//   messages        [{role: system|user|assistant, content: string}] (chat)
//   max_tokens      integer >= 0 (chat also max_completion_tokens); default 256
//   temperature     number in [0, 2]   top_p  (0, 1]   top_k  integer >= 0
//   min_p           [0, 1]             repeat_penalty  > 0   seed  integer >= 0
//   stop            string or array of up to 4 strings (never emitted)
//   stream          bool               n      1 if given
// Sampling defaults are the engine's (runtime/sampler.h); a missing seed draws one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"

namespace septet::serve {

enum class Endpoint { kCompletions, kChatCompletions };

struct ApiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::string prompt;                           // completions
  std::vector<runtime::ChatMessage> messages;   // chat
  runtime::GenerationParams params;
  bool stream = false;
};

inline constexpr int32_t kDefaultMaxTokens = 256;

// kInvalidArgument with a message naming the field ("'temperature' must be a
// number in [0, 2]") or the JSON error ("body is not valid JSON: ...").
// `random_seed` is used when the request has no seed.
Result<ApiRequest> ParseRequest(std::string_view body, Endpoint endpoint, uint64_t random_seed);

// "stop" (EOS or a stop string), "length" (max_tokens or the context), or "stop"
// for a cancelled run.
const char* FinishReasonJson(runtime::FinishReason r);

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// A whole response: text_completion or chat.completion.
nlohmann::json ResponseJson(const ApiRequest& req, const std::string& id, int64_t created, const std::string& text,
                            runtime::FinishReason finish, const Usage& usage);
// One streamed chunk: text_completion or chat.completion.chunk. `text` is the
// delta; finish (when set) closes the choice. Chat's first chunk carries the role.
nlohmann::json ChunkJson(const ApiRequest& req, const std::string& id, int64_t created, const std::string& text,
                         const runtime::FinishReason* finish, bool first);

// {"error": {"message", "type", "code"}} as OpenAI returns it.
nlohmann::json ErrorJson(const std::string& message, const char* type);

}  // namespace septet::serve
