#!/usr/bin/env python3
"""Derives Q3P5_NL's 8 levels (src/quant/q3p5_nl.h, kQ3P5NLLevels) and, with
--format q4nl, Q4_NL's 16 levels (src/quant/q4_nl.h, kQ4NLLevels: groups of 32,
4-bit signed scales).

Lloyd-Max iteration for 8 levels on groups of 16 weights, each group with its own
free signed scale (the format's per-16 scale; its sign lets one codebook serve both
skews): alternately (1) give every group the scale t on a grid of candidates
+-max|w|/max|L| * f (f in [0.6, 1.2]), refit by least squares, with the lowest
squared error, and (2) move every level to the t^2-weighted mean of w/t over the
weights coded to it. Data: unit-variance Gaussian groups (what a Hadamard-rotated
weight matrix looks like); the shipped levels are this default run's output.
With --gguf, as many groups of the rotated matmul weights of layers 3 and 15 of
SmolLM2 (the F32 base that `septet quantize --type F32` writes; random signs and a
64-point Hadamard transform, as `septet quantize --rotate` does), each scaled to
unit variance, are added: the positive levels then move by 1 (5, 30, 58, 98) and
the squared error does not change in the third digit. Prints the float levels,
the int8 levels scaled to |L| <= 127, and the squared error of the int8 levels
with 6-bit signed scales against Q3P5-style uniform levels -4..3.

  scripts/q3p5nl_codebook.py [--gguf build/quality-smollm2/smollm2-f32.gguf]
  scripts/q3p5nl_codebook.py --format q4nl
"""
import argparse

import numpy as np


def hadamard(n):
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


def fit_scales(x, levels, grid):
    """Per group (row of x): the signed scale with the lowest squared error."""
    amax = np.abs(x).max(1, keepdims=True)
    best = np.full(x.shape[0], np.inf)
    best_t = np.zeros((x.shape[0], 1))
    for sign in (1.0, -1.0):
        for f in grid:
            t = sign * amax * f / np.abs(levels).max()
            t = np.where(t == 0, 1e-30, t)
            q = levels[np.abs(x[:, :, None] / t[:, :, None] - levels).argmin(2)]
            den = (q * q).sum(1, keepdims=True)
            t = np.where(den > 0, (q * x).sum(1, keepdims=True) / np.maximum(den, 1e-30), t)
            t = np.where(t == 0, 1e-30, t)
            q = levels[np.abs(x[:, :, None] / t[:, :, None] - levels).argmin(2)]
            err = ((x - t * q) ** 2).sum(1)
            better = err < best
            best = np.where(better, err, best)
            best_t = np.where(better[:, None], t, best_t)
    return best_t, best.sum()


def quantized_error(x, levels, sbits=6):
    """Squared error with the scales stored as signed sbits-bit integers per block of 128."""
    t, _ = fit_scales(x, levels, np.linspace(0.6, 1.3, 15))
    tb = t.reshape(-1, 128 // x.shape[1])
    d = np.maximum(np.maximum(tb.max(1, keepdims=True) / (2 ** (sbits - 1) - 1), -tb.min(1, keepdims=True) / 2 ** (sbits - 1)), 1e-30)
    sc = np.clip(np.round(tb / d), -(2 ** (sbits - 1)), 2 ** (sbits - 1) - 1)
    s = (sc * d).reshape(-1, 1)
    s = np.where(s == 0, 1e-30, s)
    q = levels[np.abs(x[:, :, None] / s[:, :, None] - levels).argmin(2)]
    return ((x - s * q) ** 2).sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=None)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--format", choices=("q3p5nl", "q4nl"), default="q3p5nl")
    args = ap.parse_args()
    # (levels, weights per scale, scale bits, uniform levels of the same count)
    nlev, group, sbits = (8, 16, 6) if args.format == "q3p5nl" else (16, 32, 4)
    rng = np.random.default_rng(1)
    data = [rng.standard_normal((800 * 8 * 16 // group, group))]
    if args.gguf:
        import gguf
        rows = []
        for t in gguf.GGUFReader(args.gguf).tensors:
            parts = t.name.split(".")
            if t.name.startswith("blk.") and parts[1] in ("3", "15") and parts[2] in ("attn_q", "attn_v", "ffn_up", "ffn_down"):
                a = np.array(t.data, dtype=np.float64).reshape(-1, int(t.shape[0]))
                n = a.shape[1]
                a = (a * rng.choice([-1.0, 1.0], size=n)).reshape(a.shape[0], n // 64, 64) @ hadamard(64)
                rows.append(a.reshape(-1, n)[:256].reshape(-1, group))
        w = np.concatenate(rows)
        w = w / w.std()
        data.append(w[rng.permutation(len(w))[:800 * 8 * 16 // group]])
    x = np.concatenate(data)
    levels = np.array([-2.4, -1.5, -0.9, -0.4, 0.0, 0.5, 1.1, 1.9]) if nlev == 8 else np.linspace(-2.4, 1.9, nlev)
    grid = np.linspace(0.6, 1.2, 13)
    for it in range(args.iters):
        t, err = fit_scales(x, levels, grid)
        y = (x / t).ravel()
        wt = np.repeat(t ** 2, group, axis=1).ravel()
        idx = np.abs(y[:, None] - levels[None, :]).argmin(1)
        levels = np.array([(wt[idx == k] * y[idx == k]).sum() / wt[idx == k].sum() for k in range(nlev)])
        print("iteration %2d: squared error / sum w^2 = %.5f" % (it, err / (x ** 2).sum()))
    li = np.round(levels / np.abs(levels).max() * 127)
    print("levels:", np.round(levels, 4))
    print("int8 levels (|L| <= 127):", li.astype(int).tolist())
    per_block = 128 // group
    xb = x[: (len(x) // per_block) * per_block]
    e_nl = quantized_error(xb, li, sbits)
    e_u = quantized_error(xb, np.arange(-nlev // 2, nlev // 2, dtype=float), sbits)
    print("%d-bit signed scales per %d: int8 levels %.5f, uniform %d..%d %.5f (relative squared error)"
          % (sbits, group, e_nl / (xb ** 2).sum(), -nlev // 2, nlev // 2 - 1, e_u / (xb ** 2).sum()))


if __name__ == "__main__":
    main()
