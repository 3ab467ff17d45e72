#!/usr/bin/env python3
"""Derives Q4_T's 32 levels (src/quant/q4_t.h, kQ4TLevels).

Q4_T is trellis-coded quantization (TCQ; Marcellin and Fischer 1990): each weight
stores 4 bits, a branch bit b and a 3-bit index i; the 32 levels are split into
4 subsets by level number mod 4, and the subset z = y0 + 2 y1 of weight k is a
function of the branch bits of weights k, k-2, k-3, k-5 of the row (the 32-state
rate-1/2 code with parity polynomials h0 = 45, h1 = 10 (octal), in feed-forward
form: y1 = b_k ^ b_k-2 ^ b_k-5, y0 = b_k-3; bits before the row are 0). A row of
codes is chosen by the Viterbi algorithm over those 32 states, so each weight
picks from 16 of the 32 levels, and which 16 depends on its neighbours' choices.

Lloyd iteration for the 32 levels on unit-variance Gaussian rows of 512 weights
(what a Hadamard-rotated weight matrix looks like) in groups of 32, each group with
its own free scale t (the format's per-32 scale, the sign folded into the level
search since the levels come out symmetric to a level): alternately (1) give
every group the scale rms(w) * f (f on a grid) with the lowest squared error of a
Viterbi search over that group alone from any state, (2) code every row by one
Viterbi search over the whole row with those scales, and (3) move every level to
the t^2-weighted mean of w / t over the weights coded to it. Prints the float
levels, the int8 levels scaled to |L| <= 127 (the shipped table is this default
run's), and the squared error per weight against a 16-level scalar code of the
same groups (Q4_NL's levels, best scale on a grid).

  scripts/q4t_codebook.py [--iters 40] [--rows 384]
"""
import argparse

import numpy as np

NU = 5  # 32 states
Q4NL = np.array([-127, -103, -84, -68, -54, -41, -29, -16, -4, 8, 20, 32, 46, 60, 77, 101], float) / 127
GRID = np.linspace(0.7, 1.4, 11)


def labels():
    """z[s, b] and the next state for state s (bit k-1 of s = b of weight k - k... 1..5 back)."""
    S = 1 << NU
    z = np.zeros((S, 2), int)
    nxt = np.zeros((S, 2), int)
    for s in range(S):
        for b in (0, 1):
            past = [b] + [(s >> (d - 1)) & 1 for d in range(1, NU + 1)]  # past[d] = b_{k-d}
            y1 = past[0] ^ past[2] ^ past[5]
            y0 = past[3]
            z[s, b] = y0 + 2 * y1
            nxt[s, b] = ((s << 1) | b) & (S - 1)
    pred = [[] for _ in range(S)]
    for s in range(S):
        for b in (0, 1):
            pred[nxt[s, b]].append((s, b))
    p = np.array(pred)  # [S, 2, (state, bit)]
    return z, p


Z, PRED = labels()
ZP = Z[PRED[:, :, 0], PRED[:, :, 1]]  # [S, 2]: subset of each incoming branch


def nearest(x, lv):
    mid = (lv[1:] + lv[:-1]) / 2
    return lv[np.searchsorted(mid, x)]


def viterbi(x, levels, wgt, free_start):
    """x [n, L] in level units; returns (reconstruction [n, L], cost [n])."""
    n, L = x.shape
    subs = [np.sort(levels[z::4]) for z in range(4)]
    rec = np.stack([nearest(x, subs[z]) for z in range(4)])
    err = (x[None] - rec) ** 2 * wgt[None]
    S = 1 << NU
    cost = np.zeros((n, S)) if free_start else np.where(np.arange(S)[None] == 0, 0.0, 1e30) * np.ones((n, 1))
    back = np.zeros((L, n, S), dtype=np.int16)
    for i in range(L):
        c0 = cost[:, PRED[:, 0, 0]] + err[ZP[:, 0], :, i].T
        c1 = cost[:, PRED[:, 1, 0]] + err[ZP[:, 1], :, i].T
        take1 = c1 < c0
        cost = np.where(take1, c1, c0)
        back[i] = np.where(take1, PRED[None, :, 1, 0], PRED[None, :, 0, 0])
    s = np.argmin(cost, 1)
    best = cost[np.arange(n), s]
    out = np.empty((n, L))
    ar = np.arange(n)
    for i in range(L - 1, -1, -1):
        ps = back[i][ar, s]
        out[:, i] = rec[Z[ps, s & 1], ar, i]
        s = ps
    return out, best


def code_rows(w, levels, group):
    n, L = w.shape
    g = w.reshape(-1, group)
    rms = np.sqrt((g ** 2).mean(1, keepdims=True)) + 1e-12
    best = np.full(g.shape[0], np.inf)
    t = np.ones((g.shape[0], 1))
    for f in GRID:
        s = rms * f
        _, c = viterbi(g / s, levels, np.ones_like(g), True)
        c = c * s[:, 0] ** 2
        m = c < best
        best[m] = c[m]
        t[m] = s[m]
    T = np.repeat(t.reshape(n, L // group), group, axis=1)
    out, cost = viterbi(w / T, levels, T ** 2, False)
    return out, T, cost.sum() / w.size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--rows", type=int, default=384)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    w = rng.standard_normal((a.rows, 512))
    group = 32
    levels = (np.arange(32) - 15.5) * 0.17
    for it in range(a.iters):
        out, T, mse = code_rows(w, levels, group)
        print(f"iteration {it}: squared error per weight {mse:.6f}")
        xn = w / T
        new = levels.copy()
        for k in range(32):
            m = np.isclose(out, levels[k])
            if m.any():
                new[k] = (xn[m] * T[m] ** 2).sum() / (T[m] ** 2).sum()
        levels = np.sort(new)
    print("float levels:", np.round(levels, 4).tolist())
    q = np.round(levels / np.abs(levels).max() * 127).astype(int)
    print("int8 levels:", q.tolist())
    _, _, mse = code_rows(w, q * (np.abs(levels).max() / 127), group)  # same unit as the float levels
    g = w.reshape(-1, group)
    amax = np.abs(g).max(1, keepdims=True)
    best = np.full(g.shape[0], np.inf)
    for f in np.linspace(0.6, 1.3, 15):
        for sg in (1, -1):
            s = amax * f * sg
            best = np.minimum(best, ((g - nearest(g / s, Q4NL) * s) ** 2).sum(1))
    nl = best.sum() / w.size
    print(f"int8 levels: squared error per weight {mse:.6f}; 16-level scalar code (Q4_NL levels) {nl:.6f}; "
          f"ratio {mse / nl:.3f}")


if __name__ == "__main__":
    main()
