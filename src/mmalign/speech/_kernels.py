"""numba kernels of the speech backends: dumb loops over arrays, validated by the callers."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def dtw_p1_accumulate(cost, open_begin):  # pragma: no cover - numba
    """Sakoe-Chiba symmetric P=1 DTW (local slope between 1/2 and 2), normalised by n + m.

    Moves into (i, j): 0 from (i-1, j-2) via (i, j-1); 1 from (i-1, j-1); 2 from (i-2, j-1)
    via (i-1, j). Weights as dtw-python's ``symmetricP1``. With ``open_begin`` the path may
    start at any cell of row 0.
    """
    n, m = cost.shape
    inf = np.inf
    acc = np.full((n, m), inf)
    move = np.full((n, m), -1, dtype=np.int8)
    acc[0, 0] = cost[0, 0]  # as dtw-python
    if open_begin:
        for j in range(1, m):
            acc[0, j] = cost[0, j]
    for i in range(1, n):
        for j in range(1, m):
            c = cost[i, j]
            best = acc[i - 1, j - 1] + 2.0 * c
            mv = 1
            if j >= 2:
                v = acc[i - 1, j - 2] + 2.0 * cost[i, j - 1] + c
                if v < best:
                    best = v
                    mv = 0
            if i >= 2:
                v = acc[i - 2, j - 1] + 2.0 * cost[i - 1, j] + c
                if v < best:
                    best = v
                    mv = 2
            acc[i, j] = best
            move[i, j] = mv
    return acc, move


@nb.njit(cache=True)
def dtw_p1_backtrack(move, i, j):  # pragma: no cover - numba
    out = np.empty((i + j + 2, 2), dtype=np.int64)
    k = 0
    out[k, 0] = i
    out[k, 1] = j
    k += 1
    while i > 0:
        mv = move[i, j]
        if mv == 0:
            out[k, 0] = i
            out[k, 1] = j - 1
            k += 1
            i -= 1
            j -= 2
        elif mv == 1:
            i -= 1
            j -= 1
        elif mv == 2:
            out[k, 0] = i - 1
            out[k, 1] = j
            k += 1
            i -= 2
            j -= 1
        else:
            break
        out[k, 0] = i
        out[k, 1] = j
        k += 1
    return out[:k][::-1].copy()


def slope_dtw_path(cost: np.ndarray, open_begin: bool = False, open_end: bool = False):
    """Symmetric P=1 DTW path (k, 2) and cost / (n + m_used).

    With ``open_begin`` / ``open_end`` the path may start / stop at any column of the first /
    last row (the recording holds more than the template). Returns None where the slope
    limits make it infeasible.
    """
    n, m = cost.shape
    if n < 2 or m < 2 or n > 2 * m - 1 or (not (open_begin or open_end) and m > 2 * n - 1):
        return None
    acc, move = dtw_p1_accumulate(np.ascontiguousarray(cost, dtype=np.float64), open_begin)
    if open_end:
        norm = acc[n - 1] / (n + np.arange(1, m + 1))
        j = int(np.argmin(norm))
    else:
        j = m - 1
    if not np.isfinite(acc[n - 1, j]):
        return None
    path = dtw_p1_backtrack(move, n - 1, j)
    if path[0, 0] != 0 or (path[0, 1] != 0 and not open_begin):
        return None
    return path, float(acc[n - 1, j] / (n + j - path[0, 1] + 1))


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
