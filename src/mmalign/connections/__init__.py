"""Cross-modal connections made measurable on paired data.

* equivalence and correspondence: :func:`retrieval_metrics` (Recall@k, median rank, with a
  permutation baseline) on a :func:`similarity_matrix`;
* dependency in time: :func:`cross_correlation_lag` and :func:`dtw_lag` (the lag between two
  streams);
* dependency between discrete events: :func:`cooccurrence` (PMI with Fisher / chi-square tests).

``mmalign connections`` runs them on digits-av (or on your own ``.npz`` streams).
"""

from mmalign.connections.cooccurrence import Cooccurrence, cooccurrence
from mmalign.connections.lag import (
    LagEstimate,
    OffsetDistribution,
    cross_correlation_lag,
    dtw_lag,
    resample_stream,
)
from mmalign.connections.retrieval import RetrievalResult, retrieval_metrics, similarity_matrix

__all__ = [
    "Cooccurrence",
    "LagEstimate",
    "OffsetDistribution",
    "RetrievalResult",
    "cooccurrence",
    "cross_correlation_lag",
    "dtw_lag",
    "resample_stream",
    "retrieval_metrics",
    "similarity_matrix",
]
