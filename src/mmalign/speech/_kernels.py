"""numba kernels of the speech backends: dumb loops over arrays, validated by the callers."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def ctc_viterbi(log_probs, targets, blank):  # pragma: no cover - numba
    """Best CTC alignment of ``targets`` (L,) to ``log_probs`` (T, C).

    Returns the frame labels (T,) as indices into the blank-extended target sequence
    (length 2L + 1; even = blank, odd = targets[(s - 1) // 2]) and the path log-probability.
    """
    T = log_probs.shape[0]
    L = targets.shape[0]
    S = 2 * L + 1
    neg = -np.inf
    alpha = np.full((T, S), neg)
    back = np.zeros((T, S), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    ext = np.empty(S, dtype=np.int64)
    for s in range(S):
        ext[s] = blank if s % 2 == 0 else targets[(s - 1) // 2]
    alpha[0, 0] = log_probs[0, blank]
    if S > 1:
        alpha[0, 1] = log_probs[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            best = alpha[t - 1, s]
            b = 0
            if s >= 1 and alpha[t - 1, s - 1] > best:
                best = alpha[t - 1, s - 1]
                b = 1
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2] and alpha[t - 1, s - 2] > best:
                best = alpha[t - 1, s - 2]
                b = 2
            if best > neg:
                alpha[t, s] = best + log_probs[t, ext[s]]
                back[t, s] = b
    s = S - 1
    if S > 1 and alpha[T - 1, S - 2] > alpha[T - 1, S - 1]:
        s = S - 2
    score = alpha[T - 1, s]
    states = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= back[t, s]
    return states, score
