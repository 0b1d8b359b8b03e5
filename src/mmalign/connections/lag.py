"""Dependency: the temporal lag between two streams.

Two estimators. :func:`cross_correlation_lag` finds the shift that best correlates the two
streams (pooled over many paired samples if given lists). :func:`dtw_lag` aligns the streams
with DTW and reads the distribution of ``t_y - t_x`` along the warping path, which also shows
a lag that varies within a stream.

References
----------
.. [1] Knapp & Carter, "The generalized correlation method for estimation of time delay",
   IEEE TASSP 1976.
.. [2] Sakoe & Chiba, "Dynamic programming algorithm optimization for spoken word
   recognition", IEEE TASSP 1978 (DTW).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mmalign._utils import as_sequence, interp_frames

__all__ = [
    "LagEstimate",
    "OffsetDistribution",
    "cross_correlation_lag",
    "dtw_lag",
    "resample_stream",
]


@dataclass(frozen=True)
class LagEstimate:
    """Cross-correlation lag between two streams.

    Attributes
    ----------
    lag : float
        The best lag in seconds (frames if ``sample_rate`` is 1); positive means ``y`` lags
        ``x``, i.e. ``y[t] ~ x[t - lag]``.
    lags : ndarray of shape (n_lags,)
        Lags tried, seconds.
    correlation : ndarray of shape (n_lags,)
        Mean normalized cross-correlation at each lag (Pearson-like, in [-1, 1]).
    peak : float
        ``correlation`` at ``lag``.
    """

    lag: float
    lags: np.ndarray
    correlation: np.ndarray
    peak: float


@dataclass(frozen=True)
class OffsetDistribution:
    """Offsets ``t_y[j] - t_x[i]`` along DTW warping paths.

    Attributes
    ----------
    lag : float
        Median offset, seconds.
    offsets : ndarray of shape (n_steps,)
        Offset of every path step (all samples pooled), seconds.
    quartiles : tuple of float
        25th and 75th percentiles of ``offsets``.
    """

    lag: float
    offsets: np.ndarray
    quartiles: tuple[float, float]

    def histogram(self, bins: int | np.ndarray = 41) -> tuple[np.ndarray, np.ndarray]:
        """``np.histogram`` of the offsets: (counts, edges)."""
        return np.histogram(self.offsets, bins=bins)


def _as_list(x: Any, name: str) -> list[np.ndarray]:
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(f"{name} is an empty list; pass at least one stream.")
        return [as_sequence(s, f"{name}[{i}]") for i, s in enumerate(x)]
    return [as_sequence(x, name)]


def check_rate(rate: Any, name: str) -> float:
    if not isinstance(rate, (int, float, np.integer, np.floating)) or not rate > 0:
        raise ValueError(f"{name} must be a positive number of frames per second, got {rate!r}.")
    return float(rate)


def resample_stream(x: Any, rate_in: float, rate_out: float) -> np.ndarray:
    """Linearly resample a stream (n, d) from ``rate_in`` to ``rate_out`` frames per second.

    Frame ``t`` is taken to sit at ``t / rate``; returns (round(n * rate_out / rate_in), d).
    """
    x = as_sequence(x, "x")
    rate_in = check_rate(rate_in, "rate_in")
    rate_out = check_rate(rate_out, "rate_out")
    n_out = max(1, int(round(len(x) * rate_out / rate_in)))
    return interp_frames(x, np.arange(n_out) / rate_out, np.arange(len(x)) / rate_in)


def cross_correlation_lag(
    x: Any,
    y: Any,
    *,
    sample_rate: float = 1.0,
    max_lag: float | None = None,
    min_overlap: float = 0.5,
) -> LagEstimate:
    """Lag that maximizes the normalized cross-correlation of ``y`` against ``x``.

    ``c(k) = sum_s sum_t xs[t] . ys[t + k] / sum_s overlap_s(k)`` with every channel z-scored
    per sample, so ``c`` is an average Pearson correlation over the overlapping frames, pooled
    over the samples ``s`` (a list of paired streams) [1]_.

    Parameters
    ----------
    x, y : array-like of shape (n, d) / (m, d), or lists of them (paired samples)
        Streams at the same ``sample_rate`` with the same channels (reduce two modalities to
        comparable 1-D envelopes first, e.g. onset strength and frame change). 1-D is (n, 1).
    sample_rate : float
        Frames per second of both streams; lags are returned in seconds.
    max_lag : float, optional
        Largest absolute lag searched, seconds (default: a quarter of the shortest stream).
    min_overlap : float
        Lags where fewer than this fraction of a sample's frames overlap are skipped for it.

    Returns
    -------
    LagEstimate

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=200)
    >>> cross_correlation_lag(x, np.roll(x, 7)).lag
    7.0
    """
    from scipy.signal import correlate, correlation_lags

    xs, ys = _as_list(x, "x"), _as_list(y, "y")
    if len(xs) != len(ys):
        raise ValueError(f"x and y must pair up: got {len(xs)} x streams and {len(ys)} y streams.")
    rate = check_rate(sample_rate, "sample_rate")
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap!r}.")
    shortest = min(min(len(a), len(b)) for a, b in zip(xs, ys))
    if max_lag is None:
        k_max = max(1, shortest // 4)
    else:
        if not max_lag >= 0:
            raise ValueError(f"max_lag must be >= 0 seconds, got {max_lag!r}.")
        k_max = int(round(max_lag * rate))
    lags = np.arange(-k_max, k_max + 1)
    num = np.zeros(len(lags))
    den = np.zeros(len(lags))
    for i, (a, b) in enumerate(zip(xs, ys)):
        if a.shape[1] != b.shape[1]:
            raise ValueError(
                f"x[{i}] and y[{i}] must have the same channels, got {a.shape[1]} and {b.shape[1]}; "
                "reduce each modality to a comparable envelope first."
            )
        za = (a - a.mean(0)) / np.maximum(a.std(0), 1e-12)
        zb = (b - b.mean(0)) / np.maximum(b.std(0), 1e-12)
        full = sum(correlate(zb[:, c], za[:, c], mode="full") for c in range(a.shape[1]))
        all_lags = correlation_lags(len(zb), len(za), mode="full")
        overlap = np.minimum(len(za), len(zb) - all_lags) - np.maximum(0, -all_lags)
        keep = np.isin(all_lags, lags) & (overlap >= min_overlap * min(len(za), len(zb)))
        idx = all_lags[keep] + k_max
        num[idx] += full[keep]
        den[idx] += overlap[keep] * a.shape[1]
    valid = den > 0
    if not valid.any():
        raise ValueError("no lag has enough overlap; lower min_overlap or max_lag.")
    corr = np.full(len(lags), np.nan)
    corr[valid] = num[valid] / den[valid]
    best = int(np.nanargmax(corr))
    return LagEstimate(
        lag=float(lags[best] / rate),
        lags=lags / rate,
        correlation=corr,
        peak=float(corr[best]),
    )


def dtw_lag(
    x: Any,
    y: Any,
    *,
    x_rate: float = 1.0,
    y_rate: float | None = None,
    trim: float = 0.1,
    **dtw_options: Any,
) -> OffsetDistribution:
    """Distribution of ``t_y - t_x`` along the DTW path between ``x`` and ``y`` [2]_.

    Parameters
    ----------
    x, y : array-like of shape (n, d) / (m, d), or lists of paired streams
    x_rate, y_rate : float
        Frames per second of ``x`` and ``y`` (``y_rate`` defaults to ``x_rate``).
    trim : float
        Fraction of each path dropped at both ends, where the boundary condition (the path
        starts at (0, 0) and ends at (n-1, m-1)) rather than the data decides the offset.
    **dtw_options
        Passed to :func:`mmalign.explicit.dtw_path` (e.g. ``metric``, a band).

    Returns
    -------
    OffsetDistribution
    """
    from mmalign.explicit import dtw_path

    xs, ys = _as_list(x, "x"), _as_list(y, "y")
    if len(xs) != len(ys):
        raise ValueError(f"x and y must pair up: got {len(xs)} x streams and {len(ys)} y streams.")
    rx = check_rate(x_rate, "x_rate")
    ry = rx if y_rate is None else check_rate(y_rate, "y_rate")
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim!r}.")
    offsets = []
    for a, b in zip(xs, ys):
        res = dtw_path(a, b, **dtw_options)
        path = np.asarray(getattr(res, "path", res))
        cut = int(trim * len(path))
        path = path[cut : len(path) - cut] if len(path) - 2 * cut > 0 else path
        offsets.append(path[:, 1] / ry - path[:, 0] / rx)
    off = np.concatenate(offsets)
    q1, q3 = np.percentile(off, [25, 75])
    return OffsetDistribution(
        lag=float(np.median(off)), offsets=off, quartiles=(float(q1), float(q3))
    )
