// The OpenAI-compatible request and response bodies `septet serve` speaks
// (POST /v1/completions and /v1/chat/completions), as pure functions: parsing
// validates every field it reads and names the field at fault; the builders
// produce the JSON objects (whole responses and streamed chunks).
//
// Request fields read (null counts as absent):
//   model           string (echoed back)
//   prompt          string (completions): plain text. Special-token text in it
//                   ("</s>", "<|im_end|>") is NOT parsed as special tokens, so a
//                   prompt cannot smuggle control tokens; BOS is added.
//   messages        [{role: system|user|assistant, content}] (chat); content is a
//                   string or an array of {type: "text", text} parts (joined);
//                   any other part type is refused naming it
//   max_tokens      integer >= 0 (chat: max_completion_tokens wins when both are
//                   set); default 256 (capped by the context, finish "length")
//   temperature     [0, 2]   top_p (0, 1]   top_k integer >= 0   min_p [0, 1]
//   repeat_penalty  > 0      seed integer >= 0
//   frequency_penalty, presence_penalty  [-2, 2] (over the generated tokens)
//   logit_bias      {"token id": bias in [-100, 100]}
//   stop            string or array of up to 4 strings (never emitted)
//   stream          bool     stream_options {include_usage: bool}
//   n               1        best_of 1   echo false   suffix null/""
//   logprobs        chat: bool, with top_logprobs 0..20; completions: 0..20
// Fields that change what a request means but are not implemented (tools,
// functions, response_format other than text, n > 1, audio, ...) are refused
// with kInvalidArgument naming them; others (user, metadata, store...) are ignored.
// Sampling defaults are the engine's (runtime/sampler.h); a missing seed draws one.
#pragma once

#include <cstdint>
#include <functional>
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
  runtime::GenerationParams params;  // params.logprobs >= 0 when logprobs were asked for
  bool max_tokens_given = false;      // max_tokens (or max_completion_tokens) was in the body
  const char* max_tokens_field = "max_tokens";  // the one that set params.max_tokens
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
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
  int64_t cached_tokens = 0;  // prompt tokens found in a slot's cache (prompt_tokens_details.cached_tokens)
};

// A whole response: text_completion or chat.completion. `logprobs` (when the
// request asked, else null) comes from LogprobsJson.
nlohmann::json ResponseJson(const ApiRequest& req, const std::string& id, int64_t created, const std::string& text,
                            runtime::FinishReason finish, const Usage& usage,
                            const nlohmann::json& logprobs = nullptr);
// The choice's "logprobs" in the endpoint's shape: chat {content: [{token,
// logprob, bytes, top_logprobs: [...]}]}; completions {tokens, token_logprobs,
// top_logprobs: [{token: logprob}], text_offset}. token_text(id, prev) gives a
// token's text after token `prev`; `prev` of the first is the prompt's last token.
nlohmann::json LogprobsJson(const ApiRequest& req, const std::vector<runtime::TokenLogprob>& lp, int32_t prev,
                            const std::function<std::string(int32_t id, int32_t prev)>& token_text);
// The final usage chunk of a stream (stream_options.include_usage): no choices.
nlohmann::json UsageChunkJson(const ApiRequest& req, const std::string& id, int64_t created, const Usage& usage);
// One streamed chunk: text_completion or chat.completion.chunk. `text` is the
// delta; finish (when set) closes the choice. Chat's first chunk carries the role.
nlohmann::json ChunkJson(const ApiRequest& req, const std::string& id, int64_t created, const std::string& text,
                         const runtime::FinishReason* finish, bool first);

// {"error": {"message", "type", "code"}} as OpenAI returns it.
// code: OpenAI's error code string ("invalid_api_key") or null.
nlohmann::json ErrorJson(const std::string& message, const char* type, const char* code = nullptr);

}  // namespace septet::serve
