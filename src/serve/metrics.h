// Server metrics in the Prometheus text format (GET /metrics):
//   septet_requests_total{status="200"}     HTTP responses by status code
//   septet_client_disconnects_total         requests whose client went away (cancelled)
//   septet_prompt_tokens_total              prompt tokens evaluated
//   septet_generated_tokens_total           tokens generated
//   septet_queue_depth / septet_slots_busy / septet_slots_total   (gauges, from the engine)
//   septet_prefix_cache_prompt_tokens_total  prompt tokens of requests given a slot (engine)
//   septet_prefix_cache_hit_tokens_total     of those, found in the slot's cache (not evaluated)
//   septet_prefix_cache_hit_requests_total   requests that found part of their prompt cached
//   septet_prefill_chunks_total              pieces prompts were evaluated in (chunked prefill)
//   septet_time_to_first_token_seconds      histogram: request received -> first token
//   septet_inter_token_seconds              histogram: per generated token after the
//                                           first, each request's mean decode interval
// Thread-safe; every Record* call is cheap.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace septet::serve {

class Histogram {
 public:
  // Upper bounds in seconds (the +Inf bucket is implicit).
  static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10,  30};
  void Observe(double seconds, int64_t times = 1);
  void Write(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::array<int64_t, kBounds.size() + 1> counts_{};
  double sum_ = 0;
  int64_t count_ = 0;
};

// What the engine counts, passed to Render (the engine owns these numbers).
struct EngineGauges {
  int64_t queued = 0, running = 0, slots = 0;
  int64_t prompt_tokens = 0, prefix_hit_requests = 0, prefix_hit_tokens = 0, prefill_chunks = 0;
};

class Metrics {
 public:
  void RecordResponse(int status);
  void RecordDisconnect();
  int64_t disconnects() const;
  // One finished generation: tokens, time to first token, mean inter-token interval.
  void RecordGeneration(int64_t prompt_tokens, int64_t generated_tokens, double ttft_s, double decode_s);
  // The exposition text; the engine's numbers are passed in.
  std::string Render(const EngineGauges& engine) const;

 private:
  mutable std::mutex mu_;
  std::map<int, int64_t> responses_;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0, disconnects_ = 0;
  Histogram ttft_, itl_;
};

}  // namespace septet::serve
