"""numba kernels of the speech backends: dumb loops over arrays, validated by the callers."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def dtw_accumulate(cost, open_begin, band_lo, band_hi):  # pragma: no cover - numba
    """Symmetric2 DTW accumulation with x on rows (consumed fully) and y on columns.

    ``open_begin`` lets row 0 start at any column. ``band_lo[i] <= j < band_hi[i]`` limits
    the cells evaluated. Returns the accumulated matrix and the step taken (0 diag, 1 up,
    2 left) into each cell.
    """
    n, m = cost.shape
    inf = np.inf
    acc = np.full((n, m), inf)
    step = np.full((n, m), -1, dtype=np.int8)
    for i in range(n):
        for j in range(band_lo[i], band_hi[i]):
            c = cost[i, j]
            if i == 0:
                if j == 0 or open_begin:
                    acc[i, j] = c
                    step[i, j] = 3
                else:
                    acc[i, j] = acc[i, j - 1] + c
                    step[i, j] = 2
                continue
            best = acc[i - 1, j] + c
            s = 1
            if j > 0:
                d = acc[i - 1, j - 1] + 2.0 * c
                if d <= best:
                    best = d
                    s = 0
                left = acc[i, j - 1] + c
                if left < best:
                    best = left
                    s = 2
            acc[i, j] = best
            step[i, j] = s
    return acc, step


@nb.njit(cache=True)
def dtw_backtrack(step, i, j):  # pragma: no cover - numba
    """Path (k, 2) from cell (i, j) back to the start recorded in ``step``."""
    out = np.empty((i + j + 2, 2), dtype=np.int64)
    k = 0
    while True:
        out[k, 0] = i
        out[k, 1] = j
        k += 1
        s = step[i, j]
        if s == 3:
            break
        if s == 0:
            i -= 1
            j -= 1
        elif s == 1:
            i -= 1
        elif s == 2:
            j -= 1
        else:
            break
    return out[:k][::-1].copy()


def local_dtw_path(cost: np.ndarray, *, open_begin: bool = False, open_end: bool = False):
    """Fallback DTW on a cost matrix (n, m): returns (path (k, 2), normalised cost)."""
    n, m = cost.shape
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, m, dtype=np.int64)
    acc, step = dtw_accumulate(np.ascontiguousarray(cost, dtype=np.float64), open_begin, lo, hi)
    if open_end:
        j = int(np.argmin(acc[n - 1] / (n + np.arange(1, m + 1))))
    else:
        j = m - 1
    path = dtw_backtrack(step, n - 1, j)
    span = path[-1, 1] - path[0, 1] + 1
    return path, float(acc[n - 1, j] / (n + span))


@nb.njit(cache=True)
def dtw_p1_accumulate(cost):  # pragma: no cover - numba
    """Sakoe-Chiba symmetric P=1 DTW (local slope between 1/2 and 2), normalised by n + m.

    Moves into (i, j): 0 from (i-1, j-2) via (i, j-1); 1 from (i-1, j-1); 2 from (i-2, j-1)
    via (i-1, j). Weights as dtw-python's ``symmetricP1``.
    """
    n, m = cost.shape
    inf = np.inf
    acc = np.full((n, m), inf)
    move = np.full((n, m), -1, dtype=np.int8)
    acc[0, 0] = cost[0, 0]  # as dtw-python
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
    while i > 0 or j > 0:
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


def slope_dtw_path(cost: np.ndarray, open_end: bool = False):
    """Symmetric P=1 DTW path (k, 2) and cost / (n + m_used).

    With ``open_end`` the path may stop at any column of the last row (the recording goes
    on past the template). Returns None where the slope limits make it infeasible.
    """
    n, m = cost.shape
    if n < 2 or m < 2 or n > 2 * m - 1 or (not open_end and m > 2 * n - 1):
        return None
    acc, move = dtw_p1_accumulate(np.ascontiguousarray(cost, dtype=np.float64))
    if open_end:
        norm = acc[n - 1] / (n + np.arange(1, m + 1))
        j = int(np.argmin(norm))
    else:
        j = m - 1
    if not np.isfinite(acc[n - 1, j]):
        return None
    path = dtw_p1_backtrack(move, n - 1, j)
    if path[0, 0] != 0 or path[0, 1] != 0:
        return None
    return path, float(acc[n - 1, j] / (n + j + 1))


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
