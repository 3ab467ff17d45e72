#include "kernels/cpu/rope.h"

#include <cmath>
#include <numbers>

#include "core/check.h"

namespace septet::cpu {

std::vector<double> RopeInvFreq(int64_t n_rot, double base, const RopeScaling& scaling) {
  SEPTET_CHECK(n_rot > 0 && n_rot % 2 == 0);
  std::vector<double> inv(static_cast<size_t>(n_rot / 2));
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    double f = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
    switch (scaling.kind) {
      case RopeScaling::Kind::kNone:
        break;
      case RopeScaling::Kind::kLinear:
        f /= scaling.factor;
        break;
      case RopeScaling::Kind::kLlama3: {
        const double wavelen = 2.0 * std::numbers::pi / f;
        const double low_wavelen = scaling.original_context / scaling.low_freq_factor;
        const double high_wavelen = scaling.original_context / scaling.high_freq_factor;
        if (wavelen < high_wavelen) {
          // high frequency: unchanged
        } else if (wavelen > low_wavelen) {
          f /= scaling.factor;
        } else {
          const double smooth = (scaling.original_context / wavelen - scaling.low_freq_factor) /
                                (scaling.high_freq_factor - scaling.low_freq_factor);
          f = (1.0 - smooth) * f / scaling.factor + smooth * f;
        }
        break;
      }
    }
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

void RopeAngles(int64_t n_rot, int64_t pos, const double* inv_freq, double* cs) {
  SEPTET_DCHECK(n_rot % 2 == 0);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq[i];
    cs[2 * i] = std::cos(angle);
    cs[2 * i + 1] = std::sin(angle);
  }
}

void Rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos,
          const double* inv_freq, RopePairing pairing) {
  std::vector<double> cs(static_cast<size_t>(n_rot));
  RopeAngles(n_rot, pos, inv_freq, cs.data());
  RopeWith(x, n_heads, head_dim, n_rot, cs.data(), pairing);
}

void RopeWith(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const double* cs, RopePairing pairing) {
  SEPTET_DCHECK(n_rot % 2 == 0 && n_rot <= head_dim);
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double c = cs[2 * i];
    const double s = cs[2 * i + 1];
    // Offsets of the pair's two members inside a head.
    const int64_t ia = pairing == RopePairing::kInterleaved ? 2 * i : i;
    const int64_t ib = pairing == RopePairing::kInterleaved ? 2 * i + 1 : i + half;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* head = x + h * head_dim;
      const double a = head[ia];
      const double b = head[ib];
      head[ia] = static_cast<float>(a * c - b * s);
      head[ib] = static_cast<float>(a * s + b * c);
    }
  }
}

}  // namespace septet::cpu
