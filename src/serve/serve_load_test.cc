// A few seconds of mixed traffic against one server (stories260K, 4 slots): many
// concurrent clients sending well-formed requests (whole and streamed), malformed
// JSON, oversized bodies, requests without the key, and clients that hang up
// mid-request. Every well-formed request must get exactly its greedy text, every
// bad one its 4xx, and the server must end idle and healthy.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model/llama_model.h"
#include "serve/serve_testing.h"
#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::serve {
namespace {

using harness::LiveServer;
using harness::PostHead;
using harness::RawClient;
using nlohmann::json;

constexpr char kKey[] = "sk-load";

TEST(ServeLoadTest, MixedTrafficEveryWellFormedRequestAnsweredCorrectly) {
  auto m = model::LlamaModel::Load(testing::SharedFile("models/stories260K/stories260K.bin"), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto tok = LoadTokenizer((*m)->file());
  ASSERT_TRUE(tok.ok());
  EngineOptions o = LiveServer::Options(4, 256);
  o.max_queue = 256;
  ServerOptions so;
  so.api_key = kKey;
  so.max_body_bytes = 32 << 10;
  so.access_log = false;
  LiveServer srv(**m, **tok, o, so);
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kKey}};

  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "One day", "The sun was", "Lily"};
  std::map<std::string, std::string> expected;
  for (const std::string& p : prompts) {
    httplib::Client c = srv.Client();
    auto res = c.Post("/v1/completions", auth, json{{"prompt", p}, {"max_tokens", 20}, {"temperature", 0}}.dump(),
                      "application/json");
    ASSERT_TRUE(res && res->status == 200);
    expected[p] = json::parse(res->body)["choices"][0]["text"];
  }

  std::atomic<int64_t> good{0}, bad{0}, hung_up{0}, failures{0};
  std::mutex fail_mu;
  std::string first_failure;
  const auto fail = [&](const std::string& what) {
    ++failures;
    std::lock_guard<std::mutex> lock(fail_mu);
    if (first_failure.empty()) first_failure = what;
  };
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::vector<std::thread> clients;
  for (int t = 0; t < 12; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(testing::TestSeed() + t));
      while (std::chrono::steady_clock::now() < end) {
        const std::string& p = prompts[rng() % prompts.size()];
        httplib::Client c = srv.Client();
        switch (rng() % 7) {
          case 0:
          case 1: {  // whole response
            auto res = c.Post("/v1/completions", auth,
                              json{{"prompt", p}, {"max_tokens", 20}, {"temperature", 0}}.dump(), "application/json");
            if (!res || res->status != 200) {
              fail("completion: " + (res ? std::to_string(res->status) + " " + res->body : "no response"));
            } else if (json::parse(res->body)["choices"][0]["text"] != expected[p]) {
              fail("completion text differs for '" + p + "'");
            } else {
              ++good;
            }
            break;
          }
          case 2: {  // streamed
            auto res = c.Post("/v1/completions", auth,
                              json{{"prompt", p}, {"max_tokens", 20}, {"temperature", 0}, {"stream", true}}.dump(),
                              "application/json");
            std::string text;
            size_t pos = 0;
            while (res && (pos = res->body.find("data: {", pos)) != std::string::npos) {
              const size_t e = res->body.find("\n\n", pos);
              text += json::parse(res->body.substr(pos + 6, e - pos - 6))["choices"][0]["text"].get<std::string>();
              pos = e;
            }
            if (!res || res->status != 200 || text != expected[p] ||
                res->body.find("data: [DONE]") == std::string::npos) {
              fail("stream for '" + p + "'");
            } else {
              ++good;
            }
            break;
          }
          case 3: {  // malformed
            auto res = c.Post("/v1/chat/completions", auth, R"({"messages":[{"role":"user","content":)",
                              "application/json");
            res && res->status == 400 ? ++bad : (fail("malformed not 400"), 0);
            break;
          }
          case 4: {  // oversized
            auto res = c.Post("/v1/completions", auth, json{{"prompt", std::string(64 << 10, 'x')}}.dump(),
                              "application/json");
            res && res->status == 413 ? ++bad : (fail("oversized not 413"), 0);
            break;
          }
          case 5: {  // no key
            auto res = c.Post("/v1/completions", json{{"prompt", p}}.dump(), "application/json");
            res && res->status == 401 ? ++bad : (fail("unauthorized not 401"), 0);
            break;
          }
          default: {  // hang up mid-request (sometimes mid-stream)
            RawClient raw(srv.port());
            const std::string body =
                json{{"prompt", p}, {"max_tokens", 200}, {"stream", rng() % 2 == 0}}.dump();
            raw.Send(PostHead("/v1/completions", "Authorization: Bearer " + std::string(kKey) + "\r\n" +
                                                     "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n") +
                     body.substr(0, rng() % 2 == 0 ? body.size() : body.size() / 2));
            if (rng() % 2 == 0) raw.ReadUntil("data:", 0.05);
            raw.Close();
            ++hung_up;
          }
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failures, 0) << first_failure;
  EXPECT_GT(good, 10);
  EXPECT_GT(bad, 10);
  EXPECT_GT(hung_up, 0);
  std::printf("load: %lld well-formed ok, %lld refused as expected, %lld hung up\n", static_cast<long long>(good.load()),
              static_cast<long long>(bad.load()), static_cast<long long>(hung_up.load()));
  // Idle and healthy afterwards.
  EXPECT_TRUE(LiveServer::WaitFor([&] {
    const Engine::Counters c = srv.engine().counters();
    return c.running == 0 && c.queued == 0;
  }));
  auto health = srv.Client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace septet::serve
