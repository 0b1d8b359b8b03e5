"""Decision-level (late) fusion of single-stream classifiers with stream weights.

Each stream m has its own classifier, trained on that stream alone; their log-posteriors are
combined with weights that sum to 1, the stream exponents of audio-visual speech recognition
(Potamianos, Neti, Gravier, Garg & Senior, "Recent advances in the automatic recognition of
audiovisual speech", Proc. IEEE 91(9), 2003)::

    log p(y | x_1..x_M) = sum_m w_m log softmax(z_m)_y + const,    sum_m w_m = 1, w_m >= 0

With the weight of a weak stream at 0 the fusion is the strong stream's classifier itself, so
a weight chosen on validation data can only add what the weak stream carries to unseen data.
Plain functions on arrays (the scores come from :func:`mmalign.train.evaluate`, ``.scores``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

__all__ = ["late_fusion", "choose_stream_weights", "StreamWeights"]


def _check_scores(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(scores, Mapping) or len(scores) < 2:
        raise ValueError(
            "scores must map at least two stream names to (n_samples, n_classes) logits, e.g. "
            "{'audio': ..., 'video': ...}; got "
            f"{type(scores).__name__} with {len(scores) if isinstance(scores, Mapping) else 0}."
        )
    out = {m: np.asarray(z, np.float64) for m, z in scores.items()}
    shapes = {m: z.shape for m, z in out.items()}
    first = next(iter(shapes.values()))
    if any(len(s) != 2 or s != first for s in shapes.values()):
        raise ValueError(
            f"every stream's scores must have the same shape (n_samples, n_classes); got {shapes}."
        )
    if not all(np.isfinite(z).all() for z in out.values()):
        raise ValueError("scores contain NaN or inf; score finite logits.")
    return out


def late_fusion(scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Fused log-posteriors ``sum_m w_m log softmax(z_m)``, renormalised over the classes.

    Parameters
    ----------
    scores : dict of str to ndarray of shape (n_samples, n_classes)
        Each stream's logits (from a classifier trained on that stream alone).
    weights : dict of str to float
        One weight >= 0 per stream of ``scores``, summing to 1.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Log-probabilities; ``argmax(axis=1)`` is the fused decision.

    Examples
    --------
    >>> a = np.log([[0.6, 0.4]]); v = np.log([[0.1, 0.9]])
    >>> late_fusion({"audio": a, "video": v}, {"audio": 1.0, "video": 0.0}).argmax(1)
    array([0])
    >>> late_fusion({"audio": a, "video": v}, {"audio": 0.5, "video": 0.5}).argmax(1)
    array([1])
    """
    z = _check_scores(scores)
    if set(weights) != set(z):
        raise ValueError(
            f"weights must name the streams of scores ({', '.join(z)}); got {', '.join(weights)}."
        )
    w = {m: float(weights[m]) for m in z}
    if any(not np.isfinite(v) or v < 0 for v in w.values()) or abs(sum(w.values()) - 1) > 1e-6:
        raise ValueError(f"weights must be >= 0 and sum to 1; got {w}.")
    return _fuse({m: log_softmax(z[m], axis=1) for m in z}, w)


def _fuse(logp: dict[str, np.ndarray], w: dict[str, float]) -> np.ndarray:
    """Weighted sum of per-stream log-posteriors, renormalised over the classes."""
    return log_softmax(sum(w[m] * logp[m] for m in logp), axis=1)


@dataclass
class StreamWeights:
    """The stream weights chosen on held-out data (:func:`choose_stream_weights`).

    Attributes
    ----------
    weights : dict of str to float
        Chosen weight per stream (summing to 1).
    accuracy : float
        Accuracy of the fusion with ``weights`` on the data they were chosen on.
    log_loss : float
        Mean negative log-likelihood of the true class there.
    grid : list of (dict, float, float)
        Every candidate tried: ``(weights, accuracy, log_loss)``.
    """

    weights: dict[str, float]
    accuracy: float
    log_loss: float
    grid: list[tuple[dict[str, float], float, float]]


def choose_stream_weights(
    scores: Mapping[str, np.ndarray], labels: np.ndarray | Sequence[int], *, step: float = 0.05
) -> StreamWeights:
    """Stream weights of :func:`late_fusion` that score best on held-out ``labels``.

    Every weight vector on a grid of the simplex (multiples of ``step`` summing to 1) is tried;
    the best accuracy wins, ties going to the lower log-loss (accuracy on a few hundred samples
    moves in coarse steps). Choose on validation data, never on the test split.

    Parameters
    ----------
    scores : dict of str to ndarray of shape (n_samples, n_classes)
    labels : array-like of int, shape (n_samples,)
    step : float
        Grid spacing, 1 / step a whole number (default 0.05: 21 candidates for two streams).

    Returns
    -------
    StreamWeights
    """
    z = _check_scores(scores)
    y = np.asarray(labels)
    n, k = next(iter(z.values())).shape
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k:
        raise ValueError(
            f"labels must be {n} class indices in [0, {k}); got shape {y.shape}, dtype {y.dtype}."
        )
    steps = round(1 / step) if step > 0 else 0
    if steps < 1 or abs(steps * step - 1) > 1e-9:
        raise ValueError(f"step must divide 1 into whole steps (e.g. 0.05 or 0.1); got {step!r}.")
    names = list(z)
    logp_streams = {m: log_softmax(z[m], axis=1) for m in names}  # once, not per candidate
    grid = []
    for combo in itertools.product(range(steps + 1), repeat=len(names) - 1):
        if sum(combo) > steps:
            continue
        w = dict(zip(names, [c / steps for c in combo] + [(steps - sum(combo)) / steps]))
        logp = _fuse(logp_streams, w)
        grid.append((w, float((logp.argmax(1) == y).mean()), float(-logp[np.arange(n), y].mean())))
    best = max(grid, key=lambda g: (g[1], -g[2]))
    return StreamWeights(best[0], best[1], best[2], grid)
