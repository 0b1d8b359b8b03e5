"""numba kernels of the DTW core: plain loops over arrays, no validation.

The public wrappers in :mod:`mmalign.explicit._dtw` validate, convert and dispatch. Conventions:

- The local cost of cell ``(i, j)`` comes from ``x`` / ``yt`` and an integer ``metric`` code:
  for the built-in metrics ``x`` is ``(n, d)`` and ``yt`` is ``y`` transposed, ``(d, m)``,
  so that a row of costs vectorises over ``j``; for ``PRECOMPUTED`` ``x`` holds a block of
  the cost matrix whose element ``[0, 0]`` is cell ``(r0, c0)``.
- A window is a pair of per-row column ranges ``lo[i] <= j <= hi[i]`` (row-convex, O(n)
  memory) and optionally a boolean ``mask`` (shape ``(0, 0)`` when absent).
- Step patterns: ``SYMMETRIC`` has the steps (1, 0), (1, 1), (0, 1) with weights
  ``w[0], w[1], w[2]`` on the local cost of the cell reached; ``ASYMMETRIC`` has (1, 0),
  (1, 1), (1, 2) with weights ``w[0], w[1], w[2]``. Both use (di, dj) = (x step, y step).
- The start cell of a sub-problem costs its local cost once (weight 1), as in dtw-python.
- ``SYMMETRIC_P1`` (Sakoe & Chiba's symmetric P=1, slope within [1/2, 2]) has its own
  full-matrix kernels, :func:`p1_accumulate` and :func:`p1_backtrack`, on a cost matrix.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SQEUCLIDEAN = 0
EUCLIDEAN = 1
CITYBLOCK = 2
COSINE = 3
PRECOMPUTED = 4

SYMMETRIC = 0
ASYMMETRIC = 1
SYMMETRIC_P1 = 2

_INF = np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def cost_row(x, yt, metric, mask, r0, c0, i, jl, jh, j0, buf):
    """Fill ``buf[j - j0]`` with the local cost of cells ``(i, jl..jh)``."""
    d = x.shape[1]
    # work on views with 0-based range indices: no negative-index checks, so loops vectorise
    out = buf[jl - j0 : jh - j0 + 1]
    L = jh - jl + 1
    if metric == PRECOMPUTED:
        src = x[i - r0, jl - c0 : jh - c0 + 1]
        for t in range(L):
            out[t] = src[t]
    elif d == 1 and metric != COSINE:  # univariate: one pass
        xv = x[i, 0]
        y0 = yt[0, jl : jh + 1]
        if metric == SQEUCLIDEAN:
            for t in range(L):
                v = xv - y0[t]
                out[t] = v * v
        else:  # euclidean and cityblock coincide
            for t in range(L):
                out[t] = abs(xv - y0[t])
    else:
        # features outside, frames inside: vectorises over frames and sums each cost in
        # feature order (the same value as a per-cell loop)
        for t in range(L):
            out[t] = 0.0
        for k in range(d):
            xv = x[i, k]
            yk = yt[k, jl : jh + 1]
            if metric == COSINE:
                for t in range(L):
                    out[t] += xv * yk[t]
            elif metric == CITYBLOCK:
                for t in range(L):
                    out[t] += abs(xv - yk[t])
            else:
                for t in range(L):
                    v = xv - yk[t]
                    out[t] += v * v
        if metric == EUCLIDEAN:
            for t in range(L):
                out[t] = np.sqrt(out[t])
        elif metric == COSINE:
            for t in range(L):
                v = 1.0 - out[t]
                out[t] = v if v > 0.0 else 0.0
    if mask.shape[0] > 0:
        mrow = mask[i, jl : jh + 1]
        for t in range(L):
            if not mrow[t]:
                out[t] = _INF


@njit(cache=True, nogil=True)
def sakoe_chiba_ranges(n, m, radius, lo, hi):
    """Slanted Sakoe-Chiba band: distance to the line (0, 0)-(n-1, m-1) along the longer axis.

    The half width is ``radius + s / 2`` with ``s = (L-1)/(S-1)``: the ``s / 2`` term covers
    the cells the line passes through, so ``radius=0`` is the (connected) digital diagonal.
    """
    eps = 1e-9
    if n == 1 or m == 1:
        for i in range(n):
            lo[i] = 0
            hi[i] = m - 1
        return
    if m >= n:
        s = (m - 1) / (n - 1)
        half = radius + s / 2.0
        for i in range(n):
            a = int(np.ceil(s * i - half - eps))
            b = int(np.floor(s * i + half + eps))
            lo[i] = max(a, 0)
            hi[i] = min(b, m - 1)
    else:
        s = (n - 1) / (m - 1)
        half = radius + s / 2.0
        # |s * j - i| <= half  <=>  (i - half) / s <= j <= (i + half) / s
        for i in range(n):
            a = int(np.ceil((i - half) / s - eps))
            b = int(np.floor((i + half) / s + eps))
            lo[i] = max(a, 0)
            hi[i] = min(b, m - 1)


@njit(cache=True, nogil=True)
def itakura_ranges(n, m, max_slope, lo, hi):
    """Itakura parallelogram with slopes in [1/max_slope, max_slope] in normalised axes."""
    eps = 1e-9
    if n == 1 or m == 1:
        for i in range(n):
            lo[i] = 0
            hi[i] = m - 1
        return
    # the digital diagonal is always kept: on a coarse grid the parallelogram near its
    # corners can be thinner than a cell, which would leave rows without any cell
    sakoe_chiba_ranges(n, m, 0.0, lo, hi)
    # work in units of y indices: u = i * (m - 1) / (n - 1)
    r = (m - 1) / (n - 1)
    for i in range(n):
        u = i * r
        v = (n - 1 - i) * r
        a = max(u / max_slope, (m - 1) - v * max_slope)
        b = min(u * max_slope, (m - 1) - v / max_slope)
        a_i = int(np.ceil(a - eps))
        b_i = int(np.floor(b + eps))
        if a_i <= b_i:
            lo[i] = max(min(lo[i], a_i), 0)
            hi[i] = min(max(hi[i], b_i), m - 1)


@njit(cache=True, nogil=True, inline="always")
def _dp_cell(prev, plo, phi, cur, blo, b, d, pattern, w0, w1, w2):
    """Forward recursion at one cell of a non-first row, with all bounds checks."""
    best = _INF
    if plo <= b <= phi:
        best = prev[b] + w0 * d
    if plo <= b - 1 <= phi:
        v = prev[b - 1] + w1 * d
        if v < best:
            best = v
    if pattern == SYMMETRIC:
        if b - 1 >= blo:
            v = cur[b - 1] + w2 * d
            if v < best:
                best = v
    elif plo <= b - 2 <= phi:
        v = prev[b - 2] + w2 * d
        if v < best:
            best = v
    return best


@njit(cache=True, nogil=True, inline="always")
def _dp_row(prev, plo, phi, cur, blo, bhi, buf, first, open_begin, pattern, w0, w1, w2):
    """One row of the forward recursion on column-local indices ``b``.

    The cells whose predecessors are all inside the window run in a loop without bounds
    checks (the hot loop: one add and one min on the dependency chain per cell).
    """
    if first:
        for b in range(blo, bhi + 1):
            d = buf[b]
            if open_begin or b == 0:
                cur[b] = d
            elif pattern == SYMMETRIC and b - 1 >= blo:
                cur[b] = cur[b - 1] + w2 * d
            else:
                cur[b] = _INF
        return
    # interior: b - 1 >= blo, b - lag >= plo, b <= phi (lag 1 symmetric, 2 asymmetric)
    lag = 1 if pattern == SYMMETRIC else 2
    start = max(blo + 1, plo + lag)
    stop = min(bhi, phi)
    if start > stop:
        for b in range(blo, bhi + 1):
            cur[b] = _dp_cell(prev, plo, phi, cur, blo, b, buf[b], pattern, w0, w1, w2)
        return
    for b in range(blo, start):
        cur[b] = _dp_cell(prev, plo, phi, cur, blo, b, buf[b], pattern, w0, w1, w2)
    if pattern == SYMMETRIC:
        left = cur[start - 1]
        for b in range(start, stop + 1):
            d = buf[b]
            a = prev[b] + w0 * d
            c = prev[b - 1] + w1 * d
            m = a if a < c else c
            h = left + w2 * d
            left = h if h < m else m
            cur[b] = left
    else:
        for b in range(start, stop + 1):
            d = buf[b]
            a = prev[b] + w0 * d
            c = prev[b - 1] + w1 * d
            e = prev[b - 2] + w2 * d
            m = a if a < c else c
            cur[b] = e if e < m else m
    for b in range(stop + 1, bhi + 1):
        cur[b] = _dp_cell(prev, plo, phi, cur, blo, b, buf[b], pattern, w0, w1, w2)


@njit(cache=True, nogil=True, error_model="numpy")
def accumulate(x, yt, metric, mask, r0, c0, i0, j0, ms, rlo, rhi, off, pattern, w, open_begin, acc):
    """Accumulated costs of the sub-grid at (i0, j0), stored row by row in the window only.

    Row ``a`` holds local columns ``rlo[a]..rhi[a]`` at ``acc[ms + off[a] + b - rlo[a]]``
    (``acc`` has ``ms`` cells of padding at both ends), so a band costs O(band) memory.
    """
    ns = rlo.shape[0]
    buf = np.empty(ms)
    w0, w1, w2 = w[0], w[1], w[2]
    plo, phi = 1, 0
    prev_start = 0
    for a in range(ns):
        blo, bhi = rlo[a], rhi[a]
        if blo > bhi:
            plo, phi = 1, 0
            continue
        cost_row(x, yt, metric, mask, r0, c0, i0 + a, j0 + blo, j0 + bhi, j0, buf)
        start = ms + off[a] - blo
        cur = acc[start : start + ms]  # cur[b] is cell (a, b)
        prev = acc[prev_start : prev_start + ms]
        _dp_row(prev, plo, phi, cur, blo, bhi, buf, a == 0, open_begin, pattern, w0, w1, w2)
        prev_start = start
        plo, phi = blo, bhi


@njit(cache=True, nogil=True, inline="always")
def _acc_at(acc, ms, rlo, rhi, off, a, b):
    if a < 0 or b < rlo[a] or b > rhi[a]:
        return _INF
    return acc[ms + off[a] + b - rlo[a]]


@njit(cache=True, nogil=True, error_model="numpy")
def backtrack(
    acc, ms, rlo, rhi, off, x, yt, metric, mask, r0, c0, i0, j0, end_b, pattern, w, open_begin
):
    """Optimal path (global indices) through ``acc`` ending at local cell (ns-1, end_b)."""
    ns = rlo.shape[0]
    out = np.empty((ns + ms, 2), dtype=np.int64)
    buf = np.empty(1)
    a, b = ns - 1, end_b
    k = 0
    while True:
        out[k, 0] = i0 + a
        out[k, 1] = j0 + b
        k += 1
        if a == 0 and (open_begin or b == 0):
            break
        cost_row(x, yt, metric, mask, r0, c0, i0 + a, j0 + b, j0 + b, j0 + b, buf)
        d = buf[0]
        best = _INF
        na, nb = -1, -1
        # candidates in the tie-break order: diagonal, vertical, then horizontal / (1, 2)
        v = _acc_at(acc, ms, rlo, rhi, off, a - 1, b - 1) + w[1] * d
        if v < best:
            best, na, nb = v, a - 1, b - 1
        v = _acc_at(acc, ms, rlo, rhi, off, a - 1, b) + w[0] * d
        if v < best:
            best, na, nb = v, a - 1, b
        if pattern == SYMMETRIC:
            v = _acc_at(acc, ms, rlo, rhi, off, a, b - 1) + w[2] * d
            if v < best:
                best, na, nb = v, a, b - 1
        else:
            v = _acc_at(acc, ms, rlo, rhi, off, a - 1, b - 2) + w[2] * d
            if v < best:
                best, na, nb = v, a - 1, b - 2
        if na < 0:  # unreachable cell: no finite predecessor
            return out[:0]
        a, b = na, nb
    res = out[:k][::-1].copy()
    return res


@njit(cache=True, nogil=True, error_model="numpy")
def forward_rows(
    x, yt, metric, mask, r0, c0, i_start, i_stop, first, j0, j1, lo, hi, pattern, w,
    open_begin, prev, plo, phi,
):  # fmt: skip
    """Rolling forward recursion over rows i_start..i_stop (inclusive) of columns j0..j1.

    ``prev`` holds the accumulated row ``i_start - 1`` on its local range ``plo..phi``
    (ignored when ``first``); on return it holds row ``i_stop``; returns its range.
    """
    ms = j1 - j0 + 1
    buf = np.empty(ms)
    buf2 = np.empty(ms)
    p = prev  # the previous row; rows rotate through p, c, c2 without copies
    c = np.empty(ms)
    c2 = np.empty(ms)
    owner = 0  # which of p (0), c (1), c2 (2) is the caller's array ``prev``
    w0, w1, w2 = w[0], w[1], w[2]
    i = i_start
    while i <= i_stop:
        jl = max(lo[i], j0)
        jh = min(hi[i], j1)
        if jl > jh:
            plo, phi = 1, 0
            first = False
            i += 1
            continue
        if (
            pattern == SYMMETRIC
            and not first
            and i + 1 <= i_stop
            and jl == j0
            and jh == j1
            and plo == 0
            and phi == ms - 1
            and lo[i + 1] <= j0
            and hi[i + 1] >= j1
        ):
            # two full rows at once: two interleaved dependency chains
            cost_row(x, yt, metric, mask, r0, c0, i, jl, jh, j0, buf)
            cost_row(x, yt, metric, mask, r0, c0, i + 1, jl, jh, j0, buf2)
            _dp_two_rows(p, c, c2, buf, buf2, ms, w0, w1, w2)
            p, c2 = c2, p
            owner = 2 if owner == 0 else (0 if owner == 2 else owner)
            i += 2
            continue
        cost_row(x, yt, metric, mask, r0, c0, i, jl, jh, j0, buf)
        _dp_row(p, plo, phi, c, jl - j0, jh - j0, buf, first, open_begin, pattern, w0, w1, w2)
        p, c = c, p
        owner = 1 if owner == 0 else (0 if owner == 1 else owner)
        plo, phi = jl - j0, jh - j0
        first = False
        i += 1
    if owner != 0:
        for b in range(plo, phi + 1):
            prev[b] = p[b]
    return plo, phi


@njit(cache=True, nogil=True, inline="always")
def _dp_two_rows(p, c1, c2, d1, d2, ms, w0, w1, w2):
    """Symmetric recursion over two full rows (c1 after p, c2 after c1) in one sweep."""
    n1 = p[0] + w0 * d1[0]
    n2 = n1 + w0 * d2[0]
    c1[0] = n1
    c2[0] = n2
    for b in range(1, ms):
        e = d1[b]
        a = p[b] + w0 * e
        g = p[b - 1] + w1 * e
        m = a if a < g else g
        h = n1 + w2 * e
        n1_prev = n1
        n1 = h if h < m else m
        c1[b] = n1
        e = d2[b]
        a = n1 + w0 * e
        g = n1_prev + w1 * e
        m = a if a < g else g
        h = n2 + w2 * e
        n2 = h if h < m else m
        c2[b] = n2


@njit(cache=True, nogil=True, error_model="numpy")
def backward_rows(
    x, yt, metric, mask, r0, c0, i_start, i_stop, last, j0, j1, lo, hi, pattern, w,
    nxt, nbuf, nlo, nhi,
):  # fmt: skip
    """Rolling cost-to-go over rows i_start down to i_stop (i_start >= i_stop).

    The cost-to-go of (i, j) sums the weighted local costs of the cells after (i, j) on the
    best path to the end cell (i_end, j1), excluding its own. ``nxt`` / ``nbuf`` hold the
    cost-to-go and the local costs of row ``i_start + 1`` (ignored when ``last``); on return
    they hold row ``i_stop``; returns its range.
    """
    ms = j1 - j0 + 1
    q, qb = nxt, nbuf  # the next row: cost-to-go and local costs (rotating, no copies)
    c, cb = np.empty(ms), np.empty(ms)
    c2, cb2 = np.empty(ms), np.empty(ms)
    owner = 0  # which pair (q, c, c2) holds the caller's arrays
    w0, w1, w2 = w[0], w[1], w[2]
    i = i_start
    while i >= i_stop:
        jl = max(lo[i], j0)
        jh = min(hi[i], j1)
        if jl > jh:
            nlo, nhi = 1, 0
            last = False
            i -= 1
            continue
        if (
            pattern == SYMMETRIC
            and not last
            and i - 1 >= i_stop
            and jl == j0
            and jh == j1
            and nlo == 0
            and nhi == ms - 1
            and lo[i - 1] <= j0
            and hi[i - 1] >= j1
        ):
            cost_row(x, yt, metric, mask, r0, c0, i, jl, jh, j0, cb)
            cost_row(x, yt, metric, mask, r0, c0, i - 1, jl, jh, j0, cb2)
            _back_two_rows(q, qb, c, cb, c2, cb2, ms, w0, w1, w2)
            q, c2 = c2, q
            qb, cb2 = cb2, qb
            owner = 2 if owner == 0 else (0 if owner == 2 else owner)
            i -= 2
            continue
        cost_row(x, yt, metric, mask, r0, c0, i, jl, jh, j0, cb)
        _back_row(q, qb, nlo, nhi, c, cb, jl - j0, jh - j0, last, ms, pattern, w0, w1, w2)
        q, c = c, q
        qb, cb = cb, qb
        owner = 1 if owner == 0 else (0 if owner == 1 else owner)
        nlo, nhi = jl - j0, jh - j0
        last = False
        i -= 1
    if owner != 0:
        for b in range(nlo, nhi + 1):
            nxt[b] = q[b]
            nbuf[b] = qb[b]
    return nlo, nhi


@njit(cache=True, nogil=True, inline="always")
def _back_cell(q, qb, nlo, nhi, c, cb, bhi, b, pattern, w0, w1, w2):
    """Cost-to-go at one cell of a non-last row, with all bounds checks."""
    best = _INF
    if nlo <= b <= nhi:
        best = q[b] + w0 * qb[b]
    if nlo <= b + 1 <= nhi:
        v = q[b + 1] + w1 * qb[b + 1]
        if v < best:
            best = v
    if pattern == SYMMETRIC:
        if b + 1 <= bhi:
            v = c[b + 1] + w2 * cb[b + 1]
            if v < best:
                best = v
    elif nlo <= b + 2 <= nhi:
        v = q[b + 2] + w2 * qb[b + 2]
        if v < best:
            best = v
    return best


@njit(cache=True, nogil=True, inline="always")
def _back_row(q, qb, nlo, nhi, c, cb, blo, bhi, last, ms, pattern, w0, w1, w2):
    """One row of the cost-to-go recursion, right to left; unchecked in the interior."""
    if last:
        for b in range(bhi, blo - 1, -1):
            if b == ms - 1:
                c[b] = 0.0
            elif pattern == SYMMETRIC and b + 1 <= bhi:
                c[b] = c[b + 1] + w2 * cb[b + 1]
            else:
                c[b] = _INF
        return
    lag = 1 if pattern == SYMMETRIC else 2
    start = max(blo, nlo)
    stop = min(bhi - 1 if pattern == SYMMETRIC else bhi, nhi - lag)
    if start > stop:
        for b in range(bhi, blo - 1, -1):
            c[b] = _back_cell(q, qb, nlo, nhi, c, cb, bhi, b, pattern, w0, w1, w2)
        return
    for b in range(bhi, stop, -1):
        c[b] = _back_cell(q, qb, nlo, nhi, c, cb, bhi, b, pattern, w0, w1, w2)
    if pattern == SYMMETRIC:
        right = c[stop + 1]
        for b in range(stop, start - 1, -1):
            a = q[b] + w0 * qb[b]
            g = q[b + 1] + w1 * qb[b + 1]
            m = a if a < g else g
            h = right + w2 * cb[b + 1]
            right = h if h < m else m
            c[b] = right
    else:
        for b in range(stop, start - 1, -1):
            a = q[b] + w0 * qb[b]
            g = q[b + 1] + w1 * qb[b + 1]
            e = q[b + 2] + w2 * qb[b + 2]
            m = a if a < g else g
            c[b] = e if e < m else m
    for b in range(start - 1, blo - 1, -1):
        c[b] = _back_cell(q, qb, nlo, nhi, c, cb, bhi, b, pattern, w0, w1, w2)


@njit(cache=True, nogil=True, inline="always")
def _back_two_rows(q, qb, c1, cb1, c2, cb2, ms, w0, w1, w2):
    """Symmetric cost-to-go over two full rows (c1 before q, c2 before c1) in one sweep."""
    last = ms - 1
    n1 = q[last] + w0 * qb[last]
    n2 = n1 + w0 * cb1[last]
    c1[last] = n1
    c2[last] = n2
    for b in range(ms - 2, -1, -1):
        n1_next = n1
        a = q[b] + w0 * qb[b]
        g = q[b + 1] + w1 * qb[b + 1]
        m = a if a < g else g
        h = n1_next + w2 * cb1[b + 1]
        n1 = h if h < m else m
        c1[b] = n1
        a = n1 + w0 * cb1[b]
        g = n1_next + w1 * cb1[b + 1]
        m = a if a < g else g
        h = n2 + w2 * cb2[b + 1]
        n2 = h if h < m else m
        c2[b] = n2


@njit(cache=True, nogil=True, error_model="numpy")
def _pair_cost(x, yt, metric, lo, hi, pattern, w, open_begin, open_end, norm):
    """Distance-only DTW of one pair in O(m) memory; ``norm`` 0 none, 1 by n, 2 by n + m."""
    n = x.shape[0]
    m = yt.shape[1]
    prev = np.empty(m)
    empty_mask = np.zeros((0, 0), dtype=np.bool_)
    # runtime values, not literals: literal arguments would compile a second forward_rows
    zero = n - n
    one = zero + 1
    true = n > 0
    plo, phi = forward_rows(
        x, yt, metric, empty_mask, zero, zero, zero, n - 1, true, zero, m - 1, lo, hi, pattern,
        w, open_begin, prev, one, zero,
    )  # fmt: skip
    if not open_end:
        if plo <= m - 1 <= phi:
            return prev[m - 1]
        return _INF
    best = _INF
    best_cost = _INF
    for b in range(plo, phi + 1):
        v = prev[b]
        if norm == 1:
            v = v / n
        elif norm == 2:
            v = v / (n + b + 1)
        if v < best:
            best = v
            best_cost = prev[b]
    return best_cost


@njit(cache=True, nogil=True, error_model="numpy")
def cdist(
    xs, x_off, yts, y_off, pairs, metric, window, param, pattern, w, open_begin, open_end, norm,
    out,
):  # fmt: skip
    """DTW cost of every (i, j) in ``pairs`` over concatenated sequences (releases the GIL:
    the wrapper runs one call per thread on interleaved slices of the pairs)."""
    for p in range(pairs.shape[0]):
        a = pairs[p, 0]
        b = pairs[p, 1]
        x = xs[x_off[a] : x_off[a + 1]]
        yt = yts[:, y_off[b] : y_off[b + 1]]
        n = x.shape[0]
        m = yt.shape[1]
        lo = np.zeros(n, dtype=np.int64)
        hi = np.full(n, m - 1, dtype=np.int64)
        if window == 1:
            sakoe_chiba_ranges(n, m, param, lo, hi)
        elif window == 2:
            itakura_ranges(n, m, param, lo, hi)
        out[a, b] = _pair_cost(
            np.ascontiguousarray(x), np.ascontiguousarray(yt), metric, lo, hi, pattern, w,
            open_begin, open_end, norm,
        )  # fmt: skip


@njit(cache=True, nogil=True)
def p1_accumulate(cost, open_begin):  # pragma: no cover - numba
    """Accumulated cost of Sakoe-Chiba symmetric P=1 on a full (n, m) cost matrix.

    Moves into (i, j): 0 from (i-1, j-2) via (i, j-1), weights 2 (on (i, j-1)) and 1;
    1 from (i-1, j-1), weight 2; 2 from (i-2, j-1) via (i-1, j), weights 2 and 1 (as
    dtw-python's ``symmetricP1``). With ``open_begin`` any cell of row 0 may start.
    """
    n, m = cost.shape
    acc = np.full((n, m), _INF)
    move = np.full((n, m), -1, dtype=np.int8)
    acc[0, 0] = cost[0, 0]
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


@njit(cache=True, nogil=True)
def p1_backtrack(move, i, j):  # pragma: no cover - numba
    """Path (k, 2) of :func:`p1_accumulate`'s moves ending at (i, j), from its row-0 start."""
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
