"""DTW barycenter averaging (DBA): an average sequence under dynamic time warping.

DBA (Petitjean, Ketterlin & Gancarski 2011) minimises the (weighted) sum of DTW costs

    F(B) = sum_i w_i * DTW(X_i, B) / sum_i w_i,   DTW with squared euclidean costs, symmetric1,

by alternating two exact steps, each of which cannot increase ``F``: align every series to the
current barycenter ``B`` with DTW, then replace each barycenter frame by the weighted mean of
all the frames aligned to it.

References
----------
.. [1] F. Petitjean, A. Ketterlin and P. Gancarski, "A global averaging method for dynamic
   time warping, with applications to clustering", Pattern Recognition 44(3), 2011.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from mmalign._utils import as_sequence, interp_frames

__all__ = ["DBAResult", "dba"]

_INITS = ("medoid", "mean")


@dataclass(frozen=True)
class DBAResult:
    """Result of :func:`dba`.

    Attributes
    ----------
    barycenter : ndarray of shape (barycenter_size, d)
        The DTW barycenter.
    cost : float
        ``F(barycenter)``: weighted mean DTW cost (squared euclidean, symmetric1) of the
        series to the barycenter.
    cost_history : ndarray of shape (n_iter + 1,)
        ``F`` of the initial barycenter, then after each update (non-increasing).
    n_iter : int
        Number of updates run.
    converged : bool
        True if the relative decrease of ``F`` fell below ``tol`` within ``max_iter`` updates.
    """

    barycenter: np.ndarray
    cost: float
    cost_history: np.ndarray
    n_iter: int
    converged: bool


def _as_dataset(X) -> list[np.ndarray]:
    """A list of (n_i, d) float64 arrays from a list of sequences or an (N, T[, d]) array."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 2:  # N univariate series
            X = X[:, :, None]
        if X.ndim != 3:
            raise ValueError(
                f"X must be a list of (n_i, d) sequences or an array of shape (N, T) or "
                f"(N, T, d), got an array of shape {X.shape}."
            )
        X = list(X)
    if not isinstance(X, list | tuple) or len(X) == 0:
        raise TypeError(
            f"X must be a non-empty list of (n_i, d) sequences or an (N, T, d) array, got "
            f"{type(X).__name__}" + (" of length 0" if isinstance(X, list | tuple) else "") + "."
        )
    seqs = [as_sequence(s, f"X[{k}]") for k, s in enumerate(X)]
    d = seqs[0].shape[1]
    for k, s in enumerate(seqs):
        if s.shape[1] != d:
            raise ValueError(
                f"all sequences must have the same number of features; X[0] has {d}, X[{k}] "
                f"has {s.shape[1]}."
            )
    return seqs


def _resample(seq: np.ndarray, size: int) -> np.ndarray:
    """Linear interpolation of (n, d) onto ``size`` equally spaced frames."""
    if len(seq) == size:
        return seq.copy()
    return interp_frames(seq, np.linspace(0.0, 1.0, size), np.linspace(0.0, 1.0, len(seq)))


def _assign(seqs, barycenter, weights, radius, dtw_path):
    """One DBA step: ``(F(barycenter), updated barycenter)``."""
    sums = np.zeros_like(barycenter)
    counts = np.zeros(len(barycenter))
    total = 0.0
    for seq, w in zip(seqs, weights):
        al = dtw_path(
            seq, barycenter, metric="sqeuclidean", step_pattern="symmetric1", radius=radius
        )
        total += w * al.cost
        i, j = al.path[:, 0], al.path[:, 1]
        np.add.at(sums, j, w * seq[i])
        np.add.at(counts, j, w)
    # every barycenter frame is on every path; with zero weights keep the old frame
    new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-300)[:, None], barycenter)
    return total / weights.sum(), new


def dba(
    X,
    *,
    barycenter_size: int | None = None,
    init: str | np.ndarray = "medoid",
    max_iter: int = 30,
    tol: float = 1e-5,
    weights=None,
    radius: float | None = None,
) -> DBAResult:
    """DTW barycenter averaging of a set of sequences (Petitjean et al. 2011).

    Parameters
    ----------
    X : list of array-like of shape (n_i, d) or (n_i,), or ndarray of shape (N, T[, d])
        The sequences; lengths may differ.
    barycenter_size : int, optional
        Number of frames of the barycenter. Default: the length of the initial barycenter
        (the medoid's length for ``init="medoid"``, the longest series for ``"mean"``).
    init : {"medoid", "mean"} or array-like of shape (barycenter_size, d), default "medoid"
        Initial barycenter: the series with the smallest weighted sum of DTW costs to all
        others, or the frame-wise mean of all series resampled to ``barycenter_size``
        (tslearn's default), or an explicit array. A medoid of another length is resampled
        linearly.
    max_iter : int, default 30
        Maximum number of updates.
    tol : float, default 1e-5
        Stop when ``F`` decreases by less than ``tol * F`` in one update.
    weights : array-like of shape (N,), optional
        Non-negative weight per series (default: all ones).
    radius : float, optional
        Sakoe-Chiba radius for the DTW alignments (see :func:`mmalign.explicit.dtw_path`).

    Returns
    -------
    DBAResult

    Examples
    --------
    >>> X = [np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0, 2.0])]
    >>> dba(X, init="medoid").barycenter.ravel().tolist()
    [0.0, 1.0, 2.0]
    """
    from mmalign.explicit._dtw import cdist_dtw, dtw_path

    seqs = _as_dataset(X)
    n_series = len(seqs)
    if weights is None:
        w = np.ones(n_series)
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != (n_series,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"weights must be {n_series} finite non-negative numbers with a positive sum "
                f"(one per series), got {np.asarray(weights).tolist()!r}."
            )
    if barycenter_size is not None and (
        isinstance(barycenter_size, bool)
        or not isinstance(barycenter_size, Integral)
        or barycenter_size < 1
    ):
        raise ValueError(f"barycenter_size must be None or an int >= 1, got {barycenter_size!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}.")
    if isinstance(tol, bool) or not isinstance(tol, Real) or not tol >= 0:
        raise ValueError(f"tol must be a float >= 0, got {tol!r}.")

    if isinstance(init, str):
        if init not in _INITS:
            raise ValueError(
                f"Unknown init {init!r}; valid options are: {', '.join(_INITS)}, or an array "
                f"of shape (barycenter_size, d)."
            )
        if init == "medoid":
            costs = cdist_dtw(seqs, metric="sqeuclidean", step_pattern="symmetric1", radius=radius)
            start = seqs[int(np.argmin(costs @ w))]
            size = len(start) if barycenter_size is None else int(barycenter_size)
        else:
            size = max(len(s) for s in seqs) if barycenter_size is None else int(barycenter_size)
            start = np.average([_resample(s, size) for s in seqs], axis=0, weights=w)
        barycenter = _resample(start, size)
    else:
        barycenter = as_sequence(init, "init")
        if barycenter.shape[1] != seqs[0].shape[1]:
            raise ValueError(
                f"init must have {seqs[0].shape[1]} features like the series, got shape "
                f"{barycenter.shape}."
            )
        if barycenter_size is not None and barycenter_size != len(barycenter):
            raise ValueError(
                f"barycenter_size={barycenter_size} disagrees with the {len(barycenter)} frames "
                f"of init; pass one or the other."
            )
        barycenter = barycenter.copy()

    history = []
    converged = False
    n_iter = 0
    cost, update = _assign(seqs, barycenter, w, radius, dtw_path)
    history.append(cost)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        new_cost, new_update = _assign(seqs, update, w, radius, dtw_path)
        if new_cost > cost:  # only from round-off or DTW ties: a fixed point, keep the best
            converged = True
            break
        barycenter, cost, update = update, new_cost, new_update
        history.append(cost)
        if history[-2] - cost <= tol * max(abs(history[-2]), 1e-300):
            converged = True
            break
    if not converged:
        warnings.warn(
            f"dba did not converge in {max_iter} updates; increase max_iter or tol.",
            RuntimeWarning,
            stacklevel=2,
        )
    return DBAResult(
        barycenter=barycenter,
        cost=float(cost),
        cost_history=np.asarray(history),
        n_iter=len(history) - 1,
        converged=converged,
    )
