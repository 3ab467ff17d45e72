#include "serve/engine.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>

#include "runtime/sampler.h"
#include "runtime/token_stream.h"

namespace septet::serve {
namespace {

using Clock = std::chrono::steady_clock;
double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

struct Engine::Slot {
  // Kept between requests: exactly the tokens this sequence's KV cache holds, and
  // when it was last given a request (the least recently used slot is evicted first).
  std::vector<int32_t> history;
  uint64_t last_used = 0;
  // The request in the slot, if any.
  bool busy = false;
  Request request;
  size_t prompt_done = 0;        // prompt tokens in the cache (reused or evaluated)
  bool prefilled = false;        // the whole prompt is in; sampling has begun
  int64_t chunk = 0;             // prompt tokens this step carries for it
  Clock::time_point submitted, decode_start;
  std::unique_ptr<runtime::TokenStream> stream;
  int32_t next = -1;             // the token to evaluate this step (once prefilled)
  bool cancel = false;           // CancelAll: end at the next step
  runtime::GenerationStats timing;

  // Ends the request; the cache and its tokens stay.
  void Release() {
    busy = false;
    request = Request{};
    prompt_done = 0;
    prefilled = false;
    chunk = 0;
    stream.reset();
    next = -1;
    cancel = false;
    timing = runtime::GenerationStats{};
  }
};

namespace {

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

Engine::Engine(const model::LlamaModel& model, const Tokenizer& tokenizer, const EngineOptions& options,
               std::unique_ptr<model::InferenceContext> ctx)
    : model_(model), tokenizer_(tokenizer), options_(options), ctx_(std::move(ctx)) {
  thread_ = std::thread([this] { Loop(); });
}

Result<std::unique_ptr<Engine>> Engine::Create(const model::LlamaModel& model, const Tokenizer& tokenizer,
                                               const EngineOptions& options) {
  if (options.n_slots < 1 || options.n_slots > 4096) {
    return InvalidArgument("parallel slots = %d; expected 1 .. 4096", options.n_slots);
  }
  if (options.n_ctx < 2) return InvalidArgument("context per slot = %" PRId64 "; expected >= 2", options.n_ctx);
  if (options.prefill_chunk < 1) {
    return InvalidArgument("prefill chunk = %" PRId64 " tokens; expected >= 1", options.prefill_chunk);
  }
  runtime::BackendOptions bo = options.backend;
  bo.n_seq = options.n_slots;
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<model::InferenceContext> ctx,
                          runtime::CreateContext(model, options.n_ctx, bo));
  return std::unique_ptr<Engine>(new Engine(model, tokenizer, options, std::move(ctx)));
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status Engine::Submit(Request r, bool* queue_full) {
  if (queue_full != nullptr) *queue_full = false;
  const int64_t n = static_cast<int64_t>(r.prompt.size());
  if (n == 0) return InvalidArgument("prompt is empty (no tokens to evaluate)");
  const int64_t vocab = model_.hparams().vocab;
  for (int32_t t : r.prompt) {
    if (t < 0 || t >= vocab) return InvalidArgument("prompt token %d is outside the vocabulary [0, %" PRId64 ")", t, vocab);
  }
  if (n >= options_.n_ctx) {
    return OutOfRange("prompt is %" PRId64 " tokens; the context per request is n_ctx = %" PRId64
                      " (prompt + generated), so at most %" PRId64 " prompt tokens fit",
                      n, options_.n_ctx, options_.n_ctx - 1);
  }
  SEPTET_RETURN_IF_ERROR(runtime::ValidateSamplerParams(r.params.sampler));
  if (r.params.max_tokens < 0) return InvalidArgument("max_tokens = %d; expected >= 0", r.params.max_tokens);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (options_.max_queue > 0 && static_cast<int64_t>(queue_.size()) >= options_.max_queue) {
      ++counters_.queue_full;
      if (queue_full != nullptr) *queue_full = true;
      return OutOfRange("the server is busy: %zu requests are already waiting (--max-queue %" PRId64 ")",
                        queue_.size(), options_.max_queue);
    }
    queue_.push_back(Queued{std::move(r), Clock::now()});
    ++counters_.queued;
  }
  cv_.notify_all();
  return Status::Ok();
}

void Engine::CancelAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_all_ = true;
  }
  cv_.notify_all();
}

Engine::Counters Engine::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

void Engine::Loop() {
  std::vector<Slot> slots(static_cast<size_t>(options_.n_slots));
  const auto any_busy = [&] { return std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.busy; }); };
  const auto is_cancelled = [](const Request& r) { return r.cancelled && r.cancelled(); };
  while (true) {
    std::vector<Queued> dropped;  // cancelled while queued: told outside the lock
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Queued requests whose client may go away are polled, so wake up now and then.
      const bool poll = std::any_of(queue_.begin(), queue_.end(), [](const Queued& q) { return bool(q.request.cancelled); });
      const auto ready = [&] { return stop_ || cancel_all_ || !queue_.empty() || any_busy(); };
      if (poll) {
        cv_.wait_for(lock, std::chrono::milliseconds(50), ready);
      } else {
        cv_.wait(lock, ready);
      }
      if (stop_) break;
      const bool cancel_all = cancel_all_;
      cancel_all_ = false;
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (cancel_all || is_cancelled(it->request)) {
          dropped.push_back(std::move(*it));
          it = queue_.erase(it);
          --counters_.queued;
          ++counters_.cancelled;
        } else {
          ++it;
        }
      }
      if (cancel_all) {
        for (Slot& s : slots) s.cancel = s.busy;
      }
      Admit(slots);
    }
    runtime::GenerationStats none;
    none.finish = runtime::FinishReason::kCancelled;
    for (Queued& q : dropped) {
      if (q.request.on_done) q.request.on_done(Status::Ok(), none);
    }
    Step(slots);
  }
  // Shutting down: everything still running or queued ends as cancelled.
  const Status cancelled = Internal("cancelled: the server is shutting down");
  for (Slot& s : slots) {
    if (s.busy && s.request.on_done) s.request.on_done(cancelled, s.timing);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (Queued& q : queue_) {
    if (q.request.on_done) q.request.on_done(cancelled, runtime::GenerationStats{});
  }
  queue_.clear();
}

void Engine::Admit(std::vector<Slot>& slots) {
  // Oldest request first, each into the free slot that has the most of its prompt
  // cached; among equals (no sharing at all, typically) the least recently used, so
  // that the caches most likely to be asked for again survive longest.
  while (!queue_.empty()) {
    Slot* best = nullptr;
    size_t best_common = 0;
    for (Slot& s : slots) {
      if (s.busy) continue;
      const size_t common = options_.prefix_reuse ? CommonPrefix(s.history, queue_.front().request.prompt) : 0;
      if (best == nullptr || common > best_common || (common == best_common && s.last_used < best->last_used)) {
        best = &s;
        best_common = common;
      }
    }
    if (best == nullptr) return;
    Slot& s = *best;
    const int32_t seq = static_cast<int32_t>(best - slots.data());
    s.Release();
    s.busy = true;
    s.last_used = ++admissions_;
    s.request = std::move(queue_.front().request);
    s.submitted = queue_.front().submitted;
    queue_.pop_front();
    // At least the last prompt token is evaluated again: its logits give the first
    // sample (a prompt equal to, or a prefix of, the cached tokens included).
    const size_t reuse = std::min(best_common, s.request.prompt.size() - 1);
    s.history.resize(reuse);
    ctx_->TruncateSeq(seq, static_cast<int64_t>(reuse));
    s.prompt_done = reuse;
    --counters_.queued;
    ++counters_.running;
    counters_.prompt_tokens += static_cast<int64_t>(s.request.prompt.size());
    if (reuse > 0) {
      ++counters_.prefix_hit_requests;
      counters_.prefix_hit_tokens += static_cast<int64_t>(reuse);
    }
    if (s.request.on_start) s.request.on_start(static_cast<int64_t>(reuse));
  }
}

void Engine::Step(std::vector<Slot>& slots) {
  int64_t chunks = 0;
  // Ends a request: counted before its client hears of it (on_done), so counters
  // read after an answer arrives include that answer.
  const auto finish = [&](Slot& s, const Status& status, bool cancelled) {
    if (s.stream) {
      const runtime::GenerationStats& g = s.stream->stats();
      s.timing.generated_tokens = g.generated_tokens;
      s.timing.finish = g.finish;
      s.timing.tokens = g.tokens;
      s.timing.logprobs = g.logprobs;
    }
    if (s.timing.generated_tokens > 0) s.timing.decode_ms = MsBetween(s.decode_start, Clock::now());
    {
      std::lock_guard<std::mutex> lock(mu_);
      --counters_.running;
      ++(cancelled ? counters_.cancelled : counters_.completed);
    }
    if (s.request.on_done) s.request.on_done(status, s.timing);
    s.Release();
  };
  // Requests whose client went away (or CancelAll) end before the batch is built.
  for (Slot& s : slots) {
    if (!s.busy || !(s.cancel || (s.request.cancelled && s.request.cancelled()))) continue;
    if (s.stream) s.stream->Cancel();
    s.timing.finish = runtime::FinishReason::kCancelled;
    finish(s, Status::Ok(), true);
  }
  const auto count = [&](int64_t step_tokens) {
    std::lock_guard<std::mutex> lock(mu_);
    counters_.prefill_chunks += chunks;
    if (step_tokens > 0) {
      ++counters_.steps;
      counters_.step_tokens += step_tokens;
    }
  };
  // ---- one batch: a token of each decoding request, then pieces of prompts ----
  std::vector<size_t> order;  // slots in the batch, in the order of their tokens
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].busy && slots[i].prefilled) order.push_back(i);
  }
  // Prompts share the chunk budget in admission order (oldest first: none starves).
  std::vector<size_t> prefilling;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].busy && !slots[i].prefilled) prefilling.push_back(i);
  }
  std::sort(prefilling.begin(), prefilling.end(),
            [&](size_t a, size_t b) { return slots[a].last_used < slots[b].last_used; });
  int64_t budget = options_.prefill_chunk;
  for (size_t i : prefilling) {
    if (budget == 0) break;
    Slot& s = slots[i];
    const int64_t left = static_cast<int64_t>(s.request.prompt.size() - s.prompt_done);
    s.chunk = std::min(left, budget);
    budget -= s.chunk;
    order.push_back(i);
    ++chunks;
  }
  std::vector<int32_t> tokens, seq_ids;
  for (size_t i : order) {
    Slot& s = slots[i];
    if (s.prefilled) {
      tokens.push_back(s.next);
      seq_ids.push_back(static_cast<int32_t>(i));
    } else {
      const auto first = s.request.prompt.begin() + static_cast<std::ptrdiff_t>(s.prompt_done);
      tokens.insert(tokens.end(), first, first + s.chunk);
      seq_ids.insert(seq_ids.end(), static_cast<size_t>(s.chunk), static_cast<int32_t>(i));
    }
  }
  if (tokens.empty()) return count(0);
  const int64_t vocab = model_.hparams().vocab;
  std::vector<float> logits;
  const Status st = ctx_->ForwardBatch(tokens, seq_ids, model::LogitsMode::kLast, &logits);
  const Clock::time_point now = Clock::now();
  for (size_t r = 0; r < order.size(); ++r) {
    const int32_t seq = static_cast<int32_t>(order[r]);
    Slot& s = slots[order[r]];
    if (!st.ok()) {
      finish(s, st, false);  // the context is unchanged: the cache still matches history
      continue;
    }
    if (!s.prefilled) {
      const auto first = s.request.prompt.begin() + static_cast<std::ptrdiff_t>(s.prompt_done);
      s.history.insert(s.history.end(), first, first + s.chunk);
      s.prompt_done += static_cast<size_t>(s.chunk);
      s.chunk = 0;
      if (s.prompt_done < s.request.prompt.size()) continue;  // more pieces to come; this row is not used
      s.prefilled = true;
      s.timing.prompt_tokens = static_cast<int64_t>(s.history.size());
      s.timing.prompt_ms = MsBetween(s.submitted, now);
      s.stream = std::make_unique<runtime::TokenStream>(tokenizer_, s.request.params, s.history.back());
    } else {
      s.history.push_back(s.next);
    }
    const std::span<const float> row(logits.data() + r * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
    if (std::any_of(row.begin(), row.end(), [](float v) { return std::isnan(v); })) {
      const size_t pos = s.history.size() - 1;
      // A cache that produced NaN is not offered to anyone again.
      s.history.clear();
      ctx_->TruncateSeq(seq, 0);
      finish(s, Internal("forward pass produced NaN logits at position %zu", pos), false);
      continue;
    }
    const runtime::TokenStream::Step step = s.stream->Next(row, s.history, ctx_->seq_past(seq), ctx_->n_ctx());
    if (s.stream->stats().generated_tokens == 1) {
      s.timing.first_token_ms = MsBetween(s.submitted, Clock::now());
      s.decode_start = Clock::now();
    }
    if (!step.text.empty() && s.request.on_text && !s.request.on_text(step.text) &&
        s.stream->stats().finish != runtime::FinishReason::kStopString) {
      s.stream->Cancel();
      finish(s, Status::Ok(), true);
      continue;
    }
    if (step.done) {
      finish(s, Status::Ok(), false);
    } else {
      s.next = step.next;
    }
  }
  count(static_cast<int64_t>(tokens.size()));
}

}  // namespace septet::serve
