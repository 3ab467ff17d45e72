// Rotary position embedding (Su et al. 2021) over the first n_rot dims of each head.
//
// Pair i (i < n_rot/2) rotates by angle pos * inv_freq[i], with
//   inv_freq[i] = base^(-2i / n_rot)           (then optionally rescaled, see RopeScaling)
// and the two members of pair i depend on the checkpoint's layout:
//   kInterleaved: (x[2i], x[2i+1])             llama2.c, GGUF llama (Meta layout)
//   kHalf:        (x[i],  x[i + n_rot/2])      Hugging Face (rotate_half / NeoX)
// Rotation: (a, b) -> (a cos - b sin, a sin + b cos). Dims >= n_rot pass through.
#pragma once

#include <cstdint>
#include <vector>

namespace septet::cpu {

enum class RopePairing { kInterleaved, kHalf };

struct RopeScaling {
  enum class Kind { kNone, kLinear, kLlama3 };
  Kind kind = Kind::kNone;
  double factor = 1.0;           // kLinear, kLlama3: positions / factor (low frequencies)
  double low_freq_factor = 1.0;  // kLlama3
  double high_freq_factor = 4.0; // kLlama3
  double original_context = 8192.0;  // kLlama3: the pre-extension training context
};

// The n_rot/2 inverse frequencies, scaling applied:
//   kLinear: inv_freq / factor.
//   kLlama3 (Meta's Llama 3.1 apply_scaling): wavelen = 2*pi / f;
//     wavelen < original_context / high_freq_factor  -> f unchanged (high frequencies)
//     wavelen > original_context / low_freq_factor   -> f / factor (low frequencies)
//     otherwise smooth = (original_context / wavelen - low) / (high - low),
//               f' = (1 - smooth) * f / factor + smooth * f.
std::vector<double> RopeInvFreq(int64_t n_rot, double base, const RopeScaling& scaling);

// x: [n_heads][head_dim] (one token's q or k), rotated in place for position `pos`.
// inv_freq: [n_rot/2]. n_rot even, n_rot <= head_dim.
void Rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos,
          const double* inv_freq, RopePairing pairing);

// The rotation of position `pos` as Rope computes it: cs[2i] = cos(pos inv_freq[i]),
// cs[2i + 1] = sin(...), i < n_rot/2 (n_rot doubles). Every layer and head of a
// token rotates by the same angles: a forward pass computes them once per token.
void RopeAngles(int64_t n_rot, int64_t pos, const double* inv_freq, double* cs);

// Rope with the angles of RopeAngles: the same result, bit for bit.
void RopeWith(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const double* cs, RopePairing pairing);

}  // namespace septet::cpu
