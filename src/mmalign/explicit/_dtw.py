"""Dynamic time warping: costs, optimal paths, constraints, subsequence search, all pairs.

DTW finds the monotone, continuous warping path ``P`` from ``(0, 0)`` to ``(n-1, m-1)`` that
minimises the weighted sum of local costs ``D(P) = sum_(i, j) in P  w_step * c(x_i, y_j)``.

Conventions (the same as dtw-python): ``x`` is the *query* (rows, index ``i``), ``y`` the
*reference* (columns, index ``j``); a step ``(di, dj)`` advances ``i`` by ``di`` and ``j`` by
``dj``; the weight of a step multiplies the local cost of the cell it reaches, and the first
cell costs its local cost once. Open begin / open end free the start / end on the ``y`` axis.

References
----------
.. [1] H. Sakoe and S. Chiba, "Dynamic programming algorithm optimization for spoken word
   recognition", IEEE Trans. ASSP 26(1), 1978.
.. [2] F. Itakura, "Minimum prediction residual principle applied to speech recognition",
   IEEE Trans. ASSP 23(1), 1975.
.. [3] T. Giorgino, "Computing and visualizing dynamic time warping alignments in R: the dtw
   package", J. Stat. Softw. 31(7), 2009 (step patterns, open begin / end).
.. [4] D. S. Hirschberg, "A linear space algorithm for computing maximal common
   subsequences", CACM 18(6), 1975 (the divide and conquer used for ``memory="linear"``).
.. [5] M. Müller, "Fundamentals of Music Processing", ch. 7.2, Springer 2015 (subsequence DTW).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmalign._utils import as_sequence, check_option
from mmalign.explicit import _kernels as K

__all__ = [
    "Alignment",
    "StepPattern",
    "STEP_PATTERNS",
    "SubsequenceMatch",
    "cdist_dtw",
    "cost_matrix",
    "dtw",
    "dtw_path",
    "dtw_path_from_cost",
    "itakura_mask",
    "sakoe_chiba_mask",
    "subsequence_dtw",
]

METRICS = ("sqeuclidean", "euclidean", "cityblock", "cosine")
_METRIC_CODES = {
    "sqeuclidean": K.SQEUCLIDEAN,
    "euclidean": K.EUCLIDEAN,
    "cityblock": K.CITYBLOCK,
    "cosine": K.COSINE,
}
MEMORY_MODES = ("auto", "full", "linear")
WINDOWS = ("sakoe_chiba", "itakura")

# memory="auto" keeps the full accumulated matrix up to this many cells (8 bytes each).
_FULL_MAX_CELLS = 1 << 24
# Hirschberg sub-problems at most this large are solved with the full matrix.
_BASE_CELLS = 1 << 23
# Row blocks requested from a callable metric hold about this many cells.
_BLOCK_CELLS = 1 << 20
# Forward and backward halves of a split run in two threads above this many cells.
_THREAD_CELLS = 1 << 22


@dataclass(frozen=True)
class StepPattern:
    """A DTW step pattern (local continuity constraint and slope weighting).

    Attributes
    ----------
    name : str
        Name as in dtw-python.
    steps : tuple of (di, dj, weight)
        Allowed steps; ``weight`` multiplies the local cost of the cell reached.
    normalization : {"N+M", "N", "NA"}
        Divisor of the normalised cost: ``n + m``, ``n`` (the query length), or none
        (``normalized_cost`` is NaN).
    """

    name: str
    steps: tuple[tuple[int, int, float], ...]
    normalization: str
    _code: int = field(repr=False)
    _weights: tuple[float, float, float] = field(repr=False)


#: Step patterns by name, as in Sakoe & Chiba (1978) and dtw-python.
#: ``symmetric1``: steps (1,0), (1,1), (0,1), all weight 1, not normalisable.
#: ``symmetric2``: the same with weight 2 on the diagonal, normalised by ``n + m``.
#: ``asymmetric``: steps (1,0), (1,1), (1,2), weight 1, normalised by ``n``; every query frame
#: is matched exactly once, so it suits open begin / end and subsequence search.
#: ``symmetricP1``: Sakoe & Chiba's symmetric P=1, normalised by ``n + m``: composite steps
#: (1,2) via (0,1), (1,1), (2,1) via (1,0) (weights 2+1, 2, 2+1, as dtw-python), so the local
#: slope stays within [1/2, 2] and no stretch of one sequence collapses onto a single frame
#: of the other; :func:`dtw_path` and :func:`dtw_path_from_cost` only, full memory, no
#: window, no open begin (paths exist only where ``m <= 2n - 1`` and ``n <= 2m - 1``).
STEP_PATTERNS: dict[str, StepPattern] = {
    "symmetric1": StepPattern(
        "symmetric1", ((1, 0, 1.0), (1, 1, 1.0), (0, 1, 1.0)), "NA", K.SYMMETRIC, (1.0, 1.0, 1.0)
    ),
    "symmetric2": StepPattern(
        "symmetric2", ((1, 0, 1.0), (1, 1, 2.0), (0, 1, 1.0)), "N+M", K.SYMMETRIC, (1.0, 2.0, 1.0)
    ),
    "asymmetric": StepPattern(
        "asymmetric", ((1, 0, 1.0), (1, 1, 1.0), (1, 2, 1.0)), "N", K.ASYMMETRIC, (1.0, 1.0, 1.0)
    ),
    "symmetricP1": StepPattern(
        "symmetricP1",
        ((1, 2, 3.0), (1, 1, 2.0), (2, 1, 3.0)),
        "N+M",
        K.SYMMETRIC_P1,
        (3.0, 2.0, 3.0),
    ),
}


@dataclass(frozen=True, eq=False)
class Alignment:
    """An optimal DTW alignment between ``x`` (n frames) and ``y`` (m frames).

    Attributes
    ----------
    path : ndarray of shape (k, 2), int64
        Matched index pairs ``(i, j)``, increasing in both columns; ``path[:, 0]`` indexes
        ``x`` and covers ``0 .. n-1``.
    cost : float
        Accumulated weighted cost of the path.
    normalized_cost : float
        ``cost`` divided by the step pattern's normaliser (``n + m`` for symmetric2, ``n`` for
        asymmetric; with open end ``n + j_end + 1`` for symmetric2); NaN for symmetric1.
    shape : tuple of int
        ``(n, m)``.
    step_pattern : str
        Name of the step pattern used.
    """

    path: np.ndarray
    cost: float
    normalized_cost: float
    shape: tuple[int, int]
    step_pattern: str = "symmetric2"

    def __repr__(self) -> str:
        return (
            f"Alignment(cost={self.cost:.6g}, normalized_cost={self.normalized_cost:.6g}, "
            f"shape={self.shape}, path_length={len(self.path)}, "
            f"step_pattern={self.step_pattern!r})"
        )

    def index_map(self, *, reduce: str = "mean") -> np.ndarray:
        """For each frame of ``x``, the index of ``y`` it is matched to.

        Parameters
        ----------
        reduce : {"mean", "first", "last"}
            How to combine several ``y`` frames matched to one ``x`` frame.

        Returns
        -------
        ndarray of shape (n,), float64
            Always float so the type does not depend on ``reduce``; ``"first"`` and ``"last"``
            hold whole numbers (use ``.astype(int)`` to index with them).

        >>> a = dtw_path_from_cost(np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))
        >>> a.index_map().tolist()
        [0.5, 2.0]
        """
        check_option(reduce, "reduce", ("mean", "first", "last"))
        n = self.shape[0]
        i, j = self.path[:, 0], self.path[:, 1].astype(np.float64)
        if reduce == "mean":
            counts = np.bincount(i, minlength=n)
            sums = np.bincount(i, weights=j, minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                return sums / counts
        out = np.full(n, np.nan)
        if reduce == "first":
            out[i[::-1]] = j[::-1]
        else:
            out[i] = j
        return out

    def warp(self, y: Any) -> np.ndarray:
        """Resample ``y`` onto the time base of ``x`` along the path.

        Each frame ``i`` of the result is the mean of the ``y`` frames matched to ``x[i]``.

        Parameters
        ----------
        y : array-like of shape (m,) or (m, d)
            The sequence aligned as ``y`` (or any sequence on its time base).

        Returns
        -------
        ndarray of shape (n,) or (n, d)
        """
        arr = np.asarray(y)
        one_d = arr.ndim == 1
        arr2 = as_sequence(arr, "y")
        if arr2.shape[0] != self.shape[1]:
            raise ValueError(
                f"y must have {self.shape[1]} frames (the m of this alignment), got "
                f"{arr2.shape[0]}; pass the sequence that was aligned as y."
            )
        n = self.shape[0]
        i, j = self.path[:, 0], self.path[:, 1]
        sums = np.zeros((n, arr2.shape[1]))
        np.add.at(sums, i, arr2[j])
        counts = np.bincount(i, minlength=n)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = sums / counts
        return out[:, 0] if one_d else out


@dataclass(frozen=True, eq=False)
class SubsequenceMatch:
    """One match of a query inside a longer series (see :func:`subsequence_dtw`).

    Attributes
    ----------
    start, end : int
        First and last matched frame of the series (inclusive).
    cost : float
        Accumulated cost of the match.
    normalized_cost : float
        ``cost`` over the step pattern's normaliser (``n`` for asymmetric, ``n + end - start
        + 1`` for symmetric2, NaN for symmetric1).
    path : ndarray of shape (k, 2), int64
        ``(query index, series index)`` pairs.
    """

    start: int
    end: int
    cost: float
    normalized_cost: float
    path: np.ndarray

    def __repr__(self) -> str:
        return (
            f"SubsequenceMatch(start={self.start}, end={self.end}, cost={self.cost:.6g}, "
            f"normalized_cost={self.normalized_cost:.6g})"
        )


# --------------------------------------------------------------------------------------
# validation helpers


def _pattern(step_pattern: Any, *, p1: bool = False) -> StepPattern:
    if isinstance(step_pattern, StepPattern):
        pat = step_pattern
    else:
        pat = STEP_PATTERNS[check_option(step_pattern, "step_pattern", STEP_PATTERNS)]
    if pat._code == K.SYMMETRIC_P1 and not p1:
        raise ValueError(
            "step_pattern='symmetricP1' is supported by dtw_path and dtw_path_from_cost only; "
            "use 'symmetric2' here."
        )
    return pat


def _solve_p1(cost: np.ndarray, mask: np.ndarray | None, open_end: bool, linear: bool, desc: str):
    """Path, accumulated cost and end column under symmetric P=1 (full matrix)."""
    if linear:
        raise ValueError(
            "step_pattern='symmetricP1' keeps the full (n, m) matrix; use memory='full' (or "
            "'auto'), or step_pattern='symmetric2' for memory='linear'."
        )
    c = np.array(cost, dtype=np.float64)
    if mask is not None and mask.size:
        c[~mask] = np.inf
    n, m = c.shape
    if n < 2 or m < 2:
        raise ValueError(
            f"step_pattern='symmetricP1' needs at least 2 frames on each side, got ({n}, {m})."
        )
    acc, move = K.p1_accumulate(c, False)
    if open_end:
        norm = acc[n - 1] / (n + np.arange(1, m + 1))
        end = int(np.argmin(norm)) if np.isfinite(norm).any() else -1
    else:
        end = m - 1
    if end < 0 or not np.isfinite(acc[n - 1, end]):
        if desc == "none":
            raise ValueError(
                f"no warping path joins the two ends under step pattern 'symmetricP1' (slope "
                f"within [1/2, 2] needs {n} <= 2 * {m} - 1 and {m} <= 2 * {n} - 1), or every "
                f"path crosses an infinite cost; use 'symmetric2' or open_end=True."
            )
        raise _no_path_error(desc, STEP_PATTERNS["symmetricP1"])
    path = K.p1_backtrack(move, n - 1, end)
    return path, float(acc[n - 1, end]), end


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    xa = as_sequence(x, "x")
    ya = as_sequence(y, "y")
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got x with {xa.shape[1]} and y "
            f"with {ya.shape[1]} (shapes {xa.shape} and {ya.shape}); project them to a common "
            f"space first, or pass a precomputed cost matrix to dtw_path_from_cost."
        )
    return xa, ya


def _check_metric(metric: Any) -> None:
    if callable(metric):
        return
    check_option(metric, "metric", METRICS)


def _features(xa: np.ndarray, ya: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Arrays and code for the kernels; cosine rows are normalised (zero rows stay zero)."""
    if metric == "cosine":
        xa = _unit_rows(xa)
        ya = _unit_rows(ya)
    return xa, np.ascontiguousarray(ya.T), _METRIC_CODES[metric]


def _unit_rows(a: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return np.ascontiguousarray(a / np.where(norm > 0, norm, 1.0))


def _call_metric(metric: Callable, xa: np.ndarray, ya: np.ndarray) -> np.ndarray:
    out = np.asarray(metric(xa, ya), dtype=np.float64)
    if out.shape != (xa.shape[0], ya.shape[0]):
        raise ValueError(
            f"metric callable must return the pairwise cost matrix of shape (len(x), len(y)) = "
            f"{(xa.shape[0], ya.shape[0])}, got shape {out.shape}; e.g. "
            f"lambda a, b: scipy.spatial.distance.cdist(a, b)."
        )
    if np.isnan(out).any() or np.isneginf(out).any():
        raise ValueError(
            "metric callable returned NaN or -inf costs; costs must be in (-inf, inf]."
        )
    return np.ascontiguousarray(out)


def _check_cost(cost: Any) -> np.ndarray:
    try:
        arr = np.asarray(cost, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cost must be a 2-D array of numbers, could not convert it ({exc})."
        ) from exc
    if arr.ndim != 2:
        raise ValueError(
            f"cost must be a 2-D matrix of shape (n, m), got {arr.ndim}-D shape {arr.shape}; "
            f"build it with cost_matrix(x, y)."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"cost is empty (shape {arr.shape}); both sequences need a frame.")
    if np.isnan(arr).any() or np.isneginf(arr).any():
        raise ValueError(
            "cost holds NaN or -inf; use +inf to forbid a cell and finite values elsewhere."
        )
    return np.ascontiguousarray(arr)


def _check_number(value: Any, name: str, *, minimum: float, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number >= {minimum}, got {value!r}; {hint}")
    v = float(value)
    if not np.isfinite(v) or v < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}; {hint}")
    return v


def sakoe_chiba_mask(n: int, m: int, radius: float) -> np.ndarray:
    """Boolean mask of the Sakoe-Chiba band, slanted for unequal lengths.

    A cell ``(i, j)`` is inside when its distance to the straight line from ``(0, 0)`` to
    ``(n-1, m-1)``, measured along the longer axis, is at most ``radius + s / 2``, where
    ``s = (L-1)/(S-1) >= 1`` is the slope between the longer and the shorter length (the
    ``s / 2`` term takes in the cells the line passes through).
    For ``n == m`` this is exactly ``|i - j| <= radius`` (tslearn, dtw-python, and
    dtaidistance with ``window = radius + 1``). For unequal lengths the peers differ:
    dtw-python keeps ``|i - j| <= radius`` (no path unless ``radius >= |n - m|``), tslearn
    widens the band by ``|n - m|``. mmalign follows the slanted definition because a band is
    meant to bound the deviation from the *diagonal*, and the ``s / 2`` term keeps it
    connected (``radius=0`` is the digital diagonal) however different the lengths are.

    Parameters
    ----------
    n, m : int
        Lengths of ``x`` and ``y``.
    radius : float
        Half width of the band, in frames of the longer sequence; ``>= 0``.

    Returns
    -------
    ndarray of shape (n, m), bool

    >>> sakoe_chiba_mask(3, 3, 1).astype(int)
    array([[1, 1, 0],
           [1, 1, 1],
           [0, 1, 1]])
    """
    lo, hi = _sakoe_ranges(_check_len(n, "n"), _check_len(m, "m"), radius)
    return _ranges_to_mask(n, m, lo, hi)


def itakura_mask(n: int, m: int, max_slope: float = 2.0) -> np.ndarray:
    """Boolean mask of the Itakura parallelogram.

    In normalised axes ``p = i / (n-1)``, ``q = j / (m-1)`` the path slope is kept within
    ``[1 / max_slope, max_slope]`` from both corners: ``p / s <= q <= p * s`` and
    ``1 - (1 - p) * s <= q <= 1 - (1 - p) / s``. tslearn scales the slopes by ``n / m``
    instead of ``(n-1) / (m-1)``; the two agree for ``n == m``. mmalign uses
    ``(n-1) / (m-1)`` so that the corners are exactly the two end cells, and always keeps the
    digital diagonal (``sakoe_chiba_mask(n, m, 0)``) so that the window is never empty near
    the corners of an unequal-length grid (where tslearn warns that it is unfeasible).

    Parameters
    ----------
    n, m : int
        Lengths of ``x`` and ``y``.
    max_slope : float
        Largest allowed slope, ``>= 1``.

    Returns
    -------
    ndarray of shape (n, m), bool
    """
    lo, hi = _itakura_ranges(_check_len(n, "n"), _check_len(m, "m"), max_slope)
    return _ranges_to_mask(n, m, lo, hi)


def _check_len(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive int (a sequence length), got {v!r}.")
    return int(v)


def _sakoe_ranges(n: int, m: int, radius: Any) -> tuple[np.ndarray, np.ndarray]:
    r = _check_number(radius, "radius", minimum=0, hint="pass the band half-width in frames.")
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    K.sakoe_chiba_ranges(n, m, r, lo, hi)
    return lo, hi


def _itakura_ranges(n: int, m: int, max_slope: Any) -> tuple[np.ndarray, np.ndarray]:
    s = _check_number(
        max_slope, "max_slope", minimum=1, hint="the Itakura slope bound is usually 2."
    )
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    K.itakura_ranges(n, m, s, lo, hi)
    return lo, hi


def _ranges_to_mask(n: int, m: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    j = np.arange(m)
    return (j[None, :] >= lo[:, None]) & (j[None, :] <= hi[:, None])


_NO_MASK = np.zeros((0, 0), dtype=np.bool_)


def _window(
    n: int, m: int, window: Any, radius: Any, max_slope: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Row ranges ``lo, hi``, a boolean mask (or an empty one) and a description."""
    if window is None:
        if radius is not None and max_slope is not None:
            raise ValueError(
                "radius and max_slope were both given; choose one window: "
                "window='sakoe_chiba' with radius, or window='itakura' with max_slope."
            )
        if radius is not None:
            window = "sakoe_chiba"
        elif max_slope is not None:
            window = "itakura"
    if window is None:
        return np.zeros(n, np.int64), np.full(n, m - 1, np.int64), _NO_MASK, "none"
    if isinstance(window, str):
        check_option(window, "window", WINDOWS)
        if window == "sakoe_chiba":
            if radius is None:
                raise ValueError(
                    "window='sakoe_chiba' needs radius (the band half-width in frames), "
                    "e.g. radius=10."
                )
            lo, hi = _sakoe_ranges(n, m, radius)
            return lo, hi, _NO_MASK, f"sakoe_chiba(radius={radius})"
        lo, hi = _itakura_ranges(n, m, 2.0 if max_slope is None else max_slope)
        return lo, hi, _NO_MASK, f"itakura(max_slope={max_slope or 2.0})"
    mask = np.asarray(window)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"window must be None, 'sakoe_chiba', 'itakura' or a boolean mask, got "
            f"{type(window).__name__} of dtype {getattr(mask, 'dtype', None)}; "
            f"convert a 0/1 mask with mask.astype(bool)."
        )
    if mask.shape != (n, m):
        raise ValueError(f"window mask must have shape (n, m) = {(n, m)}, got {mask.shape}.")
    any_row = mask.any(axis=1)
    lo = np.where(any_row, mask.argmax(axis=1), 1).astype(np.int64)
    hi = np.where(any_row, m - 1 - mask[:, ::-1].argmax(axis=1), 0).astype(np.int64)
    return lo, hi, np.ascontiguousarray(mask), "mask"


def _check_open(pat: StepPattern, open_begin: bool, open_end: bool) -> None:
    if open_begin and pat.normalization != "N":
        raise ValueError(
            f"open_begin=True needs a step pattern normalised by the query length ('N'), got "
            f"{pat.name!r} ({pat.normalization}); use step_pattern='asymmetric' (as dtw-python "
            f"requires), or subsequence_dtw to search a query inside a series."
        )
    if open_end and pat.normalization == "NA":
        raise ValueError(
            f"open_end=True needs a normalisable step pattern, got {pat.name!r}; use "
            f"'symmetric2' or 'asymmetric'."
        )


def _no_path_error(desc: str, pat: StepPattern) -> ValueError:
    if desc == "none":
        return ValueError(
            f"no warping path joins the two ends under step pattern {pat.name!r} (asymmetric "
            f"needs len(y) <= 2 * len(x) - 1), or every path crosses an infinite cost; use a "
            f"symmetric pattern, swap x and y, or allow open_end=True."
        )
    return ValueError(
        f"the window {desc} admits no warping path between the two ends (or every path "
        f"crosses an infinite cost); widen it (a larger radius or max_slope) or drop it."
    )


def _normalize(pat: StepPattern, cost: float, n: int, m_used: int) -> float:
    if pat.normalization == "N+M":
        return cost / (n + m_used)
    if pat.normalization == "N":
        return cost / n
    return float("nan")


# --------------------------------------------------------------------------------------
# cost sources and solvers


class _Source:
    """Where local costs come from: features + built-in metric, a cost matrix, or a callable."""

    def __init__(self, x, yt, code, mask, fn=None, xa=None, ya=None):
        self.x, self.yt, self.code, self.mask = x, yt, code, mask
        self.fn, self.xa, self.ya = fn, xa, ya

    def blocks(self, a: int, b: int, j0: int, j1: int, reverse: bool = False):
        """Yield ``(x, yt, code, r0, c0, first_row, last_row)`` covering rows a..b."""
        if self.fn is None:
            yield self.x, self.yt, self.code, 0, 0, a, b
            return
        rows = max(1, _BLOCK_CELLS // (j1 - j0 + 1))
        starts = list(range(a, b + 1, rows))
        if reverse:
            starts = starts[::-1]
        for s in starts:
            e = min(b, s + rows - 1)
            blk = _call_metric(self.fn, self.xa[s : e + 1], self.ya[j0 : j1 + 1])
            yield blk, _DUMMY_YT, K.PRECOMPUTED, s, j0, s, e

    def full(self, i0: int, i1: int, j0: int, j1: int):
        if self.fn is None:
            return self.x, self.yt, self.code, 0, 0
        blk = _call_metric(self.fn, self.xa[i0 : i1 + 1], self.ya[j0 : j1 + 1])
        return blk, _DUMMY_YT, K.PRECOMPUTED, i0, j0


_DUMMY_YT = np.zeros((1, 1))


def _forward(src, i_start, i_stop, j0, j1, lo, hi, pat, open_begin, prev=None):
    """Accumulated cost of row ``i_stop`` (local columns), starting a fresh grid at i_start."""
    if prev is None:
        prev = np.empty(j1 - j0 + 1)
    plo, phi, first = 1, 0, True
    w = np.asarray(pat._weights)
    for x, yt, code, r0, c0, a, b in src.blocks(i_start, i_stop, j0, j1):
        plo, phi = K.forward_rows(
            x, yt, code, src.mask, r0, c0, a, b, first, j0, j1, lo, hi, pat._code, w,
            open_begin, prev, plo, phi,
        )  # fmt: skip
        first = False
    return prev, plo, phi


def _backward(src, i_start, i_stop, j0, j1, lo, hi, pat):
    """Cost-to-go and local costs of row ``i_stop`` towards the end cell (i_start, j1)."""
    nxt = np.empty(j1 - j0 + 1)
    nbuf = np.empty(j1 - j0 + 1)
    nlo, nhi, last = 1, 0, True
    w = np.asarray(pat._weights)
    for x, yt, code, r0, c0, a, b in src.blocks(i_stop, i_start, j0, j1, reverse=True):
        nlo, nhi = K.backward_rows(
            x, yt, code, src.mask, r0, c0, b, a, last, j0, j1, lo, hi, pat._code, w,
            nxt, nbuf, nlo, nhi,
        )  # fmt: skip
        last = False
    return nxt, nbuf, nlo, nhi


class _Acc:
    """Accumulated costs of a sub-grid, stored only inside the window (see K.accumulate)."""

    def __init__(self, flat, ms, rlo, rhi, off, costs):
        self.flat, self.ms, self.rlo, self.rhi, self.off = flat, ms, rlo, rhi, off
        self.costs = costs  # (x, yt, code, r0, c0): where the local costs came from

    def value(self, a: int, b: int) -> float:
        if a < 0 or not (self.rlo[a] <= b <= self.rhi[a]):
            return float("inf")
        return float(self.flat[self.ms + self.off[a] + b - self.rlo[a]])

    def row(self, a: int) -> np.ndarray:
        out = np.full(self.ms, np.inf)
        lo, hi = self.rlo[a], self.rhi[a]
        if lo <= hi:
            start = self.ms + self.off[a]
            out[lo : hi + 1] = self.flat[start : start + hi - lo + 1]
        return out

    def dense(self) -> np.ndarray:
        return np.stack([self.row(a) for a in range(len(self.rlo))])


def _sub_ranges(lo, hi, i0, i1, j0, j1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local column ranges of rows i0..i1 clipped to j0..j1, and their storage offsets."""
    rlo = np.maximum(lo[i0 : i1 + 1], j0) - j0
    rhi = np.minimum(hi[i0 : i1 + 1], j1) - j0
    width = np.maximum(rhi - rlo + 1, 0)
    off = np.zeros(len(rlo) + 1, dtype=np.int64)
    np.cumsum(width, out=off[1:])
    return np.ascontiguousarray(rlo), np.ascontiguousarray(rhi), off


def _solve_full(src, i0, i1, j0, j1, lo, hi, pat, open_begin=False) -> _Acc:
    """Accumulated costs of the sub-grid (i0..i1, j0..j1), stored inside the window."""
    x, yt, code, r0, c0 = src.full(i0, i1, j0, j1)
    w = np.asarray(pat._weights)
    ms = j1 - j0 + 1
    rlo, rhi, off = _sub_ranges(lo, hi, i0, i1, j0, j1)
    flat = np.empty(int(off[-1]) + 2 * ms)
    K.accumulate(
        x, yt, code, src.mask, r0, c0, i0, j0, ms, rlo, rhi, off, pat._code, w, open_begin, flat
    )
    return _Acc(flat, ms, rlo, rhi, off, (x, yt, code, r0, c0))


def _trace(src, acc: _Acc, i0, j0, end_b, pat, open_begin=False) -> np.ndarray:
    """Backtrack the optimal path through ``acc`` from local end column ``end_b``."""
    x, yt, code, r0, c0 = acc.costs
    w = np.asarray(pat._weights)
    return K.backtrack(
        acc.flat, acc.ms, acc.rlo, acc.rhi, acc.off, x, yt, code, src.mask, r0, c0, i0, j0,
        end_b, pat._code, w, open_begin,
    )  # fmt: skip


def _window_cells(lo, hi, i0, i1, j0, j1) -> int:
    rlo = np.maximum(lo[i0 : i1 + 1], j0)
    rhi = np.minimum(hi[i0 : i1 + 1], j1)
    return int(np.maximum(rhi - rlo + 1, 0).sum())


def _hirschberg(src, i0, i1, j0, j1, lo, hi, pat, pool) -> tuple[list[np.ndarray], float]:
    """Exact optimal path from (i0, j0) to (i1, j1) in memory linear in the sub-grid sides."""
    ns, ms = i1 - i0 + 1, j1 - j0 + 1
    # a callable metric fills whole rectangles of costs in the base case
    cells = ns * ms if src.fn is not None else _window_cells(lo, hi, i0, i1, j0, j1)
    if cells <= _BASE_CELLS or ns <= 2:
        acc = _solve_full(src, i0, i1, j0, j1, lo, hi, pat)
        cost = acc.value(ns - 1, ms - 1)
        if not np.isfinite(cost):
            return [np.empty((0, 2), np.int64)], float("inf")
        return [_trace(src, acc, i0, j0, ms - 1, pat)], cost
    mid = (i0 + i1) // 2
    if pool is not None and cells >= _THREAD_CELLS:
        fut = pool.submit(_forward, src, i0, mid, j0, j1, lo, hi, pat, False)
        nxt, nbuf, nlo, nhi = _backward(src, i1, mid, j0, j1, lo, hi, pat)
        fwd, plo, phi = fut.result()
    else:
        fwd, plo, phi = _forward(src, i0, mid, j0, j1, lo, hi, pat, False)
        nxt, nbuf, nlo, nhi = _backward(src, i1, mid, j0, j1, lo, hi, pat)
    a, b = max(plo, nlo), min(phi, nhi)
    if a > b:
        return [np.empty((0, 2), np.int64)], float("inf")
    total = fwd[a : b + 1] + nxt[a : b + 1]
    k = int(np.argmin(total))
    best = float(total[k])
    if not np.isfinite(best):
        return [np.empty((0, 2), np.int64)], float("inf")
    js = j0 + a + k
    top, _ = _hirschberg(src, i0, mid, j0, js, lo, hi, pat, pool)
    bottom, _ = _hirschberg(src, mid, i1, js, j1, lo, hi, pat, pool)
    bottom[0] = bottom[0][1:]  # (mid, js) is the last cell of the top half
    return top + bottom, best


def _end_column(pat: StepPattern, last_row: np.ndarray, plo: int, phi: int, n: int) -> int:
    """Open-end choice of the last column (dtw-python: argmin of the normalised last row)."""
    if plo > phi:
        return -1
    vals = last_row[plo : phi + 1].copy()
    if pat.normalization == "N+M":
        vals = vals / (n + np.arange(plo, phi + 1) + 1)
    if not np.isfinite(vals).any():
        return -1
    return plo + int(np.argmin(vals))


def _solve(
    src, n, m, lo, hi, pat, open_begin, open_end, linear, desc
) -> tuple[np.ndarray, float, int]:
    """Optimal path, cost and end column on the whole grid."""
    if not linear:
        acc = _solve_full(src, 0, n - 1, 0, m - 1, lo, hi, pat, open_begin)
        if open_end:
            end = _end_column(pat, acc.row(n - 1), 0, m - 1, n)
        else:
            end = m - 1
        if end < 0 or not np.isfinite(acc.value(n - 1, end)):
            raise _no_path_error(desc, pat)
        path = _trace(src, acc, 0, 0, end, pat, open_begin)
        return path, acc.value(n - 1, end), end
    end = m - 1
    if open_end:
        row, plo, phi = _forward(src, 0, n - 1, 0, m - 1, lo, hi, pat, open_begin)
        end = _end_column(pat, row, plo, phi, n)
        if end < 0:
            raise _no_path_error(desc, pat)
    start = 0
    if open_begin:
        nxt, nbuf, nlo, nhi = _backward(src, n - 1, 0, 0, end, lo, hi, pat)
        if nlo > nhi:
            raise _no_path_error(desc, pat)
        tot = nxt[nlo : nhi + 1] + nbuf[nlo : nhi + 1]
        if not np.isfinite(tot).any():
            raise _no_path_error(desc, pat)
        start = nlo + int(np.argmin(tot))
    with ThreadPoolExecutor(max_workers=1) as pool:
        parts, cost = _hirschberg(src, 0, n - 1, start, end, lo, hi, pat, pool)
    path = np.concatenate(parts, axis=0)
    if not np.isfinite(cost) or len(path) == 0:
        raise _no_path_error(desc, pat)
    return path, cost, end


def _make_source(xa, ya, metric, mask, *, linear: bool) -> _Source:
    if callable(metric):
        if linear:
            return _Source(None, None, K.PRECOMPUTED, mask, fn=metric, xa=xa, ya=ya)
        return _Source(_call_metric(metric, xa, ya), _DUMMY_YT, K.PRECOMPUTED, mask)
    x, yt, code = _features(xa, ya, metric)
    return _Source(x, yt, code, mask)


# --------------------------------------------------------------------------------------
# public API


def cost_matrix(x: Any, y: Any, *, metric: str | Callable = "sqeuclidean") -> np.ndarray:
    """Pairwise local cost between the frames of ``x`` and ``y``.

    Parameters
    ----------
    x : array-like of shape (n,) or (n, d)
    y : array-like of shape (m,) or (m, d)
    metric : {"sqeuclidean", "euclidean", "cityblock", "cosine"} or callable
        ``sqeuclidean`` is ``||x_i - y_j||^2``; ``cosine`` is ``1 - cos(x_i, y_j)`` (a zero
        frame has cosine distance 1 to everything); a callable gets ``(x, y)`` as 2-D arrays
        and returns the ``(n, m)`` matrix.

    Returns
    -------
    ndarray of shape (n, m)

    >>> cost_matrix([0.0, 1.0], [0.0, 2.0]).tolist()
    [[0.0, 4.0], [1.0, 1.0]]
    """
    xa, ya = _pair(x, y)
    _check_metric(metric)
    n, m = xa.shape[0], ya.shape[0]
    if callable(metric):
        return _call_metric(metric, xa, ya)
    xk, yt, code = _features(xa, ya, metric)
    out = np.empty((n, m))
    buf = np.empty(m)
    for i in range(n):
        K.cost_row(xk, yt, code, _NO_MASK, 0, 0, i, 0, m - 1, 0, buf)
        out[i] = buf
    return out


def dtw_path(
    x: Any,
    y: Any,
    *,
    metric: str | Callable = "sqeuclidean",
    step_pattern: str | StepPattern = "symmetric2",
    window: None | str | np.ndarray = None,
    radius: float | None = None,
    max_slope: float | None = None,
    open_begin: bool = False,
    open_end: bool = False,
    memory: str = "auto",
) -> Alignment:
    """Optimal DTW alignment of ``x`` onto ``y`` (Sakoe & Chiba 1978).

    Minimises ``sum_(i,j) in P  w_step * c(x_i, y_j)`` over monotone, continuous paths ``P``
    from ``(0, 0)`` to ``(n-1, m-1)`` (or from any ``(0, j)`` with ``open_begin`` / to any
    ``(n-1, j)`` with ``open_end``).

    Parameters
    ----------
    x : array-like of shape (n,) or (n, d)
        Query sequence.
    y : array-like of shape (m,) or (m, d)
        Reference sequence.
    metric : {"sqeuclidean", "euclidean", "cityblock", "cosine"} or callable
        Local cost, see :func:`cost_matrix`. A callable is called on blocks of rows with
        ``memory="linear"``.
    step_pattern : {"symmetric2", "symmetric1", "asymmetric"} or StepPattern
        See :data:`STEP_PATTERNS`.
    window : None, "sakoe_chiba", "itakura" or ndarray of shape (n, m), bool
        Global constraint; ``radius`` alone implies ``"sakoe_chiba"`` and ``max_slope``
        alone ``"itakura"``. See :func:`sakoe_chiba_mask` and :func:`itakura_mask`.
    radius : float, optional
        Sakoe-Chiba band half width in frames (of the longer sequence).
    max_slope : float, optional
        Itakura slope bound (default 2 when ``window="itakura"``).
    open_begin, open_end : bool
        Free start / end on ``y`` (dtw-python semantics): open end picks the last cell with the
        lowest normalised cost; open begin needs the ``"asymmetric"`` pattern.
    memory : {"auto", "full", "linear"}
        ``"full"`` keeps the ``(n, m)`` accumulated matrix; ``"linear"`` finds the same optimal
        path in memory O(n + m) with Hirschberg's divide and conquer: local costs are computed
        row by row from ``x`` and ``y`` (a callable metric is called on blocks of about 2**20
        cells), about twice the time of :func:`dtw` without a window (two 100,000-frame
        sequences: under 200 MiB in all). ``"auto"`` picks linear above 2**24 cells.

    Returns
    -------
    Alignment

    Raises
    ------
    ValueError
        On NaN / inf / empty / 3-D inputs, unknown options, or a window that admits no path.

    >>> a = dtw_path([0.0, 1.0, 2.0], [0.0, 2.0])
    >>> a.path.tolist(), a.cost
    ([[0, 0], [1, 0], [2, 1]], 1.0)
    """
    xa, ya = _pair(x, y)
    _check_metric(metric)
    pat = _pattern(step_pattern, p1=True)
    check_option(memory, "memory", MEMORY_MODES)
    open_begin, open_end = bool(open_begin), bool(open_end)
    _check_open(pat, open_begin, open_end)
    n, m = xa.shape[0], ya.shape[0]
    lo, hi, mask, desc = _window(n, m, window, radius, max_slope)
    if pat._code == K.SYMMETRIC_P1:
        if memory == "linear":
            _solve_p1(np.zeros((2, 2)), None, False, True, desc)
        full_mask = _ranges_to_mask(n, m, lo, hi) if desc != "none" else None
        if mask is not None and mask.size and full_mask is not None:
            full_mask &= mask
        c = cost_matrix(xa, ya, metric=metric)
        path, cost, end = _solve_p1(c, full_mask, open_end, False, desc)
        return Alignment(path, cost, _normalize(pat, cost, n, end + 1), (n, m), pat.name)
    linear = memory == "linear" or (
        memory == "auto" and _window_cells(lo, hi, 0, n - 1, 0, m - 1) > _FULL_MAX_CELLS
    )
    src = _make_source(xa, ya, metric, mask, linear=linear)
    path, cost, end = _solve(src, n, m, lo, hi, pat, open_begin, open_end, linear, desc)
    return Alignment(path, cost, _normalize(pat, cost, n, end + 1), (n, m), pat.name)


def dtw_path_from_cost(
    cost: Any,
    *,
    step_pattern: str | StepPattern = "symmetric2",
    window: None | str | np.ndarray = None,
    radius: float | None = None,
    max_slope: float | None = None,
    open_begin: bool = False,
    open_end: bool = False,
) -> Alignment:
    """Optimal DTW alignment on a precomputed local cost matrix.

    Same as :func:`dtw_path` with ``c(x_i, y_j) = cost[i, j]``; ``+inf`` forbids a cell.

    Parameters
    ----------
    cost : array-like of shape (n, m)
        Local costs (finite or ``+inf``; negative values are allowed).
    step_pattern, window, radius, max_slope, open_begin, open_end
        As in :func:`dtw_path`.

    Returns
    -------
    Alignment

    >>> dtw_path_from_cost([[0.0, 1.0], [1.0, 0.0]]).cost
    0.0
    """
    c = _check_cost(cost)
    pat = _pattern(step_pattern, p1=True)
    open_begin, open_end = bool(open_begin), bool(open_end)
    _check_open(pat, open_begin, open_end)
    n, m = c.shape
    lo, hi, mask, desc = _window(n, m, window, radius, max_slope)
    if pat._code == K.SYMMETRIC_P1:
        full_mask = _ranges_to_mask(n, m, lo, hi) if desc != "none" else None
        if mask is not None and mask.size and full_mask is not None:
            full_mask &= mask
        path, total, end = _solve_p1(c, full_mask, open_end, False, desc)
        return Alignment(path, total, _normalize(pat, total, n, end + 1), (n, m), pat.name)
    src = _Source(c, _DUMMY_YT, K.PRECOMPUTED, mask)
    path, total, end = _solve(src, n, m, lo, hi, pat, open_begin, open_end, False, desc)
    return Alignment(path, total, _normalize(pat, total, n, end + 1), (n, m), pat.name)


def dtw(
    x: Any,
    y: Any,
    *,
    metric: str | Callable = "sqeuclidean",
    step_pattern: str | StepPattern = "symmetric2",
    window: None | str | np.ndarray = None,
    radius: float | None = None,
    max_slope: float | None = None,
    open_begin: bool = False,
    open_end: bool = False,
    normalized: bool = False,
) -> float:
    """DTW cost of aligning ``x`` with ``y``, in memory O(m) (no path).

    Parameters
    ----------
    x : array-like of shape (n,) or (n, d)
    y : array-like of shape (m,) or (m, d)
    metric, step_pattern, window, radius, max_slope, open_begin, open_end
        As in :func:`dtw_path`.
    normalized : bool
        Return the normalised cost (``Alignment.normalized_cost``) instead of the raw one.

    Returns
    -------
    float
        ``dtw_path(x, y, ...).cost``. With ``metric="sqeuclidean"`` and
        ``step_pattern="symmetric1"`` this is the square of tslearn's ``dtw`` and of
        dtaidistance's ``distance``.

    >>> dtw([0.0, 1.0, 2.0], [0.0, 2.0], step_pattern="symmetric1")
    1.0
    """
    xa, ya = _pair(x, y)
    _check_metric(metric)
    pat = _pattern(step_pattern)
    open_begin, open_end = bool(open_begin), bool(open_end)
    _check_open(pat, open_begin, open_end)
    n, m = xa.shape[0], ya.shape[0]
    lo, hi, mask, desc = _window(n, m, window, radius, max_slope)
    src = _make_source(xa, ya, metric, mask, linear=True)
    row, plo, phi = _forward(src, 0, n - 1, 0, m - 1, lo, hi, pat, open_begin)
    end = _end_column(pat, row, plo, phi, n) if open_end else m - 1
    if end < 0 or not (plo <= end <= phi) or not np.isfinite(row[end]):
        raise _no_path_error(desc, pat)
    cost = float(row[end])
    return _normalize(pat, cost, n, end + 1) if normalized else cost


def subsequence_dtw(
    query: Any,
    series: Any,
    *,
    k: int = 1,
    metric: str | Callable = "sqeuclidean",
    step_pattern: str | StepPattern = "asymmetric",
) -> list[SubsequenceMatch]:
    """Best ``k`` non-overlapping matches of ``query`` inside a longer ``series``.

    Subsequence DTW (Müller 2015, ch. 7.2): the path may start at any frame of ``series``
    (open begin) and end at any frame (open end). The best end is the lowest accumulated
    cost in the last row; its path is traced back to its start. Further matches are the next
    best ends whose paths do not overlap any match already taken.

    Parameters
    ----------
    query : array-like of shape (n,) or (n, d)
    series : array-like of shape (m,) or (m, d)
    k : int
        Number of matches wanted (fewer are returned if the series has no more room).
    metric : str or callable
        As in :func:`dtw_path`.
    step_pattern : str or StepPattern
        ``"asymmetric"`` (default) charges each query frame once, so costs of matches of
        different lengths are comparable; symmetric patterns are allowed (ranked by the raw
        accumulated cost, which favours short matches).

    Returns
    -------
    list of SubsequenceMatch
        Sorted by increasing cost.

    >>> m = subsequence_dtw([1.0, 2.0], [5.0, 1.0, 2.0, 5.0])
    >>> (m[0].start, m[0].end, m[0].cost)
    (1, 2, 0.0)
    """
    xa = as_sequence(query, "query")
    ya = as_sequence(series, "series")
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(
            f"query and series must have the same number of features, got {xa.shape[1]} and "
            f"{ya.shape[1]}."
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int (number of matches), got {k!r}.")
    _check_metric(metric)
    pat = _pattern(step_pattern)
    n, m = xa.shape[0], ya.shape[0]
    lo, hi = np.zeros(n, np.int64), np.full(n, m - 1, np.int64)
    src = _make_source(xa, ya, metric, _NO_MASK, linear=False)
    acc = _solve_full(src, 0, n - 1, 0, m - 1, lo, hi, pat, open_begin=True)
    last = acc.row(n - 1)
    taken: list[tuple[int, int]] = []
    matches: list[SubsequenceMatch] = []
    blocked = np.zeros(m, dtype=bool)
    for end in np.argsort(last, kind="stable"):
        if len(matches) == k or not np.isfinite(last[end]):
            break
        if blocked[end]:
            continue
        path = _trace(src, acc, 0, 0, int(end), pat, open_begin=True)
        start = int(path[0, 1])
        if any(start <= e and s <= end for s, e in taken):
            continue
        taken.append((start, int(end)))
        blocked[start : end + 1] = True
        cost = float(last[end])
        matches.append(
            SubsequenceMatch(start, int(end), cost, _normalize(pat, cost, n, end - start + 1), path)
        )
    return matches


def cdist_dtw(
    X: Sequence[Any],
    Y: Sequence[Any] | None = None,
    *,
    metric: str | Callable = "sqeuclidean",
    step_pattern: str | StepPattern = "symmetric2",
    window: None | str = None,
    radius: float | None = None,
    max_slope: float | None = None,
    open_begin: bool = False,
    open_end: bool = False,
    n_jobs: int | None = None,
) -> np.ndarray:
    """DTW costs between all pairs of two lists of variable-length sequences, in parallel.

    Parameters
    ----------
    X : sequence of array-like, each of shape (n_i,) or (n_i, d)
    Y : sequence of array-like, each of shape (m_j,) or (m_j, d), optional
        When omitted, ``Y = X``; with a symmetric pattern and no open ends only the upper
        triangle is computed and mirrored.
    metric, step_pattern, window, radius, max_slope, open_begin, open_end
        As in :func:`dtw` (``window`` may not be a mask: the lengths vary).
    n_jobs : int, optional
        Threads (each runs a GIL-free numba kernel on an interleaved share of the pairs);
        None or -1 uses all cores.

    Returns
    -------
    ndarray of shape (len(X), len(Y))
        ``out[a, b] == dtw(X[a], Y[b], ...)``; ``inf`` for a pair that has no warping path
        within the window or step pattern (where :func:`dtw` raises).
    """
    xs = _check_list(X, "X")
    ys = xs if Y is None else _check_list(Y, "Y")
    if xs[0].shape[1] != ys[0].shape[1]:
        raise ValueError(
            f"sequences of X and Y must have the same number of features, got "
            f"{xs[0].shape[1]} and {ys[0].shape[1]}."
        )
    _check_metric(metric)
    pat = _pattern(step_pattern)
    open_begin, open_end = bool(open_begin), bool(open_end)
    _check_open(pat, open_begin, open_end)
    if n_jobs is None or (n_jobs == -1 and not isinstance(n_jobs, bool)):
        n_threads = os.cpu_count() or 1
    elif isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be None, -1 or a positive int, got {n_jobs!r}.")
    else:
        n_threads = int(n_jobs)
    if window is not None and not isinstance(window, str):
        raise TypeError(
            "cdist_dtw window must be None, 'sakoe_chiba' or 'itakura' (a mask cannot fit "
            "sequences of different lengths); use dtw for one pair with a mask."
        )
    _window(2, 2, window, radius, max_slope)  # validates the options
    if window is None:
        window = "sakoe_chiba" if radius is not None else "itakura" if max_slope else None
    wcode = {None: 0, "sakoe_chiba": 1, "itakura": 2}[window]
    param = float(radius if wcode == 1 else (max_slope or 2.0) if wcode == 2 else 0.0)
    nx, ny = len(xs), len(ys)
    symmetric = Y is None and pat._code == K.SYMMETRIC and not (open_begin or open_end)
    if symmetric:
        ii, jj = np.triu_indices(nx)
    else:
        ii, jj = (a.ravel() for a in np.indices((nx, ny)))
    out = np.full((nx, ny), np.nan)
    if callable(metric):
        for a, b in zip(ii, jj):
            out[a, b] = dtw(
                xs[a], ys[b], metric=metric, step_pattern=pat, window=window, radius=radius,
                max_slope=max_slope, open_begin=open_begin, open_end=open_end,
            )  # fmt: skip
    else:
        fx = [_features(s, s, metric)[0] for s in xs]
        fy = fx if ys is xs else [_features(s, s, metric)[0] for s in ys]
        x_off = np.concatenate([[0], np.cumsum([len(s) for s in fx])]).astype(np.int64)
        y_off = np.concatenate([[0], np.cumsum([len(s) for s in fy])]).astype(np.int64)
        flat_x = np.ascontiguousarray(np.concatenate(fx))
        flat_yt = np.ascontiguousarray(np.concatenate(fy).T)
        pairs = np.ascontiguousarray(np.stack([ii, jj], axis=1).astype(np.int64))
        norm = {"NA": 0, "N": 1, "N+M": 2}[pat.normalization]
        w = np.asarray(pat._weights)
        code = _METRIC_CODES[metric]
        threads = max(1, min(n_threads, len(pairs)))

        def run(chunk: np.ndarray) -> None:
            K.cdist(
                flat_x, x_off, flat_yt, y_off, chunk, code, wcode, param, pat._code, w,
                open_begin, open_end, norm, out,
            )  # fmt: skip

        # interleaved slices balance the load when the lengths vary along the lists
        chunks = [np.ascontiguousarray(pairs[k::threads]) for k in range(threads)]
        if threads == 1:
            run(chunks[0])
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(run, chunks))
    if symmetric:
        out = np.where(np.isnan(out), out.T, out)
    return out


def _check_list(seqs: Any, name: str) -> list[np.ndarray]:
    if isinstance(seqs, np.ndarray) and seqs.ndim in (2, 3) and seqs.dtype != object:
        seqs = list(seqs)
    if not isinstance(seqs, (list, tuple)) or len(seqs) == 0:
        raise TypeError(
            f"{name} must be a non-empty list of sequences (arrays of shape (n_i,) or "
            f"(n_i, d)), got {type(seqs).__name__}."
        )
    out = [as_sequence(s, f"{name}[{k}]") for k, s in enumerate(seqs)]
    dims = {s.shape[1] for s in out}
    if len(dims) > 1:
        raise ValueError(
            f"all sequences of {name} must have the same number of features, got {sorted(dims)}."
        )
    return out
