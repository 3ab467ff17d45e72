// septet serve, from the request parser to the HTTP socket, on stories260K:
//   * the parser accepts OpenAI bodies, names the field at fault otherwise, and
//     survives mutated / random bodies;
//   * the batch engine, with fewer slots than requests (so requests queue, join
//     and leave mid-flight), gives every greedy request exactly the text and
//     tokens runtime::Generate gives it alone;
//   * over HTTP: completions, chat, streaming (the SSE deltas add up to the whole
//     text), concurrent clients, and clear 400 / 404 errors.
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model/llama_context.h"
#include "model/llama_model.h"
#include "runtime/generator.h"
#include "serve/engine.h"
#include "serve/http_server.h"
#include "serve/openai.h"
#include "serve/serve_testing.h"
#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::serve {
namespace {

using nlohmann::json;

// ---- parser ----
TEST(OpenAiParse, ReadsFieldsAndDefaults) {
  auto r = ParseRequest(R"({"model":"m","prompt":"Hi","max_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,
                            "min_p":0.1,"seed":42,"stop":["a","bc"],"stream":true,"n":1,"unknown":{"x":1}})",
                        Endpoint::kCompletions, 99);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt, "Hi");
  EXPECT_EQ(r->params.max_tokens, 7);
  EXPECT_EQ(r->params.sampler.temperature, 0.0f);
  EXPECT_EQ(r->params.sampler.top_p, 0.5f);
  EXPECT_EQ(r->params.sampler.top_k, 3);
  EXPECT_EQ(r->params.sampler.seed, 42u);
  EXPECT_EQ(r->params.stop_strings, (std::vector<std::string>{"a", "bc"}));
  EXPECT_TRUE(r->stream);
  auto d = ParseRequest(R"({"prompt":"Hi"})", Endpoint::kCompletions, 99);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->params.max_tokens, kDefaultMaxTokens);
  EXPECT_EQ(d->params.sampler.seed, 99u);  // no seed: the caller's random one
  EXPECT_FALSE(d->stream);
  auto c = ParseRequest(R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}],
                            "max_completion_tokens":5})",
                        Endpoint::kChatCompletions, 1);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->messages.size(), 2u);
  EXPECT_EQ(c->messages[1].content, "U");
  EXPECT_EQ(c->params.max_tokens, 5);
}

TEST(OpenAiParse, BadFieldsAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "JSON"},
      {"[1]", "object"},
      {R"({})", "'prompt'"},
      {R"({"prompt":5})", "'prompt'"},
      {R"({"prompt":"x","max_tokens":-1})", "'max_tokens'"},
      {R"({"prompt":"x","max_tokens":1.5})", "'max_tokens'"},
      {R"({"prompt":"x","temperature":7})", "'temperature'"},
      {R"({"prompt":"x","temperature":"hot"})", "'temperature'"},
      {R"({"prompt":"x","top_p":0})", "'top_p'"},
      {R"({"prompt":"x","top_k":-2})", "'top_k'"},
      {R"({"prompt":"x","seed":-1})", "'seed'"},
      {R"({"prompt":"x","n":2})", "'n'"},
      {R"({"prompt":"x","stop":[1]})", "'stop'"},
      {R"({"prompt":"x","stop":["a","b","c","d","e"]})", "'stop'"},
      {R"({"prompt":"x","stop":""})", "'stop'"},
      {R"({"prompt":"x","stream":"yes"})", "'stream'"},
      {R"({"prompt":"x","model":3})", "'model'"},
  };
  for (const auto& [body, want] : cases) {
    auto r = ParseRequest(body, Endpoint::kCompletions, 0);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_NE(r.status().message().find(want), std::string::npos) << body << " -> " << r.status().message();
  }
  for (const std::string& body : {std::string(R"({"messages":[]})"), std::string(R"({"messages":[{"role":"bot","content":"x"}]})"),
                                  std::string(R"({"messages":[{"role":"user"}]})"), std::string(R"({"messages":[3]})")}) {
    auto r = ParseRequest(body, Endpoint::kChatCompletions, 0);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find("messages"), std::string::npos) << r.status().message();
  }
}

TEST(OpenAiParse, SurvivesMutatedAndRandomBodies) {
  const std::string base =
      R"({"messages":[{"role":"user","content":"hello"}],"max_tokens":12,"temperature":0.7,"stop":["x"],"stream":false})";
  std::mt19937_64 rng(7);
  int ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string b = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[at] = static_cast<char>(rng() % 256); break;
        case 1: b.erase(at, 1 + rng() % 8); break;
        default: b = b.substr(0, at) + "{}[]\",:0-e9tfn\\"[rng() % 16] + b.substr(at); break;
      }
      if (b.empty()) b.push_back('x');
    }
    auto r = ParseRequest(b, Endpoint::kChatCompletions, 0);
    if (r.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(ok, 0);  // some mutations stay valid: the fuzz reaches past the JSON parser
}

// ---- engine and server over stories260K ----
class ServeTest : public harness::StoriesSuite {
 protected:
  // What runtime::Generate gives for this prompt on a fresh one-sequence context.
  static std::pair<std::string, std::vector<int32_t>> Reference(const std::string& prompt,
                                                                const runtime::GenerationParams& p) {
    auto ctx = model::LlamaContext::Create(*model_, 128, {});
    EXPECT_TRUE(ctx.ok());
    std::vector<int32_t> history;
    std::string text;
    const std::vector<int32_t> ids = tok_->Encode(prompt, true);
    auto r = runtime::Generate(ctx.value().get(), *tok_, ids, &history, p, [&](std::string_view t) {
      text += t;
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return {text, r.ok() ? r->tokens : std::vector<int32_t>{}};
  }

  static runtime::GenerationParams Greedy(int32_t max_tokens) {
    runtime::GenerationParams p;
    p.max_tokens = max_tokens;
    p.sampler.temperature = 0;
    return p;
  }
};

const std::vector<std::string> kPrompts = {"Once upon a time", "The little dog", "Lily and Tom went to the park",
                                           "One day", "The sun was"};

TEST_F(ServeTest, EngineMatchesGenerateForEveryRequestWhileBatching) {
  EngineOptions o;
  o.n_slots = 2;  // 5 requests: some queue and join while others decode
  o.n_ctx = 128;
  auto engine = Engine::Create(*model_, *tok_, o);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  struct Out {
    std::mutex mu;
    std::string text;
    runtime::GenerationStats stats;
    Status status;
    bool done = false;
    std::condition_variable cv;
  };
  std::vector<std::unique_ptr<Out>> outs;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    outs.push_back(std::make_unique<Out>());
    Out* out = outs.back().get();
    Request r;
    r.prompt = tok_->Encode(kPrompts[i], true);
    r.params = Greedy(20 + 7 * static_cast<int32_t>(i));  // different lengths: slots free at different steps
    if (i == 3) r.params.stop_strings = {"."};
    r.on_text = [out](std::string_view t) {
      out->text += t;
      return true;
    };
    r.on_done = [out](const Status& st, const runtime::GenerationStats& s) {
      std::lock_guard<std::mutex> lock(out->mu);
      out->status = st;
      out->stats = s;
      out->done = true;
      out->cv.notify_all();
    };
    ASSERT_TRUE(engine.value()->Submit(std::move(r)).ok());
  }
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    Out& out = *outs[i];
    std::unique_lock<std::mutex> lock(out.mu);
    ASSERT_TRUE(out.cv.wait_for(lock, std::chrono::seconds(60), [&] { return out.done; })) << "request " << i;
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    runtime::GenerationParams p = Greedy(20 + 7 * static_cast<int32_t>(i));
    if (i == 3) p.stop_strings = {"."};
    const auto [ref_text, ref_tokens] = Reference(kPrompts[i], p);
    EXPECT_EQ(out.text, ref_text) << "request " << i;
    EXPECT_EQ(out.stats.tokens, ref_tokens) << "request " << i;
    EXPECT_EQ(out.stats.prompt_tokens, static_cast<int64_t>(tok_->Encode(kPrompts[i], true).size()));
  }
  const Engine::Counters c = engine.value()->counters();
  EXPECT_EQ(c.completed, 5);
  EXPECT_EQ(c.running, 0);
  EXPECT_EQ(c.queued, 0);
  // Batching happened: one request alone needs a step per generated token (its
  // prompt step samples the first), so without batching steps >= the sum of them.
  int64_t generated = 0;
  for (const auto& out : outs) generated += out->stats.generated_tokens;
  EXPECT_LT(c.steps, generated);
}

TEST_F(ServeTest, EngineRefusesBadRequestsAtSubmit) {
  EngineOptions o;
  o.n_slots = 1;
  o.n_ctx = 16;
  auto engine = Engine::Create(*model_, *tok_, o);
  ASSERT_TRUE(engine.ok());
  Request r;
  EXPECT_EQ(engine.value()->Submit(r).code(), StatusCode::kInvalidArgument);  // empty prompt
  r.prompt.assign(16, 1);
  const Status st = engine.value()->Submit(r);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("n_ctx = 16"), std::string::npos) << st.message();
  r.prompt = {1, 100000};
  EXPECT_EQ(engine.value()->Submit(r).code(), StatusCode::kInvalidArgument);
  r.prompt = {1, 5};
  r.params.sampler.top_p = 0;
  EXPECT_EQ(engine.value()->Submit(r).code(), StatusCode::kInvalidArgument);
  o.n_slots = 0;
  EXPECT_FALSE(Engine::Create(*model_, *tok_, o).ok());
}

using harness::LiveServer;

TEST_F(ServeTest, HttpCompletionsStreamingChatAndErrors) {
  LiveServer srv(*model_, *tok_, 3, 96);
  httplib::Client c = srv.Client();
  const auto [ref_text, ref_tokens] = Reference("Once upon a time", Greedy(24));

  // Whole response.
  auto res = c.Post("/v1/completions", R"({"prompt":"Once upon a time","max_tokens":24,"temperature":0})",
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "stories");
  EXPECT_EQ(j["choices"][0]["text"], ref_text);
  EXPECT_EQ(j["choices"][0]["finish_reason"], ref_tokens.size() == 24 ? "length" : "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"].get<int64_t>(), 24);
  EXPECT_EQ(j["usage"]["prompt_tokens"].get<size_t>(), tok_->Encode("Once upon a time", true).size());

  // Streamed: the deltas add up to the same text; [DONE] ends it.
  res = c.Post("/v1/completions", R"({"prompt":"Once upon a time","max_tokens":24,"temperature":0,"stream":true})",
               "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  std::string streamed, finish;
  bool saw_done = false;
  size_t pos = 0;
  while ((pos = res->body.find("data: ", pos)) != std::string::npos) {
    const size_t end = res->body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    const std::string data = res->body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") {
      saw_done = true;
      continue;
    }
    const json chunk = json::parse(data);
    streamed += chunk["choices"][0]["text"].get<std::string>();
    if (!chunk["choices"][0]["finish_reason"].is_null()) finish = chunk["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(saw_done);
  EXPECT_EQ(streamed, ref_text);
  EXPECT_EQ(finish, "length");

  // Chat: rendered in the model's format; an assistant message comes back.
  res = c.Post("/v1/chat/completions",
               R"({"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":8,"temperature":0})",
               "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  j = json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());

  // Errors: JSON bodies with the field named; the server keeps serving.
  res = c.Post("/v1/completions", "{", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(json::parse(res->body)["error"]["message"].get<std::string>().find("JSON"), std::string::npos);
  res = c.Post("/v1/completions", R"({"prompt":"x","temperature":9})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("temperature"), std::string::npos);
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "the dog ran ";
  res = c.Post("/v1/completions", json{{"prompt", long_prompt}}.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("n_ctx = 96"), std::string::npos) << res->body;
  res = c.Get("/v1/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(json::parse(res->body)["error"]["message"].get<std::string>().find("/v1/nothing"), std::string::npos);
  res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["data"][0]["id"], "stories");
  res = c.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["slots"], 3);
}

TEST_F(ServeTest, ConcurrentClientsEachGetTheirOwnText) {
  LiveServer srv(*model_, *tok_, 2, 128);
  std::vector<std::string> got(kPrompts.size());
  std::vector<int> codes(kPrompts.size(), 0);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c = srv.Client();
      const json body = {{"prompt", kPrompts[i]}, {"max_tokens", 16}, {"temperature", 0}, {"stream", i % 2 == 1}};
      auto res = c.Post("/v1/completions", body.dump(), "application/json");
      if (!res) return;
      codes[i] = res->status;
      if (i % 2 == 0) {
        got[i] = json::parse(res->body)["choices"][0]["text"];
        return;
      }
      size_t pos = 0;
      while ((pos = res->body.find("data: {", pos)) != std::string::npos) {
        const size_t end = res->body.find("\n\n", pos);
        got[i] += json::parse(res->body.substr(pos + 6, end - pos - 6))["choices"][0]["text"].get<std::string>();
        pos = end;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    ASSERT_EQ(codes[i], 200) << "client " << i;
    EXPECT_EQ(got[i], Reference(kPrompts[i], Greedy(16)).first) << "client " << i;
  }
}

}  // namespace
}  // namespace septet::serve
