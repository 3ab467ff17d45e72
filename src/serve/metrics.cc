#include "serve/metrics.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

namespace septet::serve {
namespace {

void Line(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Line(std::string* out, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  *out += buf;
  *out += '\n';
}

// One counter or gauge with its HELP and TYPE lines.
void Scalar(std::string* out, const char* name, const char* type, const char* help, int64_t value) {
  Line(out, "# HELP %s %s", name, help);
  Line(out, "# TYPE %s %s", name, type);
  Line(out, "%s %" PRId64, name, value);
}

}  // namespace

void Histogram::Observe(double seconds, int64_t times) {
  size_t b = 0;
  while (b < kBounds.size() && seconds > kBounds[b]) ++b;
  counts_[b] += times;
  sum_ += seconds * static_cast<double>(times);
  count_ += times;
}

void Histogram::Write(const std::string& name, const std::string& help, std::string* out) const {
  Line(out, "# HELP %s %s", name.c_str(), help.c_str());
  Line(out, "# TYPE %s histogram", name.c_str());
  int64_t cum = 0;
  for (size_t b = 0; b < kBounds.size(); ++b) {
    cum += counts_[b];
    Line(out, "%s_bucket{le=\"%g\"} %" PRId64, name.c_str(), kBounds[b], cum);
  }
  cum += counts_[kBounds.size()];
  Line(out, "%s_bucket{le=\"+Inf\"} %" PRId64, name.c_str(), cum);
  Line(out, "%s_sum %.6f", name.c_str(), sum_);
  Line(out, "%s_count %" PRId64, name.c_str(), count_);
}

void Metrics::RecordResponse(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++responses_[status];
}

void Metrics::RecordDisconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  ++disconnects_;
}

int64_t Metrics::disconnects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return disconnects_;
}

void Metrics::RecordGeneration(int64_t prompt_tokens, int64_t generated_tokens, double ttft_s, double decode_s) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt_tokens;
  generated_tokens_ += generated_tokens;
  if (generated_tokens > 0) ttft_.Observe(ttft_s);
  if (generated_tokens > 1) itl_.Observe(decode_s / static_cast<double>(generated_tokens - 1), generated_tokens - 1);
}

std::string Metrics::Render(const EngineGauges& e) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Line(&out, "# HELP septet_requests_total HTTP responses sent, by status code.");
  Line(&out, "# TYPE septet_requests_total counter");
  for (const auto& [status, n] : responses_) Line(&out, "septet_requests_total{status=\"%d\"} %" PRId64, status, n);
  Scalar(&out, "septet_client_disconnects_total", "counter",
         "Requests cancelled because the client went away.", disconnects_);
  Scalar(&out, "septet_prompt_tokens_total", "counter", "Prompt tokens evaluated.", prompt_tokens_);
  Scalar(&out, "septet_generated_tokens_total", "counter", "Tokens generated.", generated_tokens_);
  Scalar(&out, "septet_queue_depth", "gauge", "Requests waiting for a slot.", e.queued);
  Scalar(&out, "septet_slots_busy", "gauge", "Slots generating.", e.running);
  Scalar(&out, "septet_slots_total", "gauge", "Slots (--parallel).", e.slots);
  Scalar(&out, "septet_prefix_cache_prompt_tokens_total", "counter",
         "Prompt tokens of the requests given a slot.", e.prompt_tokens);
  Scalar(&out, "septet_prefix_cache_hit_tokens_total", "counter",
         "Prompt tokens found in a slot's cache (not evaluated again).", e.prefix_hit_tokens);
  Scalar(&out, "septet_prefix_cache_hit_requests_total", "counter",
         "Requests that found part of their prompt cached.", e.prefix_hit_requests);
  Scalar(&out, "septet_prefill_chunks_total", "counter",
         "Pieces the prompts were evaluated in (chunked prefill).", e.prefill_chunks);
  ttft_.Write("septet_time_to_first_token_seconds", "Request received to first generated token.", &out);
  itl_.Write("septet_inter_token_seconds", "Interval between generated tokens (per request mean).", &out);
  return out;
}

}  // namespace septet::serve
