"""Equivalence and correspondence: cross-modal retrieval from a similarity matrix.

If two modalities carry the same content (equivalence) or paired content (correspondence), a
query in one should retrieve its partner in the other. Recall@k and the median rank measure
how well; a permutation baseline says how far above chance that is.

References
----------
.. [1] Frome et al., "DeViSE: A Deep Visual-Semantic Embedding Model", NeurIPS 2013
   (Recall@k and median rank for cross-modal retrieval).
.. [2] Baltrusaitis, Ahuja & Morency, "Multimodal Machine Learning: A Survey and Taxonomy",
   IEEE TPAMI 2019 (alignment as connections between modalities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RetrievalResult", "retrieval_metrics", "similarity_matrix"]


@dataclass(frozen=True)
class RetrievalResult:
    """Retrieval quality of queries against items.

    Attributes
    ----------
    recall : dict of int -> float
        Recall@k: fraction of queries whose true item ranks within the top k.
    median_rank, mean_rank : float
        Of the true item's 1-based rank (1 is perfect).
    ranks : ndarray of shape (n_queries,)
        1-based rank of each query's true item. Ties count against the query.
    chance : dict of int -> float
        Expected Recall@k of a random ranking, ``min(k, n_items) / n_items``.
    permutation_recall : dict of int -> float
        Mean Recall@k when the query-item pairing is shuffled (empty without permutations).
    p_value : dict of int -> float
        Fraction of shuffled pairings (plus one) with Recall@k at least the observed one.
    """

    recall: dict[int, float]
    median_rank: float
    mean_rank: float
    ranks: np.ndarray
    chance: dict[int, float]
    permutation_recall: dict[int, float]
    p_value: dict[int, float]


def similarity_matrix(x: Any, y: Any, *, metric: str = "cosine") -> np.ndarray:
    """Similarity between every row of ``x`` (n, d) and of ``y`` (m, d): (n, m).

    ``cosine`` is the cosine similarity; ``dot`` the inner product; ``neg_euclidean`` minus the
    Euclidean distance.
    """
    from mmalign._utils import as_sequence, check_option

    check_option(metric, "metric", ("cosine", "dot", "neg_euclidean"))
    x = as_sequence(x, "x")
    y = as_sequence(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got {x.shape} and {y.shape}; embed "
            "both modalities into one space first."
        )
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    if metric == "neg_euclidean":
        sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
        return -np.sqrt(np.maximum(sq, 0.0))
    return x @ y.T


def _rank_matrix(s: np.ndarray) -> np.ndarray:
    """R[i, j] = 1 + #{j' != j : s[i, j'] >= s[i, j]} (ties count against j)."""
    srt = np.sort(s, axis=1)  # ascending
    n_items = s.shape[1]
    # number of entries >= s[i, j], itself included
    ge = np.stack([n_items - np.searchsorted(srt[i], s[i], side="left") for i in range(len(s))])
    return ge.astype(np.int64)


def retrieval_metrics(
    similarity: Any,
    *,
    targets: Any = None,
    ks: tuple[int, ...] = (1, 5, 10),
    n_permutations: int = 1000,
    seed: int = 0,
) -> RetrievalResult:
    """Recall@k and median rank of cross-modal retrieval, with a permutation baseline.

    Parameters
    ----------
    similarity : array-like of shape (n_queries, n_items)
        Higher = more similar. Query ``i`` is paired with item ``targets[i]``.
    targets : array-like of int, shape (n_queries,), optional
        The true item of each query; ``arange(n_queries)`` by default (a square matrix of
        paired data, e.g. captions x images).
    ks : tuple of int
        Cut-offs for Recall@k.
    n_permutations : int
        Shuffled pairings for the baseline (0 to skip it).
    seed : int
        Seed of the permutations.

    Returns
    -------
    RetrievalResult

    Examples
    --------
    >>> r = retrieval_metrics([[0.9, 0.1], [0.8, 0.2]], ks=(1,), n_permutations=0)
    >>> r.recall[1], r.ranks.tolist()
    (0.5, [1, 2])
    """
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(
            f"similarity must be a non-empty 2-D array (n_queries, n_items), got shape {s.shape}."
        )
    if not np.all(np.isfinite(s)):
        raise ValueError("similarity holds NaN or inf; fix the embeddings that produced it.")
    n_q, n_items = s.shape
    if targets is None:
        if n_q > n_items:
            raise ValueError(
                f"similarity has more queries ({n_q}) than items ({n_items}); pass targets= to "
                "say which item each query belongs to."
            )
        t = np.arange(n_q)
    else:
        t = np.asarray(targets)
        if t.shape != (n_q,) or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(
                f"targets must be ints of shape ({n_q},), got dtype {t.dtype} shape {t.shape}."
            )
        if t.min() < 0 or t.max() >= n_items:
            raise ValueError(
                f"targets must lie in [0, {n_items}), got range [{t.min()}, {t.max()}]."
            )
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive cut-offs like (1, 5, 10), got {ks!r}.")
    if not isinstance(n_permutations, (int, np.integer)) or n_permutations < 0:
        raise ValueError(f"n_permutations must be an int >= 0, got {n_permutations!r}.")

    rank = _rank_matrix(s)
    ranks = rank[np.arange(n_q), t]
    recall = {k: float(np.mean(ranks <= k)) for k in ks}
    perm_recall: dict[int, float] = {}
    p_value: dict[int, float] = {}
    if n_permutations:
        rng = np.random.default_rng(seed)
        hits = np.zeros((n_permutations, len(ks)))
        for p in range(n_permutations):
            r = rank[np.arange(n_q), t[rng.permutation(n_q)]]
            hits[p] = [np.mean(r <= k) for k in ks]
        for c, k in enumerate(ks):
            perm_recall[k] = float(hits[:, c].mean())
            p_value[k] = float((1 + np.sum(hits[:, c] >= recall[k])) / (1 + n_permutations))
    return RetrievalResult(
        recall=recall,
        median_rank=float(np.median(ranks)),
        mean_rank=float(np.mean(ranks)),
        ranks=ranks,
        chance={k: min(k, n_items) / n_items for k in ks},
        permutation_recall=perm_recall,
        p_value=p_value,
    )
