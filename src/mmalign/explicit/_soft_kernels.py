"""numba kernels for soft-DTW (private; the public wrappers live in ``soft_dtw.py``).

Two families, both float64 throughout. The reference kernels (first half) are dumb loops
with libm ``exp`` / ``log`` used by ``soft_dtw`` and friends; the loss kernels (second half,
used by ``SoftDTWLoss`` on CPU) are arranged for SIMD, see the comment above them. Layout of
the reference kernels, for a batch of ``B`` pairs with padded lengths ``N`` and ``M``:

- ``cost``    (B, N, M)        pairwise costs; item ``b`` uses ``cost[b, :nx[b], :ny[b]]``.
- ``r``       (B, N + 1, M + 1) accumulated soft-DTW matrix, 1-based with a border:
  ``r[b, 0, 0] = 0``, ``r[b, i, 0] = r[b, 0, j] = inf``; the value is ``r[b, nx[b], ny[b]]``.
- ``weights`` (B, N + 1, M + 1, 3) for each cell, the soft-min weights of its three
  predecessors (0: diagonal ``(i-1, j-1)``, 1: up ``(i-1, j)``, 2: left ``(i, j-1)``).

Storing the soft-min weights in the forward pass is what makes the backward pass cheap: the
``a, b, c`` factors of Cuturi & Blondel's Algorithm 2, ``exp((R[i+1,j] - R[i,j] - C[i+1,j]) / gamma)``
and friends, are exactly these weights (``R[i+1,j] - C[i+1,j]`` is the soft-min at ``(i+1,j)``),
so the backward recursion needs no ``exp`` at all.

The Sakoe-Chiba band keeps the cells with ``lo <= j - i <= hi`` where, for lengths ``n`` and
``m`` and radius ``r``, ``lo = -r + min(0, m - n)`` and ``hi = r + max(0, m - n)``: a band of
half-width ``r`` around the diagonal, widened by the length difference so that both corners
are always inside (the convention of tslearn's ``sakoe_chiba_mask``). ``radius < 0`` means
no band.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

__all__ = [
    "band_limits",
    "soft_dtw_forward_batch",
    "soft_dtw_backward_batch",
    "soft_dtw_sqeuclidean_forward_range",
    "soft_dtw_sqeuclidean_backward_range",
]


@njit(cache=True, nogil=True)
def band_limits(n: int, m: int, radius: int) -> tuple[int, int]:
    """Return ``(lo, hi)``, the allowed range of ``j - i``; everything if ``radius < 0``."""
    if radius < 0:
        return -n - 1, m + 1
    lo = -radius + min(0, m - n)
    hi = radius + max(0, m - n)
    return lo, hi


@njit(cache=True, nogil=True, inline="always")
def _gibbs(r, rmin, inv_gamma):
    """``exp(-(r - rmin) / gamma)``; exactly 1 at the minimum, 0 below the normal range."""
    if r == rmin:
        return 1.0
    t = (r - rmin) * inv_gamma
    if t > 700.0:  # exp(-700) ~ 1e-304: skip the slow denormal range, the term is nil
        return 0.0
    return math.exp(-t)


@njit(cache=True, nogil=True)
def _forward_one(cost, n, m, gamma, radius, r, w):
    lo, hi = band_limits(n, m, radius)
    inf = np.inf
    inv_gamma = 1.0 / gamma
    r[0, 0] = 0.0
    for j in range(1, m + 1):
        r[0, j] = inf
    for i in range(1, n + 1):
        r[i, 0] = inf
    # anti-diagonal order: the cells of a diagonal are independent, so their exp / log
    # overlap in the CPU pipeline (about 25% faster than row order, same arithmetic)
    for diag in range(2, n + m + 1):
        for i in range(max(1, diag - m), min(n, diag - 1) + 1):
            j = diag - i
            d = j - i
            r0 = r[i - 1, j - 1]
            r1 = r[i - 1, j]
            r2 = r[i, j - 1]
            rmin = min(r0, min(r1, r2))
            if d < lo or d > hi or rmin == inf:
                r[i, j] = inf
                w[i, j, 0] = 0.0
                w[i, j, 1] = 0.0
                w[i, j, 2] = 0.0
                continue
            # log-sum-exp around the minimum: the largest term is exp(0) = 1, no overflow
            e0 = _gibbs(r0, rmin, inv_gamma)
            e1 = _gibbs(r1, rmin, inv_gamma)
            e2 = _gibbs(r2, rmin, inv_gamma)
            s = e0 + e1 + e2
            r[i, j] = cost[i - 1, j - 1] + rmin - gamma * math.log(s)
            inv_s = 1.0 / s
            w[i, j, 0] = e0 * inv_s
            w[i, j, 1] = e1 * inv_s
            w[i, j, 2] = e2 * inv_s


@njit(cache=True, nogil=True)
def _backward_one(w, n, m, e):
    # e[i, j] = dR[n, m] / dC[i, j] (0-based); w is 1-based: w[i + 1, j + 1] belongs to e[i, j].
    n_max, m_max = e.shape
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if i == n - 1:
                if j == m - 1:
                    e[i, j] = 1.0
                else:
                    e[i, j] = e[i, j + 1] * w[i + 1, j + 2, 2]
            elif j == m - 1:
                e[i, j] = e[i + 1, j] * w[i + 2, j + 1, 1]
            else:
                e[i, j] = (
                    e[i + 1, j + 1] * w[i + 2, j + 2, 0]
                    + e[i + 1, j] * w[i + 2, j + 1, 1]
                    + e[i, j + 1] * w[i + 1, j + 2, 2]
                )
        for j in range(m, m_max):
            e[i, j] = 0.0
    for i in range(n, n_max):
        for j in range(m_max):
            e[i, j] = 0.0


@njit(cache=True, nogil=True)
def soft_dtw_forward_batch(cost, nx, ny, gamma, radius):
    """Accumulated matrices and soft-min weights for a batch, pair after pair.

    Serial on purpose: a numba ``prange`` would start numba's OpenMP team, which is torch's
    too (same libgomp), and resets ``torch.get_num_threads()`` behind the caller's back.

    Returns ``(values (B,), r (B, N + 1, M + 1), weights (B, N + 1, M + 1, 3))``; entries
    beyond an item's lengths are left uninitialised.
    """
    b_size, n_max, m_max = cost.shape
    r = np.empty((b_size, n_max + 1, m_max + 1))
    w = np.empty((b_size, n_max + 1, m_max + 1, 3))
    values = np.empty(b_size)
    for b in range(b_size):
        _forward_one(cost[b], nx[b], ny[b], gamma, radius, r[b], w[b])
        values[b] = r[b, nx[b], ny[b]]
    return values, r, w


@njit(cache=True, nogil=True)
def soft_dtw_backward_batch(w, nx, ny):
    """Soft alignment matrices ``E = dvalue / dcost`` of shape (B, N, M) from the weights.

    Zero beyond each item's lengths.
    """
    b_size = w.shape[0]
    e = np.empty((b_size, w.shape[1] - 1, w.shape[2] - 1))
    for b in range(b_size):
        _backward_one(w[b], nx[b], ny[b], e[b])
    return e


# --------------------------------------------------------------------------- vectorised loss kernels
# The loss kernels below work on one pair at a time along anti-diagonals, stored skewed
# (``A[i + j, i] = A_ij``): the cells of a diagonal are independent and contiguous, so LLVM
# turns each inner loop into SIMD code. That needs an ``exp`` and a ``log`` it can inline
# (libm calls do not vectorise without SVML), branch-free code, ``error_model="numpy"`` (no
# zero-division branches) and views indexed by plain range variables (numba's
# negative-index wraparound on ``i - 1`` defeats the vectoriser). Accuracy stays float64:
# ``_exp_neg`` and ``_log_1_3`` are within a few ulp (tests check them against numpy).

_FASTMATH = {"nsz", "arcp", "contract"}  # no reassociation, no finite-math assumptions


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits (free, and it vectorises)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k * _LN2_HI is exact, k < 2**11
_LN2_LO = 1.90821492927058770002e-10


@njit(cache=True, nogil=True, inline="always", fastmath=_FASTMATH, error_model="numpy")
def _exp_neg(t):
    """exp(-t) for t >= 0, branch-free so that loops over it vectorise; 0 for t >= 40."""
    tc = t if t < 40.0 else 40.0
    k = math.floor(tc * 1.4426950408889634)  # exp(-t) = 2^-k exp(-r), r in [0, ln 2)
    r = (tc - k * _LN2_HI) - k * _LN2_LO
    g = 0.34657359027997264 - r  # exp(-r) = exp(-ln2 / 2) exp(g), |g| <= ln2 / 2
    p = 1.0 / 6227020800.0
    p = p * g + 1.0 / 479001600.0
    p = p * g + 1.0 / 39916800.0
    p = p * g + 1.0 / 3628800.0
    p = p * g + 1.0 / 362880.0
    p = p * g + 1.0 / 40320.0
    p = p * g + 1.0 / 5040.0
    p = p * g + 1.0 / 720.0
    p = p * g + 1.0 / 120.0
    p = p * g + 1.0 / 24.0
    p = p * g + 1.0 / 6.0
    p = p * g + 0.5
    p = p * g + 1.0
    p = p * g + 1.0
    p = p * 0.7071067811865476
    scale = _bits_to_float((1023 - np.int64(k)) << 52)  # 2^-k, built from its exponent bits
    return p * scale if t < 40.0 else 0.0


@njit(cache=True, nogil=True, inline="always", fastmath=_FASTMATH, error_model="numpy")
def _log_1_3(s):
    """log(s) for 1 <= s <= 3 (a little outside is fine), branch-free."""
    big = 1.0 if s >= 2.8284271247461903 else 0.0
    mid = 1.0 if s >= 1.4142135623730951 else 0.0
    mid -= big
    u = s * (1.0 - 0.75 * big - 0.5 * mid)  # u in [1/sqrt2, sqrt2)
    z = (u - 1.0) / (u + 1.0)  # log u = 2 atanh z, |z| <= 0.172
    z2 = z * z
    p = 1.0 / 23.0
    p = p * z2 + 1.0 / 21.0
    p = p * z2 + 1.0 / 19.0
    p = p * z2 + 1.0 / 17.0
    p = p * z2 + 1.0 / 15.0
    p = p * z2 + 1.0 / 13.0
    p = p * z2 + 1.0 / 11.0
    p = p * z2 + 1.0 / 9.0
    p = p * z2 + 1.0 / 7.0
    p = p * z2 + 1.0 / 5.0
    p = p * z2 + 1.0 / 3.0
    p = p * z2 + 1.0
    return (1.3862943611198906 * big + 0.6931471805599453 * mid) + 2.0 * z * p


@njit(cache=True, nogil=True, inline="always")
def _diag_rows(s, n, m):
    """Rows ``i0 .. i1`` of the cells ``(i, s - i)``, 1 <= i <= n, 1 <= s - i <= m."""
    return max(1, s - m), min(n, s - 1)


@njit(cache=True, nogil=True)
def _diag_offsets(n, m):
    """``off[s]``: where diagonal ``s`` starts in the compact skewed storage of an (n, m) matrix."""
    off = np.zeros(n + m + 2, dtype=np.int64)
    for s in range(2, n + m + 1):
        i0, i1 = _diag_rows(s, n, m)
        off[s + 1] = off[s] + (i1 - i0 + 1)
    return off


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _dense_cost(xt, yrt, out):
    """``out[i, m - 1 - j] = ||x_i - y_j||^2``: costs against y reversed, (n, m), by rows."""
    d, n = xt.shape
    m = yrt.shape[1]
    for i in range(n):
        row = out[i]
        for j in range(m):
            row[j] = 0.0
        for k in range(d):
            xik = xt[k, i]
            yk = yrt[k]
            for j in range(m):
                t = xik - yk[j]
                row[j] += t * t


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _gather_diag(cflat, s, i0, i1, m, out):
    """Costs of the cells ``(i, s - i)`` of diagonal s from ``_dense_cost``'s flat output.

    Cell (i, j) (1-based) sits at row i - 1, column m - j of the reversed-y matrix, so along
    a diagonal the flat index steps by m + 1.
    """
    base = (i0 - 1) * m + (m - s + i0)
    for q in range(i1 - i0 + 1):
        out[q] = cflat[base + q * (m + 1)]


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _skew_forward_one(cflat, n, m, gamma, radius, rstore, rbuf, cbuf):
    """One pair by anti-diagonals; returns the value.

    ``cflat`` is the flat (n, m) cost matrix against y reversed in time (``_dense_cost``), read
    along the diagonals by ``_gather_diag``; ``rstore`` (n * m,) receives R
    diagonal after diagonal (compact skewed layout, see ``_diag_offsets``); ``rbuf``
    (3, n + 2) holds the last three diagonals of R with their borders.
    """
    inf = np.inf
    ig = 1.0 / gamma
    lo, hi = band_limits(n, m, radius)
    rbuf[:, :] = inf
    rbuf[0, 0] = 0.0
    pos = 0
    for s in range(2, n + m + 1):
        i0, i1 = _diag_rows(s, n, m)
        L = i1 - i0 + 1
        rm2 = rbuf[(s - 2) % 3]
        rm1 = rbuf[(s - 1) % 3]
        cur = rbuf[s % 3]
        _gather_diag(cflat, s, i0, i1, m, cbuf)
        # views shifted so that every index below is a plain range variable (q >= 0)
        a0 = rm2[i0 - 1 : i1]  # R(i-1, j-1)
        a1 = rm1[i0 - 1 : i1]  # R(i-1, j)
        a2 = rm1[i0 : i1 + 1]  # R(i, j-1)
        out = cur[i0 : i1 + 1]
        dd0 = s - 2 * i0
        for q in range(L):
            r0 = a0[q]
            r1 = a1[q]
            r2 = a2[q]
            # sort the three with selects: the minimum contributes exp(0) = 1 exactly
            lo01 = r0 if r0 < r1 else r1
            hi01 = r1 if r0 < r1 else r0
            rmin = lo01 if lo01 < r2 else r2
            rmax = hi01 if hi01 > r2 else r2
            rmid = hi01 if hi01 < r2 else r2
            rmid = rmid if rmid > lo01 else lo01
            dd = dd0 - 2 * q  # j - i
            ok = (dd >= lo) & (dd <= hi) & (rmin < inf)
            rs = rmin if ok else 0.0
            tot = 1.0 + _exp_neg((rmid - rs) * ig) + _exp_neg((rmax - rs) * ig)
            val = cbuf[q] + rs - gamma * _log_1_3(tot)
            out[q] = val if ok else inf
        # the cells just outside the diagonal are borders or beyond the matrix
        cur[i0 - 1] = inf
        cur[i1 + 1] = inf
        dst = rstore[pos : pos + L]
        for q in range(L):
            dst[q] = out[q]
        pos += L
    return rbuf[(n + m) % 3][n]


@njit(cache=True, nogil=True)
def _load_diag(rstore, off, t, n, m, buf):
    """Diagonal ``t`` of R into ``buf`` (n + 2,), borders and cells beyond the matrix = inf."""
    buf[:] = np.inf
    if t == 0:
        buf[0] = 0.0
    elif t >= 2:
        i0, i1 = _diag_rows(t, n, m)
        src = rstore[off[t] : off[t + 1]]
        dst = buf[i0 : i1 + 1]
        for q in range(i1 - i0 + 1):
            dst[q] = src[q]


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _weight_row(pred, v, ig, out):
    """``out[q] = exp(-(pred[q] - v[q]) / gamma)``, 0 where ``v`` is inf (unreachable cell)."""
    for q in range(out.shape[0]):
        t = (pred[q] - v[q]) * ig  # v = R - C <= each predecessor, up to round-off
        e = _exp_neg(t if t > 0.0 else 0.0)
        out[q] = e if v[q] < np.inf else 0.0


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _diag_weights(cflat, s, n, m, ig, rbuf, cbuf, wbuf):
    """Soft-min weights of the cells of diagonal s from R (Cuturi & Blondel's Algorithm 2).

    ``w_k = exp(-(R_pred_k - (R - C)) / gamma)``: ``R - C`` is the soft minimum at the cell.
    Writes ``wbuf`` (3, n + 2) with zeros just outside the diagonal and at unreachable cells.
    """
    i0, i1 = _diag_rows(s, n, m)
    L = i1 - i0 + 1
    _gather_diag(cflat, s, i0, i1, m, cbuf)
    # v = R - C, the soft minimum at each cell (inf where unreachable: weights forced to 0)
    rc = rbuf[s % 3][i0 : i1 + 1]
    for q in range(L):
        r = rc[q]
        cbuf[q] = (r - cbuf[q]) if r < np.inf else np.inf
    # one loop per weight: few arrays per loop keep LLVM's alias checks (and SIMD) alive
    _weight_row(rbuf[(s - 2) % 3][i0 - 1 : i1], cbuf, ig, wbuf[0, i0 : i1 + 1])  # (i-1, j-1)
    _weight_row(rbuf[(s - 1) % 3][i0 - 1 : i1], cbuf, ig, wbuf[1, i0 : i1 + 1])  # (i-1, j)
    _weight_row(rbuf[(s - 1) % 3][i0 : i1 + 1], cbuf, ig, wbuf[2, i0 : i1 + 1])  # (i, j-1)
    for k in range(3):
        wbuf[k, i0 - 1] = 0.0
        wbuf[k, i1 + 1] = 0.0


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _skew_backward_one(rstore, cflat, n, m, gamma, eflat):
    """The soft alignment ``E = dR[n, m] / dC`` by anti-diagonals, into ``eflat`` (n * m,).

    The soft-min weights are recomputed from R (three ``exp`` per cell, vectorised) rather
    than stored: cheaper than writing and reading three (n, m) planes.
    """
    ig = 1.0 / gamma
    off = _diag_offsets(n, m)
    rbuf = np.empty((3, n + 2))
    cbuf = np.empty(n + 2)
    wbuf = np.zeros((2, 3, n + 2))  # weights of diagonals s + 1 and s + 2
    ebuf = np.zeros((3, n + 2))  # E on diagonals s, s + 1, s + 2
    _load_diag(rstore, off, n + m, n, m, rbuf[(n + m) % 3])
    for s in range(n + m, 1, -1):
        _load_diag(rstore, off, s - 1, n, m, rbuf[(s - 1) % 3])
        if s + 1 <= n + m:
            _diag_weights(cflat, s + 1, n, m, ig, rbuf, cbuf, wbuf[(s + 1) % 2])
        # rbuf now holds R(s+1) (if any), R(s), R(s-1); the slot of R(s+1) is reused next
        i0, i1 = _diag_rows(s, n, m)
        L = i1 - i0 + 1
        cur = ebuf[s % 3]
        e1 = ebuf[(s + 1) % 3]
        e2 = ebuf[(s + 2) % 3]
        w_next = wbuf[(s + 1) % 2]
        w_next2 = wbuf[s % 2]  # weights of diagonal s + 2
        dst = cur[i0 : i1 + 1]
        if s == n + m:
            dst[0] = 1.0
        else:
            a2 = e2[i0 + 1 : i1 + 2]  # E at (i+1, j+1)
            b0 = w_next2[0, i0 + 1 : i1 + 2]
            a1 = e1[i0 + 1 : i1 + 2]  # E at (i+1, j)
            b1 = w_next[1, i0 + 1 : i1 + 2]
            a0 = e1[i0 : i1 + 1]  # E at (i, j+1)
            b2 = w_next[2, i0 : i1 + 1]
            for q in range(L):
                dst[q] = a2[q] * b0[q] + a1[q] * b1[q] + a0[q] * b2[q]
        cur[i0 - 1] = 0.0
        cur[i1 + 1] = 0.0
        base = (i0 - 1) * m + (s - i0 - 1)  # unskew: cell (i0 + q, s - i0 - q), 1-based
        for q in range(L):
            eflat[base + q * (m - 1)] = dst[q]


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _sqeuclidean_grads(e, x, y, yt, gx, gy):
    """``gx = 2 (rowsum(E) x - E y)``, ``gy = 2 (colsum(E) y - E^T x)`` for one pair.

    ``fastmath=True`` here only reorders the sums (so that the dot products vectorise); the
    inputs are finite.
    """
    n, m = e.shape
    d = x.shape[1]
    colsum = np.zeros(m)
    etx = np.zeros((d, m))
    for i in range(n):
        row = e[i]
        rs = 0.0
        for j in range(m):
            rs += row[j]
            colsum[j] += row[j]
        for k in range(d):
            yk = yt[k]
            acc = 0.0
            for j in range(m):
                acc += row[j] * yk[j]
            gx[i, k] = 2.0 * (rs * x[i, k] - acc)
            xik = x[i, k]
            ek = etx[k]
            for j in range(m):
                ek[j] += row[j] * xik
    for j in range(m):
        for k in range(d):
            gy[j, k] = 2.0 * (colsum[j] * y[j, k] - etx[k, j])


@njit(cache=True, nogil=True)
def _transposed(x, y, n, m):
    d = x.shape[1]
    xt = np.empty((d, n))
    yrt = np.empty((d, m))
    for k in range(d):
        for i in range(n):
            xt[k, i] = x[i, k]
        for j in range(m):
            yrt[k, j] = y[m - 1 - j, k]
    return xt, yrt


@njit(cache=True, nogil=True)
def soft_dtw_sqeuclidean_forward_range(x, y, nx, ny, gamma, radius, r, values, b0, b1):
    """Forward for pairs ``b0 .. b1 - 1`` of the batch, serially, without the GIL.

    ``x`` (B, N, D), ``y`` (B, M, D); writes ``values`` (B,) and ``r`` (B, N * M), the
    accumulated matrices in compact skewed storage for the backward kernel. Callers run
    disjoint ranges in Python threads (see ``soft_dtw_torch``), which keeps numba's OpenMP
    team, shared with torch's, out of the way.
    """
    for b in range(b0, b1):
        n, m = nx[b], ny[b]
        xt, yrt = _transposed(x[b], y[b], n, m)
        cost = np.empty((n, m))
        _dense_cost(xt, yrt, cost)
        rbuf = np.empty((3, n + 2))
        cbuf = np.empty(n + 2)
        values[b] = _skew_forward_one(cost.ravel(), n, m, gamma, radius, r[b], rbuf, cbuf)


@njit(cache=True, nogil=True)
def soft_dtw_sqeuclidean_backward_range(r, x, y, nx, ny, gamma, gx, gy, b0, b1):
    """Gradients for pairs ``b0 .. b1 - 1``, into ``gx`` (B, N, D) and ``gy`` (B, M, D).

    ``d value / d x_i = 2 sum_j E_ij (x_i - y_j)``, ``d value / d y_j = 2 sum_i E_ij (y_j - x_i)``;
    rows beyond each pair's lengths are left untouched (pass zeros).
    """
    for b in range(b0, b1):
        n, m = nx[b], ny[b]
        xt, yrt = _transposed(x[b], y[b], n, m)
        cost = np.empty((n, m))
        _dense_cost(xt, yrt, cost)
        e = np.empty((n, m))
        _skew_backward_one(r[b], cost.ravel(), n, m, gamma, e.ravel())
        yt = np.ascontiguousarray(yrt[:, ::-1])
        _sqeuclidean_grads(e, x[b, :n], y[b, :m], yt, gx[b, :n], gy[b, :m])
