#include "serve/openai.h"

#include <cmath>
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
      if (content == m.end() || !content->is_string()) {
        return InvalidArgument("'%s.content' must be a string", at.c_str());
      }
      r.messages.push_back({role->get<std::string>(), content->get<std::string>()});
    }
  }
  bool seen = false;
  int64_t iv = 0;
  double dv = 0;
  const char* max_field = "max_tokens";
  if (endpoint == Endpoint::kChatCompletions && j.contains("max_completion_tokens")) max_field = "max_completion_tokens";
  SEPTET_RETURN_IF_ERROR(ReadInt(j, max_field, 0, std::numeric_limits<int32_t>::max(), &iv, &seen,
                                 "an integer >= 0"));
  if (seen) r.params.max_tokens = static_cast<int32_t>(iv);
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
  SEPTET_RETURN_IF_ERROR(ReadInt(j, "n", 1, 1, &iv, &seen, "1 (one choice per request)"));
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

nlohmann::json ResponseJson(const ApiRequest& req, const std::string& id, int64_t created, const std::string& text,
                            runtime::FinishReason finish, const Usage& usage) {
  json choice = {{"index", 0}, {"finish_reason", FinishReasonJson(finish)}, {"logprobs", nullptr}};
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
           {{"prompt_tokens", usage.prompt_tokens},
            {"completion_tokens", usage.completion_tokens},
            {"total_tokens", usage.prompt_tokens + usage.completion_tokens}}}};
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

nlohmann::json ErrorJson(const std::string& message, const char* type) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}};
}

}  // namespace septet::serve
