// Continuous batching: many generation requests share one multi-sequence
// InferenceContext. A single engine thread owns the context; every step it
//   1. admits queued requests into free slots (sequence ids), each into the free
//      slot whose cached tokens share the longest prefix with its prompt (prefix
//      reuse: that slot's KV is truncated to the shared part, never below one
//      token short of the prompt, and only the rest is evaluated),
//   2. builds one ForwardBatch: the pending token of every request that is
//      decoding, then pieces of the prompts still being evaluated (chunked
//      prefill: at most prefill_chunk prompt tokens per step in all, oldest
//      request first, so a long prompt is spread over several steps and the
//      streams already running keep getting a token every step),
//   3. runs it (the weights are read once for all of them), and
//   4. gives each request whose prompt is complete its logits row: sample, stream
//      text, stop or go on (runtime::TokenStream, the same rules as
//      runtime::Generate).
// A request joins and leaves between steps; nobody waits for a whole batch to end.
// A slot keeps its KV cache and the tokens it holds after its request ends, for
// the next request that shares a prefix with them.
// Because a token's logits and KV rows do not depend on what shares its batch, nor
// on how its sequence's earlier tokens were split into calls (bit for bit on the
// CPU backend), a request's output equals what runtime::Generate gives alone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "model/inference_context.h"
#include "model/llama_model.h"
#include "runtime/backend.h"
#include "runtime/generator.h"
#include "tokenizer/tokenizer.h"

namespace septet::serve {

struct EngineOptions {
  int32_t n_slots = 4;    // requests decoded together (sequences in the context)
  int64_t n_ctx = 2048;   // KV positions per request (prompt + generated)
  // Prompt tokens evaluated per step at most, over all requests being prefilled
  // (each decoding request adds its one token on top). A longer prompt is split
  // over several steps, so it delays the other streams by one such chunk per step.
  int64_t prefill_chunk = 256;
  // Admit a request into the free slot whose cache shares the longest prefix with
  // its prompt and evaluate only the rest. Off: every request starts from an
  // empty cache.
  bool prefix_reuse = true;
  // Requests waiting for a slot at most (beyond them Submit refuses with
  // *queue_full set); 0: no limit.
  int64_t max_queue = 0;
  runtime::BackendOptions backend;
};

struct Request {
  std::vector<int32_t> prompt;  // token ids, BOS included when wanted
  runtime::GenerationParams params;
  // Engine thread: each piece of text (whole UTF-8 characters, stop strings held
  // back). Return false to cancel (the client went away).
  std::function<bool(std::string_view text)> on_text;
  // Engine thread, exactly once: the outcome. prompt_ms / first_token_ms count
  // from Submit, so they include time spent queued.
  std::function<void(const Status& status, const runtime::GenerationStats& stats)> on_done;
  // Engine thread, optional: polled before admission and before every step; true
  // ends the request (finish = kCancelled, status OK, its slot freed at once).
  // The HTTP layer sets it when the client disconnects or gave up in the queue.
  std::function<bool()> cancelled;
  // Engine thread, optional: the request left the queue for a slot, whose cache
  // already held the first `cached_tokens` prompt tokens (prefix reuse; 0: none).
  std::function<void(int64_t cached_tokens)> on_start;
};

class Engine {
 public:
  // Creates the context (n_slots sequences of n_ctx) and starts the thread.
  static Result<std::unique_ptr<Engine>> Create(const model::LlamaModel& model, const Tokenizer& tokenizer,
                                                const EngineOptions& options);
  // Stops the thread; requests still queued or running end with kCancelled.
  ~Engine();

  // Checks the request now (errors name the field; nothing is queued then):
  // an empty prompt, a token outside the vocabulary, a prompt that leaves no room
  // to generate (>= n_ctx tokens, kOutOfRange naming n_ctx), invalid sampler
  // parameters or max_tokens < 0. Otherwise queues it and returns OK, unless
  // max_queue requests already wait: then kOutOfRange with *queue_full = true.
  Status Submit(Request request, bool* queue_full = nullptr);
  // Ends every queued and running request as cancelled at the next step
  // (graceful shutdown past its deadline). New requests are still accepted.
  void CancelAll();

  int32_t n_slots() const { return options_.n_slots; }
  int64_t n_ctx() const { return options_.n_ctx; }
  const char* backend_name() const { return ctx_->backend_name(); }

  struct Counters {
    int64_t queued = 0, running = 0, completed = 0;
    int64_t cancelled = 0;   // ended early (client gone, queue timeout, CancelAll)
    int64_t queue_full = 0;  // refused by Submit because max_queue requests waited
    int64_t steps = 0, step_tokens = 0;  // ForwardBatch calls and the tokens they carried
    int64_t prompt_tokens = 0;          // prompt tokens of the requests admitted to a slot
    int64_t prefix_hit_requests = 0;    // admitted requests that found part of their prompt cached
    int64_t prefix_hit_tokens = 0;      // prompt tokens found cached (not evaluated again)
    int64_t prefill_chunks = 0;         // pieces of prompts evaluated (a prompt: 1 or more)
  };
  Counters counters() const;

 private:
  struct Slot;
  Engine(const model::LlamaModel& model, const Tokenizer& tokenizer, const EngineOptions& options,
         std::unique_ptr<model::InferenceContext> ctx);
  void Loop();
  // Moves queued requests into free slots (mu_ held).
  void Admit(std::vector<Slot>& slots);
  void Step(std::vector<Slot>& slots);

  const model::LlamaModel& model_;
  const Tokenizer& tokenizer_;
  EngineOptions options_;
  std::unique_ptr<model::InferenceContext> ctx_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Queued {
    Request request;
    std::chrono::steady_clock::time_point submitted;
  };
  std::deque<Queued> queue_;   // guarded by mu_
  bool stop_ = false;          // guarded by mu_
  bool cancel_all_ = false;    // guarded by mu_
  Counters counters_;          // guarded by mu_
  uint64_t admissions_ = 0;    // engine thread: admission clock, for least-recently-used slots
  std::thread thread_;
};

}  // namespace septet::serve
