#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "core/check.h"

namespace septet::runtime {

Status ValidateSamplerParams(const SamplerParams& p) {
  if (!std::isfinite(p.temperature)) return InvalidArgument("temperature = %g; expected a finite value", p.temperature);
  if (!(p.top_p > 0.0f) || !std::isfinite(p.top_p)) {
    return InvalidArgument("top_p = %g; expected a value in (0, 1] (1 disables it)", p.top_p);
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    return InvalidArgument("min_p = %g; expected a value in [0, 1] (0 disables it)", p.min_p);
  }
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty)) {
    return InvalidArgument("repeat_penalty = %g; expected a finite value > 0 (1 disables it)", p.repeat_penalty);
  }
  if (p.repeat_window < 0) return InvalidArgument("repeat_window = %d; expected >= 0", p.repeat_window);
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f)) {
    return InvalidArgument("frequency_penalty = %g; expected a value in [-2, 2] (0 disables it)", p.frequency_penalty);
  }
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f)) {
    return InvalidArgument("presence_penalty = %g; expected a value in [-2, 2] (0 disables it)", p.presence_penalty);
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0) return InvalidArgument("logit_bias: token id %d; expected >= 0", id);
    if (!(bias >= -100.0f && bias <= 100.0f)) {
      return InvalidArgument("logit_bias[%d] = %g; expected a value in [-100, 100]", id, bias);
    }
  }
  return Status::Ok();
}

namespace sampling {

void ApplyLogitBias(std::span<float> logits, std::span<const std::pair<int32_t, float>> bias) {
  for (const auto& [id, b] : bias) {
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] += b;
  }
}

void ApplyFrequencyPresence(std::span<float> logits, std::span<const int32_t> generated, float frequency,
                            float presence) {
  if ((frequency == 0.0f && presence == 0.0f) || generated.empty()) return;
  std::unordered_map<int32_t, int32_t> counts;
  for (const int32_t id : generated) {
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) ++counts[id];
  }
  for (const auto& [id, n] : counts) logits[static_cast<size_t>(id)] -= static_cast<float>(n) * frequency + presence;
}

void ApplyRepetitionPenalty(std::span<float> logits, std::span<const int32_t> history, int32_t window,
                            float penalty) {
  if (penalty == 1.0f || window <= 0) return;
  const size_t n = std::min(history.size(), static_cast<size_t>(window));
  std::unordered_set<int32_t> seen;
  for (size_t i = history.size() - n; i < history.size(); ++i) {
    const int32_t id = history[i];
    if (id < 0 || static_cast<size_t>(id) >= logits.size() || !seen.insert(id).second) continue;
    float& l = logits[static_cast<size_t>(id)];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
}

int32_t Greedy(std::span<const float> logits) {
  SEPTET_CHECK(!logits.empty());
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

std::vector<Candidate> SortedCandidates(std::span<const float> logits, int32_t k) {
  std::vector<Candidate> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = Candidate{static_cast<int32_t>(i), logits[i], 0.0};
  const auto before = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (k > 0 && static_cast<size_t>(k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + k, c.end(), before);  // only the head need be ordered
  } else {
    std::sort(c.begin(), c.end(), before);
  }
  return c;
}

void TopK(std::vector<Candidate>* c, int32_t k) {
  if (k > 0 && static_cast<size_t>(k) < c->size()) c->resize(static_cast<size_t>(k));
}

void SoftmaxT(std::vector<Candidate>* c, double temperature) {
  SEPTET_CHECK(!c->empty() && temperature > 0.0);
  const double mx = (*c)[0].logit;  // sorted: the first is the largest
  double z = 0.0;
  for (Candidate& x : *c) z += (x.p = std::exp((static_cast<double>(x.logit) - mx) / temperature));
  for (Candidate& x : *c) x.p /= z;
}

namespace {
void Renormalise(std::vector<Candidate>* c) {
  double z = 0.0;
  for (const Candidate& x : *c) z += x.p;
  for (Candidate& x : *c) x.p /= z;
}
}  // namespace

void TopP(std::vector<Candidate>* c, double top_p) {
  if (top_p >= 1.0) return;
  double cum = 0.0;
  size_t keep = c->size();
  for (size_t i = 0; i < c->size(); ++i) {
    cum += (*c)[i].p;
    if (cum >= top_p) {
      keep = i + 1;
      break;
    }
  }
  c->resize(keep);
  Renormalise(c);
}

void MinP(std::vector<Candidate>* c, double min_p) {
  if (min_p <= 0.0) return;
  const double threshold = min_p * (*c)[0].p;
  size_t keep = 1;  // the top token always survives
  while (keep < c->size() && (*c)[keep].p >= threshold) ++keep;
  c->resize(keep);
  Renormalise(c);
}

int32_t Draw(const std::vector<Candidate>& c, double u) {
  SEPTET_CHECK(!c.empty());
  double cum = 0.0;
  for (const Candidate& x : c) {
    cum += x.p;
    if (u < cum) return x.id;
  }
  return c.back().id;  // u within rounding of 1
}

}  // namespace sampling

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
  SEPTET_CHECK_MSG(ValidateSamplerParams(params).ok(), "Sampler: invalid parameters");
}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1p-53; }

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history,
                        std::span<const int32_t> generated) {
  work_.assign(logits.begin(), logits.end());
  sampling::ApplyLogitBias(work_, params_.logit_bias);
  sampling::ApplyFrequencyPresence(work_, generated, params_.frequency_penalty, params_.presence_penalty);
  sampling::ApplyRepetitionPenalty(work_, history, params_.repeat_window, params_.repeat_penalty);
  if (params_.temperature <= 0.0f) return sampling::Greedy(work_);
  std::vector<Candidate> c = sampling::SortedCandidates(work_, params_.top_k);
  sampling::TopK(&c, params_.top_k);
  sampling::SoftmaxT(&c, 1.0);
  sampling::TopP(&c, params_.top_p);
  sampling::MinP(&c, params_.min_p);
  sampling::SoftmaxT(&c, params_.temperature);
  return sampling::Draw(c, Uniform());
}

}  // namespace septet::runtime
