#include "serve/openai.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace septet::serve {
namespace {

using nlohmann::json;

Status FieldError(const char* field, const char* expected) {
  return InvalidArgument("'%s' must be %s", field, expected);
}

// Reads an optional number field into *out when present (null counts as absent).
Status ReadNumber(const json& j, const char* field, double lo, double hi, bool lo_open, double* out, bool* seen,
                  const char* expected) {
  *seen = false;
  const auto it = j.find(field);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_number()) return FieldError(field, expected);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v > hi || (lo_open ? v <= lo : v < lo)) return FieldError(field, expected);
  *out = v;
  *seen = true;
  return Status::Ok();
}

Status ReadInt(const json& j, const char* field, int64_t lo, int64_t hi, int64_t* out, bool* seen,
               const char* expected) {
  *seen = false;
  const auto it = j.find(field);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_number_integer() && !it->is_number_unsigned()) return FieldError(field, expected);
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return FieldError(field, expected);
    *out = static_cast<int64_t>(u);
  } else {
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) return FieldError(field, expected);
    *out = v;
  }
  *seen = true;
  return Status::Ok();
}

}  // namespace

Result<ApiRequest> ParseRequest(std::string_view body, Endpoint endpoint, uint64_t random_seed) {
  const json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("body is not valid JSON");
  if (!j.is_object()) return InvalidArgument("body must be a JSON object");
  ApiRequest r;
  r.endpoint = endpoint;
  r.params.max_tokens = kDefaultMaxTokens;
  r.params.sampler.seed = random_seed;
  if (const auto it = j.find("model"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return FieldError("model", "a string");
    r.model = it->get<std::string>();
  }
  if (endpoint == Endpoint::kCompletions) {
    const auto it = j.find("prompt");
    if (it == j.end() || !it->is_string()) return FieldError("prompt", "a string");
    r.prompt = it->get<std::string>();
  } else {
    const auto it = j.find("messages");
    if (it == j.end() || !it->is_array() || it->empty()) return FieldError("messages", "a non-empty array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& m = (*it)[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) return InvalidArgument("'%s' must be an object", at.c_str());
      const auto role = m.find("role");
      if (role == m.end() || !role->is_string() ||
          (*role != "system" && *role != "user" && *role != "assistant")) {
        return InvalidArgument("'%s.role' must be \"system\", \"user\" or \"assistant\"", at.c_str());
      }
      const auto content = m.find("content");
      std::string text;
      if (content != m.end() && content->is_string()) {
        text = content->get<std::string>();
      } else if (content != m.end() && content->is_array()) {
        for (size_t k = 0; k < content->size(); ++k) {
          const json& part = (*content)[k];
          const std::string pat = at + ".content[" + std::to_string(k) + "]";
          const auto type = part.is_object() ? part.find("type") : part.end();
          if (!part.is_object() || type == part.end() || !type->is_string()) {
            return InvalidArgument("'%s' must be an object with a string 'type'", pat.c_str());
          }
          if (*type != "text") {
            return InvalidArgument("'%s.type' is \"%s\": only \"text\" parts are supported", pat.c_str(),
                                   type->get<std::string>().c_str());
          }
          const auto t = part.find("text");
          if (t == part.end() || !t->is_string()) return InvalidArgument("'%s.text' must be a string", pat.c_str());
          text += t->get<std::string>();
        }
      } else {
        return InvalidArgument("'%s.content' must be a string or an array of text parts", at.c_str());
      }
      r.messages.push_back({role->get<std::string>(), std::move(text)});
    }
  }
  bool seen = false;
  int64_t iv = 0;
  double dv = 0;
  // Both are read (each must be valid when set); max_completion_tokens wins.
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    if (endpoint == Endpoint::kCompletions && field[4] == 'c') break;
    SEPTET_RETURN_IF_ERROR(ReadInt(j, field, 0, std::numeric_limits<int32_t>::max(), &iv, &seen, "an integer >= 0"));
    if (seen) {
      r.params.max_tokens = static_cast<int32_t>(iv);
      r.max_tokens_given = true;
      r.max_tokens_field = field;
    }
  }
  SEPTET_RETURN_IF_ERROR(ReadNumber(j, "temperature", 0, 2, false, &dv, &seen, "a number in [0, 2]"));
  if (seen) r.params.sampler.temperature = static_cast<float>(dv);
  SEPTET_RETURN_IF_ERROR(ReadNumber(j, "top_p", 0, 1, true, &dv, &seen, "a number in (0, 1]"));
  if (seen) r.params.sampler.top_p = static_cast<float>(dv);
  SEPTET_RETURN_IF_ERROR(ReadNumber(j, "min_p", 0, 1, false, &dv, &seen, "a number in [0, 1]"));
  if (seen) r.params.sampler.min_p = static_cast<float>(dv);
  SEPTET_RETURN_IF_ERROR(ReadNumber(j, "repeat_penalty", 0, 100, true, &dv, &seen, "a number in (0, 100]"));
  if (seen) r.params.sampler.repeat_penalty = static_cast<float>(dv);
  SEPTET_RETURN_IF_ERROR(ReadInt(j, "top_k", 0, std::numeric_limits<int32_t>::max(), &iv, &seen,
                                 "an integer >= 0"));
  if (seen) r.params.sampler.top_k = static_cast<int32_t>(iv);
  SEPTET_RETURN_IF_ERROR(ReadInt(j, "seed", 0, std::numeric_limits<int64_t>::max(), &iv, &seen,
                                 "an integer >= 0"));
  if (seen) r.params.sampler.seed = static_cast<uint64_t>(iv);
  SEPTET_RETURN_IF_ERROR(ReadNumber(j, "frequency_penalty", -2, 2, false, &dv, &seen, "a number in [-2, 2]"));
  if (seen) r.params.sampler.frequency_penalty = static_cast<float>(dv);
  SEPTET_RETURN_IF_ERROR(ReadNumber(j, "presence_penalty", -2, 2, false, &dv, &seen, "a number in [-2, 2]"));
  if (seen) r.params.sampler.presence_penalty = static_cast<float>(dv);
  if (const auto it = j.find("logit_bias"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return FieldError("logit_bias", "an object {\"token id\": bias}");
    for (const auto& [key, value] : it->items()) {
      char* end = nullptr;
      errno = 0;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || errno != 0 || id < 0 || id > std::numeric_limits<int32_t>::max()) {
        return InvalidArgument("'logit_bias' key \"%s\" must be a token id (a non-negative integer)", key.c_str());
      }
      if (!value.is_number() || !(value.get<double>() >= -100 && value.get<double>() <= 100)) {
        return InvalidArgument("'logit_bias[\"%s\"]' must be a number in [-100, 100]", key.c_str());
      }
      r.params.sampler.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
    }
  }
  SEPTET_RETURN_IF_ERROR(ReadInt(j, "n", 1, 1, &iv, &seen, "1 (one choice per request)"));
  SEPTET_RETURN_IF_ERROR(ReadInt(j, "best_of", 1, 1, &iv, &seen, "1 (one choice per request)"));
  if (endpoint == Endpoint::kChatCompletions) {
    if (const auto it = j.find("logprobs"); it != j.end() && !it->is_null()) {
      if (!it->is_boolean()) return FieldError("logprobs", "true or false");
      if (it->get<bool>()) r.params.logprobs = 0;
    }
    SEPTET_RETURN_IF_ERROR(ReadInt(j, "top_logprobs", 0, 20, &iv, &seen, "an integer in [0, 20]"));
    if (seen) {
      if (r.params.logprobs < 0) return FieldError("top_logprobs", "used with \"logprobs\": true");
      r.params.logprobs = static_cast<int32_t>(iv);
    }
  } else {
    SEPTET_RETURN_IF_ERROR(ReadInt(j, "logprobs", 0, 20, &iv, &seen, "an integer in [0, 20]"));
    if (seen) r.params.logprobs = static_cast<int32_t>(iv);
    if (const auto it = j.find("echo"); it != j.end() && !it->is_null() && *it != false) {
      return FieldError("echo", "false (echoing the prompt is not supported)");
    }
    if (const auto it = j.find("suffix"); it != j.end() && !it->is_null() && *it != "") {
      return FieldError("suffix", "null or \"\" (insertion is not supported)");
    }
  }
  // Meaningful fields this server does not implement: refused, never ignored.
  for (const char* field : {"tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "audio",
                            "prediction", "web_search_options", "reasoning_effort"}) {
    if (const auto it = j.find(field); it != j.end() && !it->is_null()) {
      return InvalidArgument("'%s' is not supported by this server", field);
    }
  }
  if (const auto it = j.find("response_format"); it != j.end() && !it->is_null()) {
    if (!it->is_object() || it->value("type", json()) != "text") {
      return FieldError("response_format", "{\"type\": \"text\"} (structured output is not supported)");
    }
  }
  if (const auto it = j.find("modalities"); it != j.end() && !it->is_null()) {
    if (*it != json::array({"text"})) return FieldError("modalities", "[\"text\"]");
  }
  if (const auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      r.params.stop_strings.push_back(it->get<std::string>());
    } else if (it->is_array() && it->size() <= 4) {
      for (const json& s : *it) {
        if (!s.is_string()) return FieldError("stop", "a string or an array of up to 4 strings");
        r.params.stop_strings.push_back(s.get<std::string>());
      }
    } else {
      return FieldError("stop", "a string or an array of up to 4 strings");
    }
    for (const std::string& s : r.params.stop_strings) {
      if (s.empty()) return FieldError("stop", "non-empty strings");
    }
  }
  if (const auto it = j.find("stream"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return FieldError("stream", "true or false");
    r.stream = it->get<bool>();
  }
  if (const auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return FieldError("stream_options", "an object");
    if (!r.stream) return FieldError("stream_options", "used with \"stream\": true");
    if (const auto u = it->find("include_usage"); u != it->end() && !u->is_null()) {
      if (!u->is_boolean()) return FieldError("stream_options.include_usage", "true or false");
      r.include_usage = u->get<bool>();
    }
  }
  if (r.stream && r.params.logprobs >= 0) {
    return FieldError("logprobs", "off when streaming (logprobs are returned with \"stream\": false)");
  }
  return r;
}

const char* FinishReasonJson(runtime::FinishReason r) {
  switch (r) {
    case runtime::FinishReason::kMaxTokens:
    case runtime::FinishReason::kContextFull:
      return "length";
    case runtime::FinishReason::kEos:
    case runtime::FinishReason::kStopString:
    case runtime::FinishReason::kCancelled:
      return "stop";
  }
  return "stop";
}

namespace {

nlohmann::json UsageJson(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

}  // namespace

nlohmann::json ResponseJson(const ApiRequest& req, const std::string& id, int64_t created, const std::string& text,
                            runtime::FinishReason finish, const Usage& usage, const nlohmann::json& logprobs) {
  json choice = {{"index", 0}, {"finish_reason", FinishReasonJson(finish)}, {"logprobs", logprobs}};
  const bool chat = req.endpoint == Endpoint::kChatCompletions;
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  return {{"id", id},
          {"object", chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", req.model},
          {"choices", json::array({choice})},
          {"usage",
UsageJson(usage)}};
}

nlohmann::json ChunkJson(const ApiRequest& req, const std::string& id, int64_t created, const std::string& text,
                         const runtime::FinishReason* finish, bool first) {
  const bool chat = req.endpoint == Endpoint::kChatCompletions;
  json choice = {{"index", 0}, {"finish_reason", finish ? json(FinishReasonJson(*finish)) : json(nullptr)}};
  if (chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty()) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  return {{"id", id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", req.model},
          {"choices", json::array({choice})}};
}

nlohmann::json LogprobsJson(const ApiRequest& req, const std::vector<runtime::TokenLogprob>& lp, int32_t prev,
                            const std::function<std::string(int32_t id, int32_t prev)>& token_text) {
  // Token text as JSON can carry: a piece that is part of a UTF-8 character is
  // not valid UTF-8 on its own, so text is decoded leniently (U+FFFD) and the
  // exact bytes are in "bytes".
  const auto lenient = [](const std::string& s) {
    return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
  };
  const auto bytes_of = [](const std::string& s) {
    json b = json::array();
    for (const unsigned char c : s) b.push_back(static_cast<int>(c));
    return b;
  };
  const bool chat = req.endpoint == Endpoint::kChatCompletions;
  json content = json::array();
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(), offsets = json::array();
  size_t offset = 0;
  for (const runtime::TokenLogprob& t : lp) {
    const std::string text = token_text(t.id, prev);
    if (chat) {
      json top = json::array();
      for (const auto& [id, l] : t.top) {
        const std::string alt = token_text(id, prev);
        top.push_back({{"token", lenient(alt)}, {"logprob", l}, {"bytes", bytes_of(alt)}});
      }
      content.push_back(
          {{"token", lenient(text)}, {"logprob", t.logprob}, {"bytes", bytes_of(text)}, {"top_logprobs", top}});
    } else {
      tokens.push_back(lenient(text));
      token_logprobs.push_back(t.logprob);
      json top = json::object();
      for (const auto& [id, l] : t.top) top[lenient(token_text(id, prev))] = l;
      top_logprobs.push_back(top);
      offsets.push_back(offset);
      offset += text.size();
    }
    prev = t.id;
  }
  if (chat) return {{"content", content}, {"refusal", nullptr}};
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}, {"text_offset", offsets}};
}

nlohmann::json UsageChunkJson(const ApiRequest& req, const std::string& id, int64_t created, const Usage& usage) {
  const bool chat = req.endpoint == Endpoint::kChatCompletions;
  return {{"id", id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", req.model},
          {"choices", json::array()},
          {"usage",
UsageJson(usage)}};
}

nlohmann::json ErrorJson(const std::string& message, const char* type, const char* code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code ? json(code) : json()}}}};
}

}  // namespace septet::serve
