"""Soft-DTW: a smooth, differentiable relaxation of dynamic time warping.

    sdtw_gamma(x, y) = softmin_gamma over alignments A of <A, C(x, y)>,
    softmin_gamma(a_1, ..., a_k) = -gamma * log(sum_i exp(-a_i / gamma)),

computed by the recursion ``R[i, j] = C[i, j] + softmin_gamma(R[i-1, j-1], R[i-1, j], R[i, j-1])``.
Its gradient with respect to the cost matrix is the soft alignment matrix ``E`` (the expected
alignment under the Gibbs distribution over paths); with respect to the inputs it follows by
the chain rule through the squared euclidean cost. As ``gamma -> 0`` it tends to DTW with the
``symmetric1`` step pattern (steps (1, 0), (0, 1), (1, 1), every cell counted once).

Everything is computed in float64 by numba kernels (``_soft_kernels.py``); the torch loss for
batches lives in ``soft_dtw_torch.py``.

References
----------
.. [1] M. Cuturi and M. Blondel, "Soft-DTW: a Differentiable Loss Function for Time-Series",
   ICML 2017.
.. [2] M. Blondel, A. Mensch and J.-P. Vert, "Differentiable Divergences Between Time Series",
   AISTATS 2021.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from mmalign._utils import as_sequence, check_option

__all__ = [
    "SoftDTWResult",
    "soft_dtw",
    "soft_dtw_alignment",
    "soft_dtw_divergence",
    "soft_dtw_grad",
]

_METRICS = ("sqeuclidean", "precomputed")


@dataclass(frozen=True)
class SoftDTWResult:
    """Soft-DTW value, soft alignment and (optionally) gradients for one pair of sequences.

    Attributes
    ----------
    value : float
        ``sdtw_gamma(x, y)``.
    alignment : ndarray of shape (n, m)
        Soft alignment matrix ``E = d value / d C``: non-negative, ``E[0, 0] = E[-1, -1] = 1``,
        tends to the DTW path's 0/1 matrix as ``gamma -> 0``.
    cost : ndarray of shape (n, m)
        The cost matrix ``C`` the value was computed on.
    gamma : float
        Smoothing parameter used.
    grad_x : ndarray of shape (n, d) or None
        ``d value / d x`` (squared euclidean cost only; filled by :func:`soft_dtw_grad`).
    grad_y : ndarray of shape (m, d) or None
        ``d value / d y``.
    """

    value: float
    alignment: np.ndarray
    cost: np.ndarray
    gamma: float
    grad_x: np.ndarray | None = None
    grad_y: np.ndarray | None = None


# --------------------------------------------------------------------------- validation


def _check_gamma(gamma: object) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, Real):
        raise TypeError(f"gamma must be a positive float, got {type(gamma).__name__} {gamma!r}.")
    gamma = float(gamma)
    if not np.isfinite(gamma) or gamma <= 0:
        raise ValueError(
            f"gamma must be a finite float > 0, got {gamma!r}; use a small value such as 1e-3 "
            f"to approach hard DTW."
        )
    return gamma


def _check_bandwidth(bandwidth: object) -> int:
    """Return the Sakoe-Chiba radius as an int, ``-1`` for no band."""
    if bandwidth is None:
        return -1
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, Integral):
        raise TypeError(
            f"bandwidth must be None or a non-negative int (Sakoe-Chiba radius in frames), "
            f"got {type(bandwidth).__name__} {bandwidth!r}."
        )
    if bandwidth < 0:
        raise ValueError(
            f"bandwidth must be None or >= 0 (Sakoe-Chiba radius in frames), got {bandwidth}; "
            f"pass None for no band."
        )
    return int(bandwidth)


def _sqeuclidean(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairwise squared euclidean distances, (n, d) x (m, d) -> (n, m), float64."""
    c = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    np.maximum(c, 0.0, out=c)  # cancellation can leave -1e-16 where x_i == y_j
    return c


def _prepare(x, y, metric: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate inputs; return ``(cost, x, y)`` (x and y None for a precomputed cost)."""
    check_option(metric, "metric", _METRICS)
    if metric == "precomputed":
        if y is not None:
            raise ValueError(
                "With metric='precomputed', x is the (n, m) cost matrix and y must be None; "
                f"got y of type {type(y).__name__}."
            )
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise ValueError(
                f"With metric='precomputed', x must be a 2-D (n, m) cost matrix, got shape "
                f"{arr.shape}."
            )
        cost = as_sequence(arr, "x")
        return cost, None, None
    if y is None:
        raise ValueError(
            "y is None; pass a second sequence of shape (m, d), or metric='precomputed' with "
            "a cost matrix as x."
        )
    x = as_sequence(x, "x")
    y = as_sequence(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got x {x.shape} and y {y.shape}; "
            f"for sequences in different feature spaces use mmalign.explicit._ctw."
        )
    return _sqeuclidean(x, y), x, y


def _run(cost: np.ndarray, gamma: float, radius: int, *, backward: bool):
    from mmalign.explicit._soft_kernels import soft_dtw_backward_batch, soft_dtw_forward_batch

    n, m = cost.shape
    nx = np.array([n], dtype=np.int64)
    ny = np.array([m], dtype=np.int64)
    values, _, w = soft_dtw_forward_batch(cost[None], nx, ny, gamma, radius)
    e = soft_dtw_backward_batch(w, nx, ny)[0] if backward else None
    return float(values[0]), e


# --------------------------------------------------------------------------- public API


def soft_dtw(
    x,
    y=None,
    *,
    gamma: float = 1.0,
    metric: str = "sqeuclidean",
    bandwidth: int | None = None,
) -> float:
    """Soft-DTW value between two sequences.

    ``sdtw_gamma(x, y) = -gamma * log sum_A exp(-<A, C(x, y)> / gamma)`` over monotone
    alignments ``A`` from (0, 0) to (n-1, m-1) with unit steps (Cuturi & Blondel 2017).

    Parameters
    ----------
    x : array-like of shape (n,) or (n, d)
        First sequence, or the (n, m) cost matrix when ``metric="precomputed"``.
    y : array-like of shape (m,) or (m, d), optional
        Second sequence (None with ``metric="precomputed"``).
    gamma : float, default 1.0
        Smoothing, > 0. Smaller values approach DTW (``symmetric1`` step pattern).
    metric : {"sqeuclidean", "precomputed"}, default "sqeuclidean"
        Local cost ``C[i, j] = ||x_i - y_j||^2``, or ``x`` is the cost matrix itself.
    bandwidth : int or None, default None
        Sakoe-Chiba radius in frames: cells with ``j - i`` more than ``bandwidth`` outside
        ``[min(0, m - n), max(0, m - n)]`` are excluded. None for no band.

    Returns
    -------
    float
        The soft-DTW value (may be negative: it is a soft minimum).

    Examples
    --------
    >>> round(soft_dtw([0.0, 1.0], [0.0, 1.0], gamma=1e-3), 6)
    0.0
    """
    gamma = _check_gamma(gamma)
    radius = _check_bandwidth(bandwidth)
    cost, _, _ = _prepare(x, y, metric)
    value, _ = _run(cost, gamma, radius, backward=False)
    return value


def soft_dtw_alignment(
    x,
    y=None,
    *,
    gamma: float = 1.0,
    metric: str = "sqeuclidean",
    bandwidth: int | None = None,
) -> SoftDTWResult:
    """Soft-DTW value and soft alignment matrix ``E = d sdtw / d C`` (Cuturi & Blondel 2017, Alg. 2).

    Parameters are those of :func:`soft_dtw`.

    Returns
    -------
    SoftDTWResult
        ``value``, ``alignment`` of shape (n, m), ``cost`` of shape (n, m); gradients None.
    """
    gamma = _check_gamma(gamma)
    radius = _check_bandwidth(bandwidth)
    cost, _, _ = _prepare(x, y, metric)
    value, e = _run(cost, gamma, radius, backward=True)
    return SoftDTWResult(value=value, alignment=e, cost=cost, gamma=gamma)


def soft_dtw_grad(
    x,
    y,
    *,
    gamma: float = 1.0,
    bandwidth: int | None = None,
) -> SoftDTWResult:
    """Soft-DTW value and its gradients with respect to ``x`` and ``y`` (squared euclidean).

    By the chain rule through ``C[i, j] = ||x_i - y_j||^2``:
    ``d sdtw / d x_i = 2 * sum_j E[i, j] (x_i - y_j)`` and
    ``d sdtw / d y_j = 2 * sum_i E[i, j] (y_j - x_i)``.

    Parameters
    ----------
    x : array-like of shape (n,) or (n, d)
    y : array-like of shape (m,) or (m, d)
    gamma, bandwidth
        As in :func:`soft_dtw`.

    Returns
    -------
    SoftDTWResult
        With ``grad_x`` of shape (n, d) and ``grad_y`` of shape (m, d) filled in.
    """
    gamma = _check_gamma(gamma)
    radius = _check_bandwidth(bandwidth)
    cost, x, y = _prepare(x, y, "sqeuclidean")
    value, e = _run(cost, gamma, radius, backward=True)
    grad_x = 2.0 * (e.sum(1)[:, None] * x - e @ y)
    grad_y = 2.0 * (e.sum(0)[:, None] * y - e.T @ x)
    return SoftDTWResult(
        value=value, alignment=e, cost=cost, gamma=gamma, grad_x=grad_x, grad_y=grad_y
    )


def soft_dtw_divergence(
    x,
    y,
    *,
    gamma: float = 1.0,
    bandwidth: int | None = None,
) -> float:
    """Soft-DTW divergence ``D(x, y) = sdtw(x, y) - (sdtw(x, x) + sdtw(y, y)) / 2``.

    Non-negative and zero when ``x == y`` (Blondel, Mensch & Vert 2021), unlike soft-DTW
    itself, which can be negative and is not minimised at ``y = x``.

    Parameters
    ----------
    x : array-like of shape (n,) or (n, d)
    y : array-like of shape (m,) or (m, d)
    gamma, bandwidth
        As in :func:`soft_dtw`.

    Returns
    -------
    float
    """
    gamma = _check_gamma(gamma)
    radius = _check_bandwidth(bandwidth)
    cxy, x, y = _prepare(x, y, "sqeuclidean")
    vxy, _ = _run(cxy, gamma, radius, backward=False)
    vxx, _ = _run(_sqeuclidean(x, x), gamma, radius, backward=False)
    vyy, _ = _run(_sqeuclidean(y, y), gamma, radius, backward=False)
    return vxy - 0.5 * (vxx + vyy)


def _soft_dtw_reference(cost: np.ndarray, gamma: float, radius: int = -1):
    """Plain-numpy soft-DTW value and ``E`` by the paper's Algorithms 1 and 2 (tests only).

    Written independently of the kernels: the backward pass uses the ``a, b, c`` factors of
    Cuturi & Blondel's Algorithm 2 rather than stored weights.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    if radius < 0:
        lo, hi = -n - 1, m + 1
    else:
        lo, hi = -radius + min(0, m - n), radius + max(0, m - n)
    r = np.full((n + 2, m + 2), np.inf)
    r[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if not lo <= j - i <= hi:
                continue
            prev = np.array([r[i - 1, j - 1], r[i - 1, j], r[i, j - 1]])
            if np.all(np.isinf(prev)):
                continue
            r[i, j] = cost[i - 1, j - 1] - gamma * np.logaddexp.reduce(-prev / gamma)
    value = r[n, m]
    c = np.zeros((n + 2, m + 2))
    c[1 : n + 1, 1 : m + 1] = cost
    e = np.zeros((n + 2, m + 2))
    r = r.copy()
    r[np.isinf(r)] = -np.inf  # cells outside the band contribute nothing
    r[:, m + 1] = -np.inf
    r[n + 1, :] = -np.inf
    r[n + 1, m + 1] = r[n, m]
    e[n + 1, m + 1] = 1.0
    for j in range(m, 0, -1):
        for i in range(n, 0, -1):
            if r[i, j] == -np.inf:
                continue
            a = np.exp((r[i + 1, j] - r[i, j] - c[i + 1, j]) / gamma)
            b = np.exp((r[i, j + 1] - r[i, j] - c[i, j + 1]) / gamma)
            cc = np.exp((r[i + 1, j + 1] - r[i, j] - c[i + 1, j + 1]) / gamma)
            e[i, j] = e[i + 1, j] * a + e[i, j + 1] * b + e[i + 1, j + 1] * cc
    return float(value), e[1 : n + 1, 1 : m + 1]
