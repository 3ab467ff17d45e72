// OpenAI compatibility and observability of `septet serve` (stories260K):
//   * the parser: content parts, logprobs, penalties, logit_bias, stream_options,
//     and unimplemented fields refused by name;
//   * over HTTP: logprobs in both endpoint shapes (and consistent with the
//     greedy choice), logit_bias and presence penalties change the text,
//     include_usage, /v1/models created, /tokenize, /detokenize and /metrics.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "model/llama_model.h"
#include "serve/openai.h"
#include "serve/serve_testing.h"
#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::serve {
namespace {

using harness::LiveServer;
using nlohmann::json;

TEST(OpenAiFields, ContentPartsAreJoinedOtherPartsRefused) {
  auto r = ParseRequest(R"({"messages":[{"role":"user","content":[{"type":"text","text":"Hello, "},
                                                                  {"type":"text","text":"world"}]}]})",
                        Endpoint::kChatCompletions, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->messages[0].content, "Hello, world");
  auto bad = ParseRequest(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})",
                          Endpoint::kChatCompletions, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("image_url"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("messages[0].content[0]"), std::string::npos) << bad.status().message();
}

TEST(OpenAiFields, SamplingFieldsAndRefusals) {
  auto r = ParseRequest(R"({"prompt":"x","frequency_penalty":0.5,"presence_penalty":-1,"logit_bias":{"7":-100,"3":2.5},
                            "logprobs":3,"max_tokens":null})",
                        Endpoint::kCompletions, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->params.sampler.frequency_penalty, 0.5f);
  EXPECT_EQ(r->params.sampler.presence_penalty, -1.0f);
  EXPECT_EQ(r->params.sampler.logit_bias.size(), 2u);
  EXPECT_EQ(r->params.logprobs, 3);
  EXPECT_FALSE(r->max_tokens_given);
  auto c = ParseRequest(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2,
                            "stream":true,"stream_options":{"include_usage":true}})",
                        Endpoint::kChatCompletions, 0);
  ASSERT_FALSE(c.ok());  // logprobs are not streamed
  EXPECT_NE(c.status().message().find("logprobs"), std::string::npos);
  c = ParseRequest(R"({"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}})",
                   Endpoint::kChatCompletions, 0);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->include_usage);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"prompt":"x","logit_bias":{"abc":1}})", "logit_bias"},
      {R"({"prompt":"x","logit_bias":{"1":101}})", "logit_bias"},
      {R"({"prompt":"x","frequency_penalty":3})", "frequency_penalty"},
      {R"({"prompt":"x","presence_penalty":"a"})", "presence_penalty"},
      {R"({"prompt":"x","n":2})", "'n'"},
      {R"({"prompt":"x","best_of":3})", "best_of"},
      {R"({"prompt":"x","echo":true})", "echo"},
      {R"({"prompt":"x","suffix":"end"})", "suffix"},
      {R"({"prompt":"x","logprobs":21})", "logprobs"},
      {R"({"prompt":"x","tools":[{"type":"function"}]})", "tools"},
      {R"({"prompt":"x","response_format":{"type":"json_object"}})", "response_format"},
      {R"({"prompt":"x","stream_options":{"include_usage":true}})", "stream_options"},
  };
  for (const auto& [body, want] : refused) {
    auto e = ParseRequest(body, Endpoint::kCompletions, 0);
    ASSERT_FALSE(e.ok()) << body;
    EXPECT_NE(e.status().message().find(want), std::string::npos) << body << " -> " << e.status().message();
  }
  auto t = ParseRequest(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", Endpoint::kChatCompletions, 0);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("top_logprobs"), std::string::npos);
}

class ServeOpenAiTest : public harness::StoriesSuite {};

json PostJson(httplib::Client& c, const std::string& path, const json& body, int want = 200) {
  auto res = c.Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return json();
  EXPECT_EQ(res->status, want) << res->body;
  return json::parse(res->body, nullptr, false);
}

TEST_F(ServeOpenAiTest, LogprobsInBothShapesAgreeWithTheGreedyChoice) {
  LiveServer srv(*model_, *tok_, 2, 128);
  httplib::Client c = srv.Client();
  json j = PostJson(c, "/v1/completions",
                    {{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"temperature", 0}, {"logprobs", 3}});
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 6u) << lp;
  std::string joined;
  double prev_offset = -1;
  for (size_t i = 0; i < 6; ++i) {
    joined += lp["tokens"][i].get<std::string>();
    const double l = lp["token_logprobs"][i];
    EXPECT_LE(l, 0.0);
    ASSERT_EQ(lp["top_logprobs"][i].size(), 3u);
    // Greedy: the chosen token is the most likely one, so its logprob is the top one.
    double best = -INFINITY;
    for (const auto& [tok, v] : lp["top_logprobs"][i].items()) best = std::max(best, v.get<double>());
    EXPECT_NEAR(l, best, 1e-6);
    EXPECT_GT(lp["text_offset"][i].get<double>(), prev_offset);
    prev_offset = lp["text_offset"][i];
  }
  EXPECT_EQ(joined, j["choices"][0]["text"].get<std::string>());

  j = PostJson(c, "/v1/chat/completions",
               {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4}, {"temperature", 0},
                {"logprobs", true}, {"top_logprobs", 2}});
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 4u) << j;
  for (const json& t : content) {
    EXPECT_TRUE(t["token"].is_string());
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    EXPECT_TRUE(t["bytes"].is_array());
    ASSERT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_NEAR(t["top_logprobs"][0]["logprob"].get<double>(), t["logprob"].get<double>(), 1e-6);
  }
  // Without the flag: null, as OpenAI sends.
  j = PostJson(c, "/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}});
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
}

TEST_F(ServeOpenAiTest, LogitBiasAndPenaltiesChangeTheText) {
  LiveServer srv(*model_, *tok_, 1, 128);
  httplib::Client c = srv.Client();
  const json base = {{"prompt", "Once upon a time"}, {"max_tokens", 24}, {"temperature", 0}};
  // Ban the first greedy token: the text must start differently.
  json one = base;
  one["max_tokens"] = 1;
  const std::string first_piece = PostJson(c, "/v1/completions", one)["choices"][0]["text"];
  const std::vector<int32_t> prompt_ids = tok_->Encode("Once upon a time", true);
  const std::vector<int32_t> ids = tok_->Encode("Once upon a time" + first_piece, true);
  ASSERT_EQ(ids.size(), prompt_ids.size() + 1) << "'" << first_piece << "' is not one token after the prompt";
  const int32_t banned = ids.back();
  json b = base;
  b["logit_bias"] = {{std::to_string(banned), -100}};
  const std::string biased = PostJson(c, "/v1/completions", b)["choices"][0]["text"];
  EXPECT_NE(biased.substr(0, first_piece.size()), first_piece) << biased;
  // Penalties over 64 tokens: positive ones steer away from the greedy text's
  // repeats ("She", "play"), negative ones into a loop.
  json p = base;
  p["max_tokens"] = 64;
  const std::string greedy64 = PostJson(c, "/v1/completions", p)["choices"][0]["text"];
  p["presence_penalty"] = 2.0;
  p["frequency_penalty"] = 2.0;
  const std::string away = PostJson(c, "/v1/completions", p)["choices"][0]["text"];
  EXPECT_NE(away, greedy64);
  p["presence_penalty"] = -2.0;
  p["frequency_penalty"] = -2.0;
  const std::string loop = PostJson(c, "/v1/completions", p)["choices"][0]["text"];
  EXPECT_NE(loop, greedy64);
  EXPECT_NE(loop.find("always always always"), std::string::npos) << loop;
  // A seed reproduces sampled text.
  json s = {{"prompt", "Once upon a time"}, {"max_tokens", 24}, {"temperature", 1.0}, {"seed", 1234}};
  EXPECT_EQ(PostJson(c, "/v1/completions", s)["choices"][0]["text"], PostJson(c, "/v1/completions", s)["choices"][0]["text"]);
  // An id outside the vocabulary is refused, naming it.
  b["logit_bias"] = {{"999999", 1}};
  const json e = PostJson(c, "/v1/completions", b, 400);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("999999"), std::string::npos);
}

TEST_F(ServeOpenAiTest, StreamIncludeUsageModelsTokenizeMetrics) {
  ServerOptions so;
  so.model_created = 1700000000;
  LiveServer srv(*model_, *tok_, LiveServer::Options(1, 128), so);
  httplib::Client c = srv.Client();
  auto res = c.Post("/v1/chat/completions",
                    json{{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi"}}}}}}},
                         {"max_tokens", 5},
                         {"stream", true},
                         {"stream_options", {{"include_usage", true}}}}
                        .dump(),
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  // The last data chunk before [DONE] carries usage and no choices.
  const size_t done = res->body.rfind("data: [DONE]");
  ASSERT_NE(done, std::string::npos);
  const size_t last = res->body.rfind("data: {", done);
  const json usage_chunk = json::parse(res->body.substr(last + 6, done - last - 6));
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_GT(usage_chunk["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(usage_chunk["usage"]["completion_tokens"].get<int>(), 5);

  res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["data"][0]["created"], 1700000000);

  res = c.Post("/tokenize", R"({"content":"Once upon a time","with_pieces":true})", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json toks = json::parse(res->body)["tokens"];
  std::vector<int32_t> ids;
  for (const json& t : toks) ids.push_back(t["id"]);
  EXPECT_EQ(ids, tok_->Encode("Once upon a time", false));
  res = c.Post("/detokenize", json{{"tokens", ids}}.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["content"], tok_->Decode(ids));
  res = c.Post("/detokenize", R"({"tokens":[1,-4]})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("tokens[1]"), std::string::npos);
  res = c.Post("/tokenize", R"({"text":"x"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("content"), std::string::npos);

  // A response is counted by the server's logger, which runs after the response
  // has been written: the client can see the last 400 before it is counted.
  std::string m;
  LiveServer::WaitFor([&] {
    auto r = c.Get("/metrics");
    m = r ? r->body : std::string();
    return m.find("septet_requests_total{status=\"400\"} 2") != std::string::npos;
  });
  EXPECT_NE(m.find("septet_requests_total{status=\"200\"} "), std::string::npos) << m;
  EXPECT_NE(m.find("septet_requests_total{status=\"400\"} 2"), std::string::npos) << m;
  EXPECT_NE(m.find("septet_generated_tokens_total "), std::string::npos);
  EXPECT_NE(m.find("septet_queue_depth 0"), std::string::npos);
  EXPECT_NE(m.find("septet_client_disconnects_total 0"), std::string::npos);
  EXPECT_NE(m.find("septet_slots_busy 0"), std::string::npos);
  EXPECT_NE(m.find("septet_time_to_first_token_seconds_count 1"), std::string::npos) << m;
  EXPECT_NE(m.find("septet_inter_token_seconds_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_NE(m.find("# TYPE septet_time_to_first_token_seconds histogram"), std::string::npos);
}

}  // namespace
}  // namespace septet::serve
