"""Dependency between discrete events: co-occurrence across modalities with significance.

Each unit (a sample, or a time window) carries a set of events in each modality (a spoken
digit, a shown image cluster, a written token). Pointwise mutual information (PMI) measures
how much more often two events meet than independence predicts; a Fisher exact (or chi-square)
test on the 2x2 table says whether that is more than chance, with a correction for testing
every pair.

References
----------
.. [1] Church & Hanks, "Word association norms, mutual information, and lexicography",
   Computational Linguistics 1990 (PMI).
.. [2] Fisher, "On the interpretation of chi-square from contingency tables", JRSS 1922.
.. [3] Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Stat. 1979.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mmalign._utils import check_option

__all__ = ["Cooccurrence", "cooccurrence"]


@dataclass(frozen=True)
class Cooccurrence:
    """Co-occurrence statistics of every (x event, y event) pair.

    Attributes
    ----------
    x_labels, y_labels : ndarray of shape (Kx,) and (Ky,)
        Event names.
    counts : ndarray of shape (Kx, Ky)
        Units where both events occur.
    x_counts, y_counts : ndarray of shape (Kx,) and (Ky,)
        Units where each event occurs.
    n_units : int
    pmi : ndarray of shape (Kx, Ky)
        ``log2(p(u, v) / (p(u) p(v)))`` in bits; ``-inf`` where the pair never occurs.
    p_value : ndarray of shape (Kx, Ky)
        One-sided (more often than chance) p-value of each pair, before correction.
    significant : ndarray of bool, shape (Kx, Ky)
        Positively associated after the multiple-testing correction at ``alpha``.
    """

    x_labels: np.ndarray
    y_labels: np.ndarray
    counts: np.ndarray
    x_counts: np.ndarray
    y_counts: np.ndarray
    n_units: int
    pmi: np.ndarray
    p_value: np.ndarray
    significant: np.ndarray

    def table(self, *, only_significant: bool = True) -> list[dict[str, Any]]:
        """Rows ``{x, y, count, pmi, p_value}`` sorted by decreasing PMI."""
        rows = []
        for i, j in zip(*np.nonzero(self.significant if only_significant else self.counts >= 0)):
            rows.append(
                {
                    "x": self.x_labels[i].item(),
                    "y": self.y_labels[j].item(),
                    "count": int(self.counts[i, j]),
                    "pmi": float(self.pmi[i, j]),
                    "p_value": float(self.p_value[i, j]),
                }
            )
        return sorted(rows, key=lambda r: -r["pmi"])


def _indicators(events: Any, name: str, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) bool indicator matrix and K labels from labels (N,) or indicators (N, K)."""
    if isinstance(events, (list, tuple)) and events and isinstance(events[0], (set, list, tuple)):
        # a list of event sets per unit
        vocab = sorted({e for unit in events for e in unit}) if labels is None else list(labels)
        index = {e: k for k, e in enumerate(vocab)}
        ind = np.zeros((len(events), len(vocab)), bool)
        for u, unit in enumerate(events):
            for e in unit:
                if e not in index:
                    raise ValueError(f"{name}[{u}] holds event {e!r} that is not in the labels.")
                ind[u, index[e]] = True
        return ind, np.asarray(vocab)
    arr = np.asarray(events)
    if arr.ndim == 1:
        vocab = np.unique(arr) if labels is None else np.asarray(labels)
        ind = arr[:, None] == vocab[None, :]
        return ind, vocab
    if arr.ndim == 2:
        if not (arr.dtype == bool or np.all(np.isin(arr, (0, 1)))):
            raise TypeError(
                f"{name} as a 2-D array must be 0/1 indicators (N, K), got dtype {arr.dtype}."
            )
        vocab = np.arange(arr.shape[1]) if labels is None else np.asarray(labels)
        if len(vocab) != arr.shape[1]:
            raise ValueError(f"{name} has {arr.shape[1]} event columns but {len(vocab)} labels.")
        return arr.astype(bool), vocab
    raise ValueError(
        f"{name} must be labels (N,), indicators (N, K) or a list of event sets, got shape {arr.shape}."
    )


def cooccurrence(
    x_events: Any,
    y_events: Any,
    *,
    x_labels: Any = None,
    y_labels: Any = None,
    test: str = "fisher",
    correction: str = "holm",
    alpha: float = 0.05,
) -> Cooccurrence:
    """PMI and a significance test for every pair of events across two modalities.

    Parameters
    ----------
    x_events, y_events
        Per unit (N units): one label each (N,), 0/1 indicators (N, K), or a list of event
        sets. Unit ``i`` of ``x_events`` and of ``y_events`` must describe the same sample or
        time window.
    x_labels, y_labels : sequence, optional
        Event vocabularies (default: the events seen / the indicator columns).
    test : {"fisher", "chi2"}
        Fisher's exact test, one-sided for over-representation [2]_, or the chi-square test of
        the 2x2 table (without continuity correction; halved two-sided p for positive PMI).
    correction : {"holm", "bonferroni", "none"}
        Family-wise correction over all Kx * Ky pairs [3]_.
    alpha : float
        Family-wise significance level.

    Returns
    -------
    Cooccurrence

    Examples
    --------
    >>> co = cooccurrence(["a", "a", "b", "b"] * 10, ["x", "x", "y", "y"] * 10)
    >>> co.significant.tolist()
    [[True, False], [False, True]]
    """
    from scipy.stats import chi2_contingency, fisher_exact

    check_option(test, "test", ("fisher", "chi2"))
    check_option(correction, "correction", ("holm", "bonferroni", "none"))
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
    xi, xl = _indicators(x_events, "x_events", x_labels)
    yi, yl = _indicators(y_events, "y_events", y_labels)
    if len(xi) != len(yi):
        raise ValueError(
            f"x_events and y_events must describe the same units, got {len(xi)} and {len(yi)}."
        )
    n = len(xi)
    if n == 0:
        raise ValueError("x_events is empty; pass at least one unit.")
    xf, yf = xi.astype(np.int64), yi.astype(np.int64)
    both = xf.T @ yf  # (Kx, Ky)
    nx, ny = xf.sum(0), yf.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log2(both * n / np.maximum(np.outer(nx, ny), 1))
    pmi = np.where(np.outer(nx, ny) == 0, np.nan, pmi)
    pval = np.ones_like(pmi)
    for i in range(len(xl)):
        for j in range(len(yl)):
            a = both[i, j]
            b, c = nx[i] - a, ny[j] - a
            table = np.array([[a, b], [c, n - a - b - c]])
            if nx[i] in (0, n) or ny[j] in (0, n):
                continue  # an event that is always or never there tells nothing
            if test == "fisher":
                pval[i, j] = fisher_exact(table, alternative="greater")[1]
            else:
                p2 = chi2_contingency(table, correction=False)[1]
                pval[i, j] = p2 / 2 if pmi[i, j] > 0 else 1 - p2 / 2
    m = pval.size
    if correction == "bonferroni":
        adj = np.minimum(pval * m, 1.0)
    elif correction == "holm":
        order = np.argsort(pval, axis=None)
        stepped = np.maximum.accumulate(pval.ravel()[order] * (m - np.arange(m)))
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
        adj = adj.reshape(pval.shape)
    else:
        adj = pval
    return Cooccurrence(
        x_labels=xl,
        y_labels=yl,
        counts=both,
        x_counts=nx,
        y_counts=ny,
        n_units=n,
        pmi=pmi,
        p_value=pval,
        significant=(adj < alpha) & (pmi > 0),
    )
