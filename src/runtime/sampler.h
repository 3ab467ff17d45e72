// Token sampling: a fixed chain of filters over the logits, then one draw.
//
// Order (each step optional, skipped at its "off" value):
//   0. logit bias          logit[id] += bias for each (id, bias) pair (OpenAI
//                          logit_bias; -100 / +100 in effect ban / force). off: none
//   0b. frequency/presence logit[id] -= count * frequency + (count > 0) * presence,
//                          count = times id was generated so far (OpenAI's rule;
//                          the prompt does not count).               off: 0, 0
//   1. repetition penalty  over the distinct ids among the last `repeat_window`
//                          tokens of the history: logit > 0 -> logit / penalty,
//                          else logit * penalty (CTRL / llama.cpp rule). off: 1.0
//   2. greedy              temperature <= 0: the argmax (lowest id on ties); stop.
//   3. top-k               keep the k highest logits (ties by lower id).   off: k <= 0
//   4. top-p (nucleus)     softmax at T = 1 over the survivors, sorted; keep the
//                          shortest prefix whose mass reaches top_p.     off: >= 1
//   5. min-p               keep p_i >= min_p * p_max (T = 1 probabilities). off: <= 0
//   6. temperature         softmax(logit / T) over the survivors, renormalised.
//   7. draw                inverse CDF with u = 53 random bits of a seeded
//                          mt19937_64 (std-defined sequence, so a seed reproduces
//                          the same tokens on every platform).
// Filters 3-5 use T = 1 probabilities, so temperature only reshapes what is
// left (the llama.cpp default order).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "core/status.h"

namespace septet::runtime {

struct SamplerParams {
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_window = 64;
  float frequency_penalty = 0.0f;  // [-2, 2]
  float presence_penalty = 0.0f;   // [-2, 2]
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token id, bias in [-100, 100])
  uint64_t seed = 0;
};

// kInvalidArgument naming the field when a value is out of its domain.
Status ValidateSamplerParams(const SamplerParams& p);

struct Candidate {
  int32_t id;
  float logit;
  double p;  // probability, filled by the softmax-based steps
};

// The chain's steps, exposed so each can be tested on its own.
namespace sampling {
void ApplyLogitBias(std::span<float> logits, std::span<const std::pair<int32_t, float>> bias);
// `generated`: the tokens sampled so far (not the prompt).
void ApplyFrequencyPresence(std::span<float> logits, std::span<const int32_t> generated, float frequency,
                            float presence);
void ApplyRepetitionPenalty(std::span<float> logits, std::span<const int32_t> history, int32_t window,
                            float penalty);
int32_t Greedy(std::span<const float> logits);
// All candidates, sorted by descending logit (ties: lower id first). With k > 0
// only the first k are guaranteed sorted (enough for TopK(k) to follow).
// Logits must not be NaN (the generation loop checks).
std::vector<Candidate> SortedCandidates(std::span<const float> logits, int32_t k = 0);
void TopK(std::vector<Candidate>* c, int32_t k);
void SoftmaxT(std::vector<Candidate>* c, double temperature);  // fills p
void TopP(std::vector<Candidate>* c, double top_p);             // uses and renormalises p
void MinP(std::vector<Candidate>* c, double min_p);             // uses and renormalises p
// u in [0, 1): the first candidate whose cumulative p exceeds u.
int32_t Draw(const std::vector<Candidate>& c, double u);
}  // namespace sampling

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);  // params must validate
  // logits: [vocab] (copied; the caller's buffer is untouched). history: the
  // tokens so far (prompt + generated), for the repetition penalty; generated:
  // the sampled tokens only, for the frequency / presence penalties.
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history,
                 std::span<const int32_t> generated = {});
  const SamplerParams& params() const { return params_; }

 private:
  double Uniform();  // [0, 1), 53 bits
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
};

}  // namespace septet::runtime
