// The batch engine's scheduling on stories260K, always against runtime::Generate
// run alone on a fresh one-sequence context (one thread) with the same settings:
//   * chunked prefill: a prompt several chunks long is evaluated piece by piece
//     while another request keeps decoding a token every step, and both give
//     exactly the reference tokens (the engine runs 3 threads: thread count and
//     batch composition must not change a bit);
//   * prefix reuse: a request admitted into a slot whose cache shares a prefix
//     with its prompt (a shared system prompt, a prompt that is a strict prefix of
//     the cached one, the same prompt again, a continuation of prompt + answer)
//     evaluates only the rest and still matches the reference, with F32 and Q8_0
//     KV caches; the counters and on_start report what was reused;
//   * over HTTP: usage.prompt_tokens_details.cached_tokens and /metrics.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/llama_context.h"
#include "model/llama_model.h"
#include "runtime/generator.h"
#include "serve/engine.h"
#include "serve/serve_testing.h"
#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::serve {
namespace {

using nlohmann::json;

constexpr int32_t kEos = 2;  // stories260K's </s>: biased away so that runs are long

// What one request saw, filled by the engine thread.
struct Out {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  int64_t text_calls = 0;
  int64_t cached = -1;  // on_start's cached_tokens
  runtime::GenerationStats stats;
  Status status;
  bool done = false;

  bool Wait(double seconds = 120) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done; });
  }
};

class ServeEngineTest : public harness::StoriesSuite {
 protected:
  static runtime::GenerationParams Greedy(int32_t max_tokens, bool no_eos = false) {
    runtime::GenerationParams p;
    p.max_tokens = max_tokens;
    p.sampler.temperature = 0;
    if (no_eos) p.sampler.logit_bias.push_back({kEos, -100.0f});
    return p;
  }

  // runtime::Generate on a fresh single-sequence context, one thread.
  static std::pair<std::string, std::vector<int32_t>> Reference(const std::vector<int32_t>& prompt,
                                                                const runtime::GenerationParams& p,
                                                                DType kv_type = DType::kF32) {
    model::CpuOptions co;
    co.kv_type = kv_type;
    auto ctx = model::LlamaContext::Create(*model_, 512, co);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    if (!ctx.ok()) return {};
    std::vector<int32_t> history;
    std::string text;
    auto r = runtime::Generate(ctx.value().get(), *tok_, prompt, &history, p, [&](std::string_view t) {
      text += t;
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return {text, r.ok() ? r->tokens : std::vector<int32_t>{}};
  }

  static Request MakeRequest(const std::vector<int32_t>& prompt, const runtime::GenerationParams& p, Out* out,
                             std::function<void()> on_text_hook = nullptr) {
    Request r;
    r.prompt = prompt;
    r.params = p;
    r.on_text = [out, hook = std::move(on_text_hook)](std::string_view t) {
      {
        std::lock_guard<std::mutex> lock(out->mu);
        out->text += t;
        ++out->text_calls;
      }
      if (hook) hook();
      return true;
    };
    r.on_start = [out](int64_t cached) {
      std::lock_guard<std::mutex> lock(out->mu);
      out->cached = cached;
    };
    r.on_done = [out](const Status& st, const runtime::GenerationStats& s) {
      std::lock_guard<std::mutex> lock(out->mu);
      out->status = st;
      out->stats = s;
      out->done = true;
      out->cv.notify_all();
    };
    return r;
  }

  // Runs one request to the end on `engine` and checks it against the reference.
  static void RunAndCompare(Engine& engine, const std::vector<int32_t>& prompt, const runtime::GenerationParams& p,
                            DType kv_type, Out* out, const std::string& what) {
    ASSERT_TRUE(engine.Submit(MakeRequest(prompt, p, out)).ok()) << what;
    ASSERT_TRUE(out->Wait()) << what;
    ASSERT_TRUE(out->status.ok()) << what << ": " << out->status.ToString();
    const auto [ref_text, ref_tokens] = Reference(prompt, p, kv_type);
    EXPECT_EQ(out->stats.tokens, ref_tokens) << what;
    EXPECT_EQ(out->text, ref_text) << what;
    EXPECT_EQ(out->stats.prompt_tokens, static_cast<int64_t>(prompt.size())) << what;
  }

  static std::vector<int32_t> Encode(const std::string& text) { return tok_->Encode(text, true); }
};

// A system-prompt-like preamble long enough for several chunks of 8.
const char kPreamble[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her "
    "dog, Max. One day, Lily and Max went to the park to play with a big red ball.";

TEST_F(ServeEngineTest, ChunkedPrefillInterleavesWithDecodingAndMatchesGenerate) {
  EngineOptions o;
  o.n_slots = 2;
  o.n_ctx = 512;
  o.prefill_chunk = 8;
  o.backend.n_threads = 3;
  auto engine = Engine::Create(*model_, *tok_, o);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();

  // A decodes a long answer; B's prompt (several chunks) is admitted while A runs.
  const std::vector<int32_t> prompt_a = Encode("The little dog");
  const std::vector<int32_t> prompt_b = Encode(std::string(kPreamble) + " Then");
  ASSERT_GT(prompt_b.size(), 5 * 8u);
  const runtime::GenerationParams pa = Greedy(120, /*no_eos=*/true), pb = Greedy(30);
  Out a, b;
  // A's text pieces when B was admitted and when B's first text came.
  int64_t a_at_b_start = -1, a_at_b_first = -1;
  // B is submitted from A's first text (engine thread): A is decoding by then.
  bool b_submitted = false;
  Request rb = MakeRequest(prompt_b, pb, &b, [&] {
    std::lock_guard<std::mutex> lock(a.mu);
    if (a_at_b_first < 0) a_at_b_first = a.text_calls;
  });
  rb.on_start = [&](int64_t cached) {
    {
      std::lock_guard<std::mutex> lock(a.mu);
      a_at_b_start = a.text_calls;
    }
    std::lock_guard<std::mutex> lock(b.mu);
    b.cached = cached;
  };
  auto hook = [&] {
    if (b_submitted) return;  // engine thread only
    b_submitted = true;
    EXPECT_TRUE(engine.value()->Submit(std::move(rb)).ok());
  };
  ASSERT_TRUE(engine.value()->Submit(MakeRequest(prompt_a, pa, &a, hook)).ok());
  ASSERT_TRUE(b.Wait());
  ASSERT_TRUE(a.Wait());
  ASSERT_TRUE(a.status.ok()) << a.status.ToString();
  ASSERT_TRUE(b.status.ok()) << b.status.ToString();

  const auto [ref_a, ref_a_tokens] = Reference(prompt_a, pa);
  const auto [ref_b, ref_b_tokens] = Reference(prompt_b, pb);
  EXPECT_EQ(a.stats.tokens, ref_a_tokens);
  EXPECT_EQ(a.text, ref_a);
  EXPECT_EQ(b.stats.tokens, ref_b_tokens);
  EXPECT_EQ(b.text, ref_b);
  EXPECT_EQ(b.cached, 0);
  EXPECT_EQ(a.stats.generated_tokens, 120);

  // B's prompt went in ceil(n / 8) pieces, one per step, and every one of those
  // steps also carried a token of A: between B's admission and B's first text, A
  // streamed a piece per step (one fewer allowed for a character held back).
  // Unchunked, A would have got a single token in that time.
  const int64_t pieces = (static_cast<int64_t>(prompt_b.size()) + 7) / 8;
  const Engine::Counters c = engine.value()->counters();
  EXPECT_EQ(c.prefill_chunks, 1 + pieces);  // A's prompt in one piece, then B's
  EXPECT_EQ(c.completed, 2);
  EXPECT_EQ(c.prefix_hit_requests, 0);
  ASSERT_GE(a_at_b_start, 1);
  ASSERT_GE(a_at_b_first, a_at_b_start);
  EXPECT_GE(a_at_b_first - a_at_b_start, pieces - 1);
}

TEST_F(ServeEngineTest, PrefixReuseEvaluatesOnlyTheRestAndMatchesGenerate) {
  for (const DType kv : {DType::kF32, DType::kQ8_0}) {
    SCOPED_TRACE(DTypeName(kv));
    EngineOptions o;
    o.n_slots = 2;
    o.n_ctx = 512;
    o.prefill_chunk = 16;
    o.backend.n_threads = 2;
    o.backend.kv_type = kv;
    auto engine = Engine::Create(*model_, *tok_, o);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    Engine& e = *engine.value();
    const runtime::GenerationParams p = Greedy(24);

    // 1. The first request: nothing cached.
    const std::vector<int32_t> first = Encode(std::string(kPreamble) + " Lily said");
    Out o1;
    RunAndCompare(e, first, p, kv, &o1, "first");
    EXPECT_EQ(o1.cached, 0);

    // 2. Same preamble, another ending: the preamble comes from the cache.
    const std::vector<int32_t> second = Encode(std::string(kPreamble) + " Max barked at");
    size_t shared = 0;
    while (shared < second.size() && shared < first.size() && first[shared] == second[shared]) ++shared;
    ASSERT_GT(shared, 30u);
    Out o2;
    RunAndCompare(e, second, p, kv, &o2, "shared preamble");
    EXPECT_EQ(o2.cached, static_cast<int64_t>(shared));

    // 3. Exactly the second prompt again: all but its last token reused (that one
    // is evaluated again for its logits), and the same answer.
    Out o3;
    RunAndCompare(e, second, p, kv, &o3, "same prompt again");
    EXPECT_EQ(o3.cached, static_cast<int64_t>(second.size()) - 1);
    EXPECT_EQ(o3.text, o2.text);

    // 4. A continuation: that prompt and its answer plus more text; the answer's
    // tokens were evaluated while decoding and are reused as well (all but the
    // last sampled one, which was never evaluated).
    std::vector<int32_t> cont = second;
    cont.insert(cont.end(), o3.stats.tokens.begin(), o3.stats.tokens.end());
    const std::vector<int32_t> more = tok_->Encode(" The end", false);
    cont.insert(cont.end(), more.begin(), more.end());
    Out o4;
    RunAndCompare(e, cont, p, kv, &o4, "continuation");
    EXPECT_GE(o4.cached, static_cast<int64_t>(second.size() + o3.stats.tokens.size()) - 1);

    // 5. A strict prefix of what the slot holds: all but its last token reused.
    const std::vector<int32_t> prefix(second.begin(), second.begin() + 20);
    Out o5;
    RunAndCompare(e, prefix, p, kv, &o5, "strict prefix");
    EXPECT_EQ(o5.cached, 19);

    const Engine::Counters c = e.counters();
    EXPECT_EQ(c.completed, 5);
    EXPECT_EQ(c.prefix_hit_requests, 4);
    EXPECT_EQ(c.prefix_hit_tokens, o2.cached + o3.cached + o4.cached + o5.cached);
    EXPECT_EQ(c.prompt_tokens, static_cast<int64_t>(first.size() + 2 * second.size() + cont.size() + prefix.size()));
  }
}

TEST_F(ServeEngineTest, PrefixReuseOffAndCrowdedSlotsStillMatchGenerate) {
  // Six requests sharing a preamble over 2 slots, submitted together: slots are
  // reused while others prefill in pieces and decode; every answer is the
  // reference. With prefix_reuse off nothing is reused and answers are the same.
  std::vector<std::vector<int32_t>> prompts;
  for (const char* end : {" Lily", " Max", " The ball", " They", " Lily said", " Max ran"}) {
    prompts.push_back(Encode(std::string(kPreamble) + end));
  }
  for (const bool reuse : {true, false}) {
    SCOPED_TRACE(reuse ? "reuse" : "no reuse");
    EngineOptions o;
    o.n_slots = 2;
    o.n_ctx = 256;
    o.prefill_chunk = 12;
    o.prefix_reuse = reuse;
    auto engine = Engine::Create(*model_, *tok_, o);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    std::vector<std::unique_ptr<Out>> outs;
    for (size_t i = 0; i < prompts.size(); ++i) {
      outs.push_back(std::make_unique<Out>());
      ASSERT_TRUE(engine.value()->Submit(MakeRequest(prompts[i], Greedy(10 + 3 * static_cast<int32_t>(i)),
                                                     outs.back().get()))
                      .ok());
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
      Out& out = *outs[i];
      ASSERT_TRUE(out.Wait()) << i;
      ASSERT_TRUE(out.status.ok()) << out.status.ToString();
      const auto [ref_text, ref_tokens] = Reference(prompts[i], Greedy(10 + 3 * static_cast<int32_t>(i)));
      EXPECT_EQ(out.stats.tokens, ref_tokens) << i;
      EXPECT_EQ(out.text, ref_text) << i;
    }
    const Engine::Counters c = engine.value()->counters();
    if (reuse) {
      EXPECT_GE(c.prefix_hit_requests, 4);  // all but the first two
    } else {
      EXPECT_EQ(c.prefix_hit_requests, 0);
      EXPECT_EQ(c.prefix_hit_tokens, 0);
    }
  }
}

TEST_F(ServeEngineTest, CachedTokensInUsageAndMetrics) {
  EngineOptions o = harness::LiveServer::Options(1, 256);
  o.prefill_chunk = 16;
  harness::LiveServer srv(*model_, *tok_, o);
  httplib::Client c = srv.Client();
  const std::string prompt = std::string(kPreamble) + " Lily";
  const json body = {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}};
  auto r1 = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(r1);
  ASSERT_EQ(r1->status, 200) << r1->body;
  auto r2 = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(r2);
  ASSERT_EQ(r2->status, 200) << r2->body;
  const json j1 = json::parse(r1->body), j2 = json::parse(r2->body);
  EXPECT_EQ(j1["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  const int64_t n = j2["usage"]["prompt_tokens"];
  EXPECT_EQ(j2["usage"]["prompt_tokens_details"]["cached_tokens"], n - 1);
  EXPECT_EQ(j2["choices"][0]["text"], j1["choices"][0]["text"]);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("septet_prefix_cache_hit_tokens_total " + std::to_string(n - 1)), std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("septet_prefix_cache_hit_requests_total 1"), std::string::npos);
  EXPECT_NE(m->body.find("septet_prefix_cache_prompt_tokens_total " + std::to_string(2 * n)), std::string::npos);
}

}  // namespace
}  // namespace septet::serve
